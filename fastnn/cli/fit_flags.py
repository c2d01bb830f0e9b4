"""The flags of ``python -m fastnn.train`` (shared by ``compare`` and ``sweep``), declared.

Only the declarations: each flag's type, default, choices and help, and the epilog
that lists the presets. Where an option's value comes from (command line, checkpoint,
preset, default) and how the values become a :class:`fastnn.fit_config.FitConfig` is
:mod:`fastnn.cli.fit_options`. Choices are read from the library's registries, never
retyped.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from fastnn.activations import HIDDEN_ACTIVATIONS
from fastnn.backends import DEFAULT_BACKEND
from fastnn.cli import common as cli
from fastnn.cli.presets import PRESETS, Preset
from fastnn.data import ENV_DATA_DIR
from fastnn.data.mnist_format import N_CLASSES, N_PIXELS
from fastnn.early_stopping import MONITORS
from fastnn.fit_config import FitConfig
from fastnn.optim import OPTIMIZERS
from fastnn.params import INIT_SCHEMES
from fastnn.schedule import LR_SCHEDULES


def preset_summary(preset: Preset) -> str:
    """The network and training a preset sets, in a few words, from its settings."""
    s = preset.settings
    bs = s.get("batch_size", 1)
    batch = "full-batch" if bs is None else "per-sample" if bs == 1 else f"batch {bs}"
    parts = [
        f"{'-'.join(map(str, s['layers']))} {'/'.join(s['activations'])}",
        f"{batch} {s.get('optimizer', 'sgd')} lr {s['lr']}",
        f"{s['epochs']} epochs",
    ]
    if s.get("lr_schedule", "constant") != "constant":
        parts.append(f"{s['lr_schedule']} decay")
    if s.get("early_stopping"):
        parts.append(f"early stopping {s['early_stopping']}")
    return ", ".join(parts)


def _epilog() -> str:
    width = max(map(len, PRESETS)) + 2
    lines = ["presets (--preset NAME sets every option listed; flags on the command line win):"]
    for name, preset in PRESETS.items():
        lines.append(f"  {name:<{width}}{preset.reproduces.split(':')[0]}")
        lines += textwrap.wrap(
            preset_summary(preset), 90, initial_indent=" " * (width + 2), subsequent_indent=" " * (width + 4)
        )
    return "\n".join(
        [
            *lines,
            "",
            "Checkpoints: --checkpoint PATH rewrites PATH (atomically) after every epoch; with "
            "--early-stopping the best epoch's weights, when older, go to PATH's sibling NAME.best.npz. "
            "--resume PATH continues that run to --epochs in total and ends with the same weights as a "
            "run that never stopped. Ctrl-C finishes the current epoch, writes the checkpoint and "
            "prints how to resume; a second Ctrl-C stops at once (back to the last finished epoch).",
            "",
            "Outputs: every path written is printed before training; an output that is an input or "
            "another output, is not a regular file, or cannot be written is refused before any work. "
            "If a write fails after training, the model goes to a recovery file that is named.",
            "",
            "Exit status: 0 done, 1 diverged, --target-acc missed or an output could not be written, "
            "2 bad flags or data, 130 interrupted.",
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    """The train flags; other commands (e.g. compare) can reuse them."""
    p = argparse.ArgumentParser(
        prog="python -m fastnn.train",
        formatter_class=cli.HelpFormatter,
        description="Train a fully connected network on MNIST with softmax cross-entropy. "
        "With no flags: the embedded 5,000-digit subset (or full MNIST if it was "
        f"downloaded before), the {DEFAULT_BACKEND} backend, a few seconds.",
        epilog=_epilog(),
    )
    p.add_argument(
        "--preset",
        metavar="NAME",
        choices=PRESETS,
        default=None,
        help=f"start from a classic network's settings: {', '.join(PRESETS)} (listed "
        "below); any flag given on the command line overrides them. two-hidden saves "
        "its parameters as its original does (to two-hidden.npz; --save PATH elsewhere)",
    )
    model = p.add_argument_group("model")
    cli.add_backend_flag(model)
    model.add_argument(
        "--layers",
        metavar="SIZES",
        type=cli.int_list,
        default="784,128,64,10",
        help=f"layer sizes from the {N_PIXELS} input pixels to the {N_CLASSES} classes",
    )
    model.add_argument(
        "--activations",
        metavar="NAMES",
        type=cli.activation_list,
        default="relu",
        help="one name per weight layer (the last is softmax), or one hidden-layer "
        f"name for all hidden layers; hidden: {', '.join(HIDDEN_ACTIVATIONS)}",
    )
    model.add_argument(
        "--init",
        choices=INIT_SCHEMES,
        default="auto",
        help="weight initialisation; auto picks He/Glorot/LeCun from each activation",
    )
    model.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="precision of weights and arithmetic",
    )
    model.add_argument(
        "--seed",
        type=cli.nonnegative_int,
        default=0,
        help="seeds the initial weights and every epoch's shuffle",
    )
    train = p.add_argument_group("training")
    train.add_argument(
        "--epochs",
        metavar="N",
        type=cli.positive_int,
        default=5,
        help="passes over the training set (with --batch-size full, one step each); "
        "with --resume, the total including the epochs already done",
    )
    train.add_argument("--lr", type=cli.finite_float, default=FitConfig.lr, help="learning rate")
    train.add_argument(
        "--batch-size",
        metavar="N|full",
        type=cli.batch_size,
        default=1,
        help="samples per update: 1 = per-sample SGD, N = mini-batch, 'full' = full-batch gradient descent",
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=FitConfig.optimizer, help="update rule")
    train.add_argument(
        "--momentum",
        type=cli.finite_float,
        default=FitConfig.momentum,
        help="momentum coefficient (momentum and nesterov only)",
    )
    train.add_argument(
        "--weight-decay", type=cli.finite_float, default=FitConfig.weight_decay, help="L2 penalty on weights"
    )
    train.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=FitConfig.lr_schedule,
        help="learning rate per epoch: constant; step (times --lr-gamma every "
        "--lr-step epochs); cosine (decays to 0 over --epochs)",
    )
    train.add_argument(
        "--lr-step",
        metavar="N",
        type=cli.positive_int,
        default=FitConfig.lr_step,
        help="epochs between decays of --lr-schedule step",
    )
    train.add_argument(
        "--lr-gamma",
        metavar="G",
        type=cli.decay_factor,
        default=FitConfig.lr_gamma,
        help="factor of each --lr-schedule step decay, in (0, 1]",
    )
    train.add_argument(
        "--early-stopping",
        metavar="PATIENCE",
        type=cli.nonnegative_int,
        default=None,
        help="stop after PATIENCE epochs without improvement of --monitor and keep "
        "the best epoch's weights (0: off, to switch off a preset's)",
    )
    train.add_argument(
        "--monitor",
        choices=MONITORS,
        default=None,
        help="what --early-stopping watches (default: val_accuracy when there is a "
        "validation set, else the training loss, as scikit-learn does)",
    )
    train.add_argument(
        "--tol",
        metavar="DELTA",
        type=cli.nonnegative_float,
        default=FitConfig.tol,
        help="--early-stopping counts only improvements larger than this",
    )
    cli.add_threads_flag(train)
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="'mnist' (the full 70,000 digits: downloaded once, about 11 MB, "
        "SHA-256 verified, then cached), 'fashion-mnist' or 'kmnist' (the same format, "
        "about 30 / 21 MB, verified by their published MD5 and size, with their class names), "
        "'embedded' (5,000 digits shipped with "
        "fastnn), a directory with the four MNIST IDX files, a Kaggle .csv[.gz] "
        f"or a Keras .npz (default: ${ENV_DATA_DIR} if set, else full MNIST if "
        "already downloaded, else embedded)",
    )
    data.add_argument(
        "--val-size",
        metavar="N",
        type=cli.nonnegative_int,
        default=cli.VAL_SIZE,
        help="hold out the first N training samples as the validation set (0: none)",
    )
    data.add_argument(
        "--train-size",
        metavar="N",
        type=cli.positive_int,
        default=None,
        help="train on only the first N samples left after the split (quick runs)",
    )
    data.add_argument(
        "--fix-polarity",
        action="store_true",
        help="invert a data set of dark digits on a light background (default: refuse "
        "it with an error, since MNIST's digits are light on dark)",
    )
    ckpt = p.add_argument_group("checkpoints")
    ckpt.add_argument(
        "--checkpoint",
        metavar="PATH",
        type=Path,
        default=None,
        help="after every epoch, write model, optimiser and RNG state to PATH "
        "(default with --resume: the file resumed from)",
    )
    ckpt.add_argument(
        "--resume",
        metavar="PATH",
        type=Path,
        default=None,
        help="continue the run saved in checkpoint PATH; its options are the "
        "defaults, and flags that would change its numbers are refused. Output paths are never "
        "taken from the checkpoint: outputs its run wrote and this command does not name go "
        "beside it (NAME.model.npz, NAME.metrics.json, NAME.plots)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--save", metavar="PATH", type=Path, default=None, help="write the model (.npz)")
    out.add_argument(
        "--metrics-json",
        metavar="PATH",
        type=Path,
        default=None,
        help="write config, versions, per-epoch history and final metrics as JSON",
    )
    out.add_argument(
        "--plot",
        metavar="DIR",
        type=Path,
        default=None,
        help="after training, write PNG plots into DIR (created if missing): loss and "
        "accuracy curves, the test confusion matrix, misclassified test digits and "
        "the first layer's weights; needs matplotlib: pip install 'fastnn[plots]'",
    )
    out.add_argument(
        "--target-acc",
        metavar="FRACTION",
        type=cli.fraction,
        default=None,
        help="exit 1 if the final test accuracy (e.g. 0.97) is below this (validation "
        "accuracy when the data has no test split)",
    )
    out.add_argument(
        "--print-every",
        metavar="N",
        type=cli.positive_int,
        default=None,
        help="print every Nth epoch's line (default: every epoch up to 50, else "
        "about 50 lines; the last epoch always)",
    )
    level = out.add_mutually_exclusive_group()
    level.add_argument("--quiet", action="store_true", help="print only the final accuracy line")
    level.add_argument(
        "--verbose",
        action="store_true",
        help="also print the exact configuration and versions, and each epoch's learning rate and seconds",
    )
    return p
