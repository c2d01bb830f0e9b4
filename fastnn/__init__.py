"""fastnn: a small, fast, honest MLP trainer with a NumPy reference and a Numba fast path.

Importing fastnn never imports Numba; the numba backend is loaded when first asked for.
"""

from __future__ import annotations

from fastnn.activations import ACTIVATIONS
from fastnn.backends import backend_names, get_backend
from fastnn.errors import DataError, FastnnError, InvalidParameterError, TrainingDivergedError
from fastnn.model import MLP

__version__ = "0.1.0"

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
