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
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fastnn import cli_common as cli
from fastnn.atomic import atomic_write
from fastnn.backends import DEFAULT_BACKEND, backend_names
from fastnn.data import ENV_DATA_DIR, MnistData, load_dataset, scale_pixels, split_validation
from fastnn.download import default_cache_dir
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.metrics import (
    ClassReport,
    classification_report,
    confusion_matrix,
    format_confusion_matrix,
    format_report,
    loss_and_accuracy,
)
from fastnn.model import MLP
from fastnn.model_io import ClassLabels
from fastnn.model_io import load_model_and_labels as read_model_and_labels
from fastnn.paths import OutputPlan
from fastnn.polarity import FIX_FLAG, check_polarity
from fastnn.tabular import N_PIXELS
from fastnn.train_report import network_text
from fastnn.validation import check_y

#: The splits a command can read: the test set, or the training set divided as
#: ``python -m fastnn.train`` divides it (the first --val-size samples are validation).
SPLITS = ("test", "val", "train")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` except where the default is None/False/SUPPRESS."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.required:
            return action.help
        return super()._get_help_string(action)


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--backend``, ``--threads``: the model group every command shares."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        metavar="PATH",
        type=Path,
        required=True,
        help="a model file written by python -m fastnn.train --save (.npz)",
    )
    group.add_argument(
        "--backend",
        choices=backend_names(),
        default=DEFAULT_BACKEND,
        help="who computes; results agree to floating-point tolerance",
    )
    group.add_argument(
        "--threads",
        metavar="N",
        type=cli.positive_int,
        default=None,
        help="maximum BLAS/Numba threads (default: the libraries' own, all CPUs)",
    )


def add_data_flags(group: argparse._ArgumentGroup, what: str, data_default: str | None = None) -> None:
    """``--data``, ``--split``, ``--val-size``, ``--fix-polarity``; ``what`` the split is for."""
    data_default = data_default or (
        f"${ENV_DATA_DIR} if set, else full MNIST if already downloaded, else the embedded 5,000 digits"
    )
    group.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="'mnist' (full MNIST, downloaded once and cached), 'fashion-mnist' or 'kmnist' (likewise), "
        "'embedded', a directory with the four MNIST IDX files, a Kaggle .csv[.gz] or a Keras .npz "
        "(default: "
        f"{data_default})",
    )
    group.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help=f"{what}: the test set, or the validation/training part of the training set "
        "as python -m fastnn.train divides it (see --val-size)",
    )
    group.add_argument(
        "--val-size",
        metavar="N",
        type=cli.nonnegative_int,
        default=1000,
        help="the first N training samples are the validation split, as in training",
    )
    group.add_argument(
        FIX_FLAG,
        action="store_true",
        help="invert a data set of dark digits on a light background (default: refuse it)",
    )


def plan_data(plan: OutputPlan, data: str | os.PathLike[str] | None) -> None:
    """Add the files ``--data`` reads to ``plan``: its path, or the directory the default
    and ``mnist`` read from (``$FASTNN_DATA`` or the download cache)."""
    if data is not None and str(data).strip().lower() == "embedded":
        return
    if data is None or str(data).strip().lower() == "mnist":
        data = os.environ.get(ENV_DATA_DIR) or default_cache_dir()
    plan.read("--data", data)


def inputs_plan(args: argparse.Namespace) -> OutputPlan:
    """An output plan holding the files ``--model`` and ``--data`` name (add the outputs)."""
    plan = OutputPlan()
    plan.read("--model", args.model)
    plan_data(plan, args.data)
    return plan


def load_model(args: argparse.Namespace) -> MLP:
    """The ``--model`` file on ``--backend``, checked to take MNIST's 784 pixels."""
    return load_model_and_labels(args)[0]


def load_model_and_labels(args: argparse.Namespace) -> tuple[MLP, ClassLabels]:
    """:func:`load_model` and the data set and class names its file records (if any)."""
    try:
        model, labels = read_model_and_labels(args.model, backend=args.backend, threads=args.threads)
    except FastnnError as exc:
        raise type(exc)(f"--model: {cli.name_flags(str(exc))}") from None
    if model.layer_sizes[0] != N_PIXELS:
        raise DataError(
            f"--model: {args.model}: the model takes {model.layer_sizes[0]} inputs; MNIST "
            f"images have {N_PIXELS} pixels"
        )
    return model, labels


def class_names_for(
    model: MLP, labels: ClassLabels, data: MnistData | None, warn: Callable[[str], None] | None = None
) -> tuple[str, ...] | None:
    """The class names to print and plot: the data's (``--data fashion-mnist``), else the model's.

    Warns when the model file says it was trained on another named data set.
    """
    if data is not None and data.dataset and labels.dataset and data.dataset != labels.dataset:
        (warn or warning)(
            f"the model was trained on {labels.dataset} but the data are {data.dataset}; "
            "its predictions mean its own classes"
        )
    for names in (data.class_names if data is not None else None, labels.class_names):
        if names is not None and len(names) == model.n_classes:
            return tuple(names)
    return None


def describe_model(model: MLP, path: Path) -> str:
    """``m.npz: 784-32(relu)-10(softmax), float32, 3 epochs | backend numpy``."""
    epochs = f"{model.epochs_trained} epoch" + ("" if model.epochs_trained == 1 else "s")
    return f"{path}: {network_text(model)}, {model.dtype.name}, {epochs} | backend {model.backend.name}"


def load_data(args: argparse.Namespace, warn: Callable[[str], None] | None = None) -> MnistData:
    """``--data`` with polarity checked (``--fix-polarity``); warnings go to ``warn``."""
    try:
        data = load_dataset(args.data)
    except FastnnError as exc:
        raise type(exc)(f"--data: {exc}" if args.data is not None else str(exc)) from None
    if data.dataset is not None:
        # A named data set's files are the published ones (checksum-verified), light
        # on dark by construction; the border heuristic is for files of unknown origin
        # (and a Coat or Pullover that fills its frame could fool it).
        return data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = check_polarity(data, fix=args.fix_polarity)
    for w in caught:
        (warn or warning)(str(w.message))
    return data


def select_split(args: argparse.Namespace, data: MnistData) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 784) and labels of ``--split``; errors name the flags."""
    if args.split == "test":
        if not len(data.x_test):
            raise InvalidParameterError(
                f"--split test: {data.source} has no test split; use --split val or --split train"
            )
        return data.x_test, data.y_test
    n = len(data.x_train)
    if args.val_size >= n:
        raise InvalidParameterError(
            f"--val-size {args.val_size:,} leaves no training samples; {data.source} has {n:,}"
        )
    x, y, x_val, y_val = split_validation(data.x_train, data.y_train, args.val_size)
    if args.split == "val":
        if not len(x_val):
            raise InvalidParameterError("--split val: the validation split is empty (--val-size 0)")
        return x_val, y_val
    return x, y


def split_name(args: argparse.Namespace) -> str:
    return {
        "test": "test split",
        "val": f"validation split (first {args.val_size:,} training samples)",
        "train": "training split" + (f" (after the first {args.val_size:,})" if args.val_size else ""),
    }[args.split]


def warning(message: str) -> None:
    print(f"fastnn: warning: {message}", file=sys.stderr)


def evaluate_model(
    model: MLP, images: np.ndarray, labels: np.ndarray
) -> tuple[dict[str, float], ClassReport]:
    """``MLP.evaluate``'s loss and accuracy, and the per-class report of its predictions.

    ``images`` are uint8 gray levels (n, 784), scaled here in the model's dtype.
    """
    x = scale_pixels(images, model.dtype)
    y = check_y(labels, len(x), model.n_classes)
    with np.errstate(over="ignore", invalid="ignore"):
        proba = model.predict_proba(x)  # once: the loss, accuracy and report all come from it
    loss, accuracy = loss_and_accuracy(proba, y)
    report = classification_report(confusion_matrix(y, proba.argmax(axis=1), model.n_classes))
    return {"loss": loss, "accuracy": accuracy}, report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastnn.evaluate",
        formatter_class=HelpFormatter,
        description="Evaluate a saved model: accuracy, mean loss, per-class precision, recall, F1 and "
        "support, and the confusion matrix (rows: true digit, columns: predicted digit).",
        epilog="Exit status: 0 done, 2 bad flags, model or data.",
    )
    add_model_flags(p)
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
