"""IDX files (the MNIST distribution format), gzipped or raw, read without trusting the header.

Layout, big-endian: two zero bytes, a data-type code (only 0x08, unsigned byte, is
supported), the number of dimensions, one uint32 per dimension, then the data in C
order. MNIST uses magic 0x00000803 for images (count, rows, cols) and 0x00000801 for
labels (count). Gzip is detected by its magic bytes 1f 8b, whatever the file's suffix.

A header that lies about its size must never cause a huge allocation or a long read:
for a raw file the declared size is compared with the file size before anything is
allocated; for a gzip file it is compared with the most that deflate can expand the
file to, and then at most declared + 1 bytes are decompressed, in bounded chunks.
Every problem raises DataError naming the file; no OSError, EOFError or zlib.error
escapes.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import numpy as np
import numpy.typing as npt

from fastnn.errors import DataError
from fastnn.npz import DEFLATE_MAX_RATIO
from fastnn.paths import check_input_file
from fastnn.validation import choice_error

GZIP_MAGIC = b"\x1f\x8b"
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803
_UBYTE = 0x08
_KINDS = {1: "IDX uint8 labels", 3: "IDX uint8 images"}
_TYPE_NAMES = {0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
_CHUNK = 1 << 20


@contextmanager
def open_maybe_gzip(path: str | os.PathLike[str]) -> Iterator[tuple[IO[bytes], int | None]]:
    """Open ``path`` for reading, decompressing if it starts with the gzip magic bytes.

    Yields ``(stream, capacity)``: ``capacity`` is the most bytes the stream can
    deliver (the file size for a raw file, the deflate bound for gzip), or None when
    unknown (not a regular file). OSError, EOFError and zlib.error raised inside the
    block become DataError naming the file.
    """
    name = os.fspath(path)
    if os.path.exists(name) and not os.path.isdir(name):
        check_input_file(name, "data file")  # never open a FIFO (blocks) or a device (never ends)
    try:
        with open(name, "rb") as raw:
            st = os.fstat(raw.fileno())
            size = st.st_size if stat.S_ISREG(st.st_mode) else None
            if raw.read(2) != GZIP_MAGIC:
                raw.seek(0)
                yield raw, size
                return
            raw.seek(0)
            bound = None if size is None else DEFLATE_MAX_RATIO * size + 1024
            with gzip.GzipFile(fileobj=raw) as fh:
                yield fh, bound  # type: ignore[misc]
    except FileNotFoundError:
        raise DataError(f"{name}: no such file or directory") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, expected a file") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read ({exc.strerror or exc})") from None


def read_at_most(fh: IO[bytes], limit: int) -> bytearray:
    """Up to ``limit`` bytes from ``fh``, read in bounded chunks (never one huge read)."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = fh.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _check_magic(name: str, head: bytes, ndim: int | None) -> int:
    """The number of dimensions encoded in a valid magic number; DataError otherwise."""
    magic = int.from_bytes(head, "big")
    if head[:2] == b"\0\0" and head[2] in _TYPE_NAMES and head[3] in _KINDS:
        raise DataError(
            f"{name}: IDX data type 0x{head[2]:02X} ({_TYPE_NAMES[head[2]]}) is not supported, "
            f"only 0x08 (unsigned byte); magic number 0x{magic:08X}"
        )
    wanted = [ndim] if ndim is not None else sorted(_KINDS)
    if head[:3] != bytes([0, 0, _UBYTE]) or head[3] not in wanted:
        valid = " or ".join(f"0x{0x800 + d:08X} ({_KINDS[d]})" for d in wanted)
        raise DataError(f"{name}: wrong magic number 0x{magic:08X}, expected {valid}")
    return head[3]


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> npt.NDArray[np.uint8]:
    """Read an IDX uint8 file, gzipped or raw.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip is detected by its magic bytes, not by the suffix.
    ndim : {1, 3} or None, optional
        Expected number of dimensions: 1 for labels (magic 0x00000801), 3 for images
        (0x00000803). None accepts either.

    Returns
    -------
    numpy.ndarray
        uint8, shape as declared by the header: ``(count,)`` or ``(count, rows, cols)``.

    Raises
    ------
    DataError
        Wrong magic number or data type, a truncated header or payload, extra bytes
        after the payload, corrupt gzip data, or an unreadable or missing file.
    """
    if ndim is not None and ndim not in _KINDS:
        raise choice_error("ndim", [*sorted(_KINDS), None], ndim)
    name = os.fspath(path)
    with open_maybe_gzip(name) as (fh, capacity):
        head = read_at_most(fh, 4)
        if len(head) < 4:
            raise DataError(f"{name}: file too short for an IDX header ({len(head)} bytes)")
        nd = _check_magic(name, bytes(head), ndim)
        raw_dims = read_at_most(fh, 4 * nd)
        if len(raw_dims) < 4 * nd:
            raise DataError(f"{name}: truncated IDX header ({4 + len(raw_dims)} of {4 + 4 * nd} bytes)")
        dims = struct.unpack(f">{nd}I", raw_dims)
        expected = math.prod(dims)
        declared = f"header declares shape {dims} = {expected:,} bytes of data"
        if capacity is not None:
            room = capacity - (4 + 4 * nd)
            if expected > room and isinstance(fh, gzip.GzipFile):
                raise DataError(
                    f"{name}: truncated: {declared}, more than this gzip file can hold (at most ~{room:,})"
                )
            if expected > room:
                raise DataError(f"{name}: truncated: {declared}, file has {room:,}")
            if expected < room and not isinstance(fh, gzip.GzipFile):
                raise DataError(f"{name}: {room - expected:,} extra bytes after the data ({declared})")
        # Bounded by capacity above. One byte past the declared end finds extra data and,
        # for gzip, reaches the end of the stream, where the CRC is checked.
        data = read_at_most(fh, expected + 1)
        if len(data) < expected:
            raise DataError(f"{name}: truncated: {declared}, file has {len(data):,}")
        if len(data) > expected:
            raise DataError(f"{name}: extra bytes after the data ({declared})")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)
