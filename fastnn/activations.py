"""The activation registry: one entry per activation, value and derivative together.

Derivatives are written in terms of the activation *output* ``a`` (as in
scikit-learn): relu ``a > 0``, tanh ``1 - a**2``, sigmoid ``a (1 - a)``. The
backward pass only ever has ``a`` at hand, so this is what both backends compute.
Every activation here has that property (SELU: ``lambda`` where ``a > 0``, else
``a + lambda*alpha``).

``softmax`` is output-only: it is always paired with cross-entropy, whose fused
gradient is ``a - y``, so it has no stand-alone derivative (sklearn ``_backprop``).
``identity`` may also be the output layer, paired with squared error (regression);
``OUTPUT_LOSSES`` says which loss each output activation is trained with.

The integer ``code`` is what the Numba kernels branch on; ``fastnn.kernels.activations``
defines the same constants and a test checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fastnn.errors import InvalidParameterError
from fastnn.validation import choice_error

#: Slope of leaky_relu for negative inputs: PyTorch's default (``nn.LeakyReLU``, 0.01).
#: Keras differs: 0.3 for its ``LeakyReLU`` layer, 0.2 for ``keras.activations.leaky_relu``.
LEAKY_SLOPE = 0.01
#: SELU constants from Klambauer et al. (2017), "Self-Normalizing Neural Networks".
SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805


def _relu(z):
    return np.maximum(z, 0)


def _relu_grad(a):
    return (a > 0).astype(a.dtype)


def _leaky_relu(z):
    return np.where(z > 0, z, z * z.dtype.type(LEAKY_SLOPE))


def _leaky_relu_grad(a):
    return np.where(a > 0, a.dtype.type(1), a.dtype.type(LEAKY_SLOPE))


def _sigmoid(z):
    # scipy's expit never overflows or warns, for any finite or infinite input. Imported
    # here, not at the top: scipy.special takes ~0.5 s to import, a quarter of a warm
    # start of `python -m fastnn.train`, and only this function needs it.
    from scipy.special import expit

    return expit(z)


def _sigmoid_grad(a):
    return a * (1 - a)


def _tanh(z):
    return np.tanh(z)


def _tanh_grad(a):
    return 1 - a * a


def _selu(z):
    t = z.dtype.type
    # expm1 on min(z, 0) so positive inputs never overflow the unused branch.
    neg = t(SELU_LAMBDA * SELU_ALPHA) * np.expm1(np.minimum(z, 0))
    return np.where(z > 0, t(SELU_LAMBDA) * z, neg)


def _selu_grad(a):
    t = a.dtype.type
    return np.where(a > 0, t(SELU_LAMBDA), a + t(SELU_LAMBDA * SELU_ALPHA))


def _identity(z):
    return z.copy()


def _identity_grad(a):
    return np.ones_like(a)


def _softmax(z):
    # Subtract the row max so exp never overflows; rows sum to 1.
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_grad(a):
    raise InvalidParameterError(
        "softmax has no stand-alone derivative: it is only used as the output layer, "
        "where the fused softmax + cross-entropy gradient is (a - y)"
    )


@dataclass(frozen=True)
class Activation:
    """One activation: its NumPy value and derivative, kernel code and role."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    code: int
    output_only: bool
    init: str  # default weight initialisation for a layer with this activation
    formula: str


ACTIVATIONS: dict[str, Activation] = {
    spec.name: spec
    for spec in (
        Activation("identity", _identity, _identity_grad, 0, False, "glorot", "a = z"),
        Activation("relu", _relu, _relu_grad, 1, False, "he", "a = max(z, 0)"),
        Activation(
            "leaky_relu",
            _leaky_relu,
            _leaky_relu_grad,
            2,
            False,
            "he",
            f"a = z if z > 0 else {LEAKY_SLOPE} z",
        ),
        Activation("sigmoid", _sigmoid, _sigmoid_grad, 3, False, "glorot", "a = 1 / (1 + exp(-z))"),
        Activation("tanh", _tanh, _tanh_grad, 4, False, "glorot", "a = tanh(z)"),
        Activation(
            "selu",
            _selu,
            _selu_grad,
            5,
            False,
            "lecun",
            "a = lambda z if z > 0 else lambda alpha (exp(z) - 1)",
        ),
        Activation("softmax", _softmax, _softmax_grad, 6, True, "glorot", "a_i = exp(z_i) / sum_j exp(z_j)"),
    )
}

#: Other spellings users type, mapped explicitly to registry keys (keras style).
ALIASES: dict[str, str] = {"linear": "identity", "logistic": "sigmoid", "leakyrelu": "leaky_relu"}

HIDDEN_ACTIVATIONS: tuple[str, ...] = tuple(k for k, v in ACTIVATIONS.items() if not v.output_only)
#: Output activation -> the loss it is trained with (each pair has the fused gradient
#: ``a - y`` on the output pre-activation, sklearn's canonical link). ``softmax``:
#: cross-entropy on integer labels (classification); ``identity``: squared error
#: ``0.5 * sum_j (a_j - y_j)**2`` per sample on float targets (regression).
OUTPUT_LOSSES: dict[str, str] = {"softmax": "cross_entropy", "identity": "squared_error"}
OUTPUT_ACTIVATIONS: tuple[str, ...] = tuple(OUTPUT_LOSSES)


def get_activation(name: str) -> Activation:
    """Look up an activation by name or alias, with an error that lists the choices."""
    if isinstance(name, str):
        key = ALIASES.get(name.lower(), name.lower())
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
    raise choice_error("activation", sorted(ACTIVATIONS), name)
