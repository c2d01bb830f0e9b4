"""Fused dense + activation forward passes, per sample and per batch.

Mirrors ``fastnn/backends/numpy_backend.py::NumpyBackend.dense_forward`` and the
output step of ``loss_and_gradient``. Shapes: ``W`` (n_in, n_out) C-contiguous,
``b`` (n_out,), a sample ``x`` (n_in,), a batch ``X`` (n, n_in); outputs are written
into caller-provided ``out`` buffers (nothing is allocated here).

The activation is applied in a second, short pass over ``out`` after the
accumulation loop, so the inner loop is a pure ``out += x_i * W[i]`` that LLVM
vectorises.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import inline, jit
from fastnn.kernels.activations import SOFTMAX, activate


@inline
def softmax_row(z, out):
    """out = exp(z - max z) / sum(exp(z - max z)); z and out may be the same array."""
    m = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > m:
            m = z[j]
    s = out.dtype.type(0)
    for j in range(z.shape[0]):
        e = np.exp(z[j] - m)
        out[j] = e
        s += e
    for j in range(z.shape[0]):
        out[j] = out[j] / s


@inline
def softmax_loss_row(z, label, out):
    """Softmax of z into out, and the cross-entropy -log softmax(z)[label] as float64.

    The loss is logsumexp(z) - z[label], finite even where softmax underflows to 0.
    """
    m = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > m:
            m = z[j]
    zy = z[label]
    s = out.dtype.type(0)
    for j in range(z.shape[0]):
        e = np.exp(z[j] - m)
        out[j] = e
        s += e
    for j in range(z.shape[0]):
        out[j] = out[j] / s
    return np.float64(np.log(s) + m - zy)


@inline
def accumulate_sample(x, data, w_off, b_off, out, skip_zeros):
    """out = x @ W + b for one sample, W and b read from the flat buffer ``data``.

    ``W`` is the (len(x), len(out)) row-major block at ``data[w_off:]``, ``b`` starts at
    ``b_off``. With ``skip_zeros`` rows of W where x is exactly 0 are skipped: exact,
    since a zero input adds exactly nothing, and about 80% of MNIST pixels are 0.
    """
    n_in = x.shape[0]
    n_out = out.shape[0]
    for j in range(n_out):
        out[j] = data[b_off + j]
    if skip_zeros:
        for i in range(n_in):
            xi = x[i]
            if xi != 0:
                row = w_off + i * n_out
                for j in range(n_out):
                    out[j] += xi * data[row + j]
    else:
        for i in range(n_in):
            xi = x[i]
            row = w_off + i * n_out
            for j in range(n_out):
                out[j] += xi * data[row + j]


@inline
def activate_row(out, code, consts):
    """Apply activation ``code`` to one row in place (softmax as a whole row)."""
    if code == SOFTMAX:
        softmax_row(out, out)
    else:
        for j in range(out.shape[0]):
            out[j] = activate(out[j], code, consts)


@jit
def dense_forward_sample(x, data, w_off, b_off, code, consts, skip_zeros, out):
    """out = g(x @ W + b) for one sample, W and b in the flat parameter buffer; returns out."""
    accumulate_sample(x, data, w_off, b_off, out, skip_zeros)
    activate_row(out, code, consts)
    return out


@inline
def bias_activate_rows(Z, b, code, consts):
    """Z = g(Z + b) row by row, in place: the bias and activation fused after the GEMM."""
    n, n_out = Z.shape
    for r in range(n):
        row = Z[r]
        for j in range(n_out):
            row[j] += b[j]
        activate_row(row, code, consts)


@jit
def dense_forward_batch(X, W, b, code, consts, out):
    """out = g(X @ W + b) for a batch: BLAS GEMM, then one fused bias+activation pass."""
    np.dot(X, W, out)
    bias_activate_rows(out, b, code, consts)
    return out
