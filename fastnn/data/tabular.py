"""Readers for the two non-IDX MNIST layouts: Kaggle CSV and Keras npz.

Both return plain arrays (uint8 pixels (n, 784), int64 labels (n,)); ``fastnn.data``
wraps them in ``MnistData``. Every problem raises DataError naming the file.

CSV: streamed, a batch of lines at a time, each batch one ``np.loadtxt(dtype=uint8)``
call (about 1 s for Kaggle's 42,000-row ``train.csv``). A line longer than any MNIST
row, or more than :data:`MAX_CSV_BYTES` in all (a sparse file, a gzip bomb), is
refused when it is reached, so memory stays bounded. If a batch fails to parse, a
slower pass over that batch finds the first bad line and says what is wrong with it.

npz: archives are read member by member with zipfile and ``np.lib.format``. Each
array's header is checked (no object dtype, so nothing is ever unpickled; a size
that the zip member can actually hold) before ``read_array(allow_pickle=False)``
allocates anything, so a lying header cannot cause a huge allocation.
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import struct
import warnings
import zipfile
from collections.abc import Iterator
from typing import IO

import numpy as np
import numpy.typing as npt

from fastnn.data.idx import open_maybe_gzip
from fastnn.data.mnist_format import IMAGE_SIDE, N_CLASSES, N_PIXELS
from fastnn.errors import DataError
from fastnn.npz import NPZ_READ_ERRORS, read_npy_member
from fastnn.paths import check_input_file
from fastnn.validation import check_y

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
#: A CSV larger than this is refused as soon as the reader gets there (the parsed
#: table is at most about half of it: 785 bytes a row of at least 1,569 characters).
MAX_CSV_BYTES = 1 << 31
#: No MNIST row is longer: 785 cells of up to a few characters each.
MAX_CSV_LINE = 1 << 16
CSV_BATCH_LINES = 8192
# A line np.loadtxt(dtype=uint8) accepts: 785 integers 0..255 (labels are checked later).
_BYTE = r"[ \t]*\+?0*(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[ \t]*"
_ROW_OK = re.compile(rf"{_BYTE}(?:,{_BYTE}){{{N_PIXELS}}}\r?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


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
        what, top = ("label", N_CLASSES - 1) if column - 1 == label_col else ("pixel", 255)
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


def _parse_batch(name: str, batch: list[tuple[int, str]], label_col: int) -> np.ndarray:
    """One batch of data lines as a uint8 table (n, 785); the first bad line explained."""
    lines = [line for _, line in batch]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. loadtxt's "input contained no data"
            table = np.loadtxt(lines, delimiter=",", dtype=np.uint8, comments=None, ndmin=2)
        if table.shape != (len(lines), N_PIXELS + 1):
            raise ValueError(f"{table.shape[1]} columns")
    except (ValueError, Warning) as exc:
        for number, line in batch:
            error = _explain_line(name, number, line, label_col)
            if error is not None:
                raise error from None
        raise DataError(f"{name}: cannot parse CSV ({exc})") from None
    bad = np.flatnonzero(table[:, label_col] >= N_CLASSES)
    if bad.size:
        raise DataError(
            f"{name}: line {batch[bad[0]][0]}, column {label_col + 1}: label "
            f"{table[bad[0], label_col]} out of range 0..{N_CLASSES - 1}"
        )
    return table


def _lines(name: str, fh: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, refused as soon as one is longer than an MNIST
    row can be or the total exceeds :data:`MAX_CSV_BYTES` (a huge or sparse file, a
    gzip bomb): memory stays bounded by what has been parsed so far."""
    total = 0
    number = 0
    while True:
        raw = fh.readline(MAX_CSV_LINE + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if len(raw) > MAX_CSV_LINE:
            raise DataError(
                f"{name}: line {number} is longer than {MAX_CSV_LINE:,} bytes (an MNIST row is about "
                f"3,000 at most); not an MNIST CSV"
            )
        if total > MAX_CSV_BYTES:
            raise DataError(f"{name}: larger than {MAX_CSV_BYTES:,} bytes; not an MNIST CSV")
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        # latin-1 decodes any byte; anything that is not a digit is then reported as a bad cell.
        yield number, raw.decode("latin-1").removesuffix("\n")


def read_csv_arrays(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Pixels (n, 784) uint8 and labels (n,) int64 from a Kaggle-style CSV, gz or plain.

    Streamed: read and parsed :data:`CSV_BATCH_LINES` lines at a time, so a bad line,
    a line too long or a file too large is refused as soon as it is reached.
    """
    name = os.fspath(path)
    tables: list[np.ndarray] = []
    with open_maybe_gzip(name) as (fh, capacity):
        if capacity is not None and not isinstance(fh, gzip.GzipFile) and capacity > MAX_CSV_BYTES:
            raise DataError(f"{name}: larger than {MAX_CSV_BYTES:,} bytes; not an MNIST CSV")
        lines = _lines(name, fh)
        first = next(lines, None)
        label_col = _label_column(name, first[1] if first is not None else "")
        batch: list[tuple[int, str]] = []
        for number, line in lines:
            if line in ("", "\r"):  # empty lines are skipped, as np.loadtxt skips them
                continue
            batch.append((number, line))
            if len(batch) == CSV_BATCH_LINES:
                tables.append(_parse_batch(name, batch, label_col))
                batch = []
        if batch:
            tables.append(_parse_batch(name, batch, label_col))
    if not tables:
        raise DataError(f"{name}: no data lines after the header")
    table = np.concatenate(tables) if len(tables) > 1 else tables[0]
    del tables
    labels = table[:, label_col]
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


def _npz_images(name: str, key: str, arr: np.ndarray, unit_range: bool) -> npt.NDArray[np.uint8]:
    if not (
        (arr.ndim == 3 and arr.shape[1:] == (IMAGE_SIDE, IMAGE_SIDE))
        or (arr.ndim == 2 and arr.shape[1] == N_PIXELS)
    ):
        raise DataError(
            f"{name}: '{key}' has shape {arr.shape}, expected (n, {IMAGE_SIDE}, {IMAGE_SIDE}) or (n, {N_PIXELS})"
        )
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
    if os.path.exists(name) and not os.path.isdir(name):
        check_input_file(name, "data file")  # a FIFO would block forever, a device never end
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
    except NPZ_READ_ERRORS as exc:
        raise DataError(f"{name}: corrupt npz archive ({type(exc).__name__}: {exc})") from None
    floats = [raw[k] for k in ("x_train", "x_test") if np.issubdtype(raw[k].dtype, np.floating)]
    unit_range = all(a.size == 0 or (np.isfinite(a).all() and a.max() <= 1.0) for a in floats)
    out: dict[str, np.ndarray] = {}
    for part in ("train", "test"):
        x = _npz_images(name, f"x_{part}", raw[f"x_{part}"], unit_range)
        y = check_y(raw[f"y_{part}"], None, N_CLASSES, f"'y_{part}'", in_file=name)
        if len(x) != len(y):
            raise DataError(f"{name}: 'x_{part}' has {len(x):,} images but 'y_{part}' has {len(y):,} labels")
        out[f"x_{part}"], out[f"y_{part}"] = x, y
    return out
