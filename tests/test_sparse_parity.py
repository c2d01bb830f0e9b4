"""The zero-skipping first layer of mini-batch training (issue 11) against the reference.

``train_epoch`` is called directly on both backends with the same weights, order and
hyper-parameters, for every hidden activation x optimiser x weight decay x dtype, on a
deep net and a single-weight-layer net (784-10 style: layer 0 is the output layer):

- numba with ``skip_zeros=True`` (the sparse path) and ``skip_zeros=False`` (dense)
  each match numpy at the parity tolerances (``test_backend_parity.TOL``) after every
  epoch: loss, weights, optimiser state (m, s, t); float64 training accuracy exactly;
- the data has all-zero rows, inputs that are zero in every row of some batches, one
  input zero in all of X (its weights and optimiser state must stay exactly as they
  were: the ``fresh``-row skip), one that is idle in epoch 1 and active in epoch 2
  (fresh until then), and one active in epoch 1 and idle in epoch 2 (its momentum
  must keep moving it). 44 samples in batches of 8: a ragged last batch of 4.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_backend_parity import LR, TOL, _rel_err

from fastnn.activations import HIDDEN_ACTIVATIONS
from fastnn.backends import EpochResult
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.optim import OPTIMIZERS, OptimizerConfig, OptimizerState
from fastnn.params import init_params

N, N_IN, BATCH = 44, 12, 8
#: Input zero in all of X; idle in epoch 1 only; idle in epoch 2 only.
NEVER, LATE, EARLY = 3, 9, 10
NETS = {"deep": (N_IN, 7, 5, 3), "single-layer": (N_IN, 3)}


def epoch_data(gen: np.random.Generator) -> list[np.ndarray]:
    """X for epochs 1 and 2 (~70% zeros; rows 0 and 5 all zero; see the module docstring)."""
    X = gen.uniform(0.0, 1.0, size=(N, N_IN))
    X[gen.random(X.shape) < 0.7] = 0.0
    X[:, EARLY] = np.where(gen.random(N) < 0.5, gen.uniform(0.2, 1.0, N), 0.0)
    X[:, LATE] = np.where(gen.random(N) < 0.5, gen.uniform(0.2, 1.0, N), 0.0)
    X[[0, 5]] = 0.0
    X[:, NEVER] = 0.0
    first, second = X.copy(), X.copy()
    first[:, LATE] = 0.0
    second[:, EARLY] = 0.0
    return [first, second]


def train(backend, X_epochs, y, acts, sizes, optimizer, weight_decay, dtype, **kw):
    """Two epochs (one per X) from the same start; the params, state and results after each."""
    params = init_params(sizes, acts, np.random.default_rng(3), np.dtype(dtype))
    for b in params.biases():
        b[...] = np.random.default_rng(4).uniform(-0.2, 0.2, size=b.shape)
    state = OptimizerState.zeros(optimizer, params.data.size, params.dtype)
    cfg = OptimizerConfig(optimizer, LR[optimizer], weight_decay=weight_decay)
    out = []
    for e, X in enumerate(X_epochs):
        order = np.random.default_rng(10 + e).permutation(N)
        Xc = X.astype(dtype)
        prepared = backend.prepare(Xc, BATCH)
        result = backend.train_epoch(params, acts, Xc, y, order, BATCH, cfg, state, prepared=prepared, **kw)
        assert isinstance(result, EpochResult)
        out.append((result, params.copy(), state.copy()))
    return out


def _check(what, got, want, dtype, exact_accuracy):
    tol = TOL[np.dtype(dtype)]
    for e, ((r_got, p_got, s_got), (r_want, p_want, s_want)) in enumerate(zip(got, want, strict=True), 1):
        where = f"{what}, after epoch {e}"
        assert abs(r_got.loss - r_want.loss) <= tol * abs(r_want.loss), f"loss {where}: {r_got} {r_want}"
        if exact_accuracy:
            assert r_got.accuracy == r_want.accuracy, f"accuracy {where}: {r_got} vs {r_want}"
        else:
            assert abs(r_got.accuracy - r_want.accuracy) <= 2 / N, f"accuracy {where}: {r_got} {r_want}"
        assert _rel_err(p_got.data, p_want.data) <= tol, (
            f"weights {where}: {_rel_err(p_got.data, p_want.data)}"
        )
        for name in ("m", "s"):
            err = _rel_err(getattr(s_got, name), getattr(s_want, name))
            assert err <= tol, f"optimizer state {name} {where}: rel err {err:.2e}"
        assert_array_equal(s_got.t, s_want.t, err_msg=f"step count {where}")


def _combos():
    for net, sizes in NETS.items():
        for act in HIDDEN_ACTIVATIONS if len(sizes) > 2 else ["-"]:
            for opt in OPTIMIZERS:
                for wd in (0.0, 1e-3):
                    for dtype in ("float32", "float64"):
                        yield pytest.param(net, act, opt, wd, dtype, id=f"{net}-{act}-{opt}-wd{wd}-{dtype}")


@pytest.mark.parametrize(("net", "act", "optimizer", "weight_decay", "dtype"), list(_combos()))
def test_sparse_mini_batches_match_numpy_and_the_dense_path(net, act, optimizer, weight_decay, dtype):
    sizes = NETS[net]
    acts = (act,) * (len(sizes) - 2) + ("softmax",)
    gen = np.random.default_rng(2024)
    X_epochs = epoch_data(gen)
    y = gen.integers(0, sizes[-1], size=N).astype(np.int64)
    args = (X_epochs, y, acts, sizes, optimizer, weight_decay, dtype)
    sparse_backend = NumbaBackend(skip_zeros=True)
    assert sparse_backend.prepare(X_epochs[0].astype(dtype), BATCH).nonzero is not None, "not the sparse path"
    want = train(NumpyBackend(), *args)
    sparse = train(sparse_backend, *args)
    dense = train(NumbaBackend(skip_zeros=False), *args)
    exact = dtype == "float64"
    what = f"[{net} {acts} {optimizer} wd={weight_decay} {dtype}]"
    _check(f"numba skip_zeros=True vs numpy {what}", sparse, want, dtype, exact)
    _check(f"numba skip_zeros=False vs numpy {what}", dense, want, dtype, exact)
    _check(f"numba skip_zeros=True vs False {what}", sparse, dense, dtype, exact)

    start = init_params(sizes, acts, np.random.default_rng(3), np.dtype(dtype))
    for e, (_, params, state) in enumerate(sparse, 1):
        if weight_decay == 0:
            # Never active: not one update may touch its weights or its optimiser state.
            assert_array_equal(params.W(0)[NEVER], start.W(0)[NEVER], err_msg=f"input {NEVER} {what} e{e}")
            m0 = state.m[: start.W(0).size].reshape(start.W(0).shape)
            assert not m0[NEVER].any(), f"momentum of the never-active input {what} epoch {e}"
        if optimizer != "sgd":
            m0 = state.m[: start.W(0).size].reshape(start.W(0).shape)
            assert m0[EARLY].any(), f"input {EARLY} had state from epoch 1 {what}"
            if weight_decay == 0:
                assert (e == 2) == bool(m0[LATE].any()), f"input {LATE} becomes active in epoch 2 {what}"


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_sparse_path_gives_the_same_bits_unsplit_and_split_on_one_thread_and_on_two(optimizer):
    """Asked to, the backend splits the first layer's work between Numba's threads (one
    part each): each part owns its rows, so the numbers may not depend on how many there are."""
    numba = pytest.importorskip("numba")
    from fastnn.threads import limit_threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two Numba threads to compare with one")

    sizes, acts = NETS["deep"], ("relu", "relu", "softmax")
    gen = np.random.default_rng(7)
    X_epochs = epoch_data(gen)
    y = gen.integers(0, sizes[-1], size=N).astype(np.int64)
    args = (X_epochs, y, acts, sizes, optimizer, 1e-3, "float32")
    runs = {}
    for threads in (1, 2):
        with limit_threads(threads):
            assert numba.get_num_threads() == threads
            runs[f"split, {threads} thread(s)"] = train(
                NumbaBackend(skip_zeros=True, parallel_first_layer=True), *args
            )
    with limit_threads(2):
        runs["unsplit"] = train(NumbaBackend(skip_zeros=True), *args)
    reference = runs.pop("unsplit")
    for how, run in runs.items():
        for (r1, p1, s1), (r2, p2, s2) in zip(reference, run, strict=True):
            assert r1 == r2, how
            assert_array_equal(p1.data, p2.data, err_msg=f"weights, {optimizer}, {how} vs unsplit")
            assert_array_equal(s1.m, s2.m, err_msg=f"optimiser state, {optimizer}, {how} vs unsplit")


@pytest.mark.parametrize("parallel", [False, True])
def test_the_first_layer_is_split_between_threads_only_when_asked(parallel, monkeypatch):
    """The kernel splits the first layer into as many parts as it gets gradient
    scratch rows: one row (1-D: the serial code only) unless the backend was asked to
    split, then one per thread."""
    numba = pytest.importorskip("numba")
    from fastnn.kernels import batch as k_batch
    from fastnn.threads import limit_threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two Numba threads")
    parts = []
    real = k_batch.train_epoch_batch

    def spy(*args):
        parts.append(args[-2][3].shape)  # cols[3]: one gradient scratch row, or one per part
        return real(*args)

    monkeypatch.setattr(k_batch, "train_epoch_batch", spy)
    sizes, acts = NETS["deep"], ("relu", "relu", "softmax")
    gen = np.random.default_rng(7)
    y = gen.integers(0, sizes[-1], size=N).astype(np.int64)
    with limit_threads(2):
        train(
            NumbaBackend(skip_zeros=True, parallel_first_layer=parallel),
            epoch_data(gen),
            y,
            acts,
            sizes,
            "sgd",
            0.0,
            "float32",
        )
    assert parts and set(parts) == {(2, sizes[1]) if parallel else (sizes[1],)}


FORK_SCRIPT = """
import os, sys
import numpy as np
from fastnn import MLP
from fastnn.backends.numba_backend import NumbaBackend
gen = np.random.default_rng(0)
X = np.where(gen.random((256, 64)) < 0.8, 0.0, gen.random((256, 64))).astype(np.float32)
y = gen.integers(0, 3, 256)
def fit():
    MLP([64, 32, 3], backend=NumbaBackend(parallel_first_layer=True), threads=2, seed=0).fit(X, y, epochs=2, batch_size=16, optimizer="momentum")
fit()  # the parent has run the parallel first layer
pid = os.fork()
if pid == 0:
    fit()
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("child status", status)
sys.exit(0 if status == 0 else 1)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_trains_after_the_parent_ran_the_parallel_first_layer():
    """GNU OpenMP (Numba's default threading layer on Linux) terminates a forked child
    that starts a parallel region once the parent has: 'fork() called from a process
    already using GNU OpenMP'. A user who trains, then forks workers that train
    (multiprocessing's default start method on Linux before Python 3.14), must not
    lose them."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["NUMBA_NUM_THREADS"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"child died: {done.stdout} {done.stderr[-2000:]}"


THREADS_SCRIPT = """
import threading
import numpy as np
from fastnn import MLP
from fastnn.backends.numba_backend import NumbaBackend
gen = np.random.default_rng(0)
X = np.where(gen.random((512, 64)) < 0.8, 0.0, gen.random((512, 64))).astype(np.float32)
y = gen.integers(0, 3, 512)
errors = []
def fit(seed):
    try:
        MLP([64, 32, 3], backend=NumbaBackend(parallel_first_layer=True), threads=2, seed=seed).fit(X, y, epochs=3, batch_size=8)
    except BaseException as exc:
        errors.append(exc)
workers = [threading.Thread(target=fit, args=(s,)) for s in range(4)]
for w in workers:
    w.start()
for w in workers:
    w.join()
assert not errors, errors
print("ok")
"""


def test_fits_in_several_python_threads_at_once_share_the_thread_pool_safely():
    """Numba's workqueue layer aborts the process if two threads enter it at once; the
    numba backend's lock must serialise its parallel calls (the kernels release the GIL)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["NUMBA_NUM_THREADS"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", THREADS_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0 and "ok" in done.stdout, f"{done.stdout} {done.stderr[-2000:]}"


@pytest.mark.parametrize("batch_size", [1, 8, N], ids=["per-sample", "mini-batch", "full-batch"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_training_accuracy_counts_match_numpy_exactly(act, batch_size):
    """float64: both backends count the same samples as right (first maximum, as argmax)."""
    sizes, acts = NETS["deep"], (act, act, "softmax")
    gen = np.random.default_rng(7)
    X = epoch_data(gen)[1]
    y = gen.integers(0, 3, size=N).astype(np.int64)
    results = {}
    for name, backend in (("numpy", NumpyBackend()), ("numba", NumbaBackend())):
        params = init_params(sizes, acts, np.random.default_rng(3), np.dtype(np.float64))
        state = OptimizerState.zeros("momentum", params.data.size, params.dtype)
        cfg = OptimizerConfig("momentum", 0.05)
        prepared = backend.prepare(X, batch_size)
        results[name] = [
            backend.train_epoch(
                params,
                acts,
                X,
                y,
                np.random.default_rng(e).permutation(N),
                batch_size,
                cfg,
                state,
                prepared=prepared,
            ).accuracy
            for e in range(3)
        ]
    counts = {name: [round(a * N) for a in accs] for name, accs in results.items()}
    assert counts["numba"] == counts["numpy"], f"right predictions per epoch {counts}"
    assert results["numba"] == results["numpy"]
    assert all(abs(a * N - c) < 1e-9 for a, c in zip(results["numpy"], counts["numpy"], strict=True))
    assert len({tuple(c) for c in counts.values()}) == 1 and 0 < min(counts["numpy"]) < N


def test_lists_overwritten_by_a_later_prepare_are_never_read():
    """One backend's buffer pool serves every prepare: a Prepared kept from before a later
    prepare (another X) must not hand the kernels that X's lists (wrong sums, or indices
    past X's rows: Numba does not bounds-check). It is rebuilt instead."""
    from fastnn.backends.numba_backend import NumbaBackend
    from fastnn.optim import OptimizerConfig, OptimizerState
    from fastnn.params import init_params

    gen = np.random.default_rng(7)
    Xa = np.where(gen.random((40, 12)) < 0.7, 0.0, gen.random((40, 12)))
    Xb = np.where(gen.random((30, 12)) < 0.5, 0.0, gen.random((30, 12)))  # fits in the same buffers
    y = gen.integers(0, 3, 40)
    acts = ("relu", "softmax")
    backend = NumbaBackend(skip_zeros=True)
    stale = backend.prepare(Xa, 8)
    backend.prepare(Xb, 8)  # refills the pool
    results = []
    for prepared in (stale, None):
        params = init_params((12, 6, 3), acts, np.random.default_rng(3), np.dtype(np.float64))
        state = OptimizerState.zeros("sgd", params.data.size, params.dtype)
        order = np.arange(len(Xa))
        backend.train_epoch(
            params, acts, Xa, y, order, 8, OptimizerConfig("sgd", 0.1), state, prepared=prepared
        )
        results.append(params.data.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=0)
