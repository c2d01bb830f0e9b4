"""Zero-skipping for the first layer: non-zero lists, and the products that use them.

About 80% of MNIST's pixels are exactly 0, and the first layer (784 x units) holds most
of a network's arithmetic. A zero input adds nothing to ``x @ W`` and nothing to the
weight gradient ``X.T @ delta``, so both can run over the non-zero inputs only: the
same sums with the zero terms left out, i.e. exact (only the rounding order differs
from BLAS, as between any two BLAS builds).

- ``count_nonzeros``, ``list_nonzeros``: every row's non-zero columns and values (CSR),
  made once per fit.
- ``sparse_forward_rows``: ``out[r] = x_r @ W`` for the batch's rows, one W row per non-zero.
- ``batch_columns``: the batch's non-zeros regrouped by column (a counting sort), so
  the gradient of W's row ``k`` is one sum over the samples where pixel ``k`` is set.
- ``sparse_grad_update``: that sum, then the optimiser step on row ``k`` while the row,
  its gradient and its optimiser state are in cache: no gradient buffer for W is
  written or read again. Rows whose pixel is 0 in every sample of the batch have a
  zero gradient; plain SGD without weight decay leaves them exactly as they are, and
  so does any rule whose state for that row is still all zero (``fresh`` rows).

Both cores, when asked (``NumbaBackend(parallel_first_layer=True)``; off by default,
as it measured slower on a two-vCPU machine): given 2-D gradient scratch with more
than one row (one per Numba thread, ``parts`` rows), the forward splits the batch's rows and
the gradient W's rows into contiguous ranges run by ``prange``; each part writes only
its own rows. With one part nothing starts Numba's thread pool. BLAS keeps one thread for the small products around
them: its threads on 64-row products were slower than one (0.76x), and under load
on a two-core machine many times slower.
"""

from __future__ import annotations

from numba import prange

from fastnn.kernels._jit import helper, inline, jit, overload_inline, parallel
from fastnn.kernels.optimizers import SGD, update_row


@jit
def count_nonzeros(X, indptr):
    """indptr[r + 1] - indptr[r] = the number of non-zeros in row r of X (indptr[0] = 0)."""
    n, d = X.shape
    indptr[0] = 0
    for r in range(n):
        count = 0
        for c in range(d):
            count += X[r, c] != 0
        indptr[r + 1] = indptr[r] + count


@jit
def list_nonzeros(X, indptr, indices, values):
    """Each row's non-zero columns (int32) and values into ``indices``/``values`` at
    ``indptr`` (from ``count_nonzeros``); both need one spare slot at the end.

    Branch-free: every entry is stored and the position advances only past non-zeros,
    so a row's trailing zeros land in the next row's first slot (which that row then
    overwrites) or, after the last row, in the spare slot.
    """
    n, d = X.shape
    for r in range(n):
        q = indptr[r]
        for c in range(d):
            v = X[r, c]
            indices[q] = c
            values[q] = v
            q += v != 0


@helper
def sparse_forward_rows(indptr, indices, values, rows_idx, W, out, lo, hi):
    """out[r] = X[rows_idx[r]] @ W for r in [lo, hi), over each row's non-zero inputs
    (bias comes later).

    Four non-zeros per pass over the output row: one load and store of ``out[r]`` serves
    four weight rows (measured 1.25x over one at a time). Plain 2-D indexing, no row
    views: a view per non-zero costs a reference-count update, more than its arithmetic.
    """
    n_out = W.shape[1]
    for r in range(lo, hi):
        for j in range(n_out):
            out[r, j] = 0
        row = rows_idx[r]
        q = indptr[row]
        stop = indptr[row + 1]
        while q + 3 < stop:
            k1, k2, k3, k4 = indices[q], indices[q + 1], indices[q + 2], indices[q + 3]
            v1, v2, v3, v4 = values[q], values[q + 1], values[q + 2], values[q + 3]
            for j in range(n_out):
                out[r, j] += (v1 * W[k1, j] + v2 * W[k2, j]) + (v3 * W[k3, j] + v4 * W[k4, j])
            q += 4
        while q < stop:
            k = indices[q]
            v = values[q]
            for j in range(n_out):
                out[r, j] += v * W[k, j]
            q += 1


@parallel
def sparse_forward_parts(indptr, indices, values, rows_idx, W, out, parts):
    """``sparse_forward_rows`` over all of the batch's rows, in ``parts`` ranges run by
    Numba's threads."""
    rows = rows_idx.shape[0]
    for part in prange(parts):
        sparse_forward_rows(
            indptr, indices, values, rows_idx, W, out, part * rows // parts, (part + 1) * rows // parts
        )


@inline
def batch_columns(indptr, indices, values, rows_idx, counts, colptr, col_rows, col_vals):
    """Regroup the batch's non-zeros by column (a counting sort): column k's entries are
    ``col_rows/col_vals[colptr[k]:colptr[k+1]]`` (batch row numbers, in order).
    ``counts`` is all zero on entry and is left so for the next batch."""
    n_cols = colptr.shape[0] - 1
    for r in range(rows_idx.shape[0]):
        row = rows_idx[r]
        for q in range(indptr[row], indptr[row + 1]):
            counts[indices[q]] += 1
    total = 0
    for k in range(n_cols):
        colptr[k] = total
        total += counts[k]
        counts[k] = colptr[k]  # from here on: where column k's next entry goes
    colptr[n_cols] = total
    for r in range(rows_idx.shape[0]):
        row = rows_idx[r]
        for q in range(indptr[row], indptr[row + 1]):
            k = indices[q]
            p = counts[k]
            col_rows[p] = r
            col_vals[p] = values[q]
            counts[k] = p + 1
    for k in range(n_cols):
        counts[k] = 0


@helper
def sparse_grad_update_rows(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one, lo, hi
):
    """For each row k of W in [lo, hi): g = sum of x[r, k] * delta[r] over the batch rows
    with pixel k set, then the optimiser step on row k with gradient g + wd * W[k].

    ``fresh[k]`` is True while row k's optimiser state is all zero: a zero gradient then
    changes nothing (the step is exactly 0), so such rows are skipped until their pixel
    is first set. Plain SGD without weight decay skips every row with a zero gradient.
    """
    n_out = W.shape[1]
    zero = one - one
    skip_idle = opt == SGD and wd == zero
    for k in range(lo, hi):
        p = colptr[k]
        stop = colptr[k + 1]
        if p == stop and wd == zero and (skip_idle or fresh[k]):
            continue
        fresh[k] = False
        for j in range(n_out):
            g[j] = zero
        # Four samples per pass over g, as in sparse_forward_rows.
        while p + 3 < stop:
            r1, r2, r3, r4 = col_rows[p], col_rows[p + 1], col_rows[p + 2], col_rows[p + 3]
            v1, v2, v3, v4 = col_vals[p], col_vals[p + 1], col_vals[p + 2], col_vals[p + 3]
            for j in range(n_out):
                g[j] += (v1 * delta[r1, j] + v2 * delta[r2, j]) + (v3 * delta[r3, j] + v4 * delta[r4, j])
            p += 4
        while p < stop:
            r = col_rows[p]
            v = col_vals[p]
            for j in range(n_out):
                g[j] += v * delta[r, j]
            p += 1
        update_row(W, mW, sW, k, g, one, wd, opt, lr, mu, b1, b2, eps, step, one)


@parallel
def sparse_grad_update_parts(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    """``sparse_grad_update_rows`` over all of W's rows, in ``g.shape[0]`` ranges run by
    Numba's threads (``g``: one gradient row of scratch per part)."""
    n_in = W.shape[0]
    parts = g.shape[0]
    for part in prange(parts):
        sparse_grad_update_rows(
            colptr,
            col_rows,
            col_vals,
            delta,
            W,
            mW,
            sW,
            fresh,
            g[part],
            opt,
            lr,
            mu,
            b1,
            b2,
            eps,
            wd,
            step,
            one,
            part * n_in // parts,
            (part + 1) * n_in // parts,
        )


def sparse_forward(indptr, indices, values, rows_idx, W, out, g):
    """out = X[rows_idx] @ W over the non-zero inputs. ``g`` is the first layer's
    gradient scratch: one row (1-D) runs it on this thread; one row per part (2-D)
    splits it between Numba's threads when there is more than one part.

    Chosen by g's type when compiled (``_sparse_forward_by_scratch``), so a kernel
    called with 1-D scratch never compiles the parallel code (about 8 s of a cold
    batched compile); without the JIT the same choice is made on the array itself.
    """
    _sparse_forward_by_scratch(indptr, indices, values, rows_idx, W, out, g)(
        indptr, indices, values, rows_idx, W, out, g
    )


def _sparse_forward_serial(indptr, indices, values, rows_idx, W, out, g):
    sparse_forward_rows(indptr, indices, values, rows_idx, W, out, 0, rows_idx.shape[0])


def _sparse_forward_split(indptr, indices, values, rows_idx, W, out, g):
    if g.shape[0] > 1:
        sparse_forward_parts(indptr, indices, values, rows_idx, W, out, g.shape[0])
    else:
        sparse_forward_rows(indptr, indices, values, rows_idx, W, out, 0, rows_idx.shape[0])


@overload_inline(sparse_forward)
def _sparse_forward_by_scratch(indptr, indices, values, rows_idx, W, out, g):
    return _sparse_forward_split if g.ndim == 2 else _sparse_forward_serial


def sparse_grad_update(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    """The first layer's gradient fused with its update, over all of W's rows: on this
    thread with 1-D ``g`` (one gradient row of scratch), in ``g.shape[0]`` parts on
    Numba's threads with 2-D ``g`` (chosen by type, as ``sparse_forward``)."""
    args = (colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one)
    _sparse_grad_update_by_scratch(*args)(*args)


def _sparse_grad_update_serial(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    sparse_grad_update_rows(
        colptr,
        col_rows,
        col_vals,
        delta,
        W,
        mW,
        sW,
        fresh,
        g,
        opt,
        lr,
        mu,
        b1,
        b2,
        eps,
        wd,
        step,
        one,
        0,
        W.shape[0],
    )


def _sparse_grad_update_split(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    if g.shape[0] > 1:
        sparse_grad_update_parts(
            colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
        )
    else:
        sparse_grad_update_rows(
            colptr,
            col_rows,
            col_vals,
            delta,
            W,
            mW,
            sW,
            fresh,
            g[0],
            opt,
            lr,
            mu,
            b1,
            b2,
            eps,
            wd,
            step,
            one,
            0,
            W.shape[0],
        )


@overload_inline(sparse_grad_update)
def _sparse_grad_update_by_scratch(
    colptr, col_rows, col_vals, delta, W, mW, sW, fresh, g, opt, lr, mu, b1, b2, eps, wd, step, one
):
    return _sparse_grad_update_split if g.ndim == 2 else _sparse_grad_update_serial
