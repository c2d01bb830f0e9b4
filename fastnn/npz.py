"""Reading one ``.npy`` member of an ``.npz`` archive as hostile input: header first, size bounded.

Shared by the model files (:mod:`fastnn.model_files`) and the Keras-layout data files
(:mod:`fastnn.data.tabular`): a library module, so that the model files need nothing
from the data layer.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

from fastnn.errors import DataError

# Deflate expands at most ~1032:1, so a gzip file of n bytes cannot hold more than this.
DEFLATE_MAX_RATIO = 1032
MAX_NPZ_ARRAY_BYTES = 1 << 32
#: What zipfile and np.lib.format raise on a damaged archive (all become DataError).
NPZ_READ_ERRORS = (
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
)


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
