"""A user's own digit image to an MNIST input, the way MNIST itself was made.

LeCun et al. describe MNIST's preprocessing: each digit was size-normalised to fit a
20x20 box preserving its aspect ratio (anti-aliased, hence the gray levels), then
placed in a 28x28 field so that its centre of mass is at the centre. A network
trained on MNIST has only ever seen digits like that, so a photo or a drawing must
be brought to the same form before its prediction means anything:

1. gray levels (alpha composited over white; 16-bit and float images rescaled);
2. inverted when the background is light (:func:`fastnn.data.polarity.detect_inverted`);
3. the background level, measured on the border, is subtracted, isolated specks
   removed, and the contrast stretched so the strongest ink is 1 (:func:`ink_levels`);
4. cropped to the bounding box of the remaining ink;
5. resized (anti-aliased, in NumPy) so the longer side is 20 pixels;
6. pasted into a 28x28 canvas, shifted by whole pixels so that the centre of mass is
   at (14, 14) in row/column index coordinates, where full MNIST's mean lies.

No gray level is ever a fixed threshold: the crop keeps everything that stands out
from the background as measured on the image's own border. That assumes a plain
background (paper, a screen, a board) around one digit; crop a photo to the digit
first. JPEG ringing beside the strokes of a drawing on a noiseless background also
stands out, so it can widen the crop by a few percent.

Steps 2-6 need only NumPy and SciPy (:func:`preprocess_digit`); reading files
(:func:`load_image`) needs Pillow, an optional extra: ``pip install 'fastnn[images]'``.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn.data.mnist_format import IMAGE_SIDE
from fastnn.data.polarity import detect_inverted
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.paths import check_input_file

__all__ = [
    "BOX",
    "CENTRE",
    "SIDE",
    "MissingDependencyError",
    "ink_levels",
    "load_digit",
    "load_image",
    "optional_import",
    "preprocess_digit",
    "resize",
]

#: MNIST geometry: the 28x28 field, the 20x20 box the digit is scaled into, and the
#: centre of mass target (row, column) in index coordinates (full MNIST's mean: 14.0, 14.0).
SIDE, BOX, CENTRE = IMAGE_SIDE, 20, IMAGE_SIDE / 2

#: Larger images are first shrunk (by a whole factor, box filter) to this longest side.
MAX_SIDE = 1024

#: Ink components (8-connected) lighter than this fraction of the heaviest one are
#: specks of noise or dirt: they are removed so they cannot stretch the crop.
SPECK_FRACTION = 0.01

#: Border noise allowance, in robust standard deviations (1.4826 x median absolute
#: deviation) of the border pixels, added to the background level before cropping.
NOISE_SIGMAS = 3.0


class ImageWarning(UserWarning):
    """Something odd about an image file that was read anyway (the commands print it as
    one ``fastnn: warning:`` line)."""


class MissingDependencyError(FastnnError, ImportError):
    """An optional dependency (an install extra) is needed for what was asked."""


def optional_import(module: str, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra that installs it.

    ``package`` is the name to install when it differs from the import name (Pillow: PIL).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{purpose} needs {package}, which is not installed; install it with "
            f"pip install 'fastnn[{extra}]'"
        ) from None


def _pillow() -> ModuleType:
    image = optional_import("PIL.Image", "images", "reading image files", "Pillow")
    optional_import("PIL.ImageOps", "images", "reading image files", "Pillow")
    return image


def _to_gray(im: Any) -> np.ndarray:
    """A Pillow image to float64 gray levels 0..255, shape (h, w), at most MAX_SIDE a side."""
    mode: str = im.mode
    if mode.startswith("I;16"):
        im, kind = im.convert("I"), "I;16"
    elif mode in ("I", "F"):
        kind = mode
    elif mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        im, kind = im.convert("RGBA"), "RGBA"
    else:
        im, kind = im.convert("L"), "L"
    factor = -(-max(im.size) // MAX_SIDE)
    if factor > 1:  # a box-filtered integer shrink: plenty for a digit that ends 20 px tall
        im = im.reduce(factor)
    g = np.asarray(im, dtype=np.float64)
    if kind == "L":
        return g
    if kind == "I;16":
        return g / 257.0
    if kind in ("I", "F"):
        if not np.isfinite(g).all():
            bad = int(np.count_nonzero(~np.isfinite(g)))
            raise DataError(f"a floating-point image holding {bad:,} NaN or infinite pixel values")
        lo, hi = (float(g.min()), float(g.max())) if g.size else (0.0, 0.0)
        return (g - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(g)
    # Pillow's own luma (ITU-R 601-2), so an opaque image gives what convert("L") gives.
    luma = g[..., 0] * 0.299 + g[..., 1] * 0.587 + g[..., 2] * 0.114
    alpha = g[..., 3] / 255.0
    on_white = luma * alpha + 255.0 * (1.0 - alpha)
    # Strokes drawn in white on a transparent layer vanish on white (less than one gray
    # level of contrast left): composite over black then.
    return on_white if np.ptp(on_white) >= 1.0 else luma * alpha


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file (PNG, JPEG, ... anything Pillow reads) as gray levels.

    EXIF orientation is applied (phone photos), transparency is composited over
    white, and the first frame of an animation is used.

    Returns
    -------
    numpy.ndarray
        uint8, shape (h, w).

    Raises
    ------
    MissingDependencyError
        Pillow is not installed (the message names ``pip install 'fastnn[images]'``).
    DataError
        The file does not exist or is not an image Pillow can read.
    """
    Image = _pillow()
    ImageOps = importlib.import_module("PIL.ImageOps")
    if os.path.isdir(path):
        raise DataError(f"{os.fspath(path)}: a directory, not an image file")
    check_input_file(path, "image file")
    where = os.fspath(path)
    try:
        # Pillow warns (DecompressionBombWarning, "Corrupt EXIF data"...) with its own file
        # and line: catch them and say what they mean here, naming the image.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as im:
                bomb = next(
                    (w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)), None
                )
                if bomb is not None:
                    raise DataError(
                        f"{where}: {im.size[0]:,} x {im.size[1]:,} pixels, more than Pillow reads without "
                        "suspecting a decompression bomb; not a digit image"
                    )
                im = ImageOps.exif_transpose(im) or im
                gray = _to_gray(im)
    except DataError as exc:
        raise DataError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # UnidentifiedImageError is an OSError; truncated files raise OSError or SyntaxError.
        raise DataError(f"{where}: not an image file Pillow can read ({exc})") from None
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            continue
        message = str(w.message).strip().rstrip(".")
        what = "its EXIF orientation was ignored" if "EXIF" in message else "read anyway"
        warnings.warn(ImageWarning(f"{where}: {message} ({what})"), stacklevel=2)
    if gray.ndim != 2 or gray.size == 0:
        raise DataError(f"{os.fspath(path)}: empty image")
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def ink_levels(gray: npt.ArrayLike, invert: bool | None = None) -> np.ndarray:
    """Ink intensity in [0, 1] with the background at exactly 0.

    Parameters
    ----------
    gray : array_like, shape (h, w)
        uint8 gray levels 0..255 (or floats in [0, 1]).
    invert : bool or None
        Whether the ink is dark on a light background; None decides with
        :func:`fastnn.data.polarity.detect_inverted`.

    Returns
    -------
    numpy.ndarray
        float64, shape (h, w). No fixed threshold is applied: the level removed is
        the border's median plus ``NOISE_SIGMAS`` robust standard deviations of the
        border, so a clean drawing keeps every non-background pixel and a noisy
        photo loses only its noise; isolated specks (8-connected components with
        less than ``SPECK_FRACTION`` of the largest component's ink) are removed
        so that they cannot stretch the crop. The result is stretched so its
        maximum is 1.

    Raises
    ------
    DataError
        Nothing stands out from the background (a blank image).
    """
    g = np.asarray(gray)
    if g.ndim != 2 or g.size == 0:
        raise InvalidParameterError(f"the 'gray' parameter must be one 2-D image; got shape {g.shape}")
    if invert is None:
        invert = detect_inverted(g)
    top = 255.0 if np.issubdtype(g.dtype, np.integer) else 1.0
    x = g.astype(np.float64) / top
    if not np.isfinite(x).all():
        raise InvalidParameterError("the 'gray' parameter holds NaN or infinite values")
    if invert:
        x = 1.0 - x
    h, w = x.shape
    k = max(1, round(0.05 * min(h, w))) if min(h, w) > 40 else 1
    if min(h, w) > 2 * k:
        border = np.concatenate([x[:k].ravel(), x[-k:].ravel(), x[k:-k, :k].ravel(), x[k:-k, -k:].ravel()])
    else:
        border = x.ravel()
    bg = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - bg)))
    ink = np.clip(x - (bg + NOISE_SIGMAS * noise), 0.0, None)
    if float(ink.max()) <= 1e-12:
        raise DataError("no digit found: the image is uniform or nothing stands out from its background")
    ink = _remove_specks(ink)
    return ink / ink.max()


def _remove_specks(ink: np.ndarray) -> np.ndarray:
    """Zero the 8-connected ink components lighter than SPECK_FRACTION of the heaviest."""
    from scipy import ndimage

    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return ink
    mass = np.bincount(labels.ravel(), weights=ink.ravel())
    mass[0] = 0.0  # the background
    keep = mass >= SPECK_FRACTION * mass.max()
    return np.where(keep[labels], ink, 0.0)


def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of a triangle (linear) filter, widened when shrinking.

    Widening the filter to the input pixels one output pixel covers is what makes the
    shrink anti-aliased (every input pixel contributes, as in an area average); when
    enlarging it is plain linear interpolation. Pillow's BILINEAR resize does the same.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5  # output pixel centres, input coordinates
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / support)
    return weights / weights.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize of a 2-D float image to ``shape`` (rows, columns)."""
    rows = _resample_matrix(image.shape[0], shape[0])
    cols = _resample_matrix(image.shape[1], shape[1])
    return rows @ image @ cols.T


def _centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    total = x.sum()
    return (
        float(x.sum(axis=1) @ np.arange(x.shape[0]) / total),
        float(x.sum(axis=0) @ np.arange(x.shape[1]) / total),
    )


def preprocess_digit(gray: npt.ArrayLike, invert: bool | None = None) -> np.ndarray:
    """One digit image, any size, to a 28x28 MNIST-style input.

    Parameters
    ----------
    gray : array_like, shape (h, w)
        uint8 gray levels 0..255 (or floats in [0, 1]), either polarity.
    invert : bool or None
        Force the polarity decision (True: dark ink on light paper); None detects it.

    Returns
    -------
    numpy.ndarray
        float64, shape (28, 28), values in [0, 1], background 0, the ink scaled so
        its longer side is 20 pixels and its centre of mass within half a pixel of
        (14, 14) (unless the digit would then leave the canvas). Flatten it
        (``.reshape(1, 784)``) for ``MLP.predict``.

    Raises
    ------
    DataError
        A blank image: no ink to centre.
    """
    ink = ink_levels(gray, invert)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    longest = max(h, w)
    shape = (max(1, round(h * BOX / longest)), max(1, round(w * BOX / longest)))
    digit = np.clip(resize(crop, shape), 0.0, None)
    digit /= digit.max()  # a thin stroke shrunk a lot gets faint; MNIST strokes reach 255
    cy, cx = _centre_of_mass(digit)
    # Whole-pixel shifts, as MNIST's centre-of-mass spread (std 0.29 px: uniform rounding) shows.
    top = min(max(round(CENTRE - cy), 0), SIDE - shape[0])
    left = min(max(round(CENTRE - cx), 0), SIDE - shape[1])
    out = np.zeros((SIDE, SIDE))
    out[top : top + shape[0], left : left + shape[1]] = digit
    return out


def load_digit(path: str | os.PathLike[str], invert: bool | None = None) -> np.ndarray:
    """:func:`load_image` then :func:`preprocess_digit`: float64 (28, 28) in [0, 1].

    Raises DataError naming the file for an unreadable or blank image and
    MissingDependencyError when Pillow is not installed.
    """
    gray = load_image(path)
    try:
        return preprocess_digit(gray, invert)
    except DataError as exc:
        raise DataError(f"{os.fspath(path)}: {exc}") from None
