"""What the benchmark suite runs on: the data, the knobs that size it, and the record of
the machine, versions and data that every benchmark carries.

Data: real MNIST from ``$FASTNN_BENCH_DATA`` or ``$FASTNN_TEST_MNIST_DIR`` (a directory
of the four IDX files, or anything ``fastnn.data.load_dataset`` reads), else the 5,000
digits packaged with fastnn. Case names say which (``mnist10k``: the first 10,000 MNIST
training images; ``emb5k``: the embedded digits) and how many samples are used.

Knobs (environment): ``FASTNN_BENCH_N`` training samples per epoch (default 10,000),
``FASTNN_BENCH_TIME`` scales every case's timing budget (default 1.0; use 3 for a
quieter final run).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import pytest

from benchmarks.machine import machine
from fastnn.data import MnistData, load_dataset, scale_pixels

DATA_ENV = ("FASTNN_BENCH_DATA", "FASTNN_TEST_MNIST_DIR")
DATA_SOURCE: str = next((os.environ[k] for k in DATA_ENV if os.environ.get(k)), "embedded")
REAL_DATA: bool = DATA_SOURCE.strip().lower() != "embedded"
EMBEDDED_SIZE = 5000
ENV_N, ENV_TIME = "FASTNN_BENCH_N", "FASTNN_BENCH_TIME"
#: Every variable that changes what the suite measures (recorded with the command).
KNOBS_ENV = (*DATA_ENV, ENV_N, ENV_TIME)
N_TRAIN: int = int(os.environ.get(ENV_N, "10000"))
if not REAL_DATA:
    N_TRAIN = min(N_TRAIN, EMBEDDED_SIZE)
N_INFERENCE: int = 10_000 if REAL_DATA else EMBEDDED_SIZE
TIME_SCALE: float = float(os.environ.get(ENV_TIME, "1.0"))


def _count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def train_label(n: int) -> str:
    """How case names describe ``n`` training samples: ``mnist10k`` or ``emb5k``."""
    return f"mnist{_count(n)}" if REAL_DATA else f"emb{_count(n)}"


INFERENCE_LABEL = f"mnist-test{_count(N_INFERENCE)}" if REAL_DATA else f"emb{_count(N_INFERENCE)}"


@functools.cache
def _dataset() -> MnistData:
    return load_dataset(DATA_SOURCE)


def _images_labels(part: str) -> tuple[np.ndarray, np.ndarray]:
    data = _dataset()
    if REAL_DATA:
        return getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
    # The embedded digits are used whole (train + test) for both training and inference.
    return np.concatenate([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])


@functools.cache
def train_arrays(dtype: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` training images scaled to [0, 1] in ``dtype``, and their labels."""
    x, y = _images_labels("train")
    if len(x) < n:
        pytest.fail(
            f"{DATA_SOURCE} has only {len(x):,} training images; the case needs {n:,} (lower FASTNN_BENCH_N)"
        )
    return scale_pixels(x[:n], dtype), np.ascontiguousarray(y[:n])


@functools.cache
def inference_images(dtype: str) -> np.ndarray:
    """``N_INFERENCE`` images (the MNIST test set, or the embedded digits), in ``dtype``."""
    x, _ = _images_labels("test")
    if len(x) < N_INFERENCE:
        pytest.fail(f"{DATA_SOURCE} has only {len(x):,} test images; inference needs {N_INFERENCE:,}")
    return scale_pixels(x[:N_INFERENCE], dtype)


def data_description() -> str:
    return f"MNIST from {DATA_SOURCE}" if REAL_DATA else "embedded MNIST subset (5,000 digits, train + test)"


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


@functools.cache
def machine_info() -> dict[str, Any]:
    import fastnn

    return machine() | {
        "versions": {"fastnn": fastnn.__version__}
        | {m: _version(m) for m in ("numpy", "numba", "scipy", "threadpoolctl")},
        "data": data_description(),
    }
