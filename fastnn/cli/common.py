"""Pieces every ``python -m fastnn.<command>`` shares: argument types, flags, help, errors, versions.

The one module of :mod:`fastnn.cli` that every command imports: the help formatter,
the ``--model``/``--backend``/``--threads`` flags, argument types, the messages that
name flags, and :func:`command`, the wrapper every ``main`` runs its body in.

Each command reports a bad flag the way argparse does (usage line, exit 2) and a
problem the library finds (bad file, bad value) as one ``fastnn: error: ...`` line,
exit 2, never a traceback: users of a command line read messages, not stacks.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import platform
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastnn.activations import ACTIVATIONS, ALIASES, HIDDEN_ACTIVATIONS, get_activation
from fastnn.backends import DEFAULT_BACKEND, backend_names
from fastnn.errors import InvalidParameterError

#: Exit statuses: 1 = ran but did not succeed (target missed, diverged), 2 = usage.
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

#: Library parameter name -> the flag that sets it, so library messages name the flag.
#: Training samples held out as the validation set by default: train's --val-size and
#: the --split val of evaluate, predict and plots, which must divide the data the same way.
VAL_SIZE = 1000

PARAM_FLAGS = {
    "layer_sizes": "--layers",
    "activations": "--activations",
    "activation": "--activations",
    "init": "--init",
    "epochs": "--epochs",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "optimizer": "--optimizer",
    "momentum": "--momentum",
    "weight_decay": "--weight-decay",
    "dtype": "--dtype",
    "seed": "--seed",
    "threads": "--threads",
    "backend": "--backend",
    "lr_schedule": "--lr-schedule",
    "lr_step": "--lr-step",
    "lr_gamma": "--lr-gamma",
    "early_stopping": "--early-stopping",
    "monitor": "--monitor",
    "tol": "--tol",
    "total_epochs": "--epochs",
}


def error(message: str) -> int:
    """Print ``fastnn: error: message`` on stderr; return the usage exit status."""
    print(f"fastnn: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def name_flags(message: str) -> str:
    """Add the flag after each ``the 'x' parameter`` a library message mentions."""

    def repl(m: re.Match[str]) -> str:
        flag = PARAM_FLAGS.get(m.group(1))
        return f"{m.group(0)} ({flag})" if flag else m.group(0)

    return re.sub(r"the '(\w+)' parameter(?! \(--)", repl, message)  # once, however often called


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int; got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0; got {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite float (ranges are the library's to check)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite float >= 0 (a tolerance)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}")
    return value


def decay_factor(text: str) -> float:
    """argparse type: a float in (0, 1], a factor that shrinks something (1: no change)."""
    value = finite_float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (0.1 divides by 10); got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float in [0, 1], e.g. an accuracy."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1] (0.97 means 97%); got {text!r}")
    return value


def batch_size(text: str) -> int | None:
    """argparse type: a positive int, or ``full`` (None: full-batch gradient descent)."""
    if text.strip().lower() == "full":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be a positive int (1 = per-sample SGD) or 'full'; got {text!r}"
        ) from None


def int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive ints, e.g. ``784,128,10``."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive ints such as 784,128,64,10; got {text!r}"
        )
    return [int(p) for p in parts]


def activation_list(text: str) -> list[str]:
    """argparse type: comma-separated registry names (aliases allowed), canonicalised."""
    names = [p.strip() for p in text.split(",")]
    try:
        return [get_activation(n).name for n in names]
    except InvalidParameterError:
        bad = next(n for n in names if n.lower() not in ACTIVATIONS and n.lower() not in ALIASES)
        raise argparse.ArgumentTypeError(
            f"unknown activation {bad!r}; valid names: {', '.join(HIDDEN_ACTIVATIONS)} "
            f"(hidden layers), softmax (output layer); aliases: "
            f"{', '.join(f'{k}={v}' for k, v in ALIASES.items())}"
        ) from None


def versions() -> dict[str, Any]:
    """Versions that decide the numbers a run produces (numba's without importing it)."""
    import numpy as np

    from fastnn._version import __version__

    try:
        numba_version: str | None = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        numba_version = None
    return {
        "fastnn": __version__,
        "numpy": np.__version__,
        "numba": numba_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def json_safe(value: Any) -> Any:
    """Replace inf/NaN (invalid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class GuardedStdout:
    """Standard output that never raises: the first failed write (a full device, a closed
    pipe) is reported once on stderr and later output is dropped, so a run that cannot
    print still trains and writes its files, and no traceback replaces its messages."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.failed: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        if self.failed is None:
            self.failed = exc
            if not isinstance(exc, BrokenPipeError):  # `| head`: stopping quietly is expected
                print(
                    f"fastnn: error: cannot write to standard output ({exc.strerror or exc}); "
                    "its further output is dropped",
                    file=sys.stderr,
                )
            with contextlib.suppress(OSError, ValueError, AttributeError):
                # The interpreter flushes stdout at exit: give it somewhere that cannot fail.
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                return int(self._stream.write(text))
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._fail(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def command(body: Callable[[], int]) -> int:
    """Run a command's body with what every command shares: Python's Ctrl-C handler back
    (see ``fastnn/__init__.py``), a standard output that cannot raise, and a clean
    message for Ctrl-C. Returns the exit status (1 if standard output failed)."""
    if threading.current_thread() is threading.main_thread():
        from fastnn import _interrupted_while_starting

        if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    guard = GuardedStdout(sys.stdout)
    sys.stdout = guard
    try:
        status = body()
        guard.flush()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    finally:
        sys.stdout = guard._stream
    if guard.failed is not None and status == 0:
        status = EXIT_FAILED
    return status


# ---------------------------------------------------------------------------- help and shared flags


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: ...)`` except where the default is None/False/SUPPRESS or the flag is required
    (the help says why); description and epilog keep their line breaks (indented lines stay as they are)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.required:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            line
            if not line or line.startswith(" ")
            else textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent)
            for line in text.splitlines()
        )


def add_backend_flag(group: argparse._ActionsContainer) -> None:
    """``--backend``: numpy (the reference) or numba."""
    group.add_argument(
        "--backend",
        choices=backend_names(),
        default=DEFAULT_BACKEND,
        help="who computes; results agree to floating-point tolerance",
    )


def add_threads_flag(group: argparse._ActionsContainer) -> None:
    """``--threads N``: the BLAS/Numba thread limit."""
    group.add_argument(
        "--threads",
        metavar="N",
        type=positive_int,
        default=None,
        help="maximum BLAS/Numba threads (default: the libraries' own, all CPUs)",
    )


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--backend``, ``--threads``: the model group of every command that reads a model."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        metavar="PATH",
        type=Path,
        required=True,
        help="a model file written by python -m fastnn.train --save (.npz)",
    )
    add_backend_flag(group)
    add_threads_flag(group)
