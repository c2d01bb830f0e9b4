"""What ``train`` and ``compare`` share after parsing: the model the flags describe, and the data split.

Errors name the flags (``--val-size``, ``--train-size``, ``--activations``...).
"""

from __future__ import annotations

import argparse

import numpy as np

from fastnn.cli import common as cli
from fastnn.cli.fit_options import check_layers, fit_config, resolve_activations
from fastnn.data import ENV_DATA_DIR, MnistData, scale_pixels, split_validation
from fastnn.errors import InvalidParameterError
from fastnn.fit_config import FitConfig
from fastnn.model import MLP

FULL_MNIST_HINT = (
    "hint: this is a small subset; pass --data mnist to download full MNIST (about 11 MB), or "
    f"--data DIR (or set {ENV_DATA_DIR}=DIR) for a directory with the four MNIST IDX files"
)


def build_model(args: argparse.Namespace) -> MLP:
    """The model the flags describe; every library complaint names its flag.

    The training options are checked here too (as the FitConfig ``MLP.fit`` will get),
    so a bad one is refused before any data is loaded.
    """
    check_layers(args.layers)
    acts = resolve_activations(args.layers, args.activations)
    fit_config(args)
    try:
        return MLP(
            args.layers,
            acts,
            backend=args.backend,
            dtype=args.dtype,
            seed=args.seed,
            init=args.init,
            threads=args.threads,
        )
    except InvalidParameterError as exc:
        msg = cli.name_flags(str(exc))
        raise InvalidParameterError(msg if "(--" in msg else f"--activations: {msg}") from None


def check_batch_size(batch_size: int | None, n_train: int) -> None:
    """--batch-size against the training samples: the library's check
    (:meth:`FitConfig.batch_size_for`, the one ``MLP.fit`` makes), before any training,
    in the flag's words (``--batch-size full``, where the library says None)."""
    config = FitConfig(batch_size=batch_size)
    try:
        config.batch_size_for(n_train)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"--batch-size {batch_size:,} is more than the {n_train:,} "
            "training samples; use --batch-size full for full-batch descent"
        ) from None


def split_data(args: argparse.Namespace, data: MnistData) -> dict[str, np.ndarray]:
    """Validation split, --train-size and scaling (after slicing: less to convert)."""
    n = len(data.x_train)
    if args.val_size >= n:
        raise InvalidParameterError(
            f"--val-size {args.val_size} leaves no training samples; {data.source} has {n:,}"
        )
    x, y, x_val, y_val = split_validation(data.x_train, data.y_train, args.val_size)
    if args.train_size is not None:
        if args.train_size > len(x):
            raise InvalidParameterError(
                f"--train-size {args.train_size:,} is more than the "
                f"{len(x):,} training samples left after --val-size"
            )
        x, y = x[: args.train_size], y[: args.train_size]
    check_batch_size(args.batch_size, len(x))
    if args.target_acc is not None and not len(data.x_test) and not len(x_val):
        raise InvalidParameterError(
            f"--target-acc needs a test or validation set; {data.source} "
            "has no test split and --val-size is 0"
        )
    sc = lambda a: scale_pixels(a, args.dtype)  # noqa: E731
    return {
        "x": sc(x),
        "y": y,
        "x_val": sc(x_val),
        "y_val": y_val,
        "x_test": sc(data.x_test),
        "y_test": data.y_test,
    }
