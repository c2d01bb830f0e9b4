"""Mini-batch and full-batch training.

Mirrors ``NumpyBackend.loss_and_gradient``, ``apply_update`` and ``train_epoch`` (batch
size > 1); inference is ``inference.py``'s. Matrix products go to BLAS through ``np.dot`` with an
``out`` buffer (Numba calls SciPy's BLAS; the zero-skipping first layer instead splits
its work between Numba's threads, see ``sparse.py``); every
elementwise step is fused into the pass after its product (the output softmax takes
three whole-block passes, see ``dense.softmax_rows``): bias + activation after
``A @ W``, the activation derivative after ``delta @ W.T``, and the optimiser step
for a layer right after its gradient ``A.T @ delta`` is formed, while it is in cache.
Transposes are views (``A.T`` is F-ordered; BLAS reads it as is), never copies made
here; the one exception is made by the adapter, once per fit: for full-batch runs it
passes ``XT``, X transposed and stored C-contiguous, because BLAS computes the first
layer's gradient ``XT @ delta`` faster than ``X.T @ delta`` on a tall X (measured
4.7 ms vs 6.3 ms for 10,000 x 784 float32, 10 units, one thread).

Scratch (all caller-provided): ``abuf`` holds every layer's output for up to
``batch_size`` rows, layer ``l`` at ``batch_size*act_off[l]``; ``tmp`` holds the widest
layer for one batch; ``grad`` has the ``Params`` layout; ``xbuf``/``ybuf`` receive the
gathered batch.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import inline, jit
from fastnn.kernels.activations import ONE, ZERO, bias_activate
from fastnn.kernels.batch_passes import (
    backward_layer,
    bias_gradient,
    forward_hidden,
    layer_view,
    output_delta,
)
from fastnn.kernels.dense import (
    bias_view,
    weight_view,
)
from fastnn.kernels.optimizers import ADAM, SGD, adam_step, unpack_hyper, update_range
from fastnn.kernels.sparse import batch_columns, sparse_forward, sparse_grad_update


@inline
def update_flat(data, grad, m, s, lo, hi, decay, opt, lr, mu, b1, b2, eps, step, one):
    """Optimiser step on data[lo:hi] with gradient grad[lo:hi] + decay * data[lo:hi]."""
    update_range(
        data[lo:hi], m[lo:hi], s[lo:hi], grad[lo:hi], one, decay, opt, lr, mu, b1, b2, eps, step, one
    )


@inline
def update_layer(data, grad, m, s, offsets, layer, opt, lr, mu, b1, b2, eps, wd, step, one, zero):
    update_flat(
        data, grad, m, s, offsets[2 * layer], offsets[2 * layer + 1], wd, opt, lr, mu, b1, b2, eps, step, one
    )
    update_flat(
        data,
        grad,
        m,
        s,
        offsets[2 * layer + 1],
        offsets[2 * layer + 2],
        zero,
        opt,
        lr,
        mu,
        b1,
        b2,
        eps,
        step,
        one,
    )


@inline
def no_csr(X):
    """The empty non-zero lists that select the dense first layer."""
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=X.dtype)


@jit
def loss_and_gradient(data, offsets, sizes, codes, consts, Xb, yb, XT, grad, abuf, tmp, act_off):
    """Summed loss of the batch; gradient of the mean loss into ``grad`` (Params layout).
    ``XT`` is Xb transposed (C-contiguous) or empty, as for ``backward_layer``."""
    rows = Xb.shape[0]
    csr = no_csr(Xb)
    rows_idx = csr[0]
    forward_hidden(data, offsets, sizes, codes, consts, Xb, rows_idx, csr, abuf, act_off, rows, rows, 0)
    total, _ = output_delta(
        data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, rows
    )
    for layer in range(codes.shape[0] - 1, -1, -1):
        backward_layer(
            data, offsets, sizes, codes, consts, Xb, XT, abuf, tmp, act_off, rows, rows, grad, layer
        )
    return total


@jit
def apply_update(data, grad, offsets, consts, hp, opt, m, s, t):
    """One optimiser step over every layer (weight decay on weights, not biases)."""
    T = data.dtype.type
    lr, mu, b1, b2, eps, wd = unpack_hyper(hp, T)
    one = consts[ONE]
    step = consts[ZERO]
    if opt == ADAM:
        t[0] += 1
        step = adam_step(hp, t[0], consts)
    for layer in range((offsets.shape[0] - 1) // 2):
        update_layer(data, grad, m, s, offsets, layer, opt, lr, mu, b1, b2, eps, wd, step, one, consts[ZERO])


@inline
def mark_fresh_rows(m, s, opt, fresh):
    """fresh[k] = row k of the first layer's optimiser state is all zero (see
    ``sparse.sparse_grad_update``); checked once per epoch, kept up to date by it."""
    for k in range(fresh.shape[0]):
        f = True
        for j in range(m.shape[1]):
            if m[k, j] != 0 or (opt == ADAM and s[k, j] != 0):
                f = False
                break
        fresh[k] = f


@inline
def batch_step(
    data,
    offsets,
    sizes,
    codes,
    consts,
    Xb,
    yb,
    rows_idx,
    csr,
    cols,
    fresh,
    XT,
    hp,
    opt,
    m,
    s,
    t,
    grad,
    abuf,
    tmp,
    act_off,
    rows,
    batch_size,
    lr,
    mu,
    b1,
    b2,
    eps,
    wd,
):
    """Forward, backward and update for one batch; each layer is updated right after its
    gradient. With a non-empty ``rows_idx`` the first layer skips zero inputs: its
    product, and its gradient fused with its update, run over the non-zero lists."""
    one = consts[ONE]
    zero = consts[ZERO]
    step = zero
    if opt == ADAM:
        t[0] += 1
        step = adam_step(hp, t[0], consts)
    colptr, col_rows, col_vals, g, counts = cols
    first = 0
    if rows_idx.shape[0] > 0 and codes.shape[0] > 1:
        # A hidden first layer over the non-zero inputs (split between threads if g is 2-D).
        out = layer_view(abuf, act_off, 0, rows, batch_size)
        sparse_forward(csr[0], csr[1], csr[2], rows_idx, weight_view(data, offsets, sizes, 0), out, g)
        bias_activate(out, bias_view(data, offsets, 0), codes[0], consts)  # never softmax
        first = 1
    forward_hidden(
        data, offsets, sizes, codes, consts, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, first
    )
    total, correct = output_delta(
        data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
    )
    for layer in range(codes.shape[0] - 1, -1, -1):
        if layer == 0 and rows_idx.shape[0] > 0:
            delta = layer_view(abuf, act_off, 0, rows, batch_size)
            bias_gradient(delta, bias_view(grad, offsets, 0), zero)
            batch_columns(csr[0], csr[1], csr[2], rows_idx, counts, colptr, col_rows, col_vals)
            sparse_grad_update(
                colptr,
                col_rows,
                col_vals,
                delta,
                weight_view(data, offsets, sizes, 0),
                weight_view(m, offsets, sizes, 0),
                weight_view(s, offsets, sizes, 0),
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
            )
            update_flat(data, grad, m, s, offsets[1], offsets[2], zero, opt, lr, mu, b1, b2, eps, step, one)
        else:
            backward_layer(
                data, offsets, sizes, codes, consts, Xb, XT, abuf, tmp, act_off, rows, batch_size, grad, layer
            )
            update_layer(data, grad, m, s, offsets, layer, opt, lr, mu, b1, b2, eps, wd, step, one, zero)
    return total, correct


@jit
def train_epoch_batch(
    data,
    offsets,
    sizes,
    codes,
    consts,
    X,
    y,
    XT,
    order,
    batch_size,
    hp,
    opt,
    m,
    s,
    t,
    grad,
    xbuf,
    ybuf,
    abuf,
    tmp,
    act_off,
    csr,
    cols,
    fresh,
):
    """One mini-batch epoch over X[order]; updates data/m/s/t in place and returns the
    summed loss and the number of samples whose prediction (before their batch's
    update) was the label.

    ``csr`` holds the non-zero lists of X (``sparse.list_nonzeros``) or is empty: with them the
    first layer skips zero inputs (no gather of X's rows), using the scratch ``cols``
    (``colptr``, row numbers and values of the batch regrouped by column, and the
    gradient scratch: one row, 1-D, or one row per thread, 2-D, to split the layer
    between Numba's threads) and ``fresh`` (one flag per input). When one batch covers all of X
    (full batch) and ``csr`` is empty, X is used as it is, without a gather, and ``XT``
    (X transposed, C-contiguous, or an empty array) serves the first layer's gradient.
    Mini-batches ignore ``XT``.
    """
    T = data.dtype.type
    lr, mu, b1, b2, eps, wd = unpack_hyper(hp, T)
    n = order.shape[0]
    total = 0.0
    correct = 0
    sparse = csr[0].shape[0] > 0
    if sparse and opt != SGD:
        mark_fresh_rows(weight_view(m, offsets, sizes, 0), weight_view(s, offsets, sizes, 0), opt, fresh)
    direct = batch_size >= n and n == X.shape[0] and not sparse
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        rows_idx = order[start : start + rows] if sparse else order[:0]
        if direct:
            # X[0:n] has the same Numba type as xbuf[:rows]: one call site, one compile.
            Xb, yb = X[0:n], y[0:n]
        else:
            for r in range(rows):
                idx = order[start + r]
                ybuf[r] = y[idx]
                if not sparse:
                    # An explicit loop, not xbuf[r] = X[idx]: array assignment pulls in
                    # Numba's broadcasting machinery, seconds of compile for a plain copy.
                    for c in range(X.shape[1]):
                        xbuf[r, c] = X[idx, c]
            Xb, yb = xbuf[: 0 if sparse else rows], ybuf[:rows]
        batch_total, batch_correct = batch_step(
            data,
            offsets,
            sizes,
            codes,
            consts,
            Xb,
            yb,
            rows_idx,
            csr,
            cols,
            fresh,
            XT if direct else XT[:0],  # only the whole of X has a transposed copy
            hp,
            opt,
            m,
            s,
            t,
            grad,
            abuf,
            tmp,
            act_off,
            rows,
            batch_size,
            lr,
            mu,
            b1,
            b2,
            eps,
            wd,
        )
        total += batch_total
        correct += batch_correct
    return total, correct
