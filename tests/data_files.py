"""Data files written by the fastnn.data tests: IDX, CSV and npz bytes of given arrays.

Shared by ``test_data_loaders.py`` and ``test_data_bad_files.py``; the ``digits``
fixture they write is in ``conftest.py``.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np

from fastnn.data import (
    IDX_FILES,
)

N_PIXELS = 784


def idx_bytes(arr: np.ndarray, magic: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    """An IDX file for ``arr`` (uint8); ``magic``/``dims`` override the header to make bad files."""
    magic = 0x0800 + arr.ndim if magic is None else magic
    dims = arr.shape if dims is None else dims
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + arr.astype(np.uint8).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx_dir(
    directory: Path, images: np.ndarray, labels: np.ndarray, gz: bool = True, n_test: int = 10
) -> Path:
    directory.mkdir(exist_ok=True)
    parts = {
        "x_train": images[n_test:],
        "y_train": labels[n_test:],
        "x_test": images[:n_test],
        "y_test": labels[:n_test],
    }
    for key, base in IDX_FILES.items():
        write(directory / (base + (".gz" if gz else "")), idx_bytes(parts[key]), gz=gz)
    return directory


def csv_text(images: np.ndarray, labels: np.ndarray, label_last: bool = False, newline: str = "\n") -> str:
    flat = images.reshape(len(images), -1)
    pixel_names = [f"pixel{i}" for i in range(N_PIXELS)]
    header = [*pixel_names, "label"] if label_last else ["label", *pixel_names]
    rows = [",".join(map(str, [*p, y] if label_last else [y, *p])) for p, y in zip(flat, labels, strict=True)]
    return newline.join([",".join(header), *rows]) + newline


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
