"""Argument checks at the API boundary, with sklearn-shaped messages.

Kernels never validate (Numba does not bounds-check): everything a kernel relies on
is established here, before any backend runs.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import reprlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from fastnn.errors import DataError, FastnnError, InvalidParameterError


def choice_error(
    name: str, choices: Iterable[object], value: object, *, none_allowed: bool = False
) -> InvalidParameterError:
    """fastnn's one wording for a value outside a fixed set: ``the 'NAME' parameter must
    be one of [...]; got VALUE`` (choices in the order given: pass them sorted), with
    ``or None`` after the list where None is accepted too (``none_allowed``)."""
    alternatives = f"{list(choices)}{' or None' if none_allowed else ''}"
    return InvalidParameterError(f"the '{name}' parameter must be one of {alternatives}; got {value!r}")


def check_positive_int(name: str, value: object) -> int:
    """An int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidParameterError(f"the '{name}' parameter must be a positive int; got {value!r}")
    return int(value)


def check_optional_positive_int(name: str, value: object) -> int | None:
    """An int >= 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidParameterError(f"the '{name}' parameter must be a positive int or None; got {value!r}")
    return int(value)


def check_dtype(dtype: object) -> np.dtype:
    """float32 or float64, from a name or a dtype."""
    dt: np.dtype | None
    try:
        # np.dtype(None) is float64; refuse it rather than guess.
        dt = None if dtype is None else np.dtype(dtype)  # type: ignore[call-overload]
    except Exception:  # any crafted spec ({"names": "a"}, bad offsets...) is just not a dtype
        dt = None
    # `None in (float32, float64)` is True in NumPy, so test for None first.
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise choice_error("dtype", ["float32", "float64"], dtype)
    return dt


def check_X(X: object, n_features: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """A finite, non-empty (n_samples, n_features) array, returned C-contiguous in ``dtype``."""
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"the '{name}' parameter must be a 2-D numeric array; {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidParameterError(
            f"the '{name}' parameter must be a 2-D numeric array; got dtype {arr.dtype}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidParameterError(f"the '{name}' parameter must be real; got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = (
            f" (flatten images to (n, {arr.shape[1] * arr.shape[2]}), e.g. X.reshape(len(X), -1))"
            if arr.ndim == 3
            else ""
        )
        raise InvalidParameterError(
            f"the '{name}' parameter must be a 2-D array (n_samples, {n_features}); "
            f"got shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise InvalidParameterError(f"the '{name}' parameter is empty; got shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise InvalidParameterError(
            f"the '{name}' parameter must have {n_features} features (the network's first layer "
            f"size); got shape {arr.shape}"
        )
    if np.issubdtype(arr.dtype, np.integer) and arr.size and arr.max() > 1:
        raise InvalidParameterError(
            f"the '{name}' parameter holds integers up to {arr.max()}; scale pixels to [0, 1] "
            f"first (X / 255, or fastnn.data.scale_pixels)"
        )
    return _finite_cast(arr, dtype, name)


def _finite_cast(arr: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``arr`` C-contiguous in ``dtype``, refused if any value is (or becomes) NaN or infinite."""
    with np.errstate(over="ignore", invalid="ignore"):
        # Values beyond float32's range become inf here and are reported just below.
        out = np.ascontiguousarray(arr, dtype=dtype)
        # One vectorised pass (half the time of isfinite().all(), which fit pays every
        # call): any NaN or inf makes the sum non-finite; only a sum that overflowed
        # from finite values needs the exact check.
        total = out.sum()
    if not np.isfinite(total) and not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise InvalidParameterError(
            f"the '{name}' parameter must be finite; got {bad} NaN or infinite values"
            + (f" after casting to {dtype}" if np.isfinite(arr).all() else "")
        )
    return out


def check_y(
    y: object, n_samples: int | None, n_classes: int, name: str = "y", *, in_file: str | None = None
) -> npt.NDArray[np.int64]:
    """Class labels in ``[0, n_classes)``, one per sample, returned as int64: fastnn's one
    label check, for arguments (``fit``, metrics, ``one_hot``) and data files alike.

    Integer dtypes are taken as they are; floats only when every value is finite and
    whole (``3.0``). ``n_samples`` None skips the length check (the caller compares
    lengths in its own words). Errors name ``name``: the argument ("the 'y' parameter",
    InvalidParameterError) or, with ``in_file``, the file and ``name`` in it
    (DataError; ``name`` "" for a file that holds only the labels).
    """
    error: type[FastnnError] = InvalidParameterError if in_file is None else DataError
    if in_file is None:
        subject = f"the '{name}' parameter"
    else:
        subject = f"{in_file}: {name}" if name else in_file
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise error(f"{subject} must hold integer class labels; {exc}") from None
    if arr.ndim == 2 and arr.shape[1] == n_classes and arr.shape[0] == (n_samples or arr.shape[0]):
        raise error(
            f"{subject} must hold integer class labels, shape ({arr.shape[0]},); "
            f"got a one-hot array of shape {arr.shape} (use y.argmax(axis=1))"
        )
    if arr.ndim != 1:
        raise error(f"{subject} must be 1-D with one label per sample; got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise error(f"{subject} must have one label per sample ({n_samples}); got {arr.shape[0]}")
    whole = np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool
    if np.issubdtype(arr.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            whole = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if not whole:
        raise error(f"{subject} must hold integer class labels; got dtype {arr.dtype}")
    # Compare before casting: a huge float or uint64 label must not wrap into range.
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        first = int(np.flatnonzero((arr < 0) | (arr >= n_classes))[0])
        raise error(
            f"{subject} must hold labels in [0, {n_classes - 1}] ({n_classes} classes); got values "
            f"from {_number(arr.min())} to {_number(arr.max())} (index {first} is {_number(arr[first])})"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _number(value: np.generic) -> str:
    """A label for a message: exact for integers (uint64 included), short for floats."""
    return str(value) if isinstance(value, np.integer) else f"{float(value):g}"


def check_targets(y: object, n_samples: int, n_outputs: int, dtype: np.dtype, name: str = "y") -> np.ndarray:
    """Finite regression targets, (n_samples, n_outputs) in ``dtype`` (C-contiguous).

    A 1-D ``y`` is accepted for a single output and becomes one column.
    """
    try:
        arr = np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"the '{name}' parameter must be a numeric array; {exc}") from None
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise InvalidParameterError(
            f"the '{name}' parameter must hold numeric regression targets; got dtype {arr.dtype}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InvalidParameterError(f"the '{name}' parameter must be real; got dtype {arr.dtype}")
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr[:, None]
    if arr.shape != (n_samples, n_outputs):
        raise InvalidParameterError(
            f"the '{name}' parameter must have shape ({n_samples}, {n_outputs}) (one row of targets per "
            f"sample, one column per output unit); got shape {arr.shape}"
        )
    return _finite_cast(arr, dtype, name)


#: Bounds on class names (model metadata, ONNX metadata): a list this long at most,
#: each name this many characters at most, so a hostile file cannot make us print megabytes.
MAX_CLASS_NAMES = 1000
MAX_CLASS_NAME_CHARS = 100


def check_class_names(value: object, n_classes: int, where: str) -> list[str]:
    """A list of ``n_classes`` printable strings of 1..MAX_CLASS_NAME_CHARS characters.

    Class names come from files (model metadata), so they are bounded and may hold no
    control characters (a name is printed to a terminal); else InvalidParameterError.
    """
    if not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            f"{where} must be a list of {n_classes} class names (strings); got {reprlib.repr(value)}"
        )
    ok = len(value) == n_classes <= MAX_CLASS_NAMES and all(
        isinstance(s, str) and 0 < len(s) <= MAX_CLASS_NAME_CHARS and s.isprintable() for s in value
    )
    if not ok:
        raise InvalidParameterError(
            f"{where} must be a list of {n_classes} non-empty printable strings of at most "
            f"{MAX_CLASS_NAME_CHARS} characters; got {reprlib.repr(value)}"
        )
    return [str(s) for s in value]


#: A network is refused when this many copies of its weights (weights, gradient and
#: the two Adam moments) would not fit in the machine's memory.
WEIGHT_COPIES_TO_TRAIN = 4


def memory_limit() -> int:
    """Bytes of memory this process can have: physical memory, or a lower cgroup limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 1 << 40
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            text = fh.read(64).strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"  # pragma: no cover


def check_network_memory(layer_sizes: Sequence[int], dtype: np.dtype, name: str = "layer_sizes") -> int:
    """The number of parameters of ``layer_sizes``; InvalidParameterError if training them
    would need more memory than the machine has (Python ints: no overflow, any size)."""
    sizes = [int(n) for n in layer_sizes]
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    weights = n_params * np.dtype(dtype).itemsize
    limit = memory_limit()
    if weights * WEIGHT_COPIES_TO_TRAIN > limit:
        raise InvalidParameterError(
            f"the '{name}' parameter {sizes} means {n_params:,} parameters: "
            f"{format_bytes(weights)} of {np.dtype(dtype).name} weights, about "
            f"{format_bytes(weights * WEIGHT_COPIES_TO_TRAIN)} to train, more than this "
            f"machine's {format_bytes(limit)} of memory"
        )
    return n_params


def check_real(name: str, value: object, *, low: float | None = None, high: float | None = None) -> float:
    """A finite real number (bools refused) within [low, high]."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and low is not None and float(value) < low:  # type: ignore[arg-type]
        ok = False
    if ok and high is not None and float(value) > high:  # type: ignore[arg-type]
        ok = False
    if not ok:
        where = (
            f" in [{low:g}, {high:g}]"
            if low is not None and high is not None
            else f" >= {low:g}"
            if low is not None
            else ""
        )
        raise InvalidParameterError(f"the '{name}' parameter must be a finite number{where}; got {value!r}")
    return float(value)  # type: ignore[arg-type]
