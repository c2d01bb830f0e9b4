"""Fused dense + activation forward passes, per sample and per batch.

Mirrors ``fastnn/backends/numpy_backend.py::NumpyBackend.dense_forward`` and the
output step of ``loss_and_gradient``. Shapes: ``W`` (n_in, n_out) C-contiguous,
``b`` (n_out,), a sample ``x`` (n_in,), a batch ``X`` (n, n_in); outputs are written
into caller-provided ``out`` buffers (nothing is allocated here).

The activation is applied in a second, short pass over ``out`` after the
accumulation loop, so the inner loop is a pure ``out += x_i * W[i]`` that LLVM
vectorises. Views are made once per layer, never per row: each array view costs a
reference-count update, which per row would cost more than the arithmetic.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import helper, inline, jit
from fastnn.kernels.activations import SOFTMAX, bias_activate
from fastnn.kernels.fastexp import exp_arith


@inline
def weight_view(data, offsets, sizes, layer):
    """W of ``layer`` as an (n_in, n_out) view of the flat parameter buffer."""
    return data[offsets[2 * layer] : offsets[2 * layer + 1]].reshape((sizes[layer], sizes[layer + 1]))


@inline
def bias_view(data, offsets, layer):
    """b of ``layer`` as a view of the flat parameter buffer."""
    return data[offsets[2 * layer + 1] : offsets[2 * layer + 2]]


@helper
def add_bias_shift_by_max(Z, b):
    """Z = Z + b, then each row minus its maximum, in place: every exponent is then <= 0."""
    n = Z.shape[1]
    for r in range(Z.shape[0]):
        row = Z[r]
        for j in range(n):
            row[j] += b[j]
        m = row[0]
        for j in range(1, n):
            if row[j] > m:
                m = row[j]
        for j in range(n):
            row[j] -= m


@helper
def exp_in_place(Z):
    """Z = exp(Z) for a C-contiguous Z, as one long loop over all its entries.

    A 10-class row alone is too short for LLVM to vectorise; the whole block is not.
    """
    if not Z.flags.c_contiguous:
        # Compiled, reshape would refuse; as plain Python it would quietly copy.
        raise ValueError("exp_in_place needs a C-contiguous array")
    flat = Z.reshape(Z.size)
    for i in range(flat.shape[0]):
        flat[i] = exp_arith(flat[i])


@helper
def softmax_rows(Z, b):
    """Z = softmax(Z + b) row by row, in place (Z C-contiguous): shift, exponentiate, normalise."""
    add_bias_shift_by_max(Z, b)
    exp_in_place(Z)
    for r in range(Z.shape[0]):
        row = Z[r]
        s = row[0]
        for j in range(1, Z.shape[1]):
            s += row[j]
        for j in range(Z.shape[1]):
            row[j] /= s


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
        e = exp_arith(z[j] - m)
        out[j] = e
        s += e
    for j in range(z.shape[0]):
        out[j] = out[j] / s
    return np.float64(np.log(s) + m - zy)


@inline
def nonzero_indices(x, nz):
    """Write the indices of x's non-zero entries to nz; return how many there are.

    Branch-free (always store, advance on non-zero), so the ~20% of MNIST pixels
    that are set cost no mispredicted branches; the forward product and the weight
    update of the first layer then both run over this list.
    """
    count = 0
    for i in range(x.shape[0]):
        nz[count] = i
        count += x[i] != 0
    return count


@inline
def accumulate_sparse(x, nz, count, W, out):
    """out = x @ W over the listed non-zero inputs of x only (exact); the bias is
    added with the activation, in one pass, as after a GEMM (and as NumPy's a @ W + b)."""
    for j in range(out.shape[0]):
        out[j] = 0
    for q in range(count):
        i = nz[q]
        xi = x[i]
        for j in range(out.shape[0]):
            out[j] += xi * W[i, j]


@inline
def accumulate_dense(x, W, out):
    """out = x @ W for one sample (the bias comes with the activation)."""
    for j in range(out.shape[0]):
        out[j] = 0
    for i in range(x.shape[0]):
        xi = x[i]
        for j in range(out.shape[0]):
            out[j] += xi * W[i, j]


@jit
def dense_forward_sample(x, W, b, code, consts, nz, out):
    """out = g(x @ W + b) for one sample; with a scratch ``nz`` (len(x), int64) the
    zero inputs are skipped, with an empty one every input is used. Returns out."""
    if nz.shape[0] >= x.shape[0]:
        accumulate_sparse(x, nz, nonzero_indices(x, nz), W, out)
    else:
        accumulate_dense(x, W, out)
    bias_activate_rows(out.reshape((1, out.shape[0])), b, code, consts)
    return out


@helper
def bias_activate_rows(Z, b, code, consts):
    """Z = g(Z + b) in place: the bias and activation fused in one pass after the GEMM."""
    if code == SOFTMAX:
        softmax_rows(Z, b)
    else:
        bias_activate(Z, b, code, consts)


@jit
def dense_forward_batch(X, W, b, code, consts, out):
    """out = g(X @ W + b) for a batch: BLAS GEMM, then one fused bias+activation pass."""
    np.dot(X, W, out)
    bias_activate_rows(out, b, code, consts)
    return out
