"""Per-sample SGD: the whole epoch in one compiled loop, backward fused with the update.

Mirrors ``NumpyBackend.train_epoch`` with ``batch_size=1``. For each sample, in the
order Python drew from the seed: the forward pass (skipping zero inputs on the first
layer), the softmax + cross-entropy loss and its gradient ``a - onehot(y)``, then for
each layer from the top one pass over the rows of W that both back-propagates the
delta through the *old* weights and applies the optimiser step. No dW/db buffer is
ever formed and nothing is allocated per sample.

Arrays: ``data``/``m``/``s`` are flat buffers with the ``Params`` layout (``offsets``:
W0, b0, W1, b1, ..., end), updated in place; ``t`` (int64[1]) counts Adam steps;
``acts``/``deltas`` are scratch of length ``sum(sizes[1:])`` with layer ``l``'s units at
``act_off[l]:act_off[l+1]``; ``hp`` is float64 ``[lr, momentum, beta1, beta2, eps,
weight_decay]``, cast once to the data's dtype.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import inline, jit
from fastnn.kernels.activations import ONE, ZERO, activate, derivative
from fastnn.kernels.dense import accumulate_sample, softmax_loss_row

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3


@inline
def opt_update(data, m, s, p, g, opt, lr, mu, b1, b2, eps, step, one):
    """One optimiser step on element p of the flat buffers (see fastnn/optim.py)."""
    if opt == SGD:
        data[p] -= lr * g
    elif opt == MOMENTUM:
        v = mu * m[p] - lr * g
        m[p] = v
        data[p] += v
    elif opt == NESTEROV:
        v = mu * m[p] - lr * g
        m[p] = v
        data[p] += mu * v - lr * g
    else:
        mm = b1 * m[p] + (one - b1) * g
        ss = b2 * s[p] + (one - b2) * (g * g)
        m[p] = mm
        s[p] = ss
        data[p] -= step * mm / (np.sqrt(ss) + eps)


@inline
def adam_step(hp, t, dtype_one):
    """Adam's bias-corrected step size for step t, in float64 then cast (optim.adam_step_size)."""
    return dtype_one * (hp[0] * np.sqrt(1.0 - hp[3] ** t) / (1.0 - hp[2] ** t))


@inline
def backprop_update_layer(a_prev, data, m, s, w_off, b_off, delta, delta_prev, prev_code,
                          consts, opt, lr, mu, b1, b2, eps, wd, step, skip_zeros):
    """Back-propagate ``delta`` through the old W into ``delta_prev`` and update W and b.

    ``delta_prev`` is written only when it has length > 0 (not for the first layer).
    Row i of W is read once: ``delta_prev[i] = (W[i] . delta) * g'(a_prev[i])`` and
    ``W[i] -= lr * a_prev[i] * delta`` (plus weight decay / momentum / Adam). With
    ``skip_zeros`` (plain SGD without weight decay only) rows whose input is 0, whose
    update is exactly 0, are left alone.
    """
    n_in = a_prev.shape[0]
    n_out = delta.shape[0]
    has_prev = delta_prev.shape[0] > 0
    zero = consts[ZERO]
    one = consts[ONE]
    for i in range(n_in):
        ai = a_prev[i]
        row = w_off + i * n_out
        if has_prev:
            acc = zero
            for j in range(n_out):
                acc += data[row + j] * delta[j]
            delta_prev[i] = acc * derivative(ai, prev_code, consts)
        if opt == SGD and wd == zero:
            if skip_zeros and ai == zero:
                continue
            for j in range(n_out):
                data[row + j] -= lr * (ai * delta[j])
        else:
            for j in range(n_out):
                g = ai * delta[j] + wd * data[row + j]
                opt_update(data, m, s, row + j, g, opt, lr, mu, b1, b2, eps, step, one)
    for j in range(n_out):
        opt_update(data, m, s, b_off + j, delta[j], opt, lr, mu, b1, b2, eps, step, one)


@jit
def train_epoch_sample(data, offsets, codes, consts, X, y, order, hp, opt, m, s, t,
                       acts, deltas, act_off, skip_zeros):
    """One per-sample SGD epoch over X[order]; updates data/m/s/t in place, returns summed loss."""
    n_layers = codes.shape[0]
    T = data.dtype.type
    lr, mu, b1, b2, eps, wd = T(hp[0]), T(hp[1]), T(hp[2]), T(hp[3]), T(hp[4]), T(hp[5])
    one = consts[ONE]
    step = consts[ZERO]
    empty = deltas[:0]
    last = n_layers - 1
    total = 0.0
    for k in range(order.shape[0]):
        idx = order[k]
        x = X[idx]
        # Forward: layer 0 reads the sample (skipping zeros), the rest read acts.
        for layer in range(n_layers):
            out = acts[act_off[layer] : act_off[layer + 1]]
            if layer == 0:
                accumulate_sample(x, data, offsets[0], offsets[1], out, skip_zeros)
            else:
                a_prev = acts[act_off[layer - 1] : act_off[layer]]
                accumulate_sample(a_prev, data, offsets[2 * layer], offsets[2 * layer + 1], out, False)
            if layer < last:
                code = codes[layer]
                for j in range(out.shape[0]):
                    out[j] = activate(out[j], code, consts)
        out = acts[act_off[last] : act_off[last + 1]]
        label = y[idx]
        total += softmax_loss_row(out, label, out)
        delta = deltas[act_off[last] : act_off[last + 1]]
        for j in range(delta.shape[0]):
            delta[j] = out[j]
        delta[label] -= one
        if opt == ADAM:
            t[0] += 1
            step = adam_step(hp, t[0], one)
        # Backward fused with the update, top layer first.
        for layer in range(last, -1, -1):
            delta = deltas[act_off[layer] : act_off[layer + 1]]
            w_off = offsets[2 * layer]
            b_off = offsets[2 * layer + 1]
            if layer == 0:
                backprop_update_layer(x, data, m, s, w_off, b_off, delta, empty, 0, consts, opt,
                                      lr, mu, b1, b2, eps, wd, step, skip_zeros)
            else:
                a_prev = acts[act_off[layer - 1] : act_off[layer]]
                delta_prev = deltas[act_off[layer - 1] : act_off[layer]]
                backprop_update_layer(a_prev, data, m, s, w_off, b_off, delta, delta_prev,
                                      codes[layer - 1], consts, opt, lr, mu, b1, b2, eps, wd,
                                      step, False)
    return total
