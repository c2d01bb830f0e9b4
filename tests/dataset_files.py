"""Synthetic Fashion-MNIST/KMNIST files pinned into the data set registry, for their tests.

The real files cannot be fetched here, so the tests make small synthetic IDX gz files
(dark background, one bright square whose position is the class, so a network can
learn them) and pin *their* MD5 and size into the registry entry (monkeypatched):
``inject`` pins them, ``install`` (and the ``fashion_cache`` fixture) puts them in the
data set's cache. ``no_proxies`` is autouse where imported. Imported by
``test_datasets.py`` and ``test_dataset_commands.py``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from mnist_server import idx
from mnist_server import server as server  # the loopback server fixture

from fastnn.data.datasets import (
    DATASETS,
    dataset_cache_dir,
)
from fastnn.data.download import MnistFile

NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def synthetic(n_train: int = 400, n_test: int = 100, seed: int = 5) -> dict[str, bytes]:
    """The four IDX payloads: class k is a bright 6x6 square at a position set by k, plus noise."""
    rng = np.random.default_rng(seed)

    def images(labels: np.ndarray) -> np.ndarray:
        x = rng.integers(0, 30, (len(labels), 28, 28))
        for i, k in enumerate(labels):
            r, c = 3 + 6 * (k // 4), 2 + 6 * (k % 4)
            x[i, r : r + 6, c : c + 6] = rng.integers(180, 256, (6, 6))
        return x

    y_train, y_test = np.arange(n_train) % 10, rng.permutation(np.arange(n_test) % 10)
    return dict(
        zip(NAMES, (idx(images(y_train)), idx(y_train), idx(images(y_test)), idx(y_test)), strict=True)
    )


PAYLOADS = synthetic()
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in PAYLOADS.items()}


def md5_specs(gz: dict[str, bytes] = GZ, payloads: dict[str, bytes] = PAYLOADS) -> tuple[MnistFile, ...]:
    """Specs pinned like the real Fashion-MNIST/KMNIST entries: MD5 and size, no SHA-256."""
    return tuple(
        MnistFile(name, None, None, len(payloads[name]), len(gz[name]), hashlib.md5(gz[name]).hexdigest())
        for name in NAMES
    )


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def inject(monkeypatch, name: str, specs: tuple[MnistFile, ...] | None = None) -> None:
    """Pin the synthetic files' checksums into ``name``'s registry entry."""
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], files=specs or md5_specs()))


def install(monkeypatch, tmp_path, payloads: dict[str, bytes]) -> Path:
    """``$FASTNN_DATA/fashion-mnist`` holding ``payloads`` gzipped, pinned in the registry."""
    gz = {name: gzip.compress(raw, mtime=0) for name, raw in payloads.items()}
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    inject(monkeypatch, "fashion-mnist", md5_specs(gz, payloads))
    directory = dataset_cache_dir("fashion-mnist")
    directory.mkdir(parents=True)
    for name, body in gz.items():
        (directory / name).write_bytes(body)
    return directory


@pytest.fixture
def fashion_cache(monkeypatch, tmp_path) -> Path:
    """``$FASTNN_DATA/fashion-mnist`` holding the synthetic files, pinned in the registry."""
    return install(monkeypatch, tmp_path, PAYLOADS)
