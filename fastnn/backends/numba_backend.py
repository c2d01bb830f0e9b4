"""The fast backend: a thin adapter that checks arrays and calls ``fastnn.kernels``.

Numba does not bounds-check, so everything a kernel relies on (shapes, dtypes,
contiguity, label range) is established here before any kernel runs, and every
scratch buffer is allocated here, once per call, never inside a kernel's loop.
Results match ``NumpyBackend`` to floating-point tolerance; only the speed differs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import nullcontext

import numba
import numpy as np

# Numba's np.dot calls SciPy's OpenBLAS, which is otherwise loaded only when the first
# kernel compiles: inside a fit's thread limit, which then misses it, and the kernel
# runs its small products on every core (measured 10x slower per product with the
# other core busy). Loaded here, every limit_threads reaches it.
import scipy.linalg.cython_blas  # noqa: F401

from fastnn.activations import get_activation
from fastnn.backends import EpochResult
from fastnn.backends import numba_data as prep
from fastnn.backends.numba_data import Prepared
from fastnn.backends.numba_inputs import check_float_array, check_inputs, check_param_dtype, target_buffer
from fastnn.backends.numpy_backend import PREDICT_CHUNK
from fastnn.errors import InvalidParameterError
from fastnn.kernels import activations as k_act
from fastnn.kernels import batch as k_batch
from fastnn.kernels import dense as k_dense
from fastnn.kernels import inference as k_inference
from fastnn.kernels import optimizers as k_opt
from fastnn.kernels import sgd as k_sgd
from fastnn.kernels.warmup import warmup as _warmup
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import Params
from fastnn.threads import single_blas_thread

#: Held around kernels that start Numba's thread pool (see kernels/_jit.py).
_PARALLEL = threading.Lock()


def _codes(activations: Sequence[str]) -> np.ndarray:
    return np.array([get_activation(a).code for a in activations], dtype=np.int64)


def _act_offsets(layer_sizes: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(layer_sizes[1:])]).astype(np.int64)


def _hyper(cfg: OptimizerConfig) -> np.ndarray:
    return k_opt.pack_hyper(cfg.lr, cfg.momentum, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)


class NumbaBackend:
    """JIT-compiled implementation of the backend protocol (see ``fastnn.backends``)."""

    name = "numba"

    def __init__(self, skip_zeros: bool | None = None, parallel_first_layer: bool = False) -> None:
        """``skip_zeros``: None (default) skips zero inputs in the first layer when the
        data is sparse enough (see ``numba_data``); True or False forces either path,
        for benchmarks. Both give the same results.

        ``parallel_first_layer``: split the zero-skipping first layer's work between
        Numba's threads (``kernels/sparse.py``), bit for bit the same results. Off by
        default: on the two-vCPU machine fastnn is measured on, handing half of every
        batch to the second thread cost more than the halved work saved (a batch-64
        epoch of 784-256-128-10 on MNIST was slower split at two threads than unsplit
        at one). ``python -m benchmarks.first_layer_split`` measures it on yours.
        """
        if skip_zeros is not None and not isinstance(skip_zeros, bool):
            raise InvalidParameterError(
                f"the 'skip_zeros' parameter must be None, True or False; got {skip_zeros!r}"
            )
        if not isinstance(parallel_first_layer, bool):
            raise InvalidParameterError(
                f"the 'parallel_first_layer' parameter must be True or False; got {parallel_first_layer!r}"
            )
        self.skip_zeros = skip_zeros
        self.parallel_first_layer = parallel_first_layer
        self._consts: dict[np.dtype, np.ndarray] = {}
        self._pool = prep.BufferPool()

    def __getstate__(self) -> dict[str, object]:
        # Copies of a model (MLP.copy, with_backend) get no scratch: it is per-instance.
        state = dict(self.__dict__)
        state["_pool"] = prep.BufferPool()
        return state

    def _c(self, dtype: np.dtype) -> np.ndarray:
        if dtype not in self._consts:
            self._consts[dtype] = k_act.make_consts(dtype)
        return self._consts[dtype]

    def prepare(
        self, X: np.ndarray, batch_size: int | None = None, first_units: int | None = None
    ) -> Prepared | None:
        """Per-data-set work for ``train_epoch``, done once per fit by ``MLP.fit``.

        Runs that skip zero inputs (per-sample, or mini-batch on sparse enough data)
        get the non-zero lists; full-batch runs (``batch_size >= len(X)``) get X
        transposed (see ``numba_data``). Returns None when neither applies.
        """
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype not in (np.float32, np.float64):
            return None  # train_epoch will reject or convert it, with its own message
        return prep.prepare(np.ascontiguousarray(X), batch_size, self.skip_zeros, self._pool, first_units)

    def warmup(
        self, dtype: str | np.dtype = "float32", mode: str = "all", activations: Sequence[str] | None = None
    ) -> float:
        """Compile (or load from Numba's cache) the kernels for ``dtype``; returns the
        seconds taken, which the CLI reports as compile time. ``mode`` (``sample``,
        ``batch``, ``predict`` or ``all``) and ``activations`` (the network's; None: all)
        limit it to what one kind of run needs; batched training is compiled split or
        not as this backend runs it (``parallel_first_layer``)."""
        codes = None
        if activations is not None:
            # The identity pass too: validation loss comes from logits (MLP._logits).
            codes = [get_activation(a).code for a in activations] + [k_act.IDENTITY]
        return _warmup(dtype, mode, codes, self.parallel_first_layer)

    # --------------------------------------------------------------- protocol
    def dense_forward(self, a_prev: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str) -> np.ndarray:
        """Fused ``g(a_prev @ W + b)`` for a batch."""
        dtype = np.asarray(W).dtype
        check_param_dtype(dtype)
        a_prev = check_float_array("a_prev", a_prev, dtype, 2)
        W = check_float_array("W", W, dtype, 2)
        b = check_float_array("b", b, dtype, 1)
        if a_prev.shape[1] != W.shape[0] or b.shape != (W.shape[1],):
            raise InvalidParameterError(
                f"shapes do not chain: a_prev {a_prev.shape}, W {W.shape}, b {b.shape}"
            )
        out = np.empty((a_prev.shape[0], W.shape[1]), dtype=dtype)
        return k_dense.dense_forward_batch(a_prev, W, b, get_activation(activation).code, self._c(dtype), out)

    def activation_derivative(self, a: np.ndarray, activation: str) -> np.ndarray:
        """``g'`` from the output ``a`` (softmax has none, as in the reference)."""
        spec = get_activation(activation)
        if spec.output_only:
            return spec.grad(a)  # raises the reference's explanatory error
        a = np.ascontiguousarray(a)
        check_param_dtype(a.dtype)
        return k_act.activation_derivative(a, spec.code, self._c(a.dtype), np.empty_like(a))

    def forward(self, params: Params, activations: Sequence[str], X: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, input first."""
        X, _ = check_inputs(params, activations, X)
        outs = [X]
        for i, act in enumerate(activations):
            outs.append(self.dense_forward(outs[-1], params.W(i), params.b(i), act))
        return outs

    def predict_proba(self, params: Params, activations: Sequence[str], X: np.ndarray) -> np.ndarray:
        """The network's outputs (softmax probabilities, or an identity output's values).

        In chunks of rows, each layer is NumPy's BLAS product and then the compiled
        bias + activation pass for that layer's activation (``kernels/inference.py``),
        so only the passes this network uses are ever compiled.
        """
        X, _ = check_inputs(params, activations, X)
        consts = self._c(params.dtype)
        passes = [k_inference.BY_CODE[get_activation(a).code] for a in activations]
        out = np.empty((X.shape[0], params.layer_sizes[-1]), dtype=params.dtype)
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            a = X[start : start + PREDICT_CHUNK]
            for layer, layer_pass in enumerate(passes):
                W = params.W(layer)
                last = layer == len(passes) - 1
                z = (
                    out[start : start + a.shape[0]]
                    if last
                    else np.empty((a.shape[0], W.shape[1]), params.dtype)
                )
                np.matmul(a, W, out=z)
                layer_pass(z, params.b(layer), consts)
                a = z
        return out

    def loss_and_gradient(
        self, params: Params, activations: Sequence[str], X: np.ndarray, y: np.ndarray, grad: np.ndarray
    ) -> float:
        """Summed loss; gradient of the mean loss written into ``grad``."""
        X, y = check_inputs(params, activations, X, y)
        grad_ = check_float_array("grad", grad, params.dtype, 1)
        if grad_ is not grad or grad.shape != params.data.shape:
            raise InvalidParameterError(
                f"the 'grad' parameter must be a C-contiguous {params.dtype} buffer of shape "
                f"{params.data.shape}; got {grad.shape}"
            )
        act_off = _act_offsets(params.layer_sizes)
        abuf = np.empty(X.shape[0] * int(act_off[-1]), dtype=params.dtype)
        tmp = np.empty(X.shape[0] * max(params.layer_sizes), dtype=params.dtype)
        sizes = np.asarray(params.layer_sizes, dtype=np.int64)
        return float(
            k_batch.loss_and_gradient(
                params.data,
                params.offsets,
                sizes,
                _codes(activations),
                self._c(params.dtype),
                X,
                y,
                np.empty((0, 0), dtype=params.dtype),
                grad,
                abuf,
                tmp,
                act_off,
            )
        )

    def apply_update(
        self, params: Params, grad: np.ndarray, cfg: OptimizerConfig, state: OptimizerState
    ) -> None:
        """One optimiser step in place (fused over the flat buffer)."""
        check_param_dtype(params.dtype)
        grad = check_float_array("grad", grad, params.dtype, 1)
        self._check_state(params, state)
        k_batch.apply_update(
            params.data,
            grad,
            params.offsets,
            self._c(params.dtype),
            _hyper(cfg),
            k_opt.CODES[cfg.name],
            state.m,
            state.s,
            state.t,
        )

    def _check_state(self, params: Params, state: OptimizerState) -> None:
        for name in ("m", "s"):
            buf = getattr(state, name)
            if buf.shape != params.data.shape or buf.dtype != params.dtype or not buf.flags.c_contiguous:
                raise InvalidParameterError(
                    f"optimizer state '{name}' must be a contiguous {params.dtype} buffer of shape "
                    f"{params.data.shape}; got {buf.dtype} {buf.shape}"
                )
        if state.t.shape != (1,) or state.t.dtype != np.int64:
            raise InvalidParameterError("optimizer state 't' must be an int64 array of shape (1,)")

    def train_epoch(
        self,
        params: Params,
        activations: Sequence[str],
        X: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        cfg: OptimizerConfig,
        state: OptimizerState,
        skip_zeros: bool | None = None,
        prepared: Prepared | None = None,
    ) -> EpochResult:
        """One compiled epoch; updates ``params``/``state`` in place and returns the mean
        loss and training accuracy (see ``Backend.train_epoch``).

        ``skip_zeros`` chooses the zero-skipping first layer for this call (None: the
        backend's own setting, by default decided by the data's fraction of zeros, see
        ``numba_data``). Both paths give the same result.
        """
        X, y = check_inputs(params, activations, X, y)
        self._check_state(params, state)
        n = X.shape[0]
        order_arr = np.asarray(order)
        if (
            order_arr.ndim != 1
            or order_arr.dtype == bool
            or not np.issubdtype(order_arr.dtype, np.integer)
            or (order_arr.size and (order_arr.min() < 0 or order_arr.max() >= n))
        ):
            raise InvalidParameterError(
                f"the 'order' parameter must be a 1-D integer array indexing the {n} samples"
            )
        order = np.ascontiguousarray(order_arr, dtype=np.int64)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidParameterError(
                f"the 'batch_size' parameter must be a positive int; got {batch_size!r}"
            )
        if order.size == 0:
            return EpochResult(float("nan"), float("nan"))
        dtype = params.dtype
        codes = _codes(activations)
        act_off = _act_offsets(params.layer_sizes)
        consts = self._c(dtype)
        hp = _hyper(cfg)
        sizes = np.asarray(params.layer_sizes, dtype=np.int64)
        bs = min(int(batch_size), order.shape[0])
        skip = self.skip_zeros if skip_zeros is None else skip_zeros
        # A batch over all of X never skips zeros (see numba_data.skips_zeros).
        full = bs >= order.shape[0] and order.shape[0] == n
        rows = None if full and bs > 1 else prep.nonzero_rows(X, prepared, bs, skip, params.layer_sizes[1])
        if bs == 1:
            acts = np.zeros(int(act_off[-1]), dtype=dtype)
            deltas = np.zeros_like(acts)
            if rows is not None:
                nz_ptr, nz_idx = rows.indptr, rows.indices
            else:
                nz_ptr, nz_idx = np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32)
            all_idx = np.arange(X.shape[1], dtype=np.int32)
            total, correct = k_sgd.train_epoch_sample(
                params.data,
                params.offsets,
                sizes,
                codes,
                consts,
                X,
                y,
                order,
                hp,
                k_opt.CODES[cfg.name],
                state.m,
                state.s,
                state.t,
                acts,
                deltas,
                act_off,
                nz_ptr,
                nz_idx,
                all_idx,
                rows is not None,
            )
        else:
            grad = np.zeros_like(params.data)
            # One batch over all of X uses X as it is (as the reference does): no gather;
            # skipping zeros reads X through its non-zero lists instead.
            xbuf = np.empty((0 if full or rows is not None else bs, X.shape[1]), dtype=dtype)
            ybuf = target_buffer(y, 0 if full else bs)
            abuf = np.empty(bs * int(act_off[-1]), dtype=dtype)
            tmp = np.empty(bs * max(params.layer_sizes), dtype=dtype)
            if rows is not None:
                csr = (rows.indptr, rows.indices, rows.values)
                nnz = rows.max_batch_nonzeros(order, bs)
                cols = (
                    np.empty(X.shape[1] + 1, dtype=np.int64),
                    np.empty(nnz, dtype=np.int32),
                    np.empty(nnz, dtype=dtype),
                    # Gradient scratch: one row, or one per thread to split the first
                    # layer between Numba's threads (see __init__).
                    np.empty((numba.get_num_threads(), params.layer_sizes[1]), dtype=dtype)
                    if self.parallel_first_layer
                    else np.empty(params.layer_sizes[1], dtype=dtype),
                    np.zeros(X.shape[1], dtype=np.int64),  # per-input counts, kept zeroed
                )
            else:
                csr = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, dtype))
                cols = (
                    np.empty(0, np.int64),
                    np.empty(0, np.int32),
                    np.empty(0, dtype),
                    np.empty(0, dtype),
                    np.empty(0, np.int64),
                )
            # With the zero-skipping first layer, split or not, BLAS keeps one thread for
            # the small products around it (its threads on 64-row products gave 0.76x).
            # The lock: Numba's workqueue layer takes one caller at a time.
            parallel = rows is not None and cols[3].ndim == 2 and cols[3].shape[0] > 1
            with (
                single_blas_thread() if rows is not None else nullcontext(),
                _PARALLEL if parallel else nullcontext(),
            ):
                total, correct = k_batch.train_epoch_batch(
                    params.data,
                    params.offsets,
                    sizes,
                    codes,
                    consts,
                    X,
                    y,
                    prep.transposed(X, prepared),  # the kernel uses it only when one batch is all of X
                    order,
                    bs,
                    hp,
                    k_opt.CODES[cfg.name],
                    state.m,
                    state.s,
                    state.t,
                    grad,
                    xbuf,
                    ybuf,
                    abuf,
                    tmp,
                    act_off,
                    csr,
                    cols,
                    np.empty(X.shape[1] if rows is not None else 0, dtype=np.bool_),
                )
        return EpochResult(float(total) / order.shape[0], int(correct) / order.shape[0])
