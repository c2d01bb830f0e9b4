"""Activation values and derivatives: scalar functions, and loops built from them.

Mirrors ``fastnn/activations.py`` (the registry); the integer codes below must equal
the registry's ``code`` fields, which ``tests/test_kernels.py`` checks.

Design. Each activation is a small scalar function (``relu(z, consts)``, ...) with a
derivative written in terms of the activation *output* ``a`` (sklearn's convention).
Kernels receive an integer ``code`` (a plain int64 argument, so every kernel keeps
one signature per dtype and ``cache=True`` works) and call a dispatcher that picks
one loop *per activation*: the loops are made from one template by ``_loop_family``,
which closes over the scalar function, so each is specialised, branch-free and
vectorised by LLVM. (Branching on the code inside the element loop measured 6x
slower for relu than NumPy, and passing jitted functions as arguments makes Numba
refuse to cache the caller.)

Every constant comes from ``consts`` (an array of the data's dtype, built by
``make_consts``): a Python float literal is float64 in Numba and would silently upcast
float32 arithmetic. Layout: ``[0, 1, leaky slope, selu lambda, selu lambda*alpha]``.
exp and expm1 are ``fastexp``'s branch-free versions, so the loops vectorise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastnn.kernels._jit import helper, inline, jit
from fastnn.kernels.fastexp import exp_arith, expm1_reduced

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


# --------------------------------------------------------------------- values
@inline
def identity(z, consts):
    """a = z"""
    return z


@inline
def relu(z, consts):
    """a = max(z, 0), written so NaN stays NaN (as np.maximum)."""
    return consts[ZERO] if z <= consts[ZERO] else z


@inline
def leaky_relu(z, consts):
    """a = z if z > 0 else slope z"""
    return z if z > consts[ZERO] else z * consts[SLOPE]


@inline
def sigmoid(z, consts):
    """a = 1 / (1 + exp(-z)) = e / (1 + e) with e = exp(-|z|) <= 1: never overflows."""
    e = exp_arith(-abs(z))
    s = consts[ONE] / (consts[ONE] + e)
    return s if z >= consts[ZERO] else e * s


@inline
def tanh(z, consts):
    """a = sign(z) (1 - e) / (1 + e), e = exp(-2|z|), computed as -expm1 / (2 + expm1)."""
    m = expm1_reduced(-(abs(z) + abs(z)))
    t = -m / (consts[ONE] + consts[ONE] + m)
    return -t if z < consts[ZERO] else t


@inline
def selu(z, consts):
    """a = lambda z if z > 0 else lambda alpha (exp(z) - 1)"""
    neg = consts[ZERO] if z > consts[ZERO] else z  # keeps NaN, never exp of a large z
    return consts[LAM] * z if z > consts[ZERO] else consts[LAM_ALPHA] * expm1_reduced(neg)


# ---------------------------------------------------------------- derivatives
@inline
def d_identity(a, consts):
    """g' = 1"""
    return consts[ONE]


@inline
def d_relu(a, consts):
    """g' = 1 if a > 0 else 0"""
    return consts[ONE] if a > consts[ZERO] else consts[ZERO]


@inline
def d_leaky_relu(a, consts):
    """g' = 1 if a > 0 else slope"""
    return consts[ONE] if a > consts[ZERO] else consts[SLOPE]


@inline
def d_sigmoid(a, consts):
    """g' = a (1 - a)"""
    return a * (consts[ONE] - a)


@inline
def d_tanh(a, consts):
    """g' = 1 - a^2"""
    return consts[ONE] - a * a


@inline
def d_selu(a, consts):
    """g' = lambda if a > 0 else a + lambda alpha"""
    return consts[LAM] if a > consts[ZERO] else a + consts[LAM_ALPHA]


@inline
def derivative(a, code, consts):
    """g'(z) from the output a, for one element, by code."""
    if code == RELU:
        return d_relu(a, consts)
    elif code == SIGMOID:
        return d_sigmoid(a, consts)
    elif code == TANH:
        return d_tanh(a, consts)
    elif code == LEAKY_RELU:
        return d_leaky_relu(a, consts)
    elif code == SELU:
        return d_selu(a, consts)
    return consts[ONE]


# ---------------------------------------------------------------------- loops
def _loop_family(name: str, fn: Callable[..., Any], dfn: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """The loops every activation needs, specialised on its scalar functions.

    Each loop gets a qualified name of its own (``relu_bias_apply_rows``, ...): Numba
    names machine code by module, qualified name, a per-process counter and the
    argument types, so six closures sharing one name could collide when two cache
    entries compiled in different processes are loaded together, and one entry point
    would then run another activation's loop.
    """

    def bias_apply_rows(Z, b, consts):
        for r in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                Z[r, j] = fn(Z[r, j] + b[j], consts)

    def times_derivative_rows(back, A, consts):
        # A[r, i] <- back[r, i] * g'(A[r, i]): the output turns into the delta in place.
        for r in range(A.shape[0]):
            for i in range(A.shape[1]):
                A[r, i] = back[r, i] * dfn(A[r, i], consts)

    def derivative_flat(a, out, consts):
        for k in range(a.shape[0]):
            out[k] = dfn(a[k], consts)

    loops = []
    for loop in (bias_apply_rows, times_derivative_rows, derivative_flat):
        loop.__name__ = loop.__qualname__ = f"{name}_{loop.__name__}"
        loops.append(helper(loop))
    return loops[0], loops[1], loops[2]


# Unpacked into plain module globals: Numba calls a global dispatcher directly, while
# indexing a tuple of them would go through its experimental first-class functions.
identity_bias, _identity_back, _identity_deriv = _loop_family("identity", identity, d_identity)
relu_bias, _relu_back, _relu_deriv = _loop_family("relu", relu, d_relu)
leaky_bias, _leaky_back, _leaky_deriv = _loop_family("leaky_relu", leaky_relu, d_leaky_relu)
sigmoid_bias, _sigmoid_back, _sigmoid_deriv = _loop_family("sigmoid", sigmoid, d_sigmoid)
tanh_bias, _tanh_back, _tanh_deriv = _loop_family("tanh", tanh, d_tanh)
selu_bias, _selu_back, _selu_deriv = _loop_family("selu", selu, d_selu)


@inline
def bias_activate(Z, b, code, consts):
    """Z = g(Z + b) in place for a 2-D batch (not softmax): bias and activation in one pass."""
    if code == RELU:
        relu_bias(Z, b, consts)
    elif code == SIGMOID:
        sigmoid_bias(Z, b, consts)
    elif code == TANH:
        tanh_bias(Z, b, consts)
    elif code == LEAKY_RELU:
        leaky_bias(Z, b, consts)
    elif code == SELU:
        selu_bias(Z, b, consts)
    else:
        identity_bias(Z, b, consts)


@inline
def times_derivative(back, A, code, consts):
    """A = back * g'(A) in place, for 2-D A (the activations become the deltas)."""
    if code == RELU:
        _relu_back(back, A, consts)
    elif code == SIGMOID:
        _sigmoid_back(back, A, consts)
    elif code == TANH:
        _tanh_back(back, A, consts)
    elif code == LEAKY_RELU:
        _leaky_back(back, A, consts)
    elif code == SELU:
        _selu_back(back, A, consts)
    else:
        _identity_back(back, A, consts)


@jit
def activation_derivative(a, code, consts, out):
    """out = g'(a) elementwise for a C-contiguous array of any shape; returns out."""
    flat_a = a.reshape(-1)
    flat_out = out.reshape(-1)
    if code == RELU:
        _relu_deriv(flat_a, flat_out, consts)
    elif code == SIGMOID:
        _sigmoid_deriv(flat_a, flat_out, consts)
    elif code == TANH:
        _tanh_deriv(flat_a, flat_out, consts)
    elif code == LEAKY_RELU:
        _leaky_deriv(flat_a, flat_out, consts)
    elif code == SELU:
        _selu_deriv(flat_a, flat_out, consts)
    else:
        _identity_deriv(flat_a, flat_out, consts)
    return out
