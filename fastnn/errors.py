"""The exceptions fastnn raises, so callers can catch ours and nothing else.

Every message names the file or parameter at fault and what is wrong with it.
"""

from __future__ import annotations


class FastnnError(Exception):
    """Base class of every error fastnn raises on purpose."""


class DataError(FastnnError, ValueError):
    """A data or model file is missing, malformed or inconsistent.

    Subclasses ValueError so code written against NumPy's errors still catches it.
    """


class InvalidParameterError(FastnnError, ValueError):
    """An argument has the wrong type, shape or value (sklearn's message shape)."""


class TrainingDivergedError(FastnnError, FloatingPointError):
    """The loss became NaN, infinite or explosively large (``fastnn.training.diverged``), or the
    weights overflowed; the last good weights were kept."""
