"""Inference: the bias and activation pass after each layer's matrix product.

Prediction is one BLAS product per layer (NumPy's ``a @ W``, made by the adapter) and
one elementwise pass after it. Each activation's pass, and the softmax output's, is
an entry point of its own, so a process compiles only those its network uses: one
kernel for the whole forward pass, dispatching on activation codes, compiled all six
and took 5-6 s of every cold start. The passes are the training kernels' own loops
(``activations``' loop family, ``dense.softmax_rows``), with branch-free ``fastexp``,
which is what makes sigmoid and softmax faster than NumPy's.
"""

from __future__ import annotations

from fastnn.kernels import activations as k_act
from fastnn.kernels._jit import jit
from fastnn.kernels.dense import softmax_rows


@jit
def identity_rows(Z, b, consts):
    """Z = Z + b in place (an identity output, or an identity hidden layer)."""
    k_act.identity_bias(Z, b, consts)


@jit
def relu_rows(Z, b, consts):
    """Z = relu(Z + b) in place."""
    k_act.relu_bias(Z, b, consts)


@jit
def leaky_relu_rows(Z, b, consts):
    """Z = leaky_relu(Z + b) in place."""
    k_act.leaky_bias(Z, b, consts)


@jit
def sigmoid_rows(Z, b, consts):
    """Z = sigmoid(Z + b) in place."""
    k_act.sigmoid_bias(Z, b, consts)


@jit
def tanh_rows(Z, b, consts):
    """Z = tanh(Z + b) in place."""
    k_act.tanh_bias(Z, b, consts)


@jit
def selu_rows(Z, b, consts):
    """Z = selu(Z + b) in place."""
    k_act.selu_bias(Z, b, consts)


@jit
def softmax_output_rows(Z, b, consts):
    """Z = softmax(Z + b) row by row, in place (Z C-contiguous)."""
    softmax_rows(Z, b)


#: The pass for each activation code (``fastnn.activations``' codes).
BY_CODE = {
    k_act.IDENTITY: identity_rows,
    k_act.RELU: relu_rows,
    k_act.LEAKY_RELU: leaky_relu_rows,
    k_act.SIGMOID: sigmoid_rows,
    k_act.TANH: tanh_rows,
    k_act.SELU: selu_rows,
    k_act.SOFTMAX: softmax_output_rows,
}
