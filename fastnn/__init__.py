"""fastnn: a small, fast, honest MLP trainer with a NumPy reference and a Numba fast path.

Importing fastnn never imports Numba; the numba backend is loaded when first asked for.
"""

from __future__ import annotations

import os as _os
import signal as _signal
import sys as _sys
import threading as _threading


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C before a command's main() runs: a clean message and status 130, no traceback."""
    _sys.stderr.write("fastnn: interrupted while starting\n")
    raise SystemExit(130)


# `python -m fastnn.X` sets argv[0] to "-m" while it imports this package, and the console
# scripts are named fastnn-*: only then (never in a library user's process) is Ctrl-C
# during the slow start-up imports (NumPy, Numba) turned into a clean exit. Each
# command's main() puts Python's own handler back (fastnn.cli.common.command).
_COMMAND = _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "").startswith(
    "fastnn-"
)
if (
    _COMMAND
    and _threading.current_thread() is _threading.main_thread()
    and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
):
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

from fastnn._version import __version__  # noqa: E402
from fastnn.activations import ACTIVATIONS  # noqa: E402
from fastnn.backends import backend_names, get_backend  # noqa: E402
from fastnn.errors import DataError, FastnnError, InvalidParameterError, TrainingDivergedError  # noqa: E402
from fastnn.model import MLP  # noqa: E402

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "DataError",
    "FastnnError",
    "InvalidParameterError",
    "TrainingDivergedError",
    "__version__",
    "backend_names",
    "get_backend",
]
