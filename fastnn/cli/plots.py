"""``python -m fastnn.plots``: the PNG files of ``--plot`` made later, from a saved model and a metrics JSON.

``python -m fastnn.plots --model M --metrics-json J --out DIR`` draws what
:func:`fastnn.cli.plotting.write_plots` draws after ``python -m fastnn.train --plot
DIR``, without retraining: the history comes from the metrics JSON (read as hostile
input, bounded), the confusion matrix and mistakes from the model on ``--split``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fastnn.cli import common as cli
from fastnn.cli.inputs import (
    add_data_flags,
    class_names_for,
    inputs_plan,
    load_data,
    load_model_and_labels,
    select_split,
    warning,
)
from fastnn.cli.plotting import PLOT_FILES, write_plots
from fastnn.data.images import optional_import
from fastnn.errors import DataError, FastnnError
from fastnn.meta_schema import history_record_problem, parse_json
from fastnn.paths import check_input_file

__all__ = ["main", "read_history"]


#: A metrics JSON is a few MB at most (the history of a long run).
MAX_METRICS_BYTES = 64 << 20


def read_history(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``history`` list and the whole document of a ``--metrics-json`` file.

    The file is read only if it is a regular file of at most :data:`MAX_METRICS_BYTES`,
    and every epoch record must hold numbers (as ``python -m fastnn.train`` writes them).
    """
    try:
        check_input_file(path, "file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_METRICS_BYTES + 1)
    except DataError as exc:
        raise DataError(f"--metrics-json: {exc}") from None
    except OSError as exc:
        raise DataError(f"--metrics-json: {path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_METRICS_BYTES:
        raise DataError(
            f"--metrics-json: {path}: larger than {MAX_METRICS_BYTES:,} bytes; not a metrics JSON file"
        )
    try:
        doc = parse_json(str(path), raw.decode("utf-8"))
    except (DataError, UnicodeDecodeError) as exc:
        raise DataError(f"--metrics-json: {path}: not a metrics JSON file ({exc})") from None
    history = doc.get("history") if isinstance(doc, dict) else None
    if not isinstance(history, list) or not all(isinstance(r, dict) and "loss" in r for r in history):
        raise DataError(
            f"--metrics-json: {path}: no 'history' list of epochs; write one with "
            "python -m fastnn.train --metrics-json PATH"
        )
    for i, record in enumerate(history):
        problem = history_record_problem(record, json_safe=True)
        if problem is not None:
            raise DataError(f"--metrics-json: {path}: history entry {i}: {problem}")
    return history, doc


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastnn.plots",
        formatter_class=cli.HelpFormatter,
        description="Write the training plots of a saved model without retraining: loss and accuracy "
        "curves (from the history in a --metrics-json file), the confusion matrix and the "
        "misclassified digits of a split (--split, the test split by default), and the first "
        "layer's weights as images.",
        epilog="Exit status: 0 done, 2 bad flags, files or data, or matplotlib missing "
        "(pip install 'fastnn[plots]').",
    )
    cli.add_model_flags(p)
    inp = p.add_argument_group("input")
    inp.add_argument(
        "--metrics-json",
        metavar="PATH",
        type=Path,
        default=None,
        help="history written by python -m fastnn.train --metrics-json (without it: no curves)",
    )
    add_data_flags(
        inp,
        "the digits for the confusion matrix and the misclassified grid",
        data_default="the --data of the --metrics-json run, else as python -m fastnn.train",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        required=True,
        help="directory for the PNG files (created if missing)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    args = build_parser().parse_args(argv)
    return cli.command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """Write the plots ``args`` ask for; returns the exit status."""
    try:
        plan = inputs_plan(args)
        plan.read("--metrics-json", args.metrics_json)
        plan.write("--out", args.out, directory=True)
        if args.out.is_dir():
            for name in PLOT_FILES.values():
                plan.write("--out", args.out / name)
        plan.check()  # before any work: no plot replaces an input or a non-file
        optional_import("matplotlib", "plots", "writing plots")  # before any slow loading
        history: list[dict[str, Any]] = []
        if args.metrics_json is not None:
            history, doc = read_history(args.metrics_json)
            config = doc.get("config")
            if args.data is None and isinstance(config, dict) and isinstance(config.get("data"), str):
                args.data = config["data"]  # the data the model was trained on
        model, model_labels = load_model_and_labels(args)
        if history and model.epochs_trained != len(history):
            warning(
                f"{args.model} was trained for {model.epochs_trained} epochs but "
                f"{args.metrics_json} records {len(history)}; are they from the same run?"
            )
        data = load_data(args)
        images, labels = select_split(args, data)
        what = {"test": "test", "val": "validation", "train": "training"}[args.split]
        names = class_names_for(model, model_labels, data)
        written = write_plots(args.out, model, history, images, labels, what, names)
    except FastnnError as exc:
        return cli.error(str(exc))
    except OSError as exc:  # a plot could not be written (the disk filled meanwhile)
        return cli.error(f"--out {args.out}: could not write the plots ({exc.strerror or exc})")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
