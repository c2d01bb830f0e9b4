"""Each Numba kernel against the NumPy reference, on small odd shapes (stumpy ``naive.py``).

Three layers of checks:

- the numba backend's single-step entry points (``dense_forward``,
  ``activation_derivative``, ``loss_and_gradient``, ``apply_update``,
  ``predict_proba``) against ``NumpyBackend``, for every activation, optimiser and dtype;
- the kernels called directly: ``dense_forward_sample`` with and without zero skipping,
  the ``.py_func`` (pure Python) body of every entry kernel against its compiled self
  (coverage without ``NUMBA_DISABLE_JIT``, emg3d PR #88), and the compiled signatures
  (float32 in, no float64 except the documented ``hp`` array and summed losses);
- one subprocess run with ``NUMBA_BOUNDSCHECK=1`` and no cache, so an out-of-bounds
  index raises instead of silently reading other memory.

Every direct kernel call takes its arguments from ``TinyNet`` (built as
``kernels/warmup.py`` does): when a kernel's signature changes, fix it there only.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass

import numba
import numpy as np
import pytest
from numba.core import types
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, LEAKY_SLOPE, SELU_ALPHA, SELU_LAMBDA
from fastnn.backends import EpochResult, numba_backend, numpy_backend
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.errors import InvalidParameterError
from fastnn.kernels import activations as k_act
from fastnn.kernels import batch as k_batch
from fastnn.kernels import dense as k_dense
from fastnn.kernels import optimizers as k_opt
from fastnn.kernels import sgd as k_sgd
from fastnn.kernels import sparse as k_sparse
from fastnn.kernels.warmup import MODES as WARMUP_MODES
from fastnn.kernels.warmup import warmup
from fastnn.optim import OPTIMIZERS, OptimizerConfig, OptimizerState
from fastnn.params import Params, init_params

DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]
#: Max |numba - numpy| / max |numpy| after one step (one forward/backward pass or update):
#: a few dozen roundings, far inside the multi-step parity tolerances (1e-4 / 1e-10).
ONE_STEP = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}
#: (n_rows, n_in, n_out) of the dense_forward checks: degenerate, odd, tall, wide.
SHAPES = [(1, 1, 1), (7, 13, 5), (33, 5, 2), (4, 1, 9), (2, 8, 1)]
NUMBA = NumbaBackend()
NUMPY = NumpyBackend()

#: Tests of compiled code as such (signatures, .py_func against the machine code) mean
#: nothing when NUMBA_DISABLE_JIT=1 (the coverage run), where every kernel is Python.
requires_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="compiled kernels only (NUMBA_DISABLE_JIT=1)"
)


def _rel_err(actual: np.ndarray, desired: np.ndarray) -> float:
    """max |actual - desired| / max |desired|, in float64 (0 when both are all zero)."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    diff = float(np.max(np.abs(actual - desired), initial=0.0))
    scale = float(np.max(np.abs(desired), initial=0.0))
    return diff / scale if scale > 0 else diff


def _assert_close(actual, desired, tol: float, what: str) -> None:
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    assert actual.dtype == desired.dtype, f"{what}: dtype {actual.dtype} != {desired.dtype}"
    err = _rel_err(actual, desired)
    assert err <= tol, f"{what}: max |numba - numpy| / max |numpy| = {err:.3e} > {tol:.0e}"


@pytest.fixture
def strict_fp():
    """Any warning, and any NumPy overflow/invalid/divide, is an error (the reference's too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield


# --------------------------------------------------------------------------- TinyNet
@dataclass
class TinyNet:
    """A small network and everything the kernels take, built as ``kernels/warmup.py`` does.

    ``*_args`` return fresh argument tuples for direct kernel calls; the mutable
    arrays in them (``params.data``, ``state``) are this object's, so a training
    kernel called with them updates ``self.params`` and ``self.state``.
    """

    params: Params
    activations: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    order: np.ndarray
    cfg: OptimizerConfig
    state: OptimizerState

    @property
    def dtype(self) -> np.dtype:
        return self.params.dtype

    @property
    def consts(self) -> np.ndarray:
        return k_act.make_consts(self.dtype)

    @property
    def codes(self) -> np.ndarray:
        return np.array([ACTIVATIONS[a].code for a in self.activations], dtype=np.int64)

    @property
    def sizes(self) -> np.ndarray:
        return np.asarray(self.params.layer_sizes, dtype=np.int64)

    @property
    def act_off(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.params.layer_sizes[1:])]).astype(np.int64)

    @property
    def hp(self) -> np.ndarray:
        c = self.cfg
        return k_opt.pack_hyper(c.lr, c.momentum, c.beta1, c.beta2, c.eps, c.weight_decay)

    def dense_forward_sample_args(self, x, W, b, act: str, skip_zeros: bool) -> tuple:
        nz = np.empty(x.shape[0] if skip_zeros else 0, dtype=np.int64)
        out = np.empty(W.shape[1], dtype=W.dtype)
        return (x, W, b, ACTIVATIONS[act].code, k_act.make_consts(W.dtype), nz, out)

    def dense_forward_batch_args(self, A, W, b, act: str) -> tuple:
        out = np.empty((A.shape[0], W.shape[1]), dtype=W.dtype)
        return (A, W, b, ACTIVATIONS[act].code, k_act.make_consts(W.dtype), out)

    def activation_derivative_args(self, a, act: str) -> tuple:
        return (a, ACTIVATIONS[act].code, k_act.make_consts(a.dtype), np.empty_like(a))

    def train_epoch_sample_args(self, skip_zeros: bool = True) -> tuple:
        n_act = int(self.act_off[-1])
        st = self.state
        return (
            self.params.data,
            self.params.offsets,
            self.sizes,
            self.codes,
            self.consts,
            self.X,
            self.y,
            self.order,
            self.hp,
            k_opt.CODES[self.cfg.name],
            st.m,
            st.s,
            st.t,
            np.zeros(n_act, self.dtype),
            np.zeros(n_act, self.dtype),
            self.act_off,
            *self.nonzero_rows(),
            np.arange(self.X.shape[1], dtype=np.int32),
            skip_zeros,
        )

    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (indptr int64, indices int32, values) of X's non-zero entries, made with
        np.nonzero: independent of ``kernels.sparse``'s list kernels, which the adapter uses."""
        rows, cols = np.nonzero(self.X)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.X.shape[0]))])
        return indptr.astype(np.int64), cols.astype(np.int32), self.X[rows, cols]

    def nonzero_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``csr()`` without the values: what the per-sample kernel takes."""
        return self.csr()[:2]

    def sparse_batch_args(self, bs: int, parts: int = 2) -> tuple[tuple, tuple, np.ndarray]:
        """``csr``, ``cols`` and ``fresh`` of ``train_epoch_batch``'s zero-skipping path.

        The scratch for the batch's non-zeros holds exactly the most any batch of this
        order has (the adapter sizes it for the worst ``bs`` rows of X), so a write past
        a batch's own entries raises in the ``.py_func`` runs. ``parts``: how many ways
        the first layer's work is split between threads (one gradient row each).
        """
        n_in, dt = self.X.shape[1], self.dtype
        per_row = np.count_nonzero(self.X, axis=1)[self.order]
        nnz = max(int(per_row[i : i + bs].sum()) for i in range(0, per_row.shape[0], bs))
        cols = (
            np.empty(n_in + 1, np.int64),
            np.empty(nnz, np.int32),
            np.empty(nnz, dt),
            np.empty((parts, self.params.layer_sizes[1]), dt),
            np.zeros(n_in, np.int64),
        )
        return self.csr(), cols, np.empty(n_in, np.bool_)

    def train_epoch_batch_args(
        self, batch_size: int, transposed: bool = False, skip_zeros: bool = False
    ) -> tuple:
        """``transposed``: hand the kernel X.T stored C-contiguous (full batch's fast path);
        ``skip_zeros``: the zero-skipping first layer (no row buffer: X is read through
        its non-zero lists)."""
        bs = min(batch_size, self.order.shape[0])
        n_act, dt, st = int(self.act_off[-1]), self.dtype, self.state
        if skip_zeros:
            csr, cols, fresh = self.sparse_batch_args(bs)
        else:
            csr = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dt))
            cols = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dt), np.empty((0, 0), dt))
            cols += (np.empty(0, np.int64),)
            fresh = np.empty(0, np.bool_)
        return (
            self.params.data,
            self.params.offsets,
            self.sizes,
            self.codes,
            self.consts,
            self.X,
            self.y,
            np.ascontiguousarray(self.X.T) if transposed else np.empty((0, 0), dt),
            self.order,
            bs,
            self.hp,
            k_opt.CODES[self.cfg.name],
            st.m,
            st.s,
            st.t,
            np.zeros_like(self.params.data),
            np.empty((0 if skip_zeros else bs, self.X.shape[1]), dt),
            np.empty(bs, np.int64),
            np.empty(bs * n_act, dt),
            np.empty(bs * max(self.params.layer_sizes), dt),
            self.act_off,
            csr,
            cols,
            fresh,
        )

    def predict_proba_args(self, chunk: int) -> tuple:
        out = np.empty((self.X.shape[0], self.params.layer_sizes[-1]), self.dtype)
        abuf = np.empty(chunk * int(self.act_off[-1]), self.dtype)
        return (
            self.params.data,
            self.params.offsets,
            self.sizes,
            self.codes,
            self.consts,
            self.X,
            out,
            abuf,
            self.act_off,
            chunk,
        )


def _tiny_net(
    dtype,
    activations=("tanh", "relu", "softmax"),
    optimizer="adam",
    weight_decay=1e-3,
    n=7,
    layer_sizes=(6, 5, 4, 3),
    seed=7,
) -> TinyNet:
    """A deterministic TinyNet: sparse inputs with an all-zero row, non-zero biases."""
    dt = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    params = init_params(tuple(layer_sizes), tuple(activations), rng, dt)
    for b in params.biases():
        b[...] = rng.uniform(-0.2, 0.2, size=b.shape)
    X = rng.random((n, layer_sizes[0]))
    X[rng.random(X.shape) < 0.5] = 0.0
    X[0] = 0.0
    y = rng.integers(0, layer_sizes[-1], size=n).astype(np.int64)
    cfg = OptimizerConfig(optimizer, lr=0.05, weight_decay=weight_decay)
    state = OptimizerState.zeros(optimizer, params.data.size, dt)
    return TinyNet(
        params, tuple(activations), X.astype(dt), y, rng.permutation(n).astype(np.int64), cfg, state
    )


def _dense_inputs(shape, dtype, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a_prev (sparse, row 0 all zero, the last row with max |z| = 1e3), W and b of one layer."""
    n, n_in, n_out = shape
    a = rng.uniform(-2.0, 2.0, size=(n, n_in))
    a[rng.random(a.shape) < 0.5] = 0.0
    a[0] = 0.0
    W = rng.uniform(-1.0, 1.0, size=(n_in, n_out))
    b = rng.uniform(-0.5, 0.5, size=n_out)
    if n > 1:
        # sigmoid/tanh/softmax saturate, selu's exp branch underflows: still no warning, no NaN.
        a[-1] = rng.uniform(-1.0, 1.0, size=n_in)
        a[-1] *= 1e3 / np.abs(a[-1] @ W).max()
    return a.astype(dtype), W.astype(dtype), b.astype(dtype)


def _assert_forward_close(got, want, a, W, b, what: str) -> None:
    """``got`` and ``want`` are ``g(a @ W + b)`` computed in two summation orders.

    Any order (BLAS blocking, SIMD lanes, FMA) errs by at most about ``n_in`` ulps of
    ``sum_i |a_i W_ij| + |b_j|``; no activation here has a slope above ~1.05 (softmax
    moves by at most 2 max |dz|), and evaluating g adds a few ulps of at most 1 or |a|.
    """
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape}"
    assert np.isfinite(got).all(), f"{what}: non-finite output"
    eps = np.finfo(want.dtype).eps
    mag = np.abs(np.atleast_2d(a).astype(np.float64)) @ np.abs(W.astype(np.float64)) + np.abs(b)
    bound = 4 * eps * ((W.shape[0] + 1) * mag.max(axis=1, keepdims=True) + 1 + np.abs(want))
    excess = np.abs(got.astype(np.float64) - want) - bound.reshape(np.shape(want))
    where = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 0, (
        f"{what}: |numba - numpy| exceeds the rounding bound at {where}: {got[where]!r} vs {want[where]!r}"
    )


# ------------------------------------------------------------------ codes and constants
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_kernel_activation_code_matches_registry(name):
    assert getattr(k_act, name.upper()) == ACTIVATIONS[name].code, (
        f"fastnn.kernels.activations.{name.upper()} != ACTIVATIONS[{name!r}].code"
    )


def test_kernel_codes_are_distinct_and_constants_match_registry():
    codes = [getattr(k_act, name.upper()) for name in ACTIVATIONS]
    assert len(set(codes)) == len(codes)
    assert k_act.LEAKY_SLOPE == LEAKY_SLOPE
    assert k_act.SELU_ALPHA == SELU_ALPHA
    assert k_act.SELU_LAMBDA == SELU_LAMBDA


def test_kernel_optimizer_codes_cover_every_optimizer_once():
    assert set(k_opt.CODES) == set(OPTIMIZERS)
    assert sorted(k_opt.CODES.values()) == list(range(len(OPTIMIZERS)))
    for name, code in k_opt.CODES.items():
        assert getattr(k_opt, name.upper()) == code


def test_hyper_parameters_land_in_their_named_slots():
    hp = k_opt.pack_hyper(lr=0.5, momentum=0.25, beta1=0.125, beta2=0.0625, eps=1e-3, weight_decay=2.0)
    assert hp.dtype == np.float64 and hp.shape == (k_opt.N_HYPER,)
    slots = {k_opt.LR: 0.5, k_opt.MU: 0.25, k_opt.BETA1: 0.125, k_opt.BETA2: 0.0625, k_opt.EPS: 1e-3}
    slots[k_opt.WEIGHT_DECAY] = 2.0
    assert len(slots) == k_opt.N_HYPER
    for slot, value in slots.items():
        assert hp[slot] == value


# ------------------------------------------------------------------------ dense forward
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_matches_reference(act, shape, dtype, rng, strict_fp):
    a, W, b = _dense_inputs(shape, dtype, rng)
    want = NUMPY.dense_forward(a, W, b, act)
    got = NUMBA.dense_forward(a, W, b, act)
    _assert_forward_close(got, want, a, W, b, f"dense_forward {act} {shape} {dtype}")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_propagates_nan_like_reference(act):
    z = np.array([[np.nan], [1.5], [-1.5]])
    with np.errstate(invalid="ignore"):
        want = NUMPY.dense_forward(z, np.ones((1, 1)), np.zeros(1), act)
    got = NUMBA.dense_forward(z, np.ones((1, 1)), np.zeros(1), act)
    assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{act}: NaN handling differs")


def test_dense_forward_rejects_mismatched_arrays():
    W = np.ones((3, 2))
    with pytest.raises(InvalidParameterError, match="dtype"):
        NUMBA.dense_forward(np.ones((2, 3), np.float32), W, np.zeros(2), "relu")
    with pytest.raises(InvalidParameterError, match="shapes do not chain"):
        NUMBA.dense_forward(np.ones((2, 4)), W, np.zeros(2), "relu")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_activation_derivative_matches_reference(act, dtype, rng, strict_fp):
    z = rng.uniform(-4.0, 4.0, size=(9, 7))
    z[0] = 0.0  # the kink: derivative at a == g(0) exactly
    z[1, :3] = [-1e3, 1e3, -30.0]
    a = ACTIVATIONS[act].fn(z.astype(dtype))
    for arr in (a, a[:, ::2], a.T, a[3]):  # C, strided, F-ordered and 1-D inputs
        want = NUMPY.activation_derivative(arr, act)
        got = NUMBA.activation_derivative(arr, act)
        assert got.dtype == dtype and got.shape == arr.shape
        eps = np.finfo(dtype).eps
        assert_allclose(got, want, rtol=2 * eps, atol=2 * eps, err_msg=f"{act} {dtype}")


def test_activation_derivative_of_softmax_raises_like_reference():
    a = np.full((2, 3), 1 / 3)
    for backend in (NUMPY, NUMBA):
        with pytest.raises(InvalidParameterError, match="output layer"):
            backend.activation_derivative(a, "softmax")


@pytest.mark.parametrize("skip_zeros", [True, False], ids=["skip-zeros", "dense"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_sample_matches_reference(act, dtype, skip_zeros, rng, strict_fp):
    a, W, b = _dense_inputs((5, 13, 6), dtype, rng)
    net = _tiny_net(dtype)
    for r, x in enumerate(a):  # row 0 is all zero, the last has |z| up to 1e3
        want = NUMPY.dense_forward(x[None, :], W, b, act)[0]
        got = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, skip_zeros))
        _assert_forward_close(got, want, x, W, b, f"dense_forward_sample {act} row {r}")


@pytest.mark.parametrize("act", ["relu", "softmax"])
def test_dense_forward_sample_skipping_is_exact(act, rng):
    a, W, b = _dense_inputs((6, 13, 6), np.float64, rng)
    net = _tiny_net(np.float64)
    for x in a:
        sparse = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, True))
        dense = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, False))
        assert_array_equal(sparse, dense)


# ------------------------------------------------------------- backward and optimiser
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_loss_and_gradient_matches_reference(act, dtype, strict_fp):
    for layer_sizes, n in (((6, 5, 4, 3), 7), ((6, 3), 5), ((6, 1, 2), 1)):
        net = _tiny_net(dtype, (act,) * (len(layer_sizes) - 2) + ("softmax",), n=n, layer_sizes=layer_sizes)
        g_np, g_nb = net.params.zeros_like(), net.params.zeros_like()
        loss_np = NUMPY.loss_and_gradient(net.params, net.activations, net.X, net.y, g_np)
        loss_nb = NUMBA.loss_and_gradient(net.params, net.activations, net.X, net.y, g_nb)
        what = f"{act} {layer_sizes} {dtype}"
        assert isinstance(loss_nb, float)
        assert loss_nb == pytest.approx(loss_np, rel=ONE_STEP[net.dtype]), f"loss {what}"
        for i in range(net.params.n_layers):
            grads_np, grads_nb = Params(layer_sizes, g_np), Params(layer_sizes, g_nb)
            _assert_close(grads_nb.W(i), grads_np.W(i), ONE_STEP[net.dtype], f"dW[{i}] {what}")
            _assert_close(grads_nb.b(i), grads_np.b(i), ONE_STEP[net.dtype], f"db[{i}] {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_apply_update_matches_reference(optimizer, weight_decay, dtype, rng):
    nets = {
        name: _tiny_net(dtype, optimizer=optimizer, weight_decay=weight_decay) for name in ("numpy", "numba")
    }
    backends = {"numpy": NUMPY, "numba": NUMBA}
    for step in range(1, 4):
        grad = rng.normal(0.0, 0.5, size=nets["numpy"].params.data.shape).astype(dtype)
        grad[::5] = 0.0  # zero gradients still decay and move momentum
        for name, net in nets.items():
            # The reference adds weight decay into its grad argument: give each a copy.
            backends[name].apply_update(net.params, grad.copy(), net.cfg, net.state)
        ref, got = nets["numpy"], nets["numba"]
        what = f"{optimizer} wd={weight_decay} {np.dtype(dtype)} after step {step}"
        _assert_close(got.params.data, ref.params.data, ONE_STEP[ref.dtype], f"weights, {what}")
        _assert_close(got.state.m, ref.state.m, ONE_STEP[ref.dtype], f"state m, {what}")
        _assert_close(got.state.s, ref.state.s, ONE_STEP[ref.dtype], f"state s, {what}")
        assert_array_equal(got.state.t, ref.state.t, err_msg=f"state t, {what}")


# -------------------------------------------------------------------------- predict
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_rows", [1, 3, 8, 11])
def test_predict_proba_in_small_chunks_matches_reference(n_rows, dtype, monkeypatch):
    # Chunks of 4 rows: several full ones, a short last one, or a single short one.
    monkeypatch.setattr(numba_backend, "PREDICT_CHUNK", 4)
    monkeypatch.setattr(numpy_backend, "PREDICT_CHUNK", 4)
    net = _tiny_net(dtype, ("selu", "sigmoid", "softmax"), n=n_rows)
    want = NUMPY.predict_proba(net.params, net.activations, net.X)
    got = NUMBA.predict_proba(net.params, net.activations, net.X)
    _assert_close(got, want, ONE_STEP[net.dtype], f"predict_proba {n_rows} rows")
    assert_allclose(got.sum(axis=1), 1.0, rtol=10 * np.finfo(dtype).eps)


def test_predict_proba_with_non_softmax_output_is_refused():
    # The kernels' output layer is always softmax; a net that says otherwise is refused
    # at the adapter rather than silently computed with softmax.
    net = _tiny_net(np.float64, ("relu", "tanh", "sigmoid"))
    with pytest.raises(InvalidParameterError, match="followed by the output 'softmax'"):
        NUMBA.predict_proba(net.params, net.activations, net.X)


def test_predict_proba_of_no_rows_is_empty():
    net = _tiny_net(np.float64)
    got = NUMBA.predict_proba(net.params, net.activations, net.X[:0])
    assert got.shape == (0, 3)


# ------------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("backend", [NUMPY, NUMBA], ids=["numpy", "numba"])
def test_float32_in_float32_out_for_every_entry_point(backend):
    net = _tiny_net(np.float32)
    p, acts, X, f32 = net.params, net.activations, net.X, np.dtype(np.float32)
    assert backend.dense_forward(X, p.W(0), p.b(0), "tanh").dtype == f32
    assert backend.activation_derivative(X, "relu").dtype == f32
    assert [a.dtype for a in backend.forward(p, acts, X)] == [f32] * (p.n_layers + 1)
    assert backend.predict_proba(p, acts, X).dtype == f32
    grad = p.zeros_like()
    assert isinstance(backend.loss_and_gradient(p, acts, X, net.y, grad), float)
    assert grad.dtype == f32
    backend.apply_update(p, grad, net.cfg, net.state)
    for bs in (1, 3, net.X.shape[0]):
        result = backend.train_epoch(p, acts, X, net.y, net.order, bs, net.cfg, net.state)
        assert isinstance(result, EpochResult), f"train_epoch batch_size={bs}: {type(result)}"
        assert isinstance(result.loss, float) and isinstance(result.accuracy, float)
    assert p.data.dtype == f32 and net.state.m.dtype == f32 and net.state.s.dtype == f32


def test_float32_kernel_outputs_are_float32():
    net = _tiny_net(np.float32)
    W, b = net.params.W(0), net.params.b(0)
    for skip in (True, False):
        args = net.dense_forward_sample_args(net.X[1], W, b, "relu", skip)
        assert k_dense.dense_forward_sample(*args).dtype == np.float32
    assert k_dense.dense_forward_batch(*net.dense_forward_batch_args(net.X, W, b, "relu")).dtype == np.float32
    assert k_act.activation_derivative(*net.activation_derivative_args(net.X, "tanh")).dtype == np.float32
    assert k_batch.predict_proba(*net.predict_proba_args(4)).dtype == np.float32


#: Entry kernels and what they may return for float32 data: the summed loss is float64
#: (with the int64 count of right predictions); the non-zero lists are written in place.
ENTRY_KERNELS = {
    "train_epoch_sample": (k_sgd, types.Tuple((types.float64, types.int64))),
    "train_epoch_batch": (k_batch, types.Tuple((types.float64, types.int64))),
    "predict_proba": (k_batch, types.Array(types.float32, 2, "C")),
    "count_nonzeros": (k_sparse, types.none),
    "list_nonzeros": (k_sparse, types.none),
}


def _leaves(a):
    """The scalar and array types in a (possibly nested tuple) Numba type."""
    if isinstance(a, types.BaseTuple):
        return [leaf for t in a.types for leaf in _leaves(t)]
    return [a]


#: The entry kernels each warmup mode must compile: what a run of that kind calls.
WARMUP_NEEDS = {
    "sample": {"count_nonzeros", "list_nonzeros", "train_epoch_sample", "predict_proba"},
    "batch": {"count_nonzeros", "list_nonzeros", "train_epoch_batch", "predict_proba"},
    "predict": {"predict_proba"},
    "all": {"count_nonzeros", "list_nonzeros", "train_epoch_sample", "train_epoch_batch", "predict_proba"},
}


@pytest.mark.parametrize("mode", WARMUP_MODES)
def test_warmup_calls_every_entry_kernel_its_mode_runs(mode, monkeypatch):
    """Each entry kernel is really called (with today's signature), so its compile
    stays out of the first epoch; the non-zero lists are made in prepare, inside fit's time."""
    called = set()
    kernels = {"count_nonzeros": k_sparse, "list_nonzeros": k_sparse, "train_epoch_sample": k_sgd}
    kernels |= {"train_epoch_batch": k_batch, "predict_proba": k_batch}
    for name, module in kernels.items():
        kernel = getattr(module, name)

        def spy(*args, kernel=kernel, name=name):
            called.add(name)
            return kernel(*args)

        monkeypatch.setattr(module, name, spy)
    warmup("float64", mode)
    assert called == WARMUP_NEEDS[mode]


@requires_jit
@pytest.mark.parametrize("name", sorted(ENTRY_KERNELS))
def test_float32_signatures_have_no_float64_but_hp(name):
    warmup("float32")
    module, allowed_return = ENTRY_KERNELS[name]
    kernel = getattr(module, name)
    pnames = list(inspect.signature(kernel.py_func).parameters)
    sigs = [
        s
        for s in kernel.nopython_signatures
        if any(getattr(leaf, "dtype", leaf) == types.float32 for a in s.args for leaf in _leaves(a))
    ]
    assert sigs, f"warmup('float32') compiled no float32 signature of {name}"
    for sig in sigs:
        bad = [
            f"{p}: {a}"
            for p, a in zip(pnames, sig.args, strict=True)
            if any(getattr(leaf, "dtype", leaf) == types.float64 for leaf in _leaves(a)) and p != "hp"
        ]
        assert not bad, f"{name} float32 specialisation has float64 arguments: {bad}"
        assert sig.return_type == allowed_return, f"{name} returns {sig.return_type}"


@requires_jit
# ------------------------------------------------------------------- .py_func bodies
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_py_func_of_single_step_kernels_matches_jit(dtype):
    net = _tiny_net(dtype)
    W, b, tol = net.params.W(0), net.params.b(0), ONE_STEP[net.dtype]
    for act in ("relu", "selu", "softmax"):
        for skip in (True, False):
            args = net.dense_forward_sample_args(net.X[2], W, b, act, skip)
            _assert_close(
                k_dense.dense_forward_sample.py_func(*args),
                k_dense.dense_forward_sample(*args),
                tol,
                f"dense_forward_sample.py_func {act}",
            )
        args = net.dense_forward_batch_args(net.X, W, b, act)
        _assert_close(
            k_dense.dense_forward_batch.py_func(*args),
            k_dense.dense_forward_batch(*args),
            tol,
            f"dense_forward_batch.py_func {act}",
        )
    a = np.tanh(net.X - net.dtype.type(0.5))
    for act in ("sigmoid", "tanh", "selu"):
        args = net.activation_derivative_args(a, act)
        _assert_close(
            k_act.activation_derivative.py_func(*args),
            k_act.activation_derivative(*args),
            tol,
            f"activation_derivative.py_func {act}",
        )


@requires_jit
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "mode", ["sample-skip", "sample-dense", "batch-3", "batch-3-skip", "full-batch", "full-batch-xt"]
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_py_func_of_training_kernels_matches_jit(optimizer, mode, dtype):
    wd = 0.0 if optimizer == "sgd" else 1e-3  # the plain-SGD fast path and the general one
    jit_net, py_net = (_tiny_net(dtype, optimizer=optimizer, weight_decay=wd) for _ in range(2))
    n = jit_net.X.shape[0]
    bs = {"batch-3": 3, "full-batch": n, "full-batch-xt": n}.get(mode, 1)

    def args(net: TinyNet) -> tuple:
        if bs == 1:
            return net.train_epoch_sample_args(skip_zeros=mode == "sample-skip")
        return net.train_epoch_batch_args(
            bs, transposed=mode == "full-batch-xt", skip_zeros=mode.endswith("skip")
        )

    kernel = k_sgd.train_epoch_sample if bs == 1 else k_batch.train_epoch_batch
    loss_jit, correct_jit = kernel(*args(jit_net))
    loss_py, correct_py = kernel.py_func(*args(py_net))
    tol = ONE_STEP[jit_net.dtype]
    assert loss_py == pytest.approx(loss_jit, rel=tol)
    assert correct_py == correct_jit, (
        f"{kernel.__name__}.py_func counts {correct_py} right, jit {correct_jit}"
    )
    _assert_close(py_net.params.data, jit_net.params.data, tol, f"{kernel.__name__}.py_func weights")
    _assert_close(py_net.state.m, jit_net.state.m, tol, "state m")
    assert_array_equal(py_net.state.t, jit_net.state.t)


@requires_jit
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_py_func_of_predict_proba_matches_jit(dtype):
    net = _tiny_net(dtype, ("sigmoid", "leaky_relu", "softmax"))
    got = k_batch.predict_proba.py_func(*net.predict_proba_args(3))
    want = k_batch.predict_proba(*net.predict_proba_args(3))
    _assert_close(got, want, ONE_STEP[net.dtype], "predict_proba.py_func")


# ----------------------------------------------------------------- bounds checking
#: Runs in a fresh interpreter with NUMBA_BOUNDSCHECK=1 and the disk cache off, so every
#: kernel is compiled with bounds checks (an out-of-range index raises IndexError) and
#: nothing compiled this way lands in the shared cache. With the cache off, the helpers'
#: compiled signatures are also visible, so it reports float64 leaking into float32 code.
BOUNDSCHECK_SCRIPT = r"""
import inspect, json
import numpy as np
from numba import config
from numba.core import types
from numba.core.dispatcher import Dispatcher
from fastnn import MLP
from fastnn.backends import numba_backend
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.kernels import _jit
from fastnn.kernels import activations as k_act, batch as k_batch, dense as k_dense, sgd as k_sgd
from fastnn.kernels import sparse as k_sparse
from fastnn.optim import OptimizerConfig, OptimizerState

assert config.BOUNDSCHECK, "NUMBA_BOUNDSCHECK=1 is not in effect"
assert not _jit.CACHE, "FASTNN_NUMBA_CACHE=0 is not in effect"
assert hasattr(numba_backend, "PREDICT_CHUNK")
numba_backend.PREDICT_CHUNK = 4  # several chunks and a short last one
gen = np.random.default_rng(0)
X = gen.random((21, 9))
X[gen.random(X.shape) < 0.7] = 0.0
X[0] = 0.0
y = gen.integers(0, 3, 21)
dt, tol = "float32", 1e-4

def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

for sizes, act in (([9, 6, 4, 3], "relu"), ([9, 5, 3], "sigmoid"), ([9, 3], "tanh")):
    for bs in (1, 8, None):
        for opt in ("sgd", "adam"):
            models = {be: MLP(sizes, act, backend=be, dtype=dt, seed=1) for be in ("numpy", "numba")}
            for m in models.values():
                m.fit(X, y, epochs=2, lr=0.05, batch_size=bs, optimizer=opt, weight_decay=1e-3)
            a, b, combo = models["numba"], models["numpy"], (sizes, act, bs, opt)
            assert rel(a.params.data, b.params.data) <= tol, ("weights", combo)
            assert rel(a.predict_proba(X), b.predict_proba(X)) <= tol, ("predict_proba", combo)
            if bs == 1:  # the dense first layer (the data above takes the zero-skipping one)
                st = OptimizerState.zeros(opt, a.params.data.size, a.params.dtype)
                NumbaBackend().train_epoch(a.params, a.activations, X.astype(dt), y, np.arange(21), 1,
                                           OptimizerConfig(opt, 0.05), st, skip_zeros=False)
nb, m = NumbaBackend(), models["numba"]
grad = m.params.zeros_like()
nb.loss_and_gradient(m.params, m.activations, X.astype(dt), y, grad)
nb.apply_update(m.params, grad, OptimizerConfig("adam", 0.01, weight_decay=1e-3),
                OptimizerState.zeros("adam", m.params.data.size, m.params.dtype))
nb.activation_derivative(m.params.W(0), "relu")
leaks = []
for mod in (k_act, k_dense, k_sgd, k_batch, k_sparse):
    for name, obj in sorted(vars(mod).items()):
        if not isinstance(obj, Dispatcher) or obj.py_func.__module__ != mod.__name__:
            continue
        pnames = list(inspect.signature(obj.py_func).parameters)
        for sig in obj.nopython_signatures:
            kinds = [getattr(a, "dtype", a) for a in sig.args]
            if types.float32 in kinds:
                leaks += [f"{name}({p}: {a})" for p, k, a in zip(pnames, kinds, sig.args)
                          if k == types.float64 and p != "hp"]
print(json.dumps({"float64_in_float32_code": sorted(set(leaks))}))
"""


@pytest.fixture(scope="module")
def boundscheck_run() -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", FASTNN_NUMBA_CACHE="0")
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", BOUNDSCHECK_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow  # ~20 s (18-24 s measured): a cold compile of every kernel with bounds checks
def test_training_under_boundscheck_matches_reference(boundscheck_run):
    """Per-sample (sparse and dense first layer), mini-batch and full batch, three
    depths, two optimisers, predict_proba in short chunks: no IndexError, same numbers."""
    assert boundscheck_run.returncode == 0, boundscheck_run.stderr[-4000:]


@pytest.mark.slow  # shares the bounds-checked subprocess run above
def test_no_float64_arguments_in_float32_helpers(boundscheck_run):
    assert boundscheck_run.returncode == 0, boundscheck_run.stderr[-4000:]
    report = json.loads(boundscheck_run.stdout.strip().splitlines()[-1])
    assert report["float64_in_float32_code"] == []


# ------------------------------------------------------------- the on-disk cache
@requires_jit
def test_every_kernel_function_has_a_qualified_name_of_its_own():
    """Numba names compiled code by module, qualified name, a per-process counter and
    the argument types. Two functions sharing a qualified name (closures made by one
    factory) can then get the same symbol in cache entries written by different
    processes, and loading both makes one entry point run the other's code."""
    owners: dict[tuple[str, str], set[int]] = {}
    for mod in (k_act, k_dense, k_sgd, k_batch, k_sparse):
        for obj in vars(mod).values():
            if isinstance(obj, numba.core.dispatcher.Dispatcher) and obj.py_func.__module__ == mod.__name__:
                owners.setdefault((mod.__name__, obj.py_func.__qualname__), set()).add(id(obj))
    shared = sorted(name for name, objs in owners.items() if len(objs) > 1)
    assert not shared, f"kernel functions sharing a qualified name: {shared}"
    assert ("fastnn.kernels.activations", "relu_bias_apply_rows") in owners
