"""The benchmark table: every case, for both backends, from one list (numbagg ``COMPARISONS``).

Each :class:`Case` says what one operation is (name, op, dtype, shapes), how to get it
ready for a backend (``setup(backend_name) -> Ready``, outside any timing) and how
closely the numba result must match the numpy reference (``check``). The suite in
``bench_backends.py`` runs every case for every backend and thread count (``conftest.py``
parametrizes it), checks the result against numpy (:mod:`benchmarks.reference`), then
times it. The data and the knobs that size the cases are :mod:`benchmarks.suite_data`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.suite_data import (
    INFERENCE_LABEL,
    N_INFERENCE,
    N_TRAIN,
    inference_images,
    train_arrays,
    train_label,
)
from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from fastnn.backends import get_backend
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import init_params

SEED = 20240601
#: The backend every other one is checked against.
REFERENCE = "numpy"


@dataclass(frozen=True)
class Ready:
    """One backend's case, ready to time.

    ``run(*fresh())`` is the timed call; ``fresh()`` makes its arguments outside the
    timing (fresh copies of parameters and optimiser state for training, so every round
    does the same work); ``result(returned, args)`` gives the arrays to compare.
    ``stateful`` is False when ``run`` changes nothing, so one set of arguments serves
    every call and a round can loop several calls.
    """

    run: Callable[..., Any]
    fresh: Callable[[], tuple[Any, ...]]
    result: Callable[[Any, tuple[Any, ...]], dict[str, np.ndarray]]
    stateful: bool


@dataclass(frozen=True)
class Case:
    """One row of the benchmark table.

    ``budget`` is the seconds of timed work per (backend, threads) benchmark; rounds
    are chosen from it and the untimed first call, between ``min_rounds`` and
    ``max_rounds``. ``target`` is the numba/numpy speed-up issue #3 asks for, if any.
    """

    name: str
    op: str
    dtype: str
    setup: Callable[[str], Ready]
    info: dict[str, Any]
    rtol: float
    atol: float
    n_samples: int | None = None
    budget: float = 0.25
    min_rounds: int = 5
    max_rounds: int = 200
    slow: bool = False
    target: float | None = None

    def check(self, numpy_result: dict[str, np.ndarray], numba_result: dict[str, np.ndarray]) -> float:
        """Assert the results agree within the case's tolerance; return the largest difference
        relative to the reference's scale (max |a - b| / max(1, max |b|))."""
        worst = 0.0
        for key, ref in numpy_result.items():
            got = numba_result[key]
            assert got.shape == ref.shape and got.dtype == ref.dtype, (
                f"{self.name}: {key!r} is {got.dtype} {got.shape}, "
                f"the numpy reference {ref.dtype} {ref.shape}"
            )
            np.testing.assert_allclose(
                got,
                ref,
                rtol=self.rtol,
                atol=self.atol * max(1.0, float(np.max(np.abs(ref), initial=0.0))),
                err_msg=f"{self.name}: the result {key!r} differs from the numpy reference",
            )
            diff = np.max(np.abs(got.astype(np.float64) - ref), initial=0.0)
            worst = max(worst, float(diff) / max(1.0, float(np.max(np.abs(ref), initial=0.0))))
        return worst


def _dt(dtype: str) -> str:
    return {"float32": "f32", "float64": "f64"}[dtype]


#: Tolerances for one fused operation: BLAS and the kernels sum in different orders.
OP_TOL = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}
#: Tolerances for a whole epoch: thousands of sequential updates let rounding
#: differences grow, so the bound is relative to the weights' scale (see Case.check).
#: Adam is the loosest: m / sqrt(s) amplifies rounding in tiny gradients (measured
#: 1.1e-4 after 2,000 float32 samples; SGD and momentum stay below 2e-6).
EPOCH_TOL = {"float32": (2e-3, 5e-4), "float64": (1e-8, 1e-10)}

DENSE_IN, DENSE_OUT = 784, 128
DENSE_BATCHES = (1, 256)
DERIV_SHAPE = (256, 128)
DTYPES = ("float32", "float64")

#: The networks of issue #3 and the API presets: layer sizes and activations.
NETWORKS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "784-128-64-10-sigmoid": ((784, 128, 64, 10), ("sigmoid", "sigmoid", "softmax")),
    "784-128-64-10-relu": ((784, 128, 64, 10), ("relu", "relu", "softmax")),
    "784-10-10-relu": ((784, 10, 10), ("relu", "softmax")),
    "784-32-10-relu": ((784, 32, 10), ("relu", "softmax")),
}


def _layer(activation: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights (784, 128) initialised for ``activation`` and small random biases."""
    rng = np.random.default_rng(SEED)
    p = init_params((DENSE_IN, DENSE_OUT), (activation,), rng, np.dtype(dtype))
    p.b(0)[...] = rng.normal(0.0, 0.1, DENSE_OUT)
    return p.W(0), p.b(0)


def _dense_setup(activation: str, batch: int, dtype: str) -> Callable[[str], Ready]:
    def setup(backend_name: str) -> Ready:
        be = get_backend(backend_name)
        X = np.ascontiguousarray(train_arrays(dtype, N_TRAIN)[0][:batch])
        W, b = _layer(activation, dtype)
        return Ready(
            run=lambda: be.dense_forward(X, W, b, activation),
            fresh=tuple,
            result=lambda out, args: {"output": out},
            stateful=False,
        )

    return setup


def _derivative_setup(activation: str, dtype: str) -> Callable[[str], Ready]:
    def setup(backend_name: str) -> Ready:
        be = get_backend(backend_name)
        W, b = _layer(activation, dtype)
        X = train_arrays(dtype, N_TRAIN)[0][: DERIV_SHAPE[0]]
        # The same input for both backends: a real layer output from the reference.
        a = np.ascontiguousarray(get_backend(REFERENCE).dense_forward(X, W, b, activation))
        return Ready(
            run=lambda: be.activation_derivative(a, activation),
            fresh=tuple,
            result=lambda out, args: {"derivative": out},
            stateful=False,
        )

    return setup


def _train_setup(
    network: str, batch: int | None, optimizer: str, lr: float, n: int, dtype: str
) -> Callable[[str], Ready]:
    sizes, acts = NETWORKS[network]

    def setup(backend_name: str) -> Ready:
        be = get_backend(backend_name)
        X, y = train_arrays(dtype, n)
        params0 = init_params(sizes, acts, np.random.default_rng(SEED), np.dtype(dtype))
        state0 = OptimizerState.zeros(optimizer, params0.data.shape[0], params0.dtype)
        cfg = OptimizerConfig(optimizer, lr)
        # Full batch: one step over X in order (as MLP.fit does); otherwise a fixed shuffle.
        order = (
            np.arange(n, dtype=np.int64)
            if batch is None
            else np.random.default_rng(SEED + 1).permutation(n).astype(np.int64)
        )
        bs = n if batch is None else batch
        prepared = be.prepare(X, bs)  # per-data-set work, done once per fit by MLP.fit: untimed

        def run(params, state):
            return be.train_epoch(params, acts, X, y, order, bs, cfg, state, prepared=prepared)

        def result(epoch, args):
            params, state = args
            out = {"loss": np.asarray(epoch.loss), "params": params.data}
            if optimizer != "sgd":
                out["state.m"] = state.m
            return out

        return Ready(run=run, fresh=lambda: (params0.copy(), state0.copy()), result=result, stateful=True)

    return setup


def _predict_setup(network: str, dtype: str) -> Callable[[str], Ready]:
    sizes, acts = NETWORKS[network]

    def setup(backend_name: str) -> Ready:
        be = get_backend(backend_name)
        X = inference_images(dtype)
        params = init_params(sizes, acts, np.random.default_rng(SEED), np.dtype(dtype))
        return Ready(
            run=lambda: be.predict_proba(params, acts, X),
            fresh=tuple,
            result=lambda out, args: {"proba": out},
            stateful=False,
        )

    return setup


@dataclass(frozen=True)
class TrainSpec:
    """A training workload: ``batch`` 1 is per-sample SGD, None one full-batch step."""

    mode: str
    network: str
    batch: int | None
    optimizer: str
    lr: float
    n: int
    target: float | None
    slow: bool = False


TRAINING: tuple[TrainSpec, ...] = (
    # The numpy backend runs per-sample SGD at a few thousand samples/s: seconds per epoch.
    TrainSpec("sample_epoch", "784-128-64-10-sigmoid", 1, "sgd", 0.05, N_TRAIN, 15.0, slow=True),
    TrainSpec("sample_epoch", "784-10-10-relu", 1, "sgd", 0.01, N_TRAIN, 20.0, slow=True),
    # Adam updates every parameter after every sample: a small network and fewer samples.
    TrainSpec("sample_epoch", "784-32-10-relu", 1, "adam", 1e-3, min(2000, N_TRAIN), None),
    TrainSpec("batch64_epoch", "784-128-64-10-relu", 64, "momentum", 0.05, N_TRAIN, 1.0),
    TrainSpec("batch256_epoch", "784-128-64-10-relu", 256, "momentum", 0.05, N_TRAIN, 1.0),
    TrainSpec("fullbatch_step", "784-10-10-relu", None, "sgd", 0.1, N_TRAIN, 1.0),
    TrainSpec("fullbatch_step", "784-128-64-10-sigmoid", None, "sgd", 0.1, N_TRAIN, 1.0),
)

PREDICT_NETWORKS = ("784-128-64-10-relu", "784-128-64-10-sigmoid")


def _build_cases() -> list[Case]:
    cases: list[Case] = []
    for dtype in DTYPES:
        rtol, atol = OP_TOL[dtype]
        for act in ACTIVATIONS:
            for batch in DENSE_BATCHES:
                cases.append(
                    Case(
                        f"dense_forward/{act}/b{batch}/{DENSE_IN}-{DENSE_OUT}/{_dt(dtype)}",
                        "dense_forward",
                        dtype,
                        _dense_setup(act, batch, dtype),
                        {"activation": act, "shape": [batch, DENSE_IN, DENSE_OUT]},
                        rtol,
                        atol,
                    )
                )
        for act in HIDDEN_ACTIVATIONS:  # softmax has no stand-alone derivative
            cases.append(
                Case(
                    f"act_derivative/{act}/{DERIV_SHAPE[0]}x{DERIV_SHAPE[1]}/{_dt(dtype)}",
                    "activation_derivative",
                    dtype,
                    _derivative_setup(act, dtype),
                    {"activation": act, "shape": list(DERIV_SHAPE)},
                    rtol,
                    atol,
                )
            )
    dtype = "float32"
    for spec in TRAINING:
        rtol, atol = EPOCH_TOL[dtype]
        sizes, acts = NETWORKS[spec.network]
        cases.append(
            Case(
                f"{spec.mode}/{spec.network}/{spec.optimizer}/{train_label(spec.n)}/{_dt(dtype)}",
                spec.mode,
                dtype,
                _train_setup(spec.network, spec.batch, spec.optimizer, spec.lr, spec.n, dtype),
                {
                    "layer_sizes": list(sizes),
                    "activations": list(acts),
                    "batch_size": spec.batch or spec.n,
                    "optimizer": spec.optimizer,
                    "lr": spec.lr,
                    "training": True,
                },
                rtol,
                atol,
                n_samples=spec.n,
                budget=2.5,
                min_rounds=3,
                max_rounds=100,
                slow=spec.slow,
                target=spec.target,
            )
        )
    for network in PREDICT_NETWORKS:
        rtol, atol = OP_TOL[dtype]
        sizes, acts = NETWORKS[network]
        cases.append(
            Case(
                f"predict_proba/{network}/{INFERENCE_LABEL}/{_dt(dtype)}",
                "predict_proba",
                dtype,
                _predict_setup(network, dtype),
                {"layer_sizes": list(sizes), "activations": list(acts)},
                rtol,
                atol,
                n_samples=N_INFERENCE,
                budget=0.5,
                target=1.0,
            )
        )
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "benchmark case names must be unique"
    return cases


CASES: list[Case] = _build_cases()
