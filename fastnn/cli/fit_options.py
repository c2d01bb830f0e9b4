"""Where each option of ``python -m fastnn.train`` comes from, and what it becomes.

An option's value comes from, highest first: the command line; with ``--resume``,
the options stored in the checkpoint; the ``--preset``'s settings; the parser's
default. To know which flags the user actually typed, :func:`parse_args` hands
argparse a namespace pre-filled with :data:`UNSET` (argparse only assigns what it
parses and never overwrites an attribute with a default), so ``--preset tutorial
--lr 0.5`` keeps lr 0.5, even ``--lr 0.01`` (the parser default) is honoured, and
everything else comes from the preset.

The resolved options become the library's own objects: :func:`fit_config` (the
:class:`fastnn.fit_config.FitConfig` that ``MLP.fit`` checks every option with) and the
network (:func:`check_layers`, :func:`resolve_activations`). The flags themselves are
declared in :mod:`fastnn.cli.fit_flags`.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from fastnn.cli.fit_flags import build_parser  # commands take it from here, with the options
from fastnn.cli.presets import PRESETS
from fastnn.data.mnist_format import N_CLASSES, N_PIXELS
from fastnn.early_stopping import default_monitor
from fastnn.errors import InvalidParameterError
from fastnn.fit_config import FitConfig


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


def fit_config(args: argparse.Namespace) -> FitConfig:
    """The :class:`~fastnn.fit_config.FitConfig` the flags describe, checked by the library
    (``epochs`` is the total to reach); InvalidParameterError names the parameter."""
    return FitConfig(**fit_kwargs(args))


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
        args.monitor = default_monitor(has_validation=bool(args.val_size))


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
