"""Compile (or load from the cache) the training kernels for one dtype, up front.

Numba compiles on first call; calling each entry point once on a tiny network keeps
that cost out of the first epoch's timing, so the CLI can report it on its own line
and benchmarks never time the JIT. In the training kernels activation and optimiser
are runtime codes, so one call per entry point covers them all; inference has one
entry per activation (``inference.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from fastnn.kernels import activations as k_act
from fastnn.kernels import batch as k_batch
from fastnn.kernels import inference as k_inference
from fastnn.kernels import optimizers as k_opt
from fastnn.kernels import sgd as k_sgd
from fastnn.kernels import sparse as k_sparse

MODES = ("all", "sample", "batch", "predict")


def warmup(
    dtype: str | np.dtype = "float32",
    mode: str = "all",
    activation_codes: Iterable[int] | None = None,
    split_first_layer: bool = False,
) -> float:
    """Compile the entry kernels a run needs for ``dtype``; returns the seconds it took.

    ``mode``: ``sample`` (per-sample training + inference), ``batch`` (mini/full-batch
    training + inference), ``predict`` (inference only) or ``all``. Inference compiles
    the pass of each code in ``activation_codes`` (the network's; None: all of them).
    ``split_first_layer``: batched training as ``NumbaBackend(parallel_first_layer=True)``
    runs it (2-D gradient scratch), instead of unsplit. Each entry point compiles once
    per dtype and is then cached on disk, so a later process only loads it.
    """
    if mode not in MODES:
        raise ValueError(f"the 'mode' parameter must be one of {list(MODES)}; got {mode!r}")
    dt = np.dtype(dtype)
    start = time.perf_counter()
    sizes = np.array([3, 2, 2], dtype=np.int64)
    offsets = np.array([0, 6, 8, 12, 14], dtype=np.int64)
    act_off = np.array([0, 2, 4], dtype=np.int64)
    codes = np.array([k_act.RELU, k_act.SOFTMAX], dtype=np.int64)
    consts = k_act.make_consts(dt)
    data = np.full(14, 0.1, dtype=dt)
    m, s, t = np.zeros_like(data), np.zeros_like(data), np.zeros(1, np.int64)
    X = np.ones((2, 3), dtype=dt)
    y = np.zeros(2, dtype=np.int64)
    order = np.arange(2, dtype=np.int64)
    hp = k_opt.pack_hyper(lr=0.0, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    for code in sorted(set(k_inference.BY_CODE if activation_codes is None else activation_codes)):
        k_inference.BY_CODE[code](np.zeros((2, 2), dt), np.zeros(2, dt), consts)
    if mode == "predict":
        return time.perf_counter() - start
    # The non-zero lists, made once per fit (count, then fill).
    k_sparse.count_nonzeros(X, np.empty(3, np.int64))
    k_sparse.list_nonzeros(X, np.array([0, 3, 6]), np.empty(7, np.int32), np.empty(7, dt))
    if mode in ("all", "sample"):
        k_sgd.train_epoch_sample(
            data,
            offsets,
            sizes,
            codes,
            consts,
            X,
            y,
            order,
            hp,
            k_opt.SGD,
            m,
            s,
            t,
            np.zeros(4, dt),
            np.zeros(4, dt),
            act_off,
            np.array([0, 3, 6]),
            np.array([0, 1, 2, 0, 1, 2], np.int32),
            np.arange(3, dtype=np.int32),
            True,
        )
    grad = np.zeros_like(data)
    if mode in ("all", "batch"):
        k_batch.train_epoch_batch(
            data,
            offsets,
            sizes,
            codes,
            consts,
            X,
            y,
            np.empty((0, 0), dt),
            order,
            1,
            hp,
            k_opt.SGD,
            m,
            s,
            t,
            grad,
            np.empty((1, 3), dt),
            np.empty(1, np.int64),
            np.empty(4, dt),
            np.empty(3, dt),
            act_off,
            # Empty non-zero lists, scratch and flags: the dense first layer. The
            # zero-skipping one has the same argument types, so this compiles it too
            # (1-D gradient scratch: unsplit; 2-D: split between threads).
            (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dt)),
            (
                np.empty(0, np.int64),
                np.empty(0, np.int32),
                np.empty(0, dt),
                np.empty((0, 0), dt) if split_first_layer else np.empty(0, dt),
                np.empty(0, np.int64),
            ),
            np.empty(0, np.bool_),
        )
    return time.perf_counter() - start
