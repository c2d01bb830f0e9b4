"""Scalar activation values and derivatives, selected by an integer code.

Mirrors ``fastnn/activations.py`` (the registry); the codes below must equal the
registry's ``code`` fields, which ``tests/test_kernels.py`` checks.

Why integer codes and ``inline="always"`` helpers rather than passing jitted
functions into kernels: a code is a plain int64 argument, so every kernel keeps one
fixed signature per dtype and ``cache=True`` works; the helper is inlined and its
branch is loop-invariant, so LLVM hoists it out of the inner loop.

Every constant comes from ``consts`` (an array of the data's dtype, built by
``make_consts``): a Python float literal is float64 in Numba and would silently upcast
float32 arithmetic. Layout: ``[0, 1, leaky slope, selu lambda, selu lambda*alpha]``.
Derivatives take the activation *output* ``a`` (sklearn's convention).
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import inline, jit
from fastnn.kernels.fastexp import exp_arith, expm1_arith

IDENTITY = 0
RELU = 1
LEAKY_RELU = 2
SIGMOID = 3
TANH = 4
SELU = 5
SOFTMAX = 6

LEAKY_SLOPE = 0.01
SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805

ZERO, ONE, SLOPE, LAM, LAM_ALPHA = 0, 1, 2, 3, 4


def make_consts(dtype: np.dtype) -> np.ndarray:
    """The constants array for ``dtype`` (see the module docstring)."""
    return np.array([0.0, 1.0, LEAKY_SLOPE, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA], dtype=dtype)


@inline
def activate(z, code, consts):
    """g(z) for one element; softmax is handled per row by the callers.

    sigmoid: 1 / (1 + exp(-z)) = e / (1 + e) with e = exp(-|z|) <= 1, never overflowing.
    tanh: sign(z) (1 - e) / (1 + e) with e = exp(-2|z|), as -expm1 / (2 + expm1).
    selu: lambda z if z > 0 else lambda alpha (exp(z) - 1).

    exp and expm1 are the branch-free ``fastexp`` versions, so a loop over this
    function vectorises; each side of a sign test is computed and one selected.
    """
    zero = consts[ZERO]
    one = consts[ONE]
    if code == RELU:
        # Written so NaN goes through as NaN (np.maximum's behaviour), not to 0.
        return zero if z <= zero else z
    elif code == SIGMOID:
        e = exp_arith(-abs(z))
        s = one / (one + e)
        return s if z >= zero else e * s
    elif code == TANH:
        m = expm1_arith(-(abs(z) + abs(z)))
        t = -m / (one + one + m)
        return -t if z < zero else t
    elif code == LEAKY_RELU:
        return z if z > zero else z * consts[SLOPE]
    elif code == SELU:
        neg = zero if z > zero else z
        return consts[LAM] * z if z > zero else consts[LAM_ALPHA] * expm1_arith(neg)
    return z


@inline
def derivative(a, code, consts):
    """g'(z) from the output a: relu a>0, sigmoid a(1-a), tanh 1-a^2, selu lambda or a+lambda alpha."""
    if code == RELU:
        return consts[ONE] if a > consts[ZERO] else consts[ZERO]
    elif code == SIGMOID:
        return a * (consts[ONE] - a)
    elif code == TANH:
        return consts[ONE] - a * a
    elif code == LEAKY_RELU:
        return consts[ONE] if a > consts[ZERO] else consts[SLOPE]
    elif code == SELU:
        return consts[LAM] if a > consts[ZERO] else a + consts[LAM_ALPHA]
    return consts[ONE]


@jit
def activation_derivative(a, code, consts, out):
    """out = g'(a) elementwise for a C-contiguous array of any shape; returns out."""
    flat_a = a.reshape(-1)
    flat_out = out.reshape(-1)
    for k in range(flat_a.shape[0]):
        flat_out[k] = derivative(flat_a[k], code, consts)
    return out
