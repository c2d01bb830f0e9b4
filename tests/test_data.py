"""fastnn.data: every loader round-trips, every bad file gets a DataError that says why.

All files are written by the tests into temporary directories; no network, no shared
data. Real MNIST is checked only when FASTNN_TEST_MNIST_DIR points at the IDX files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.data import (
    EMBEDDED_SOURCE,
    IDX_FILES,
    MnistData,
    load_csv,
    load_dataset,
    load_embedded,
    load_idx_dir,
    load_npz,
    one_hot,
    read_idx,
    scale_pixels,
    split_validation,
)
from fastnn.data.embedded import rebuild
from fastnn.errors import DataError, InvalidParameterError

N_PIXELS = 784


# ---------------------------------------------------------------------------- helpers


def idx_bytes(arr: np.ndarray, magic: int | None = None, dims: tuple[int, ...] | None = None) -> bytes:
    """An IDX file for ``arr`` (uint8); ``magic``/``dims`` override the header to make bad files."""
    magic = 0x0800 + arr.ndim if magic is None else magic
    dims = arr.shape if dims is None else dims
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + arr.astype(np.uint8).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    """30 random 28x28 digits with labels 0..9 (three of each), one all-zero image."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    images[0] = 0
    labels = np.tile(np.arange(10, dtype=np.uint8), 3)
    return images, labels


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


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("suffix", ["", ".gz", ".bin"])
def test_read_idx_round_trip(tmp_path, digits, gz, suffix):
    images, labels = digits
    img = write(tmp_path / f"images{suffix}", idx_bytes(images), gz=gz)  # gzip found by magic bytes
    lbl = write(tmp_path / f"labels{suffix}", idx_bytes(labels), gz=gz)
    out = read_idx(img)
    assert out.dtype == np.uint8 and out.shape == (30, 28, 28)
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(read_idx(lbl, ndim=1), labels)


@pytest.mark.parametrize("gz", [True, False])
def test_load_idx_dir_round_trip(tmp_path, digits, gz):
    images, labels = digits
    data = load_idx_dir(write_idx_dir(tmp_path / "mnist", images, labels, gz=gz))
    assert data.x_train.shape == (20, N_PIXELS) and data.x_test.shape == (10, N_PIXELS)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.x_train, images[10:].reshape(20, -1))
    np.testing.assert_array_equal(data.y_test, labels[:10])
    assert data.source == str(tmp_path / "mnist")


def test_load_idx_dir_mixes_gz_and_raw_and_prefers_raw(tmp_path, digits):
    images, labels = digits
    directory = write_idx_dir(tmp_path / "mnist", images, labels, gz=True)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    write(directory / "t10k-labels-idx1-ubyte", idx_bytes(labels[:10]))
    write(directory / "train-images-idx3-ubyte", idx_bytes(255 - images[10:]))  # raw beside .gz
    data = load_idx_dir(directory)
    np.testing.assert_array_equal(data.y_test, labels[:10])
    np.testing.assert_array_equal(data.x_train, (255 - images[10:]).reshape(20, -1))


@pytest.mark.parametrize("label_last", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_load_csv_round_trip(tmp_path, digits, label_last, gz):
    images, labels = digits
    path = write(
        tmp_path / ("train.csv.gz" if gz else "train.csv"),
        csv_text(images, labels, label_last).encode(),
        gz=gz,
    )
    data = load_csv(path)
    np.testing.assert_array_equal(data.x_train, images.reshape(30, -1))
    np.testing.assert_array_equal(data.y_train, labels)
    assert data.x_test.shape == (0, N_PIXELS) and data.y_test.shape == (0,)
    assert data.x_test.dtype == np.uint8 and data.y_test.dtype == np.int64


def test_load_csv_accepts_crlf_bom_and_blank_trailing_lines(tmp_path, digits):
    images, labels = digits
    text = "\ufeff" + csv_text(images, labels, newline="\r\n") + "\r\n\r\n"
    data = load_csv(write(tmp_path / "train.csv", text.encode("utf-8")))
    np.testing.assert_array_equal(data.x_train, images.reshape(30, -1))


@pytest.mark.parametrize("layout", ["3d-uint8", "2d-uint8", "float-unit", "float-255", "int64"])
def test_load_npz_round_trip(tmp_path, digits, layout):
    images, labels = digits
    x = {
        "3d-uint8": images,
        "2d-uint8": images.reshape(30, -1),
        "float-unit": images / 255.0,
        "float-255": images.astype(np.float32),
        "int64": images.astype(np.int64),
    }[layout]
    path = write(
        tmp_path / "mnist.npz",
        npz_bytes(x_train=x[10:], y_train=labels[10:], x_test=x[:10], y_test=labels[:10].astype(np.int64)),
    )
    data = load_npz(path)
    np.testing.assert_array_equal(data.x_train, images[10:].reshape(20, -1))
    np.testing.assert_array_equal(data.x_test, images[:10].reshape(10, -1))
    np.testing.assert_array_equal(data.y_train, labels[10:])
    assert data.x_train.dtype == np.uint8 and data.y_test.dtype == np.int64


def test_load_embedded():
    data = load_embedded()
    assert data.source == EMBEDDED_SOURCE
    assert data.x_train.shape == (4000, N_PIXELS) and data.x_test.shape == (1000, N_PIXELS)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.y_test, minlength=10), [100] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_train, minlength=10), [400] * 10)
    # Interleaved one per class, so the first n_val samples make a balanced validation set.
    np.testing.assert_array_equal(data.y_train[:20], np.tile(np.arange(10), 2))
    # Deterministic, and no digit is in both sets.
    again = load_embedded()
    np.testing.assert_array_equal(again.x_test, data.x_test)
    train_rows = {row.tobytes() for row in data.x_train}
    assert not any(row.tobytes() in train_rows for row in data.x_test)


def test_embedded_file_is_small_and_plain():
    path = Path(rebuild.__file__).with_name("mnist_5k.npz")
    assert path.stat().st_size < 900_000
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["images.npy", "labels.npy"]
    with np.load(path, allow_pickle=False) as npz:
        assert npz["images"].dtype == np.uint8 and npz["images"].shape == (5000, N_PIXELS)
        np.testing.assert_array_equal(np.bincount(npz["labels"]), [500] * 10)


def test_rebuild_from_csv_gz_is_reproducible_and_checks_the_hash(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 500)
    distinct = rng.integers(0, 256, size=(7, N_PIXELS))  # 7 images repeated: quick to write and parse
    pixels = distinct[np.arange(5000) % 7]
    rows = [",".join(map(str, row)) for row in distinct]
    text = "".join(f"{rows[i % 7]},{label}\n" for i, label in enumerate(labels))
    source = write(tmp_path / "mnist_5k.csv.gz", text.encode(), gz=True)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with pytest.raises(DataError, match=r"mnist_5k\.csv\.gz has SHA-256 .*, expected 846f6cad"):
        rebuild.rebuild(source, tmp_path / "a.npz")
    a = rebuild.rebuild(source, tmp_path / "a.npz", expected_sha256=digest)
    b = rebuild.rebuild(source, tmp_path / "b.npz", expected_sha256=digest)
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["images"], pixels)
        np.testing.assert_array_equal(npz["labels"], labels)


# ---------------------------------------------------------------------------- load_dataset


def test_load_dataset_dispatch(tmp_path, digits, monkeypatch):
    images, labels = digits
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    assert load_dataset().source == EMBEDDED_SOURCE
    assert load_dataset("embedded").source == EMBEDDED_SOURCE
    directory = write_idx_dir(tmp_path / "mnist", images, labels)
    assert load_dataset(directory).source == str(directory)
    assert load_dataset(str(directory)).x_train.shape == (20, N_PIXELS)
    csv = write(tmp_path / "train.csv", csv_text(images, labels).encode())
    assert load_dataset(csv).x_train.shape == (30, N_PIXELS)
    npz = write(
        tmp_path / "mnist.npz",
        npz_bytes(x_train=images, y_train=labels, x_test=images[:1], y_test=labels[:1]),
    )
    assert load_dataset(npz).x_test.shape == (1, N_PIXELS)


def test_load_dataset_honours_fastnn_data_only_when_complete(tmp_path, digits, monkeypatch):
    images, labels = digits
    directory = write_idx_dir(tmp_path / "mnist", images, labels)
    monkeypatch.setenv("FASTNN_DATA", str(directory))
    assert load_dataset().source == str(directory)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    assert load_dataset().source == EMBEDDED_SOURCE
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "nowhere"))
    assert load_dataset().source == EMBEDDED_SOURCE


def test_load_dataset_bad_sources(tmp_path):
    with pytest.raises(DataError, match="nope: no such file or directory"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="digits: no such file or directory"):
        load_dataset("digits")  # unknown strings are paths (relative to the working directory)
    other = write(tmp_path / "digits.txt", b"hello")
    with pytest.raises(DataError, match=r"digits.txt: unrecognised data source; expected a directory"):
        load_dataset(other)
    with pytest.raises(DataError, match="empty data source"):
        load_dataset("")


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


# ---------------------------------------------------------------------------- helpers on arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32"])
def test_scale_pixels(dtype):
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = scale_pixels(pixels, dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == pixels.shape
    assert out.min() == 0.0 and out.max() == 1.0
    expected = pixels.astype(np.dtype(dtype)) / np.dtype(dtype).type(255)
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(InvalidParameterError, match="must be a uint8 array"):
        scale_pixels(pixels.astype(np.float32), dtype)
    with pytest.raises(InvalidParameterError, match="'dtype' parameter"):
        scale_pixels(pixels, np.float16)


def test_scaled_method():
    data = load_embedded()
    x_train, _, x_test, y_test = data.scaled(np.float64)
    assert x_train.dtype == np.float64 and x_train.shape == (4000, N_PIXELS) and y_test is data.y_test
    assert x_test.min() >= 0.0 and x_test.max() <= 1.0
    assert repr(data) == "MnistData(source='embedded MNIST subset (5,000 digits)', n_train=4000, n_test=1000)"


def test_split_validation_holds_out_the_first_n():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 3)
    np.testing.assert_array_equal(y_val, [0, 1, 2])
    np.testing.assert_array_equal(y_tr, np.arange(3, 10))
    np.testing.assert_array_equal(x_val, x[:3])
    np.testing.assert_array_equal(x_tr, x[3:])
    assert len(split_validation(x, y, 0)[2]) == 0
    for bad in (10, -1, 2.0, True):
        with pytest.raises(InvalidParameterError, match=r"'n_val' parameter must be an int in \[0, 10\)"):
            split_validation(x, y, bad)
    with pytest.raises(InvalidParameterError, match="same length"):
        split_validation(x, y[:9], 1)


def test_one_hot():
    out = one_hot(np.array([0, 3, 9]), 10, np.float64)
    assert out.shape == (3, 10) and out.dtype == np.float64
    np.testing.assert_array_equal(out.argmax(axis=1), [0, 3, 9])
    np.testing.assert_array_equal(out.sum(axis=1), [1, 1, 1])
    with pytest.raises(InvalidParameterError, match=r"labels in \[0, 9\]"):
        one_hot(np.array([10]))


def test_mnist_data_checks_its_arrays():
    x = np.zeros((2, N_PIXELS), np.uint8)
    y = np.zeros(2, np.int64)
    with pytest.raises(InvalidParameterError, match="x_train must be a C-contiguous uint8"):
        MnistData(x.astype(np.float32), y, x, y, source="t")
    with pytest.raises(InvalidParameterError, match=r"y_test must be an int64 array of shape \(2,\)"):
        MnistData(x, y, x, y[:1], source="t")


# ---------------------------------------------------------------------------- real MNIST


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("FASTNN_TEST_MNIST_DIR"),
    reason="set FASTNN_TEST_MNIST_DIR to the directory holding the four MNIST IDX files",
)
def test_real_mnist():
    data = load_idx_dir(os.environ["FASTNN_TEST_MNIST_DIR"])
    assert data.x_train.shape == (60000, N_PIXELS) and data.x_test.shape == (10000, N_PIXELS)
    assert data.y_train.shape == (60000,) and data.y_test.shape == (10000,)
    assert set(np.unique(data.y_train)) == set(range(10))


# ---------------------------------------------------------------------------- load_mnist
def test_load_mnist_reads_a_cache_dir_and_never_downloads_unasked(tmp_path, digits):
    from fastnn.data import load_mnist

    images, labels = digits
    directory = write_idx_dir(tmp_path / "cache", images, labels, gz=True)
    data = load_mnist(cache_dir=directory)
    assert data.x_train.shape == (len(images) - 10, N_PIXELS) and data.x_test.shape == (10, N_PIXELS)
    with pytest.raises(DataError, match=r"not in the cache .*load_mnist\(download=True\)"):
        load_mnist(cache_dir=tmp_path / "empty")


def test_load_mnist_download_fails_over_cleanly(tmp_path):
    from fastnn.data import load_mnist

    # conftest points the mirrors at a closed port on 127.0.0.1: every mirror fails.
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist(download=True, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.part"))


def test_embedded_digits_are_mostly_exact_zeros():
    """The README's "about 80% of MNIST's pixels are exactly zero", which zero skipping relies on."""
    fraction = float(np.mean(load_embedded().x_train == 0))
    assert 0.75 <= fraction <= 0.85, fraction
