"""The in-memory data set, :class:`MnistData`, and what is done to its arrays before
training: pixel scaling, the validation split, one-hot labels (NumPy only).

The loaders in :mod:`fastnn.data.loaders` build a :class:`MnistData` from each source.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastnn.data.mnist_format import N_CLASSES, N_PIXELS
from fastnn.errors import InvalidParameterError
from fastnn.validation import check_dtype, check_positive_int, check_y


@dataclass(frozen=True, repr=False, eq=False)
class MnistData:
    """A train/test split of 28x28 digits.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        uint8 gray levels 0..255, shape (n, 784), C-contiguous.
    y_train, y_test : numpy.ndarray
        int64 labels 0..9, shape (n,). The test arrays are empty for a CSV source.
    source : str
        Where the data came from: a path, or ``"embedded MNIST subset (5,000 digits)"``.
    dataset : str or None
        The name of a known data set (``"fashion-mnist"``) when loaded by that name.
    class_names : tuple of str or None
        One name per label when the data set has them (None: the labels are digits).
    """

    x_train: npt.NDArray[np.uint8]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.uint8]
    y_test: npt.NDArray[np.int64]
    source: str
    dataset: str | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not (
                isinstance(x, np.ndarray)
                and x.dtype == np.uint8
                and x.ndim == 2
                and x.shape[1] == N_PIXELS
                and x.flags.c_contiguous
            ):
                raise InvalidParameterError(
                    f"MnistData.x_{part} must be a C-contiguous uint8 array of shape (n, {N_PIXELS}); "
                    f"got {getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
                )
            if not (isinstance(y, np.ndarray) and y.dtype == np.int64 and y.shape == (len(x),)):
                raise InvalidParameterError(
                    f"MnistData.y_{part} must be an int64 array of shape ({len(x)},); "
                    f"got {getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}"
                )

    def __repr__(self) -> str:
        return f"MnistData(source={self.source!r}, n_train={len(self.x_train)}, n_test={len(self.x_test)})"

    def scaled(
        self, dtype: npt.DTypeLike = np.float32
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(x_train, y_train, x_test, y_test)`` with pixels scaled to [0, 1] in ``dtype``."""
        return (
            scale_pixels(self.x_train, dtype),
            self.y_train,
            scale_pixels(self.x_test, dtype),
            self.y_test,
        )


def scale_pixels(images: npt.NDArray[np.uint8], dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """Gray levels 0..255 to floats in [0, 1].

    Parameters
    ----------
    images : numpy.ndarray
        uint8, any shape.
    dtype : {"float32", "float64"}, default "float32"
        Output dtype. The division by 255 is done in this dtype (no float64
        intermediate for float32), so 0 maps to 0.0 and 255 to exactly 1.0.

    Returns
    -------
    numpy.ndarray
        Same shape as ``images``, a new array of ``dtype``.
    """
    dt = check_dtype(dtype)
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise InvalidParameterError(
            f"the 'images' parameter must be a uint8 array of gray levels 0..255; got dtype {arr.dtype}"
        )
    out = arr.astype(dt)
    out /= dt.type(255)
    return out


def split_validation(
    x: np.ndarray, y: np.ndarray, n_val: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out the first ``n_val`` samples for validation, as the classic tutorials do.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, ...)
    y : numpy.ndarray, shape (n,)
    n_val : int
        Number of validation samples, ``0 <= n_val < n``.

    Returns
    -------
    x_train, y_train, x_val, y_val : numpy.ndarray
        Views: ``x[n_val:], y[n_val:], x[:n_val], y[:n_val]``.
    """
    if len(x) != len(y):
        raise InvalidParameterError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if isinstance(n_val, bool) or not isinstance(n_val, numbers.Integral) or not 0 <= n_val < len(x):
        raise InvalidParameterError(f"the 'n_val' parameter must be an int in [0, {len(x)}); got {n_val!r}")
    n = int(n_val)
    return x[n:], y[n:], x[:n], y[:n]


def one_hot(y: npt.ArrayLike, n_classes: int = N_CLASSES, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """Integer labels, shape (n,), to a one-hot matrix of shape (n, n_classes) in ``dtype``."""
    k = check_positive_int("n_classes", n_classes)
    dt = check_dtype(dtype)
    labels = check_y(y, None, k)
    out = np.zeros((labels.size, k), dtype=dt)
    out[np.arange(labels.size), labels] = 1
    return out
