"""Readers for the two non-IDX MNIST layouts: Kaggle CSV and Keras npz.

Both return plain arrays (uint8 pixels (n, 784), int64 labels (n,)); ``fastnn.data``
wraps them in ``MnistData``. Every problem raises DataError naming the file.

CSV: the fast path is one ``np.loadtxt(dtype=uint8)`` call (about 1 s for Kaggle's
42,000-row ``train.csv``). If it fails, a slower line-by-line pass finds the first
bad line and says what is wrong with it, so only broken files pay for the diagnosis.

npz: archives are read member by member with zipfile and ``np.lib.format``. Each
array's header is checked (no object dtype, so nothing is ever unpickled; a size
that the zip member can actually hold) before ``read_array(allow_pickle=False)``
allocates anything, so a lying header cannot cause a huge allocation.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from fastnn.errors import DataError
from fastnn.idx import DEFLATE_MAX_RATIO, open_maybe_gzip, read_at_most

N_PIXELS = 784
N_CLASSES = 10
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CSV_BYTES = 1 << 31
MAX_NPZ_ARRAY_BYTES = 1 << 32
# A line np.loadtxt(dtype=uint8) accepts: 785 integers 0..255 (labels are checked later).
_BYTE = r"[ \t]*\+?0*(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[ \t]*"
_ROW_OK = re.compile(rf"{_BYTE}(?:,{_BYTE}){{784}}\r?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def check_labels(where: str, key: str, labels: np.ndarray) -> npt.NDArray[np.int64]:
    """Integer labels 0..9 as int64, or DataError naming ``where`` and ``key``."""
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {key} must be integers 0..9; got dtype {labels.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        raise DataError(f"{where}: {key}[{bad[0]}] is {labels[bad[0]]}, expected a label 0..9")
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------- CSV


def _label_column(name: str, header: str) -> int:
    cols = [c.strip().strip("\"'").lower() for c in header.rstrip("\r").split(",")]
    if "label" not in cols:
        if all(_INTEGER.fullmatch(c) for c in cols):
            raise DataError(
                f"{name}: line 1: no header row; expected a Kaggle-style header 'label,pixel0,...,pixel783'"
            )
        raise DataError(
            f"{name}: line 1: no 'label' column in the header (a file without labels, "
            "such as Kaggle's test.csv, cannot be used to train or evaluate)"
        )
    if len(cols) != N_PIXELS + 1:
        raise DataError(
            f"{name}: line 1: header has {len(cols)} columns, expected {N_PIXELS + 1} "
            f"(a label and {N_PIXELS} pixels)"
        )
    index = cols.index("label")
    if index not in (0, N_PIXELS):
        raise DataError(f"{name}: line 1: 'label' is column {index + 1}; expected it first or last")
    return index


def _data_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(line number, line) for each data line; the header is line 1. Empty lines are
    skipped, as np.loadtxt skips them (a line of spaces is not empty to either)."""
    for number, line in enumerate(lines, start=2):
        if line not in ("", "\r"):
            yield number, line


def _explain_line(name: str, number: int, line: str, label_col: int) -> DataError | None:
    """What is wrong with one data line, or None if np.loadtxt(dtype=uint8) accepts it."""
    if _ROW_OK.fullmatch(line):
        return None
    fields = line.rstrip("\r").split(",")
    if len(fields) != N_PIXELS + 1:
        return DataError(
            f"{name}: line {number}: {len(fields)} fields, expected {N_PIXELS + 1} "
            f"(a label and {N_PIXELS} pixels)"
        )
    for column, field in enumerate(fields, start=1):
        what, top = ("label", 9) if column - 1 == label_col else ("pixel", 255)
        cell = field.strip()
        if not _INTEGER.fullmatch(cell):
            return DataError(
                f"{name}: line {number}, column {column}: {what} {cell[:20]!r} is not an integer"
            )
        if not 0 <= int(cell) <= top:
            return DataError(
                f"{name}: line {number}, column {column}: {what} {int(cell)} out of range 0..{top}"
            )
    return None


def _diagnose_csv(name: str, lines: list[str], label_col: int, reason: str) -> DataError:
    """The first bad line, explained; called only when the fast path failed.

    np.loadtxt's message names the failing row ("at row 41999"): look around it first,
    so a bad last line of a large file is explained at once, then scan everything.
    """
    data = list(_data_lines(lines))
    hint = re.search(r"at row ([0-9]+)", reason)
    near = data[max(0, int(hint.group(1)) - 2) : int(hint.group(1)) + 3] if hint else []
    for number, line in [*near, *data]:
        error = _explain_line(name, number, line, label_col)
        if error is not None:
            return error
    return DataError(f"{name}: cannot parse CSV ({reason})")


def read_csv_arrays(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Pixels (n, 784) uint8 and labels (n,) int64 from a Kaggle-style CSV, gz or plain."""
    name = os.fspath(path)
    with open_maybe_gzip(name) as (fh, _):
        raw = read_at_most(fh, MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise DataError(f"{name}: larger than {MAX_CSV_BYTES:,} bytes; not an MNIST CSV")
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    # latin-1 decodes any byte; anything that is not a digit is then reported as a bad cell.
    text = str(memoryview(raw)[start:], "latin-1")
    del raw
    header, _, body = text.partition("\n")
    del text
    label_col = _label_column(name, header)
    lines = body.split("\n")  # a list of lines parses faster and in less memory than a StringIO
    del body
    if next(_data_lines(lines), None) is None:
        raise DataError(f"{name}: no data lines after the header")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. loadtxt's "input contained no data"
            table = np.loadtxt(lines, delimiter=",", dtype=np.uint8, comments=None, ndmin=2)
    except (ValueError, Warning) as exc:
        raise _diagnose_csv(name, lines, label_col, str(exc)) from None
    if table.shape[1] != N_PIXELS + 1:
        raise _diagnose_csv(name, lines, label_col, f"{table.shape[1]} columns")
    labels = table[:, label_col]
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        number = next((n for i, (n, _) in enumerate(_data_lines(lines)) if i == bad[0]), "?")
        raise DataError(
            f"{name}: line {number}, column {label_col + 1}: label {labels[bad[0]]} out of range 0..9"
        )
    pixels = table[:, 1:] if label_col == 0 else table[:, :N_PIXELS]
    return np.ascontiguousarray(pixels), labels.astype(np.int64)


# ---------------------------------------------------------------------------- npz


def _read_npz_member(name: str, zf: zipfile.ZipFile, key: str) -> np.ndarray:
    """One array of a Keras-layout npz (see :func:`read_npy_member`)."""
    try:
        info = zf.getinfo(f"{key}.npy")
    except KeyError:
        found = sorted(n.removesuffix(".npy") for n in zf.namelist())
        raise DataError(
            f"{name}: missing array '{key}' (found {found}); expected the Keras layout {', '.join(NPZ_KEYS)}"
        ) from None
    return read_npy_member(name, zf, info, key)


def read_npy_member(
    name: str,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    expect: Callable[[tuple[int, ...], np.dtype], str | None] | None = None,
    max_bytes: int = MAX_NPZ_ARRAY_BYTES,
) -> np.ndarray:
    """One ``.npy`` member, after checking its header before anything is allocated.

    The header must be a numeric (never pickled) array whose declared size is what
    the zip entry holds and at most ``max_bytes``; ``expect(shape, dtype)`` may
    add a check of its own (the shape the metadata says) and returns a problem or None.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        room = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        room = DEFLATE_MAX_RATIO * info.compress_size + 1024
    else:
        raise DataError(
            f"{name}: array '{key}' uses zip compression method {info.compress_type}; "
            "only stored or deflated (np.savez, np.savez_compressed) are supported"
        )
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise DataError(f"{name}: array '{key}' uses .npy format version {version}; expected 1.0 or 2.0")
        header_size = fh.tell()
    if dtype.hasobject:
        raise DataError(
            f"{name}: array '{key}' holds Python objects (dtype {dtype}), which would "
            "need unpickling; only numeric arrays are loaded (allow_pickle=False)"
        )
    if info.file_size > room:
        raise DataError(
            f"{name}: array '{key}': its zip entry declares {info.file_size:,} bytes, more than "
            f"{info.compress_size:,} compressed bytes can hold"
        )
    if expect is not None:
        problem = expect(tuple(shape), dtype)
        if problem is not None:
            raise DataError(f"{name}: array '{key}' {problem}")
    nbytes = math.prod(shape) * dtype.itemsize
    if min(shape, default=0) < 0 or nbytes != info.file_size - header_size:
        raise DataError(
            f"{name}: array '{key}' declares shape {shape} {dtype} = {nbytes:,} bytes, "
            f"but its zip entry holds {info.file_size - header_size:,} bytes of data"
        )
    if nbytes > max_bytes:
        raise DataError(f"{name}: array '{key}' is {nbytes:,} bytes, more than the {max_bytes:,} it can need")
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _npz_images(name: str, key: str, arr: np.ndarray, unit_range: bool) -> npt.NDArray[np.uint8]:
    if not ((arr.ndim == 3 and arr.shape[1:] == (28, 28)) or (arr.ndim == 2 and arr.shape[1] == N_PIXELS)):
        raise DataError(f"{name}: '{key}' has shape {arr.shape}, expected (n, 28, 28) or (n, {N_PIXELS})")
    flat = arr.reshape(len(arr), N_PIXELS)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(flat)
    if np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        if flat.size and (flat.min() < 0 or flat.max() > 255):
            raise DataError(
                f"{name}: '{key}' has values {flat.min()}..{flat.max()}, expected gray levels 0..255"
            )
        return flat.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(flat).all():
            raise DataError(f"{name}: '{key}' contains NaN or infinite values")
        top = 1.0 if unit_range else 255.0
        if flat.size and (flat.min() < 0 or flat.max() > top):
            raise DataError(
                f"{name}: '{key}' has values {flat.min():g}..{flat.max():g}, expected [0, 1] or [0, 255]"
            )
        scaled = flat * 255.0 if unit_range else flat
        return np.rint(scaled).astype(np.uint8)
    raise DataError(f"{name}: '{key}' has dtype {arr.dtype}; expected uint8 or float images")


def read_npz_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``x_train, y_train, x_test, y_test`` (uint8 (n, 784) / int64 (n,)) from a Keras-style npz."""
    name = os.fspath(path)
    try:
        zf = zipfile.ZipFile(name)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file or directory") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, expected a file") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise DataError(f"{name}: not an npz (zip) archive ({exc})") from None
    try:
        with zf:
            raw = {key: _read_npz_member(name, zf, key) for key in NPZ_KEYS}
    except DataError:
        raise
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zlib.error,
        struct.error,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        TypeError,
        SyntaxError,
    ) as exc:
        raise DataError(f"{name}: corrupt npz archive ({type(exc).__name__}: {exc})") from None
    floats = [raw[k] for k in ("x_train", "x_test") if np.issubdtype(raw[k].dtype, np.floating)]
    unit_range = all(a.size == 0 or (np.isfinite(a).all() and a.max() <= 1.0) for a in floats)
    out: dict[str, np.ndarray] = {}
    for part in ("train", "test"):
        x = _npz_images(name, f"x_{part}", raw[f"x_{part}"], unit_range)
        y = raw[f"y_{part}"]
        if y.ndim != 1:
            raise DataError(f"{name}: 'y_{part}' has shape {y.shape}, expected (n,)")
        if len(x) != len(y):
            raise DataError(f"{name}: 'x_{part}' has {len(x):,} images but 'y_{part}' has {len(y):,} labels")
        out[f"x_{part}"], out[f"y_{part}"] = x, check_labels(name, f"'y_{part}'", y)
    return out
