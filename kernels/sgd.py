"""Per-sample SGD: the whole epoch in one compiled loop, backward fused with the update.

Mirrors ``NumpyBackend.train_epoch`` with ``batch_size=1``. For each sample, in the
order Python drew from the seed: the forward pass (skipping zero inputs on the first
layer), the output loss and its gradient (softmax + cross-entropy ``a - onehot(y)`` for
integer labels, identity + squared error ``a - y`` for 2-D float targets), then for
each layer from the top one pass over the rows of W that both back-propagates the
delta through the *old* weights and applies the optimiser step. No dW/db buffer is
ever formed and nothing is allocated per sample.

Arrays: ``data``/``m``/``s`` are flat buffers with the ``Params`` layout (``offsets``:
W0, b0, W1, b1, ..., end), updated in place; ``t`` (int64[1]) counts Adam steps;
``acts``/``deltas`` are scratch of length ``sum(sizes[1:])`` with layer ``l``'s outputs at
``act_off[l]:act_off[l+1]``; ``hp`` is the float64 vector of ``optimizers.pack_hyper``,
cast once to the data's dtype; the update rule is ``optimizers.update_row``.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import helper, inline, jit, overload_inline
from fastnn.kernels.activations import ONE, ZERO, bias_activate, derivative
from fastnn.kernels.dense import (
    accumulate_dense,
    accumulate_sparse,
    bias_view,
    softmax_loss_row,
    weight_view,
)
from fastnn.kernels.optimizers import ADAM, SGD, adam_step, sgd_step, unpack_hyper, update_range, update_row


@helper
def hidden_backprop_update(
    a_prev, W, b, mW, sW, mb, sb, delta, delta_prev, prev_code, consts, opt, lr, mu, b1, b2, eps, wd, step
):
    """Back-propagate ``delta`` through the old W into ``delta_prev``, then update W and b.

    Row i of W is read once: ``delta_prev[i] = (W[i] . delta) * g'(a_prev[i])`` and
    ``W[i] -= lr * a_prev[i] * delta`` (plus weight decay / momentum / Adam).
    """
    n_in, n_out = W.shape
    zero = consts[ZERO]
    one = consts[ONE]
    plain = opt == SGD and wd == zero
    for i in range(n_in):
        ai = a_prev[i]
        acc = zero
        if plain:
            for j in range(n_out):
                wij = W[i, j]
                acc += wij * delta[j]
                W[i, j] = sgd_step(wij, lr, ai * delta[j])
        else:
            for j in range(n_out):
                acc += W[i, j] * delta[j]
            update_row(W, mW, sW, i, delta, ai, wd, opt, lr, mu, b1, b2, eps, step, one)
        delta_prev[i] = acc * derivative(ai, prev_code, consts)
    update_range(b, mb, sb, delta, one, zero, opt, lr, mu, b1, b2, eps, step, one)


@helper
def first_layer_update(x, nz, count, W, b, mW, sW, mb, sb, delta, consts, opt, lr, mu, b1, b2, eps, wd, step):
    """Update the first layer; no delta is propagated below it.

    Plain SGD without weight decay touches only rows with a non-zero input (the
    others' update is exactly 0); every other rule updates every row (velocity
    and moments decay even where the gradient is 0).
    """
    one = consts[ONE]
    zero = consts[ZERO]
    if opt == SGD and wd == zero:
        for q in range(count):
            i = nz[q]
            ai = x[i]
            for j in range(delta.shape[0]):
                W[i, j] = sgd_step(W[i, j], lr, ai * delta[j])
    else:
        for i in range(x.shape[0]):
            update_row(W, mW, sW, i, delta, x[i], wd, opt, lr, mu, b1, b2, eps, step, one)
    update_range(b, mb, sb, delta, one, zero, opt, lr, mu, b1, b2, eps, step, one)


@inline
def softmax_output_delta_sample(out, y, idx, delta, consts):
    """Softmax output, label y[idx]: out becomes the softmax, delta = out - onehot;
    returns the cross-entropy (float64) and 1 if the label was the most probable class
    (the first maximum, as argmax) else 0."""
    label = y[idx]
    best = 0
    for j in range(1, out.shape[0]):
        if out[j] > out[best]:
            best = j
    loss = softmax_loss_row(out, label, out)
    for j in range(delta.shape[0]):
        delta[j] = out[j]
    delta[label] -= consts[ONE]
    return loss, int(best == label)


@inline
def squared_output_delta_sample(out, y, idx, delta, consts):
    """Identity output, targets y[idx] (a row of a 2-D y): delta = out - y[idx];
    returns 0.5 * sum(delta**2) (float64), and 0 (no class to get right)."""
    loss = 0.0
    for j in range(delta.shape[0]):
        d = out[j] - y[idx, j]
        delta[j] = d
        loss += 0.5 * (np.float64(d) * np.float64(d))
    return loss, 0


def output_delta_sample(out, y, idx, delta, consts):
    """The output layer of one sample: loss, and the delta dLoss/dz into ``delta``.
    1-D integer labels: softmax + cross-entropy; 2-D float targets: identity + squared
    error, chosen by type when compiled (see ``batch_passes.output_delta``)."""
    if y.ndim == 2:
        return squared_output_delta_sample(out, y, idx, delta, consts)
    return softmax_output_delta_sample(out, y, idx, delta, consts)


def _squared_output_delta_sample_impl(out, y, idx, delta, consts):
    return squared_output_delta_sample(out, y, idx, delta, consts)


def _softmax_output_delta_sample_impl(out, y, idx, delta, consts):
    return softmax_output_delta_sample(out, y, idx, delta, consts)


@overload_inline(output_delta_sample)
def _output_delta_sample_by_target(out, y, idx, delta, consts):
    return _squared_output_delta_sample_impl if y.ndim == 2 else _softmax_output_delta_sample_impl


@jit
def train_epoch_sample(
    data,
    offsets,
    sizes,
    codes,
    consts,
    X,
    y,
    order,
    hp,
    opt,
    m,
    s,
    t,
    acts,
    deltas,
    act_off,
    nz_ptr,
    nz_idx,
    all_idx,
    skip_zeros,
):
    """One per-sample SGD epoch over X[order]; updates data/m/s/t in place and returns the
    summed loss and how many samples were predicted right before their own update.

    With ``skip_zeros`` the first layer visits only sample k's non-zero inputs, listed in
    CSR form (``nz_idx[nz_ptr[k]:nz_ptr[k+1]]``, computed once per data set by the
    adapter rather than once per sample per epoch); otherwise it visits ``all_idx``
    (``arange(n_features)``). Both index arrays are int32.
    """
    n_layers = codes.shape[0]
    T = data.dtype.type
    lr, mu, b1, b2, eps, wd = unpack_hyper(hp, T)
    step = consts[ZERO]
    last = n_layers - 1
    total = 0.0
    correct = 0
    for k in range(order.shape[0]):
        idx = order[k]
        x = X[idx]
        # Which inputs are non-zero: without skipping, the list is simply every index.
        nz = nz_idx[nz_ptr[idx] : nz_ptr[idx + 1]] if skip_zeros else all_idx
        count = nz.shape[0]
        W = weight_view(data, offsets, sizes, 0)
        out = acts[act_off[0] : act_off[1]]
        accumulate_sparse(x, nz, count, W, out)
        for layer in range(1, n_layers):
            a_prev = out
            bias_activate(
                a_prev.reshape((1, a_prev.shape[0])),
                bias_view(data, offsets, layer - 1),
                codes[layer - 1],
                consts,
            )
            out = acts[act_off[layer] : act_off[layer + 1]]
            accumulate_dense(a_prev, weight_view(data, offsets, sizes, layer), out)
        b = bias_view(data, offsets, last)
        for j in range(out.shape[0]):
            out[j] += b[j]
        delta = deltas[act_off[last] : act_off[last + 1]]
        sample_loss, hit = output_delta_sample(out, y, idx, delta, consts)
        total += sample_loss
        correct += hit
        if opt == ADAM:
            t[0] += 1
            step = adam_step(hp, t[0], consts)
        # Backward fused with the update, top layer first.
        for layer in range(last, 0, -1):
            delta_prev = deltas[act_off[layer - 1] : act_off[layer]]
            hidden_backprop_update(
                acts[act_off[layer - 1] : act_off[layer]],
                weight_view(data, offsets, sizes, layer),
                bias_view(data, offsets, layer),
                weight_view(m, offsets, sizes, layer),
                weight_view(s, offsets, sizes, layer),
                bias_view(m, offsets, layer),
                bias_view(s, offsets, layer),
                delta,
                delta_prev,
                codes[layer - 1],
                consts,
                opt,
                lr,
                mu,
                b1,
                b2,
                eps,
                wd,
                step,
            )
            delta = delta_prev
        first_layer_update(
            x,
            nz,
            count,
            weight_view(data, offsets, sizes, 0),
            bias_view(data, offsets, 0),
            weight_view(m, offsets, sizes, 0),
            weight_view(s, offsets, sizes, 0),
            bias_view(m, offsets, 0),
            bias_view(s, offsets, 0),
            delta,
            consts,
            opt,
            lr,
            mu,
            b1,
            b2,
            eps,
            wd,
            step,
        )
    return total, correct
