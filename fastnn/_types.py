"""Shared type aliases, kept in one place (numbagg's ``utils.py``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.integer]
DTypeLike = str | np.dtype | type

#: The float dtypes every backend supports, end to end.
SUPPORTED_DTYPES: tuple[str, ...] = ("float32", "float64")
