"""The reference backend: plain, vectorised NumPy, the oracle for every faster backend.

Each operation is written the way a textbook states it, so that it can be read
against the maths; the Numba kernels mirror these functions and are tested against
them. ``train_epoch`` updates the parameters in place (sklearn ``param += update``).
Shapes: ``X`` is (n_samples, n_features), activations are (n_samples, n_units),
``y`` holds integer class labels (n_samples,) for a softmax output, or float targets
(n_samples, n_outputs) for an identity output (squared error, regression).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastnn.activations import get_activation
from fastnn.backends import EpochResult
from fastnn.optim import OptimizerConfig, OptimizerState, adam_step_size
from fastnn.params import Params

#: Rows per chunk in predict_proba, so inference on a big set needs bounded memory.
PREDICT_CHUNK = 8192


def output_loss_and_delta(z: np.ndarray, y: np.ndarray, output: str) -> tuple[float, np.ndarray]:
    """Summed loss (float64) and delta = dLoss/dz / B for the output pre-activation ``z``.

    ``softmax``: cross-entropy ``logsumexp(z) - z[y]``, which stays finite where
    ``-log(softmax(z)[y])`` would underflow to ``inf``; the fused softmax +
    cross-entropy gradient is ``(a - onehot(y)) / B``. ``identity``: squared error
    ``0.5 * sum_j (z_j - y_j)**2`` per sample (summed over outputs, as sklearn's
    gradient is), with gradient ``(z - y) / B``.
    """
    B = z.dtype.type(z.shape[0])
    if output == "identity":
        diff = z - y
        loss = 0.5 * float(np.sum(np.square(diff, dtype=np.float64)))
        diff /= B
        return loss, diff
    z_max = z.max(axis=1, keepdims=True)
    e = np.exp(z - z_max)
    sum_e = e.sum(axis=1, keepdims=True)
    rows = np.arange(z.shape[0])
    loss = float(np.sum(np.log(sum_e[:, 0]) + z_max[:, 0] - z[rows, y], dtype=np.float64))
    delta = e / sum_e
    delta[rows, y] -= 1
    delta /= B
    return loss, delta


class NumpyBackend:
    """Reference implementation of the backend protocol (see ``fastnn.backends``)."""

    name = "numpy"

    def prepare(self, X: np.ndarray, batch_size: int | None = None, first_units: int | None = None) -> None:
        """Nothing to precompute: each epoch works on X as it is."""
        return None

    def warmup(
        self, dtype: str | np.dtype = "float32", mode: str = "all", activations: Sequence[str] | None = None
    ) -> float:
        """Nothing to compile: NumPy is ready at import. Returns 0.0."""
        return 0.0

    def dense_forward(self, a_prev: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str) -> np.ndarray:
        """Fused dense layer: ``a = g(a_prev @ W + b)``."""
        return get_activation(activation).fn(a_prev @ W + b)

    def activation_derivative(self, a: np.ndarray, activation: str) -> np.ndarray:
        """``g'(z)`` written in terms of the layer output ``a``."""
        return get_activation(activation).grad(a)

    def forward(self, params: Params, activations: Sequence[str], X: np.ndarray) -> list[np.ndarray]:
        """All layer outputs ``[X, a_1, ..., a_L]``; the last is the softmax output."""
        outs = [X]
        for i, act in enumerate(activations):
            outs.append(self.dense_forward(outs[-1], params.W(i), params.b(i), act))
        return outs

    def predict_proba(self, params: Params, activations: Sequence[str], X: np.ndarray) -> np.ndarray:
        """The network's output in chunks: class probabilities (n_samples, n_classes) for
        a softmax output, the outputs themselves for an identity (regression) output."""
        out = np.empty((X.shape[0], params.layer_sizes[-1]), dtype=params.dtype)
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            out[start : start + PREDICT_CHUNK] = self.forward(
                params, activations, X[start : start + PREDICT_CHUNK]
            )[-1]
        return out

    def loss_and_gradient(
        self, params: Params, activations: Sequence[str], X: np.ndarray, y: np.ndarray, grad: np.ndarray
    ) -> float:
        """Summed loss of the batch; writes the gradient of the *mean* loss into ``grad``.

        The loss and output delta come from ``output_loss_and_delta``: cross-entropy for
        a softmax output (``y`` integer labels), squared error for an identity output
        (``y`` float targets, (n_samples, n_outputs)).
        """
        return self._loss_gradient_correct(params, activations, X, y, grad)[0]

    def _loss_gradient_correct(
        self, params: Params, activations: Sequence[str], X: np.ndarray, y: np.ndarray, grad: np.ndarray
    ) -> tuple[float, int]:
        """``loss_and_gradient``, and how many rows' most probable class is the label."""
        n_layers = params.n_layers
        outs = [X]
        for i in range(n_layers - 1):
            outs.append(self.dense_forward(outs[-1], params.W(i), params.b(i), activations[i]))
        z = outs[-1] @ params.W(n_layers - 1) + params.b(n_layers - 1)
        loss, delta = output_loss_and_delta(z, y, activations[-1])
        # Correct predictions count only for a classifier (softmax output).
        correct = int(np.count_nonzero(z.argmax(axis=1) == y)) if activations[-1] == "softmax" else 0
        gW, gb = params.views_of(grad)
        for i in range(n_layers - 1, -1, -1):
            np.matmul(outs[i].T, delta, out=gW[i])
            np.sum(delta, axis=0, out=gb[i])
            if i > 0:
                delta = (delta @ params.W(i).T) * self.activation_derivative(outs[i], activations[i - 1])
        return loss, correct

    def apply_update(
        self, params: Params, grad: np.ndarray, cfg: OptimizerConfig, state: OptimizerState
    ) -> None:
        """One optimiser step on ``params.data`` in place; ``grad`` is used as scratch
        (weight decay is added to it, and plain SGD scales it in place)."""
        t = params.dtype.type
        if cfg.weight_decay:
            gW, _ = params.views_of(grad)
            for i in range(params.n_layers):
                gW[i] += t(cfg.weight_decay) * params.W(i)
        p = params.data
        lr = t(cfg.lr)
        if cfg.name == "sgd":
            grad *= lr
            p -= grad
        elif cfg.name in ("momentum", "nesterov"):
            mu = t(cfg.momentum)
            state.m *= mu
            state.m -= lr * grad
            if cfg.name == "momentum":
                p += state.m
            else:
                p += mu * state.m - lr * grad
        else:  # adam
            state.t[0] += 1
            b1, b2 = t(cfg.beta1), t(cfg.beta2)
            state.m *= b1
            state.m += (1 - b1) * grad
            state.s *= b2
            state.s += (1 - b2) * (grad * grad)
            step = t(adam_step_size(cfg, int(state.t[0])))
            p -= step * state.m / (np.sqrt(state.s) + t(cfg.eps))

    def train_epoch(
        self,
        params: Params,
        activations: Sequence[str],
        X: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        cfg: OptimizerConfig,
        state: OptimizerState,
        prepared: object = None,
    ) -> EpochResult:
        """One pass over ``X[order]`` in batches of ``batch_size``; returns the mean loss
        and the training accuracy, both measured on each batch before its update.

        Updates ``params`` and ``state`` in place. ``batch_size=1`` is per-sample SGD,
        ``batch_size >= len(order)`` is full-batch gradient descent; a smaller last
        batch is averaged over its own size. The loss of each batch is measured
        before that batch's update.
        """
        grad = params.zeros_like()
        total = 0.0
        correct = 0
        n = order.shape[0]
        # One batch holding every sample of X: the order cannot change the gradient,
        # so skip the gather (a full copy of X) and use the data as it is.
        direct = batch_size >= n and n == X.shape[0]
        for start in range(0, n, batch_size):
            if direct:
                xb, yb = X, y
            else:
                idx = order[start : start + batch_size]
                xb, yb = X[idx], y[idx]
            loss, batch_correct = self._loss_gradient_correct(params, activations, xb, yb, grad)
            total += loss
            correct += batch_correct
            self.apply_update(params, grad, cfg, state)
        return EpochResult(total / n, correct / n)
