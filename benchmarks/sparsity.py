"""Where zero-skipping starts to pay in mini-batch training: sparse vs dense first layer.

``python -m benchmarks.sparsity`` times one numba epoch (the kernel call, one thread,
median of ``--repeats``) with the first layer forced to each path, on data whose
fraction of exact zeros is varied (random Gaussian inputs with entries zeroed at
random), and prints the ratio per zero fraction. ``BATCH_SPARSE_THRESHOLD`` in
``fastnn/backends/numba_data.py`` is set from this crossover, so dense data (Gaussian
features, Fashion-MNIST's ~50% zeros) never takes the path that is slower for it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numba_data import BATCH_SPARSE_THRESHOLD
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import init_params


def epoch_seconds(
    X: np.ndarray, y: np.ndarray, layers: Sequence[int], batch_size: int, skip: bool, repeats: int
) -> float:
    """Median wall time of one training epoch's kernel call (compile excluded)."""
    backend = NumbaBackend(skip_zeros=skip)
    acts = ["relu"] * (len(layers) - 2) + ["softmax"]
    params = init_params(tuple(layers), tuple(acts), np.random.default_rng(0), X.dtype)
    cfg = OptimizerConfig("nesterov", 0.01, 0.9)
    state = OptimizerState.zeros(cfg.name, params.data.size, params.dtype)
    order = np.random.default_rng(1).permutation(len(X)).astype(np.int64)
    prepared = backend.prepare(X, batch_size)
    warm = np.arange(batch_size, dtype=np.int64)  # compiles outside the timing
    backend.train_epoch(params, acts, X[:batch_size], y[:batch_size], warm, batch_size, cfg, state)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.train_epoch(params, acts, X, y, order, batch_size, cfg, state, prepared=prepared)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(
    zero_fractions: Sequence[float], n: int, layers: Sequence[int], batch_size: int, repeats: int
) -> list[dict]:
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((n, layers[0])).astype(np.float32)
    y = rng.integers(0, layers[-1], n)
    rows = []
    for frac in zero_fractions:
        X = np.where(rng.random(dense.shape) < frac, np.float32(0), dense)
        t_sparse = epoch_seconds(X, y, layers, batch_size, True, repeats)
        t_dense = epoch_seconds(X, y, layers, batch_size, False, repeats)
        rows.append({"zeros": frac, "sparse": t_sparse, "dense": t_dense, "dense/sparse": t_dense / t_sparse})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sparsity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--n", type=int, default=20000, help="training samples (default: 20000)")
    parser.add_argument(
        "--layers", default="784,256,128,10", help="network (default: the race's fast-b64 recipe's)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--zeros", default="0.2,0.4,0.5,0.6,0.7,0.8,0.9", help="zero fractions to try")
    args = parser.parse_args(argv)
    layers = [int(v) for v in args.layers.split(",")]
    fracs = [float(v) for v in args.zeros.split(",")]
    with threadpool_limits(1):
        rows = run(fracs, args.n, layers, args.batch_size, args.repeats)
    print(
        f"{args.layers}, batch {args.batch_size}, {args.n} samples, 1 thread; median of {args.repeats} epochs"
    )
    print("| zeros | sparse epoch | dense epoch | dense / sparse |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['zeros']:.0%} | {r['sparse']:.3f} s | {r['dense']:.3f} s | {r['dense/sparse']:.2f}x |")
    print(
        f"BATCH_SPARSE_THRESHOLD is {BATCH_SPARSE_THRESHOLD:.0%}: data with at least that many zeros skips them."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
