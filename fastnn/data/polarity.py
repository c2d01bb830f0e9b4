"""Pixel polarity: MNIST digits are light strokes on a black background; catch the reverse.

A data set (or a photo of a digit) with dark ink on white paper has the opposite
polarity. A network trained on MNIST then sees a bright page with a dark hole and
predicts nonsense with confidence, and a network trained on the inverted data is
useless on real MNIST. Nothing crashes, so it has to be detected on purpose.

The test is per image and needs no fixed gray level: the background is the median
of the image's border ring (digits are centred, so the border is background), and it
is *light* when that median is nearer the image's brightest pixel than its darkest
one. A pencil sketch photographed at gray level 110 with strokes at 40 is therefore
a light background, and a blackboard at 60 with chalk at 200 a dark one. A data set
is inverted when most of its images are.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from fastnn.data.mnist_data import MnistData
from fastnn.data.mnist_format import IMAGE_SIDE, N_PIXELS
from fastnn.errors import DataError, InvalidParameterError

__all__ = ["FIX_FLAG", "PolarityWarning", "check_polarity", "detect_inverted", "light_background"]

#: The command-line flag that asks for inverted data to be fixed (see check_polarity).
FIX_FLAG = "--fix-polarity"


class PolarityWarning(UserWarning):
    """Issued when ``check_polarity(..., fix=True)`` inverts images."""


def _as_batch(images: npt.ArrayLike) -> np.ndarray:
    """(n, h, w) view of one image (h, w), a batch (n, h, w) or flat MNIST rows (n, 784)."""
    arr = np.asarray(images)
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == bool or not numeric:
        raise InvalidParameterError(
            f"the 'images' parameter must hold gray levels (uint8 0..255 or floats); got dtype {arr.dtype}"
        )
    if arr.ndim == 2 and arr.shape[1] == N_PIXELS:  # flat MNIST rows
        arr = arr.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    elif arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise InvalidParameterError(
            "the 'images' parameter must be one image (h, w), a batch (n, h, w) or flat MNIST rows "
            f"(n, {N_PIXELS}); got shape {np.shape(images)}"
        )
    return arr


def light_background(images: npt.ArrayLike) -> np.ndarray:
    """Per image: is the background lighter than the ink?

    Parameters
    ----------
    images : array_like
        One image (h, w), a batch (n, h, w), or flat 28x28 rows (n, 784); uint8 gray
        levels 0..255 (floats in [0, 1] work too).

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True where the median of the border ring is above the midpoint of the
        image's darkest and brightest pixel. The ring is 1 pixel wide for images up
        to 40 pixels and 5% of the shorter side beyond, so a frame line or a stray
        mark on the edge of a photo cannot decide it. A uniform image counts as light
        when its level is in the upper half of the dtype's range (0..255 or 0..1).
    """
    x = _as_batch(images)
    h, w = x.shape[1:]
    k = max(1, round(0.05 * min(h, w))) if min(h, w) > 40 else 1
    if min(h, w) <= 2 * k:  # too small for a ring: every pixel is border
        border = x.reshape(len(x), -1)
    else:
        border = np.concatenate(
            [
                x[:, :k, :].reshape(len(x), -1),
                x[:, -k:, :].reshape(len(x), -1),
                x[:, k:-k, :k].reshape(len(x), -1),
                x[:, k:-k, -k:].reshape(len(x), -1),
            ],
            axis=1,
        )
    med = np.median(border, axis=1).astype(np.float64)
    lo = x.min(axis=(1, 2)).astype(np.float64)
    hi = x.max(axis=(1, 2)).astype(np.float64)
    top = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    mid = np.where(hi > lo, (lo + hi) / 2, top / 2)
    return med > mid


def detect_inverted(images: npt.ArrayLike) -> bool:
    """True when the image (or most images of the batch) is dark ink on a light background.

    See :func:`light_background` for the accepted shapes and the rule. MNIST itself
    (light digits on 0) gives False; ``255 - mnist`` gives True.
    """
    light = light_background(images)
    return bool(light.size) and int(np.count_nonzero(light)) * 2 > light.size


def check_polarity(data: MnistData, fix: bool = False) -> MnistData:
    """Refuse (or, with ``fix=True``, invert) a data set of dark digits on a light background.

    Each split (train, test) is judged on its own, by majority (:func:`detect_inverted`).

    Parameters
    ----------
    data : MnistData
    fix : bool, default False
        Invert the inverted splits (``255 - x``) instead of raising, and issue a
        :class:`PolarityWarning` saying so.

    Returns
    -------
    MnistData
        ``data`` itself when nothing is inverted; otherwise (``fix=True``) a copy
        with the inverted splits inverted back and the same source.

    Raises
    ------
    DataError
        A split is inverted and ``fix`` is False; the message names the source and
        the fix (the ``--fix-polarity`` flag, or ``fix=True``).
    """
    bad = []
    for part in ("train", "test"):
        x = getattr(data, f"x_{part}")
        if len(x):
            light = light_background(x)
            if np.count_nonzero(light) * 2 > len(light):
                bad.append((part, int(np.count_nonzero(light)), len(light)))
    if not bad:
        return data
    what = " and ".join(f"{part} ({k:,} of {n:,} images)" for part, k, n in bad)
    if not fix:
        raise DataError(
            f"{data.source}: the {what} are dark digits on a light background, but MNIST (and every "
            f"model trained on it) has light digits on black; pass {FIX_FLAG} to invert them "
            "(check_polarity(data, fix=True) in code), or invert the files"
        )
    warnings.warn(
        f"{data.source}: inverted the {what}: they were dark digits on a light background",
        PolarityWarning,
        stacklevel=2,
    )
    parts = {name: getattr(data, name) for name in ("x_train", "y_train", "x_test", "y_test")}
    for part, _, _ in bad:
        parts[f"x_{part}"] = np.ascontiguousarray(255 - parts[f"x_{part}"])
    return MnistData(**parts, source=data.source)
