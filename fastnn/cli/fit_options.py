"""The flags of ``python -m fastnn.train`` and where each option's value comes from.

An option's value comes from, highest first: the command line; with ``--resume``,
the options stored in the checkpoint; the ``--preset``'s settings; the parser's
default. To know which flags the user actually typed, :func:`parse_args` hands
argparse a namespace pre-filled with :data:`UNSET` (argparse only assigns what it
parses and never overwrites an attribute with a default), so ``--preset tutorial
--lr 0.5`` keeps lr 0.5, even ``--lr 0.01`` (the parser default) is honoured, and
everything else comes from the preset.
"""

from __future__ import annotations

import argparse
import shlex
import textwrap
from pathlib import Path
from typing import Any

from fastnn.activations import HIDDEN_ACTIVATIONS
from fastnn.backends import DEFAULT_BACKEND
from fastnn.cli import common as cli
from fastnn.cli.presets import PRESETS, Preset
from fastnn.data import ENV_DATA_DIR
from fastnn.data.mnist_format import N_CLASSES, N_PIXELS
from fastnn.errors import InvalidParameterError
from fastnn.optim import OPTIMIZERS
from fastnn.params import INIT_SCHEMES
from fastnn.schedule import LR_SCHEDULES, MONITORS


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "Not given on the command line" (distinct from every real value, None included).
UNSET: Any = _Unset()

#: Options that change the numbers a run computes. A resumed run keeps the
#: checkpoint's values; a flag that asks for a different one is refused.
MATHS_OPTIONS: tuple[str, ...] = (
    "preset",
    "layers",
    "activations",
    "init",
    "dtype",
    "seed",
    "lr",
    "batch_size",
    "optimizer",
    "momentum",
    "weight_decay",
    "lr_schedule",
    "lr_step",
    "lr_gamma",
    "early_stopping",
    "monitor",
    "tol",
    "val_size",
    "train_size",
)
#: Options a checkpoint stores as the defaults of a resumed run, which may change
#: them: how long (``epochs`` is the total), who computes. Where results go is stored
#: for the record but never restored (:data:`OUTPUT_OPTIONS`). ``data``
#: may point elsewhere (the files may have moved); the data themselves are checked
#: against the checkpoint's fingerprint instead.
RUN_OPTIONS: tuple[str, ...] = (
    "epochs",
    "backend",
    "threads",
    "data",
    "save",
    "metrics_json",
    "target_acc",
    "plot",
)
STORED_OPTIONS = MATHS_OPTIONS + RUN_OPTIONS
#: Where a run writes. A checkpoint records them, but a resumed run never takes them
#: from it (a file must not decide where fastnn writes): they come from the command
#: line, or sit beside the checkpoint (:data:`RESUMED_OUTPUT_NAMES`).
OUTPUT_OPTIONS: tuple[str, ...] = ("save", "metrics_json", "plot")
#: The output a resumed run writes, beside the checkpoint ``NAME.npz``, when the
#: checkpoint's run wrote one and the resuming command line names none.
RESUMED_OUTPUT_NAMES = {
    "save": "{stem}.model.npz",
    "metrics_json": "{stem}.metrics.json",
    "plot": "{stem}.plots",
}


def flag(dest: str) -> str:
    """The command-line flag of an option (``metrics_json`` -> ``--metrics-json``)."""
    return "--" + dest.replace("_", "-")


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
    train.add_argument("--lr", type=cli.finite_float, default=0.01, help="learning rate")
    train.add_argument(
        "--batch-size",
        metavar="N|full",
        type=cli.batch_size,
        default=1,
        help="samples per update: 1 = per-sample SGD, N = mini-batch, 'full' = full-batch gradient descent",
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="update rule")
    train.add_argument(
        "--momentum",
        type=cli.finite_float,
        default=0.9,
        help="momentum coefficient (momentum and nesterov only)",
    )
    train.add_argument("--weight-decay", type=cli.finite_float, default=0.0, help="L2 penalty on weights")
    train.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="constant",
        help="learning rate per epoch: constant; step (times --lr-gamma every "
        "--lr-step epochs); cosine (decays to 0 over --epochs)",
    )
    train.add_argument(
        "--lr-step",
        metavar="N",
        type=cli.positive_int,
        default=10,
        help="epochs between decays of --lr-schedule step",
    )
    train.add_argument(
        "--lr-gamma",
        metavar="G",
        type=cli.decay_factor,
        default=0.1,
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
        default=0.0,
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
        default=1000,
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


def parse_args(argv: list[str] | None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse ``argv``; options not given are :data:`UNSET`, ``args.explicit`` names the given ones.

    Bad flags exit with status 2 and argparse's usage message, as always.
    """
    parser = parser or build_parser()
    dests = _dests(parser)
    args = parser.parse_args(argv, namespace=argparse.Namespace(**dict.fromkeys(dests, UNSET)))
    args.explicit = frozenset(d for d in dests if getattr(args, d) is not UNSET)
    return args


def _dests(parser: argparse.ArgumentParser) -> list[str]:
    # argparse has no public list of its actions; _actions is stable since Python 2.7.
    return [a.dest for a in parser._actions if a.dest != argparse.SUPPRESS]


def action_of(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    return next(a for a in parser._actions if a.dest == dest)


def convert(action: argparse.Action, text: str) -> Any:
    return action.type(text) if callable(action.type) else text


def fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``MLP.fit`` keywords the flags set (``epochs`` is the total to reach)."""
    kwargs = {
        d: getattr(args, d)
        for d in (
            "epochs",
            "lr",
            "batch_size",
            "optimizer",
            "momentum",
            "weight_decay",
            "lr_schedule",
            "lr_step",
            "lr_gamma",
            "tol",
        )
    }
    kwargs["early_stopping"] = args.early_stopping or None  # 0 switches a preset's off
    if args.early_stopping:
        kwargs["monitor"] = args.monitor
    return kwargs


def fill_defaults(
    args: argparse.Namespace, parser: argparse.ArgumentParser, stored: dict[str, Any] | None = None
) -> None:
    """Replace every UNSET option: by ``stored`` (a checkpoint's), the preset, or the default."""
    stored = stored or {}
    name = args.preset if args.preset is not UNSET else stored.get("preset")
    preset = dict(PRESETS[name].settings) if name is not None else {}
    if "save" in preset:  # the original script saves; a path, like --save's
        preset["save"] = Path(preset["save"])
    layers = [stored, preset]
    for dest in _dests(parser):
        if getattr(args, dest) is not UNSET:
            continue
        value = next((values[dest] for values in layers if dest in values), UNSET)
        if value is UNSET:
            action = action_of(parser, dest)
            value = action.default
            if isinstance(value, str):
                value = convert(action, value)  # what argparse does with a string default
        setattr(args, dest, value)
    if args.early_stopping == 0:
        args.early_stopping = None
    if args.early_stopping and args.monitor is None:
        args.monitor = "val_accuracy" if args.val_size else "loss"


def check_combinations(args: argparse.Namespace) -> None:
    """Flags that only make sense with another one; raise InvalidParameterError naming both."""
    given = args.explicit
    for dest in ("monitor", "tol"):
        if dest in given and not args.early_stopping:
            raise InvalidParameterError(f"{flag(dest)} needs --early-stopping PATIENCE")
    for dest in ("lr_step", "lr_gamma"):
        if dest in given and args.lr_schedule != "step":
            raise InvalidParameterError(
                f"{flag(dest)} applies to --lr-schedule step; the schedule is {args.lr_schedule}"
            )
    if args.early_stopping and args.monitor.startswith("val_") and not args.val_size:
        raise InvalidParameterError(
            f"--monitor {args.monitor} needs a validation set but --val-size "
            "is 0; pass --val-size N or --monitor loss"
        )


def option_text(dest: str, value: Any) -> str:
    """How ``value`` of option ``dest`` is written on a command line."""
    if dest == "batch_size" and value is None:
        return "full"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def command_line(args: argparse.Namespace, dests: tuple[str, ...] = STORED_OPTIONS) -> str:
    """A shell command that sets every option in ``dests`` to its value in ``args``."""
    words = ["python", "-m", "fastnn.train"]
    for dest in dests:
        value = getattr(args, dest)
        if value is not None or dest == "batch_size":
            words += [flag(dest), option_text(dest, value)]
    return shlex.join(words)


def stored_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options a checkpoint keeps, JSON-ready."""
    options = {d: getattr(args, d) for d in STORED_OPTIONS}
    return {d: (str(v) if isinstance(v, Path) else v) for d, v in options.items()}


def check_layers(layers: list[int]) -> None:
    """MNIST fixes both ends of the network; say so, with the likely intended list."""
    got = ",".join(map(str, layers))
    if layers[0] != N_PIXELS:  # most likely the hidden sizes only, or hidden plus output
        guess = [N_PIXELS, *layers] + ([] if layers[-1] == N_CLASSES else [N_CLASSES])
        raise InvalidParameterError(
            f"--layers must start with the {N_PIXELS} input pixels; got "
            f"{got} (did you mean {','.join(map(str, guess))}?)"
        )
    if len(layers) < 2 or layers[-1] != N_CLASSES:
        raise InvalidParameterError(
            f"--layers must end with the {N_CLASSES} classes, e.g. 784,128,64,10; got {got}"
        )


def resolve_activations(layers: list[int], names: list[str]) -> list[str] | str:
    """One name per weight layer; one name for all hidden layers; or hidden names only."""
    n = len(layers) - 1
    if len(names) == n:
        return names
    if len(names) == 1:
        return names[0]
    if len(names) == n - 1 and "softmax" not in names:
        return [*names, "softmax"]
    raise InvalidParameterError(
        f"--activations needs one name per weight layer ({n} for --layers "
        f"{','.join(map(str, layers))}) or one hidden-layer name; got {len(names)}: {','.join(names)}"
    )


def full_activations(layers: list[int], names: list[str]) -> list[str]:
    """:func:`resolve_activations` spelled out: one name per weight layer."""
    acts = resolve_activations(layers, names)
    return [acts] * (len(layers) - 2) + ["softmax"] if isinstance(acts, str) else list(acts)
