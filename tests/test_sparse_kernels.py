"""``kernels/sparse.py`` stage by stage, against NumPy and SciPy.

- ``count_nonzeros`` + ``list_nonzeros`` are ``scipy.sparse.csr_matrix`` / ``np.nonzero`` of X (indptr, indices,
  values), over random sparse matrices with all-zero rows, all-zero X, no zeros and
  negative zeros (hypothesis), compiled and as ``.py_func``;
- ``sparse_forward_rows`` is ``X[rows] @ W``, and ``sparse_forward_parts`` the same
  numbers whatever the number of parts;
- ``batch_columns`` is the batch's CSC (``scipy.sparse.csc_matrix``) and leaves the
  counts zeroed;
- ``sparse_grad_update`` with plain SGD is ``W - lr * (X[rows].T @ delta + wd * W)``,
  and leaves rows whose input is zero in the whole batch exactly as they were when
  the step is exactly zero.

The whole epoch (every optimiser, ``fresh`` rows) is checked against the numpy backend
in ``test_sparse_parity.py``; ``test_gradients.py`` checks its gradient by finite
differences.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from fastnn.kernels import optimizers as k_opt
from fastnn.kernels import sparse as k_sparse

DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]
#: One product or update: a dozen roundings in another order than NumPy's.
ONE_STEP = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}

requires_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="compiled kernels only (NUMBA_DISABLE_JIT=1)"
)


def _rel_err(actual, desired) -> float:
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    diff = float(np.max(np.abs(actual - desired), initial=0.0))
    scale = float(np.max(np.abs(desired), initial=0.0))
    return diff / scale if scale > 0 else diff


def csr(X: np.ndarray, compiled: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero lists of X from the count and fill kernels (or their Python bodies)."""
    count, fill = k_sparse.count_nonzeros, k_sparse.list_nonzeros
    if not compiled:
        count, fill = count.py_func, fill.py_func
    indptr = np.empty(X.shape[0] + 1, np.int64)
    count(X, indptr)
    nnz = int(indptr[-1])
    indices, values = np.empty(nnz + 1, np.int32), np.empty(nnz + 1, X.dtype)  # one spare slot
    fill(X, indptr, indices, values)
    return indptr, indices[:nnz], values[:nnz]


@st.composite
def matrices(draw) -> np.ndarray:
    n, d = draw(st.integers(0, 9)), draw(st.integers(1, 11))
    kind = draw(st.sampled_from(["sparse", "all-zero", "no-zeros"]))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = gen.uniform(0.1, 2.0, size=(n, d)) * gen.choice([-1.0, 1.0], size=(n, d))
    if kind == "all-zero":
        X[:] = 0.0
    elif kind == "sparse":
        X[gen.random(X.shape) < draw(st.floats(0.0, 1.0))] = 0.0
        X[gen.random(n) < 0.3] = 0.0  # all-zero rows
        X[gen.random(X.shape) < 0.05] = -0.0  # a zero all the same
    return X.astype(draw(st.sampled_from(DTYPES)))


def _check_csr(X, indptr, indices, values, what):
    ref = scipy.sparse.csr_matrix(X)
    ref.sort_indices()
    rows, cols = np.nonzero(X)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and values.dtype == X.dtype, what
    assert_array_equal(indptr, ref.indptr, err_msg=f"{what}: indptr")
    assert_array_equal(indices, ref.indices, err_msg=f"{what}: indices")
    assert_array_equal(values, ref.data, err_msg=f"{what}: values")
    assert_array_equal(indices, cols, err_msg=f"{what}: indices vs np.nonzero")
    assert_array_equal(values, X[rows, cols], err_msg=f"{what}: values vs np.nonzero")
    assert not np.any(values == 0), f"{what}: a zero listed"


@settings(max_examples=80, deadline=None)
@given(matrices())
def test_nonzero_lists_match_scipy_and_np_nonzero(X):
    _check_csr(X, *csr(X), f"count/list_nonzeros {X.dtype} {X.shape}")


def test_nonzero_rows_reusing_a_pool_lists_each_x_afresh():
    """The buffers kept between fits grow and shrink with X; old contents never leak in."""
    from fastnn.backends.numba_data import BufferPool, NonzeroRows

    gen = np.random.default_rng(2)
    pool = BufferPool()
    for n, d, frac in ((20, 7, 0.5), (50, 7, 0.1), (5, 7, 0.9), (0, 7, 0.5), (30, 3, 0.0)):
        X = gen.uniform(0.5, 1.0, size=(n, d)).astype(np.float32)
        X[gen.random(X.shape) < frac] = 0.0
        rows = NonzeroRows(X, pool)
        _check_csr(X, rows.indptr, rows.indices, rows.values, f"pooled lists ({n}x{d}, {frac:.0%} zeros)")


@requires_jit
@pytest.mark.parametrize("kind", ["sparse", "all-zero", "no-zeros", "no-rows"])
def test_py_func_of_the_list_kernels_matches_jit(kind):
    gen = np.random.default_rng(1)
    X = gen.uniform(-1.0, 1.0, size=(0 if kind == "no-rows" else 6, 5))
    if kind == "sparse":
        X[gen.random(X.shape) < 0.6] = 0.0
        X[2] = 0.0
    elif kind == "all-zero":
        X[:] = 0.0
    got, want = csr(X, compiled=False), csr(X)
    for g, w, name in zip(got, want, ("indptr", "indices", "values"), strict=True):
        assert_array_equal(g, w, err_msg=f"list kernels' py_func {name} ({kind})")
    _check_csr(X, *got, f"list kernels' py_func ({kind})")


def _batch(dtype, n=11, d=9, n_out=4, seed=3):
    """Sparse X with all-zero rows and columns, the rows of one batch (not in order),
    a first-layer W and a delta for that batch."""
    gen = np.random.default_rng(seed)
    X = gen.uniform(-1.0, 1.0, size=(n, d))
    X[gen.random(X.shape) < 0.6] = 0.0
    X[[1, 6]] = 0.0
    X[:, [0, 4]] = 0.0
    rows_idx = np.array([7, 1, 3, 10, 0, 5], dtype=np.int64)
    X[rows_idx, 8] = 0.0  # zero in every row of the batch, not of X
    X[2, 8] = 0.5
    W = gen.uniform(-1.0, 1.0, size=(d, n_out)).astype(dtype)
    delta = gen.normal(0.0, 0.3, size=(rows_idx.size, n_out)).astype(dtype)
    return X.astype(dtype), rows_idx, W, delta


def _kernels(name):
    kernel = getattr(k_sparse, name)
    return [("jit", kernel)] + ([] if numba.config.DISABLE_JIT else [("py_func", kernel.py_func)])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sparse_forward_is_the_product_over_non_zeros(dtype):
    X, rows_idx, W, _ = _batch(dtype)
    indptr, indices, values = csr(X)
    want = X[rows_idx] @ W
    for how, kernel in _kernels("sparse_forward_rows"):
        out = np.full((rows_idx.size, W.shape[1]), np.nan, dtype)  # every entry must be written
        kernel(indptr, indices, values, rows_idx, W, out, 0, rows_idx.size)
        assert _rel_err(out, want) <= ONE_STEP[dtype], f"sparse_forward_rows {how}: {_rel_err(out, want):.2e}"
        one_part = out
    for how, kernel in _kernels("sparse_forward_parts"):
        for parts in (1, 2, 4, rows_idx.size + 1):  # more parts than rows leaves some empty
            out = np.full_like(one_part, np.nan)
            kernel(indptr, indices, values, rows_idx, W, out, parts)
            assert _rel_err(out, want) <= ONE_STEP[dtype], f"sparse_forward_parts {how}, {parts} parts"
            if parts == 1:
                one_part = out
            assert_array_equal(out, one_part, err_msg=f"sparse_forward_parts {how}: {parts} parts vs 1")


@numba.njit
def _compiled_forward(indptr, indices, values, rows_idx, W, out, g):
    """``sparse_forward`` as compiled code sees it: the version chosen by g's type."""
    k_sparse.sparse_forward(indptr, indices, values, rows_idx, W, out, g)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sparse_forward_gives_the_same_bits_unsplit_and_in_parts(dtype):
    """The dispatcher the batch kernel calls: 1-D scratch runs the rows on this thread,
    2-D scratch (one row per part) splits them; as Python and compiled, same bits."""
    X, rows_idx, W, _ = _batch(dtype)
    indptr, indices, values = csr(X)
    want = X[rows_idx] @ W
    unsplit = None
    for how, kernel in (("python", k_sparse.sparse_forward), ("compiled", _compiled_forward)):
        for parts in (None, 1, 2, 3):
            g = np.empty(W.shape[1], dtype) if parts is None else np.empty((parts, W.shape[1]), dtype)
            out = np.full((rows_idx.size, W.shape[1]), np.nan, dtype)
            kernel(indptr, indices, values, rows_idx, W, out, g)
            assert _rel_err(out, want) <= ONE_STEP[dtype], f"sparse_forward {how}, parts {parts}"
            unsplit = out if unsplit is None else unsplit
            assert_array_equal(out, unsplit, err_msg=f"sparse_forward {how}: parts {parts} vs unsplit")


def test_one_row_of_scratch_types_to_the_unsplit_code_without_the_parallel_kernels():
    """What keeps the default batched compile free of the parallel kernels (about 8 s
    cold): 1-D scratch selects implementations that do not name them at all."""
    from numba.core import types

    a1, a2 = types.Array(types.float32, 1, "C"), types.Array(types.float32, 2, "C")
    forward_args = (a1, a1, a1, a1, a2, a2)
    assert k_sparse._sparse_forward_by_scratch(*forward_args, a1) is k_sparse._sparse_forward_serial
    assert k_sparse._sparse_forward_by_scratch(*forward_args, a2) is k_sparse._sparse_forward_split
    grad_args = (a1,) * 8
    rest = (types.int64,) + (types.float32,) * 8
    assert (
        k_sparse._sparse_grad_update_by_scratch(*grad_args, a1, *rest) is k_sparse._sparse_grad_update_serial
    )
    assert (
        k_sparse._sparse_grad_update_by_scratch(*grad_args, a2, *rest) is k_sparse._sparse_grad_update_split
    )
    for serial in (k_sparse._sparse_forward_serial, k_sparse._sparse_grad_update_serial):
        names = serial.__code__.co_names
        assert not [n for n in names if n.endswith("_parts")], f"{serial.__name__} names {names}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_batch_columns_is_the_batch_in_csc_form(dtype):
    X, rows_idx, _, _ = _batch(dtype)
    indptr, indices, values = csr(X)
    ref = scipy.sparse.csc_matrix(X[rows_idx])
    ref.sort_indices()
    for how, kernel in _kernels("batch_columns"):
        counts = np.zeros(X.shape[1], np.int64)  # as the previous batch left them
        colptr = np.empty(X.shape[1] + 1, np.int64)
        col_rows, col_vals = np.empty(ref.nnz, np.int32), np.empty(ref.nnz, dtype)  # exactly the batch's
        kernel(indptr, indices, values, rows_idx, counts, colptr, col_rows, col_vals)
        assert_array_equal(colptr, ref.indptr, err_msg=f"colptr ({how})")
        assert_array_equal(col_rows, ref.indices, err_msg=f"row numbers ({how})")
        assert_array_equal(col_vals, ref.data, err_msg=f"values ({how})")
        assert not counts.any(), f"batch_columns ({how}) must leave the counts zeroed"


@numba.njit
def _compiled_grad_update(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    """``sparse_grad_update`` as compiled code sees it: the version chosen by g's type."""
    k_sparse.sparse_grad_update(
        colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
    )


@pytest.mark.parametrize("parts", [None, 1, 2, 3], ids=["1-D", "1", "2", "3"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sparse_grad_update_with_sgd_is_the_dense_step(dtype, weight_decay, parts):
    X, rows_idx, W0, delta = _batch(dtype)
    ref = scipy.sparse.csc_matrix(X[rows_idx])
    ref.sort_indices()
    colptr, col_rows, col_vals = ref.indptr.astype(np.int64), ref.indices.astype(np.int32), ref.data
    T = np.dtype(dtype).type
    lr = T(0.1)
    want = W0 - lr * (X[rows_idx].T @ delta + T(weight_decay) * W0)
    kernels = [("python", k_sparse.sparse_grad_update), ("compiled", _compiled_grad_update)]
    for how, kernel in kernels:
        W = W0.copy()
        m, s = np.zeros_like(W), np.zeros_like(W)
        fresh = np.ones(W.shape[0], np.bool_)
        # One gradient row (1-D: unsplit), or one per part.
        g = np.empty(W.shape[1], dtype) if parts is None else np.empty((parts, W.shape[1]), dtype)
        one, zero = T(1), T(0)
        kernel(
            colptr,
            col_rows,
            col_vals,
            delta,
            W,
            m,
            s,
            fresh,
            g,
            k_opt.SGD,
            lr,
            T(0.9),
            T(0.9),
            T(0.999),
            T(1e-8),
            T(weight_decay),
            zero,
            one,
        )
        err = _rel_err(W, want)
        assert err <= ONE_STEP[np.dtype(dtype)], f"sparse_grad_update {how} wd={weight_decay}: {err:.2e}"
        if weight_decay == 0:
            idle = np.flatnonzero(~X[rows_idx].any(axis=0))
            assert idle.size >= 3
            assert_array_equal(W[idle], W0[idle], err_msg=f"idle inputs moved ({how})")
