"""fastnn.data loaders: every format round-trips, load_dataset dispatches, array helpers.

IDX (raw and gzip), CSV and npz files written by the tests into temporary directories
load back to the arrays written; the embedded digits, ``load_dataset``'s sources,
``load_mnist``'s cache and the array helpers (scaling, validation split, one-hot).
No network, no shared data. Real MNIST is checked only when FASTNN_TEST_MNIST_DIR
points at the IDX files. Bad files are ``test_data_bad_files.py``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_files import N_PIXELS, csv_text, idx_bytes, npz_bytes, write, write_idx_dir

from fastnn.data import (
    EMBEDDED_SOURCE,
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
