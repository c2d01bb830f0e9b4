"""fastnn.data: every bad file gets a DataError that says why, never a raw traceback.

Missing, truncated, lying or corrupt IDX files, malformed CSV cells and headers, npz
files with pickles, missing keys or lying headers; then fuzzed mutations of good files
and of .npy headers (hypothesis), which must raise DataError and nothing else.
All files are written by the tests into temporary directories.
"""

from __future__ import annotations

import gzip
import io
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_files import csv_text, idx_bytes, npz_bytes, write, write_idx_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.data import (
    load_csv,
    load_idx_dir,
    load_npz,
    read_idx,
)
from fastnn.errors import DataError

# ---------------------------------------------------------------------------- bad IDX files


def test_missing_idx_file_lists_what_was_looked_for(tmp_path, digits):
    directory = write_idx_dir(tmp_path / "mnist", *digits)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError,
        match=r"missing MNIST IDX file\(s\) t10k-labels-idx1-ubyte\[\.gz\]; "
        r"looked for train-images-idx3-ubyte\[\.gz\]",
    ):
        load_idx_dir(directory)
    with pytest.raises(DataError, match="no such directory"):
        load_idx_dir(tmp_path / "absent")
    with pytest.raises(DataError, match=r"absent\.gz: no such file or directory"):
        read_idx(tmp_path / "absent.gz")


def test_wrong_magic_number(tmp_path, digits):
    images, labels = digits
    path = write(
        tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(images, magic=0x0802, dims=(30, 784)), gz=True
    )
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz: wrong magic number 0x00000802, "
        r"expected 0x00000803 \(IDX uint8 images\)$",
    ):
        read_idx(path, ndim=3)
    labels_path = write(tmp_path / "labels", idx_bytes(labels))
    with pytest.raises(DataError, match=r"wrong magic number 0x00000801, expected 0x00000803"):
        read_idx(labels_path, ndim=3)
    with pytest.raises(
        DataError,
        match=r"wrong magic number 0x504B0304, expected 0x00000801 \(IDX uint8 "
        r"labels\) or 0x00000803",
    ):
        read_idx(write(tmp_path / "zip", b"PK\x03\x04" + bytes(100)))
    with pytest.raises(DataError, match=r"IDX data type 0x0D \(float32\) is not supported"):
        read_idx(write(tmp_path / "f32", struct.pack(">II", 0x0D01, 2) + bytes(8)))


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_and_extra_bytes(tmp_path, digits, gz):
    images, _ = digits
    good = idx_bytes(images)
    with pytest.raises(
        DataError,
        match=r"truncated: header declares shape \(30, 28, 28\) = 23,520 bytes "
        r"of data, file has 23,519",
    ):
        read_idx(write(tmp_path / "short", good[:-1], gz=gz))
    with pytest.raises(DataError, match="extra bytes after the data"):
        read_idx(write(tmp_path / "long", good + b"\0", gz=gz))
    with pytest.raises(DataError, match=r"truncated IDX header \(10 of 16 bytes\)"):
        read_idx(write(tmp_path / "header", good[:10], gz=gz))
    with pytest.raises(DataError, match="too short for an IDX header"):
        read_idx(write(tmp_path / "empty", b"", gz=gz))


@pytest.mark.parametrize("gz", [False, True])
def test_header_lying_about_a_huge_size_fails_fast(tmp_path, digits, gz):
    images, _ = digits
    lie = idx_bytes(images[:1], dims=(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))  # ~7.9e28 bytes declared
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"truncated: header declares shape \(4294967295, "):
        read_idx(write(tmp_path / "lie", lie, gz=gz))
    # A gzip bomb of zeros whose header declares 100x more than it holds: bounded read, no hang.
    bomb = idx_bytes(np.zeros((2_000, 28, 28), np.uint8), dims=(200_000, 28, 28))
    with pytest.raises(DataError, match="truncated"):
        read_idx(write(tmp_path / "bomb", bomb, gz=gz))
    assert time.perf_counter() - start < 5


def test_corrupt_gzip(tmp_path, digits):
    data = bytearray(gzip.compress(idx_bytes(digits[0]), mtime=0))
    data[-8] ^= 0xFF  # CRC
    with pytest.raises(DataError, match=r"bad.gz: corrupt or truncated gzip data \(CRC check failed"):
        read_idx(write(tmp_path / "bad.gz", bytes(data)))
    with pytest.raises(DataError, match="corrupt or truncated gzip data"):
        read_idx(write(tmp_path / "cut.gz", bytes(data[:200])))


def test_idx_count_mismatch_label_range_and_image_size(tmp_path, digits):
    images, labels = digits
    directory = write_idx_dir(tmp_path / "a", images, labels)
    write(directory / "train-labels-idx1-ubyte.gz", idx_bytes(labels[:19]), gz=True)
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz has 20 images but .*"
        r"train-labels-idx1-ubyte.gz has 19 labels",
    ):
        load_idx_dir(directory)
    bad_labels = labels.copy()
    bad_labels[3] = 10
    directory = write_idx_dir(tmp_path / "b", images, bad_labels)
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte.gz must hold labels in \[0, 9\] \(10 classes\); "
        r"got values from 0 to 10 \(index 3 is 10\)",
    ):
        load_idx_dir(directory)
    directory = write_idx_dir(tmp_path / "c", images, labels)
    write(directory / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((10, 20, 20), np.uint8)), gz=True)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: images are 20x20, expected 28x28"):
        load_idx_dir(directory)


# ---------------------------------------------------------------------------- bad CSV files


def _csv_with(tmp_path, digits, line: int, edit) -> Path:
    """A CSV whose ``line`` (1-based; 1 is the header) is replaced by ``edit(fields)``."""
    lines = csv_text(*digits).splitlines()
    fields = lines[line - 1].split(",")
    lines[line - 1] = ",".join(edit(fields))
    return write(tmp_path / "train.csv", ("\n".join(lines) + "\n").encode())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: f[:-1], r"train.csv: line 5: 784 fields, expected 785"),
        (lambda f: [*f, "0"], r"line 5: 786 fields, expected 785"),
        (lambda f: [*f[:3], "x7", *f[4:]], r"line 5, column 4: pixel 'x7' is not an integer"),
        (lambda f: [*f[:3], "1.5", *f[4:]], r"line 5, column 4: pixel '1.5' is not an integer"),
        (lambda f: [*f[:3], "", *f[4:]], r"line 5, column 4: pixel '' is not an integer"),
        (lambda f: [*f[:3], "256", *f[4:]], r"line 5, column 4: pixel 256 out of range 0..255"),
        (lambda f: [*f[:3], "-1", *f[4:]], r"line 5, column 4: pixel -1 out of range 0..255"),
        (lambda f: ["10", *f[1:]], r"line 5, column 1: label 10 out of range 0..9"),
        (lambda f: ["300", *f[1:]], r"line 5, column 1: label 300 out of range 0..9"),
    ],
)
def test_bad_csv_cells_name_the_line(tmp_path, digits, edit, message):
    with pytest.raises(DataError, match=message):
        load_csv(_csv_with(tmp_path, digits, 5, edit))


def test_bad_csv_headers(tmp_path, digits):
    images, labels = digits
    with pytest.raises(DataError, match="line 1: no header row"):
        load_csv(write(tmp_path / "a.csv", "\n".join(csv_text(images, labels).splitlines()[1:]).encode()))
    with pytest.raises(DataError, match="line 1: no 'label' column in the header"):
        load_csv(_csv_with(tmp_path, digits, 1, lambda f: ["pixelX", *f[1:]]))
    with pytest.raises(DataError, match="line 1: 'label' is column 2; expected it first or last"):
        load_csv(_csv_with(tmp_path, digits, 1, lambda f: [f[1], f[0], *f[2:]]))
    with pytest.raises(DataError, match="line 1: header has 784 columns, expected 785"):
        load_csv(_csv_with(tmp_path, digits, 1, lambda f: f[:-1]))
    with pytest.raises(DataError, match="no data lines after the header"):
        load_csv(write(tmp_path / "b.csv", csv_text(images, labels).splitlines()[0].encode() + b"\n"))
    with pytest.raises(DataError, match=r"c\.csv: no such file or directory"):
        load_csv(tmp_path / "c.csv")


def test_csv_line_of_spaces_is_reported(tmp_path, digits):
    lines = csv_text(*digits).splitlines()
    lines.insert(3, "  ")
    with pytest.raises(DataError, match="line 4: 1 fields, expected 785"):
        load_csv(write(tmp_path / "s.csv", "\n".join(lines).encode()))


def test_consistently_narrow_csv(tmp_path, digits):
    images, labels = digits
    text = csv_text(images, labels).splitlines()
    narrow = [text[0]] + [",".join(line.split(",")[:-1]) for line in text[1:]]
    with pytest.raises(DataError, match="line 2: 784 fields, expected 785"):
        load_csv(write(tmp_path / "n.csv", "\n".join(narrow).encode()))


# ---------------------------------------------------------------------------- bad npz files


def test_npz_with_pickled_object_array_is_refused(tmp_path, digits):
    images, labels = digits
    buf = io.BytesIO()
    obj = np.empty(2, dtype=object)
    obj[:] = [images, "payload"]
    np.savez(buf, x_train=obj, y_train=labels, x_test=images, y_test=labels)  # pickles x_train
    path = write(tmp_path / "evil.npz", buf.getvalue())
    with pytest.raises(
        DataError, match=r"evil.npz: array 'x_train' holds Python objects .*allow_pickle=False"
    ):
        load_npz(path)


def test_npz_missing_key_wrong_shape_and_count(tmp_path, digits):
    images, labels = digits
    path = write(tmp_path / "m.npz", npz_bytes(x_train=images, y_train=labels, x_test=images))
    with pytest.raises(
        DataError,
        match=r"m.npz: missing array 'y_test' \(found \['x_test', 'x_train', "
        r"'y_train'\]\); expected the Keras layout",
    ):
        load_npz(path)
    path = write(
        tmp_path / "s.npz",
        npz_bytes(x_train=images.reshape(30, 56, 14), y_train=labels, x_test=images, y_test=labels),
    )
    with pytest.raises(DataError, match=r"'x_train' has shape \(30, 56, 14\), expected \(n, 28, 28\)"):
        load_npz(path)
    path = write(
        tmp_path / "c.npz", npz_bytes(x_train=images, y_train=labels[:29], x_test=images, y_test=labels)
    )
    with pytest.raises(DataError, match="'x_train' has 30 images but 'y_train' has 29 labels"):
        load_npz(path)
    nan = images / 255.0
    nan[0, 0, 0] = np.nan
    path = write(tmp_path / "n.npz", npz_bytes(x_train=nan, y_train=labels, x_test=images, y_test=labels))
    with pytest.raises(DataError, match="'x_train' contains NaN"):
        load_npz(path)
    path = write(
        tmp_path / "r.npz",
        npz_bytes(x_train=images.astype(np.float32) * 2, y_train=labels, x_test=images, y_test=labels),
    )
    with pytest.raises(DataError, match=r"'x_train' has values 0..510, expected \[0, 1\] or \[0, 255\]"):
        load_npz(path)


def test_npz_not_a_zip_and_lying_header(tmp_path):
    with pytest.raises(DataError, match=r"x\.npz: not an npz \(zip\) archive"):
        load_npz(write(tmp_path / "x.npz", b"not a zip at all"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 784)}
        )
        zf.writestr("x_train.npy", header.getvalue() + bytes(1000))
    with pytest.raises(
        DataError,
        match=r"array 'x_train' declares shape \(1000000000, 784\) uint8 = "
        r"784,000,000,000 bytes, but its zip entry holds 1,000 bytes",
    ):
        load_npz(write(tmp_path / "lie.npz", buf.getvalue()))


# ---------------------------------------------------------------------------- fuzzing


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few bytes overwritten (often in the header), maybe a slice removed or cut short."""
    position = st.integers(0, min(len(seed), 48) - 1) | st.integers(0, len(seed) - 1)
    value = st.integers(0, 255) | st.sampled_from(list(b"0123456789,\n\r\x00\xff"))
    edits = st.lists(st.tuples(position, value), max_size=4)
    drop = st.none() | st.tuples(st.integers(0, len(seed)), st.integers(1, 64))
    cut = st.just(len(seed)) | st.integers(0, len(seed))

    def apply(args: tuple) -> bytes:
        changes, dropped, end = args
        data = bytearray(seed)
        for pos, byte in changes:
            data[pos] = byte
        if dropped:
            del data[dropped[0] : dropped[0] + dropped[1]]
        return bytes(data[:end])

    return st.tuples(edits, drop, cut).map(apply)


def _seed_files() -> dict[str, bytes]:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    labels = np.array([3, 7], np.uint8)
    stored = io.BytesIO()
    np.savez(stored, x_train=images, y_train=labels, x_test=images[:1], y_test=labels[:1])
    csv = csv_text(images, labels).replace("pixel", "p")  # a shorter header: more edits hit the data
    return {
        "idx": idx_bytes(images[:, :3, :4]),
        "idx.gz": gzip.compress(idx_bytes(labels), mtime=0),
        "csv": csv.encode(),
        "npz": npz_bytes(x_train=images, y_train=labels, x_test=images[:1], y_test=labels[:1]),
        "npz-stored": stored.getvalue(),  # uncompressed: edits reach the .npy headers
    }


SEEDS = _seed_files()
READERS = {"idx": read_idx, "idx.gz": read_idx, "csv": load_csv, "npz": load_npz, "npz-stored": load_npz}


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_fuzzed_files_raise_only_data_error(kind, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"fuzz-{kind.replace('.', '-')}")

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=_mutations(SEEDS[kind]) | st.binary(max_size=64))
    def check(data: bytes) -> None:
        path = write(directory / f"f.{kind}", data)
        try:
            READERS[kind](path)
        except DataError as exc:
            assert str(path) in str(exc)

    check()


NPY_DESCRS = ["|u1", "<f4", ">f8", "<i8", "|b1", "|O", "<c8", "|V4", "<U3", "<M8[s]", "'u1", "[('a', '<u1')]"]


@settings(max_examples=100, deadline=None, database=None)
@given(
    descr=st.sampled_from(NPY_DESCRS),
    fortran=st.booleans(),
    shape=st.lists(st.integers(-2, 2**40) | st.integers(0, 3000), max_size=3).map(tuple),
    payload=st.integers(0, 5000),
    stored=st.booleans(),
)
def test_fuzzed_npy_headers_raise_only_data_error(tmp_path_factory, descr, fortran, shape, payload, stored):
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if descr.startswith(("'", "[")):
        header = header.replace(repr(descr), descr)
    header += " " * (-(len(header) + 11) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + bytes(payload)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            zf.writestr(f"{key}.npy", npy)
    path = write(tmp_path_factory.getbasetemp() / "header.npz", buf.getvalue())
    try:
        load_npz(path)
    except DataError as exc:
        assert str(path) in str(exc)
