"""Shared fixtures: a seeded RNG, a tiny learnable dataset and the backend under test.

Every random number in the test suite comes from a seeded generator, so a failure
reproduces exactly. Run the suite with ``-W error`` (numbagg CI): any NumPy
RuntimeWarning is then a test failure.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastnn.backends import backend_names, get_backend
from fastnn.errors import InvalidParameterError

#: Seed of the ``rng`` fixture; change it to shake out seed-dependent tests.
SEED = 12345

#: Shape of ``tiny_data``: 60 samples of 12 features in 3 classes.
N_SAMPLES, N_FEATURES, N_CLASSES = 60, 12, 3


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(SEED)


def make_tiny_data(seed: int = 20240601) -> tuple[np.ndarray, np.ndarray]:
    """Sparse, MNIST-like features and labels that a small MLP can learn.

    ``X`` is (60, 12) float64 in [0, 1] with about 70% exact zeros (like pixel
    data); row 0 is all zero (umap/pynndescent keep such a row to catch division
    by a zero norm) and every other row has at least one non-zero feature. The
    label is the index of the 4-feature block with the largest sum (ties, such as
    the all-zero row, go to class 0), so it is a function of ``X``.
    """
    gen = np.random.default_rng(seed)
    X = gen.random((N_SAMPLES, N_FEATURES))
    X[gen.random(X.shape) < 0.7] = 0.0
    empty = np.flatnonzero(~X.any(axis=1))
    X[empty, gen.integers(0, N_FEATURES, size=empty.size)] = gen.uniform(0.5, 1.0, size=empty.size)
    X[0] = 0.0
    y = X.reshape(N_SAMPLES, N_CLASSES, N_FEATURES // N_CLASSES).sum(axis=2).argmax(axis=1)
    return X, y.astype(np.int64)


@pytest.fixture
def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: see :func:`make_tiny_data`. A fresh copy per test, safe to modify."""
    return make_tiny_data()


@pytest.fixture(params=backend_names())
def backend(request: pytest.FixtureRequest):
    """Each registered backend instance; skipped when its module cannot be imported.

    ``get_backend`` turns an ImportError (e.g. Numba missing, or the numba backend
    not written yet) into InvalidParameterError. Any other exception is a real bug
    in the backend module and is left to fail the test.
    """
    try:
        return get_backend(request.param)
    except InvalidParameterError as exc:
        pytest.skip(f"backend {request.param!r} unavailable: {exc}")


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path_factory, monkeypatch):
    """Keep a developer's own MNIST cache and settings out of every test.

    ``load_dataset(None)`` uses ``$FASTNN_DATA`` or a verified MNIST in the user cache
    when there is one; tests must see a fresh machine, and must never reach a real
    mirror, so downloads point at a closed port on 127.0.0.1.
    """
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    for env in ("FASTNN_MNIST_MIRRORS", "FASTNN_FASHION_MNIST_MIRRORS", "FASTNN_KMNIST_MIRRORS"):
        monkeypatch.setenv(env, "http://127.0.0.1:9/")


@pytest.fixture
def checkpoint_file(tiny_data, tmp_path):
    """A checkpoint of a [12, 6, 3] tanh network after 2 Adam epochs on ``tiny_data``."""
    from fastnn import MLP
    from fastnn.model_files import save_checkpoint

    X, y = tiny_data
    model = MLP([12, 6, 3], "tanh", backend="numpy", seed=1).fit(X, y, epochs=2, optimizer="adam")
    return save_checkpoint(model, tmp_path / "c.npz", {"options": {}})


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    """30 random 28x28 digits with labels 0..9 (three of each), one all-zero image."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    images[0] = 0
    labels = np.tile(np.arange(10, dtype=np.uint8), 3)
    return images, labels
