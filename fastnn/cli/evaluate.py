"""``python -m fastnn.evaluate``: how good a saved model is, class by class.

Prints accuracy and mean cross-entropy loss (``MLP.evaluate``, the numbers training
reports), per-class precision, recall, F1 and support, and the 10x10 confusion matrix
(rows: true digit, columns: predicted digit; see :mod:`fastnn.metrics`), on the test
split or a named one. ``--json PATH`` writes the same numbers as JSON.

The helpers here (loading a model and a split with messages that name the flag) are
shared by ``fastnn.predict`` and ``fastnn.plots``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.cli import common as cli
from fastnn.cli.inputs import (
    add_data_flags,
    class_names_for,
    describe_model,
    inputs_plan,
    load_data,
    load_model_and_labels,
    select_split,
    split_name,
)
from fastnn.data import scale_pixels
from fastnn.errors import FastnnError, InvalidParameterError
from fastnn.metrics import (
    ClassReport,
    classification_report,
    confusion_matrix,
    format_confusion_matrix,
    format_report,
    loss_and_accuracy_from_logits,
)
from fastnn.model import MLP
from fastnn.validation import check_y


def evaluate_model(
    model: MLP, images: np.ndarray, labels: np.ndarray
) -> tuple[dict[str, float], ClassReport]:
    """``MLP.evaluate``'s loss and accuracy, and the per-class report of its predictions.

    ``images`` are uint8 gray levels (n, 784), scaled here in the model's dtype.
    """
    x = scale_pixels(images, model.dtype)
    y = check_y(labels, len(x), model.n_classes)
    logits = model.logits(x)  # once: the loss, accuracy and report all come from it
    loss, accuracy = loss_and_accuracy_from_logits(logits, y)
    report = classification_report(confusion_matrix(y, logits.argmax(axis=1), model.n_classes))
    return {"loss": loss, "accuracy": accuracy}, report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastnn.evaluate",
        formatter_class=cli.HelpFormatter,
        description="Evaluate a saved model: accuracy, mean loss, per-class precision, recall, F1 and "
        "support, and the confusion matrix (rows: true digit, columns: predicted digit).",
        epilog="Exit status: 0 done, 2 bad flags, model or data.",
    )
    cli.add_model_flags(p)
    add_data_flags(p.add_argument_group("data"), "which images to evaluate on")
    out = p.add_argument_group("output")
    out.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="also write the numbers as JSON to PATH ('-': print JSON instead of the tables)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    args = build_parser().parse_args(argv)
    return cli.command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    to_stdout = args.json == "-"
    say = (lambda *_: None) if to_stdout else print
    try:
        json_path = None if args.json in (None, "-") else Path(args.json)
        plan = inputs_plan(args)
        plan.write("--json", json_path)
        plan.check()  # before any work: not an input, a file, writable
        model, model_labels = load_model_and_labels(args)
        data = load_data(args)
        images, labels = select_split(args, data)
        if not len(images):
            raise InvalidParameterError(f"--split {args.split}: no images in {data.source}")
        names = class_names_for(model, model_labels, data)
        scores, report = evaluate_model(model, images, labels)
    except FastnnError as exc:
        return cli.error(str(exc))
    say(f"model: {describe_model(model, args.model)}")
    items = "digits" if names is None else "images"
    say(f"data: {data.source}: {split_name(args)}, {len(labels):,} {items}")
    say(
        f"accuracy {scores['accuracy']:.2%} ({report.n_correct:,} of {report.n_samples:,})  "
        f"mean loss {scores['loss']:.4f}"
    )
    say("")
    say(format_report(report, names))
    say("")
    thing = "digit" if names is None else "class"
    say(f"confusion matrix (rows: true {thing}, columns: predicted {thing})")
    say(format_confusion_matrix(report.confusion, names))
    if args.json is not None:
        doc = {
            "model": str(args.model),
            "backend": model.backend.name,
            "dtype": model.dtype.name,
            "data": data.source,
            "dataset": data.dataset or model_labels.dataset,
            "class_names": list(names) if names is not None else None,
            "split": args.split,
            "val_size": args.val_size if args.split != "test" else None,
            "loss": scores["loss"],
            **report.as_dict(),
            "accuracy": scores["accuracy"],
            "versions": cli.versions(),
        }
        text = json.dumps(cli.json_safe(doc), indent=2, allow_nan=False) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            assert json_path is not None
            try:
                with atomic_write(json_path, "w") as fh:
                    fh.write(text)
            except (FastnnError, OSError) as exc:
                return cli.error(f"--json: {exc}")
            say(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
