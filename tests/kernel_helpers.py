"""What the kernel tests share: ``TinyNet``, tolerances, inputs and close-enough checks.

Every direct kernel call takes its arguments from ``TinyNet`` (built as
``kernels/warmup.py`` does): when a kernel's signature changes, fix it there only.
Used by ``test_kernels.py`` (kernels against the NumPy reference) and
``test_kernels_compiled.py`` (the compiled code as such).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pytest

from fastnn.activations import ACTIVATIONS
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.kernels import activations as k_act
from fastnn.kernels import optimizers as k_opt
from fastnn.optim import OptimizerConfig, OptimizerState
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

    def sparse_batch_args(self, bs: int, parts: int | None = 2) -> tuple[tuple, tuple, np.ndarray]:
        """``csr``, ``cols`` and ``fresh`` of ``train_epoch_batch``'s zero-skipping path.

        The scratch for the batch's non-zeros holds exactly the most any batch of this
        order has (the adapter sizes it for the worst ``bs`` rows of X), so a write past
        a batch's own entries raises in the ``.py_func`` runs. ``parts``: how many ways
        the first layer's work is split between threads (one gradient row each, 2-D),
        or None for the unsplit path (one gradient row, 1-D).
        """
        n_in, dt = self.X.shape[1], self.dtype
        per_row = np.count_nonzero(self.X, axis=1)[self.order]
        nnz = max(int(per_row[i : i + bs].sum()) for i in range(0, per_row.shape[0], bs))
        cols = (
            np.empty(n_in + 1, np.int64),
            np.empty(nnz, np.int32),
            np.empty(nnz, dt),
            np.empty(self.params.layer_sizes[1], dt)
            if parts is None
            else np.empty((parts, self.params.layer_sizes[1]), dt),
            np.zeros(n_in, np.int64),
        )
        return self.csr(), cols, np.empty(n_in, np.bool_)

    def train_epoch_batch_args(
        self, batch_size: int, transposed: bool = False, skip_zeros: bool = False, parts: int | None = 2
    ) -> tuple:
        """``transposed``: hand the kernel X.T stored C-contiguous (full batch's fast path);
        ``skip_zeros``: the zero-skipping first layer (no row buffer: X is read through
        its non-zero lists), split in ``parts`` (None: unsplit, see ``sparse_batch_args``)."""
        bs = min(batch_size, self.order.shape[0])
        n_act, dt, st = int(self.act_off[-1]), self.dtype, self.state
        if skip_zeros:
            csr, cols, fresh = self.sparse_batch_args(bs, parts)
        else:
            csr = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dt))
            cols = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dt), np.empty(0, dt))
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
