"""What the commands that read a saved model and a data set share: their flags and loading.

``--model``/``--backend``/``--threads`` are declared in :mod:`fastnn.cli.common`; here
are ``--data``/``--split``/``--val-size``/``--fix-polarity``, the data and model
loaders that name the flag in their errors, the split a command reads, and the list
of files a run reads (for the output-path checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fastnn.cli import common as cli
from fastnn.cli.report import network_text
from fastnn.data import ENV_DATA_DIR, MnistData, load_dataset, split_validation
from fastnn.data.cache import default_cache_dir
from fastnn.data.mnist_format import N_PIXELS
from fastnn.data.polarity import FIX_FLAG, check_polarity
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.model import MLP
from fastnn.model_files import ClassLabels
from fastnn.model_loading import load_model_and_labels as read_model_and_labels
from fastnn.paths import OutputPlan

#: The splits a command can read: the test set, or the training set divided as
#: ``python -m fastnn.train`` divides it (the first --val-size samples are validation).
SPLITS = ("test", "val", "train")


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
        default=cli.VAL_SIZE,
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
