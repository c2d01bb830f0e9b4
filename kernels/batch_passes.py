"""The passes of one batch: forward through the layers, the output loss and delta, and
the backward pass of a layer, each fused with the elementwise work after its product.

Used by the steps and epochs in ``batch.py`` (see its docstring for the scratch
layout: ``abuf`` holds every layer's output for up to ``batch_size`` rows, layer ``l``
at ``batch_size*act_off[l]``; ``tmp`` the widest layer for one batch; ``grad`` has the
``Params`` layout). The first layer reads X through its non-zero lists when
``rows_idx`` is non-empty (``sparse.py``), else the gathered dense batch ``Xb``.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import helper, inline, overload_inline
from fastnn.kernels.activations import ONE, ZERO, bias_activate, times_derivative
from fastnn.kernels.dense import (
    add_bias_shift_by_max,
    bias_view,
    exp_in_place,
    weight_view,
)
from fastnn.kernels.sparse import sparse_forward_rows


@helper
def layer_view(abuf, act_off, layer, rows, batch_size):
    """Rows x units view of layer ``layer``'s output inside the flat scratch buffer."""
    n = act_off[layer + 1] - act_off[layer]
    start = batch_size * act_off[layer]
    return abuf[start : start + rows * n].reshape((rows, n))


@inline
def layer_product(data, offsets, sizes, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, layer, out):
    """out = (input of ``layer``) @ W for the batch, before bias and activation.

    The first layer's input is Xb, or, when ``rows_idx`` is non-empty, rows
    ``rows_idx`` of X read through their non-zero lists ``csr`` (Xb is then unused), on
    one thread (``batch.batch_step`` runs a hidden first layer on all of them).
    """
    W = weight_view(data, offsets, sizes, layer)
    if layer > 0:
        np.dot(layer_view(abuf, act_off, layer - 1, rows, batch_size), W, out)
    elif rows_idx.shape[0] > 0:
        sparse_forward_rows(csr[0], csr[1], csr[2], rows_idx, W, out, 0, rows)
    else:
        np.dot(Xb, W, out)


@inline
def forward_hidden(
    data, offsets, sizes, codes, consts, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, first
):
    """Layers first..L-2 of the forward pass into abuf (outputs stay there)."""
    for layer in range(first, codes.shape[0] - 1):
        out = layer_view(abuf, act_off, layer, rows, batch_size)
        layer_product(data, offsets, sizes, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, layer, out)
        bias_activate(out, bias_view(data, offsets, layer), codes[layer], consts)  # never softmax


@inline
def softmax_output_delta(
    data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
):
    """Softmax output, integer labels: logits, cross-entropy (float64 sum), the number of
    rows whose most probable class is the label (first maximum, as argmax), and
    delta = (softmax - onehot) / rows in place.

    The softmax runs as whole-block passes (see ``dense.softmax_rows``); the loss is
    log(sum e) - (z[y] - max z), read between the shift and the exponentials.
    """
    last = codes.shape[0] - 1
    out = layer_view(abuf, act_off, last, rows, batch_size)
    layer_product(data, offsets, sizes, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, last, out)
    add_bias_shift_by_max(out, bias_view(data, offsets, last))
    total = 0.0
    correct = 0
    for r in range(rows):
        label = yb[r]
        total -= np.float64(out[r, label])
        best = 0
        for j in range(1, out.shape[1]):
            if out[r, j] > out[r, best]:
                best = j
        correct += best == label
    exp_in_place(out)
    scale = data.dtype.type(rows)
    for r in range(rows):
        row = out[r]
        s = row[0]
        for j in range(1, row.shape[0]):
            s += row[j]
        total += np.float64(np.log(s))
        for j in range(row.shape[0]):
            row[j] /= s
        row[yb[r]] -= consts[ONE]
        for j in range(row.shape[0]):
            row[j] /= scale
    return total, correct


@inline
def squared_output_delta(
    data, offsets, sizes, codes, consts, Xb, Yb, rows_idx, csr, abuf, act_off, rows, batch_size
):
    """Identity output, float targets Yb (rows, n_out): squared error 0.5 sum (z - y)^2
    (float64 sum) and delta = (z - y) / rows in place; no class to count as correct (0)."""
    last = codes.shape[0] - 1
    out = layer_view(abuf, act_off, last, rows, batch_size)
    layer_product(data, offsets, sizes, Xb, rows_idx, csr, abuf, act_off, rows, batch_size, last, out)
    b = bias_view(data, offsets, last)
    scale = data.dtype.type(rows)
    total = 0.0
    for r in range(rows):
        for j in range(out.shape[1]):
            d = out[r, j] + b[j] - Yb[r, j]
            total += 0.5 * (np.float64(d) * np.float64(d))
            out[r, j] = d / scale
    return total, 0


def output_delta(data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size):
    """Output layer: loss (float64 sum), correct predictions, and delta = dLoss/dz / rows in
    place, chosen by the targets: 1-D integer labels are softmax + cross-entropy, 2-D float
    targets an identity output with squared error (the adapter checks that the output
    activation agrees). Compiled, the choice is made by type at compile time (the overload
    below), so each kind of target compiles only its own loss; as plain Python
    (NUMBA_DISABLE_JIT) this body decides."""
    if yb.ndim == 2:
        return squared_output_delta(
            data,
            offsets,
            sizes,
            codes,
            consts,
            Xb,
            yb,
            rows_idx,
            csr,
            abuf,
            act_off,
            rows,
            batch_size,
        )
    return softmax_output_delta(
        data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
    )


def _squared_output_delta_impl(
    data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
):
    return squared_output_delta(
        data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
    )


def _softmax_output_delta_impl(
    data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
):
    return softmax_output_delta(
        data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
    )


@overload_inline(output_delta)
def _output_delta_by_target(
    data, offsets, sizes, codes, consts, Xb, yb, rows_idx, csr, abuf, act_off, rows, batch_size
):
    """Typing: 2-D targets take the squared error, 1-D labels the softmax cross-entropy."""
    return _squared_output_delta_impl if yb.ndim == 2 else _softmax_output_delta_impl


@inline
def bias_gradient(delta, gb, zero):
    """gb = sum of delta's rows."""
    for j in range(gb.shape[0]):
        gb[j] = zero
    for r in range(delta.shape[0]):
        for j in range(gb.shape[0]):
            gb[j] += delta[r, j]


@inline
def backward_layer(
    data, offsets, sizes, codes, consts, Xb, XT, abuf, tmp, act_off, rows, batch_size, grad, layer
):
    """Gradient of layer ``layer`` into ``grad``; the delta below replaces that layer's output.

    delta_prev = (delta @ W.T) * g'(a_prev) is formed before W changes, so a caller may
    update the layer right after this returns. ``XT`` is Xb transposed and stored
    C-contiguous, or empty: with it the first layer's gradient is a plain product
    ``XT @ delta``, which BLAS runs faster than ``Xb.T @ delta`` on a tall Xb.
    """
    delta = layer_view(abuf, act_off, layer, rows, batch_size)
    gW = weight_view(grad, offsets, sizes, layer)
    if layer == 0:
        if XT.shape[1] == rows and XT.shape[0] == Xb.shape[1]:
            np.dot(XT, delta, gW)
        else:
            np.dot(Xb.T, delta, gW)
    else:
        a_prev = layer_view(abuf, act_off, layer - 1, rows, batch_size)
        np.dot(a_prev.T, delta, gW)
    bias_gradient(delta, bias_view(grad, offsets, layer), consts[ZERO])
    if layer > 0:
        n_in = sizes[layer]
        back = tmp[: rows * n_in].reshape((rows, n_in))
        np.dot(delta, weight_view(data, offsets, sizes, layer).T, back)
        # The activation output becomes the delta: a_prev is not needed after this.
        times_derivative(back, a_prev, codes[layer - 1], consts)
