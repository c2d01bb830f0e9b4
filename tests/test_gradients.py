"""Backpropagation and optimiser steps of the NumPy reference backend.

The reference backend is the oracle every faster backend is compared with, so it is
itself checked against first principles: central differences over every parameter
(sklearn ``test_gradient``), a hand-worked 2-2-2 example (sklearn ``test_fit``), and
each optimiser's update rule written out by hand. The numba backend's zero-skipping
mini-batch path, whose first-layer gradient is fused with the update and never stored,
is checked the same way: one plain-SGD step divided by lr is the gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from fastnn.backends import numba_data
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.optim import OPTIMIZERS, OptimizerConfig, OptimizerState
from fastnn.params import Params, init_params

LAYERS = (5, 4, 3, 3)
#: Activations whose derivative jumps at z == 0.
KINKED = {"relu", "leaky_relu", "selu"}
#: Central-difference step. Truncation error ~H**2, rounding ~1e-16 / H: both << 1e-6.
H = 1e-6


def _mean_loss(backend: NumpyBackend, params: Params, acts, X, y) -> float:
    scratch = params.zeros_like()
    return backend.loss_and_gradient(params, acts, X, y, scratch) / X.shape[0]


def _central_difference(backend, params: Params, acts, X, y) -> np.ndarray:
    """d(mean loss)/d(theta) for every entry of ``params.data``, by central differences."""
    numeric = np.empty_like(params.data)
    for k in range(params.data.size):
        saved = params.data[k]
        params.data[k] = saved + H
        up = _mean_loss(backend, params, acts, X, y)
        params.data[k] = saved - H
        down = _mean_loss(backend, params, acts, X, y)
        params.data[k] = saved
        numeric[k] = (up - down) / (2 * H)
    return numeric


def _tiny_network(act: str, rng: np.random.Generator, output: str = "softmax"):
    acts = (act, act, output)
    params = init_params(LAYERS, acts, rng, np.dtype(np.float64))
    # Non-zero biases, so that the bias gradients are exercised away from the init.
    for b in params.biases():
        b[...] = rng.uniform(-0.3, 0.3, size=b.shape)
    X = rng.uniform(-1.0, 1.0, size=(7, LAYERS[0]))
    y = np.array([0, 1, 2, 0, 1, 2, 1], dtype=np.int64)
    if output == "identity":  # regression: float targets, one column per output unit
        y = rng.normal(size=(7, LAYERS[-1]))
    return params, acts, X, y


@pytest.mark.parametrize("output", OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_gradient_matches_central_differences(act, output, rng):
    backend = NumpyBackend()
    params, acts, X, y = _tiny_network(act, rng, output)

    # relu, leaky_relu and selu have a kink at z = 0: a finite difference straddling
    # it would be wrong, not the backend. Make sure no hidden unit sits near one.
    outs = [X]
    for i in range(params.n_layers - 1):
        z = outs[-1] @ params.W(i) + params.b(i)
        if act in KINKED:
            assert np.abs(z).min() > 1e-3, "test data too close to a kink; change the seed"
        outs.append(backend.dense_forward(outs[-1], params.W(i), params.b(i), acts[i]))

    grad = np.full_like(params.data, np.nan)  # every entry must be written
    backend.loss_and_gradient(params, acts, X, y, grad)
    assert np.isfinite(grad).all(), "loss_and_gradient left entries of the buffer unwritten"

    numeric = _central_difference(backend, params, acts, X, y)
    scale = max(np.abs(numeric).max(), np.abs(grad).max())
    assert scale > 1e-3, "degenerate check: the gradient is ~0 everywhere"
    max_rel = np.abs(grad - numeric).max() / scale
    norm_rel = np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric)
    assert max_rel < 1e-6, f"{act}, {output}: max |analytic - numeric| / max|g| = {max_rel:.3g}"
    assert norm_rel < 1e-6, (
        f"{act}, {output}: ||analytic - numeric|| / ||analytic + numeric|| = {norm_rel:.3g}"
    )


def test_squared_error_is_summed_and_gradient_is_of_the_mean(rng):
    """Identity output: the batch loss is sum_i 0.5 * ||a_i - y_i||^2 (summed over outputs
    and samples), and the gradient is that of the mean over samples."""
    backend = NumpyBackend()
    params, acts, X, y = _tiny_network("tanh", rng, "identity")
    g1, g2 = params.zeros_like(), params.zeros_like()
    loss1 = backend.loss_and_gradient(params, acts, X, y, g1)
    out = backend.forward(params, acts, X)[-1]
    assert loss1 == pytest.approx(0.5 * ((out - y) ** 2).sum(), rel=1e-12)
    loss2 = backend.loss_and_gradient(params, acts, np.vstack([X, X]), np.vstack([y, y]), g2)
    assert loss2 == pytest.approx(2 * loss1, rel=1e-12)
    assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)
    # The output layer's bias gradient is the mean residual, by hand.
    assert_allclose(Params(params.layer_sizes, g1).b(2), (out - y).mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_squared_error_gradient_matches_reference(dtype, rng):
    """The numba kernels' squared-error loss and gradient equal the reference's."""
    from fastnn.backends.numba_backend import NumbaBackend

    params, acts, X, y = _tiny_network("sigmoid", rng, "identity")
    params = Params(params.layer_sizes, params.data.astype(dtype))
    X, y = X.astype(dtype), y.astype(dtype)
    g_ref, g_nb = params.zeros_like(), params.zeros_like()
    loss_ref = NumpyBackend().loss_and_gradient(params, acts, X, y, g_ref)
    loss_nb = NumbaBackend().loss_and_gradient(params, acts, X, y, g_nb)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss_nb == pytest.approx(loss_ref, rel=tol)
    assert_allclose(g_nb, g_ref, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("layers", [LAYERS, (5, 3)], ids=["deep", "single-layer"])
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_sparse_path_steps_along_the_true_gradient(act, layers, weight_decay, rng, monkeypatch):
    """One SGD step of the zero-skipping path, (before - after) / lr, is the gradient:
    by central differences, and as the reference's loss_and_gradient + apply_update."""
    acts = (act,) * (len(layers) - 2) + ("softmax",)
    params = init_params(layers, acts, rng, np.dtype(np.float64))
    for b in params.biases():
        b[...] = rng.uniform(-0.3, 0.3, size=b.shape)
    X = rng.uniform(-1.0, 1.0, size=(8, layers[0]))
    X[rng.random(X.shape) < 0.6] = 0.0
    X[[0, 4]] = 0.0  # all-zero rows
    X[:, 2] = 0.0  # an input zero in the whole batch
    y = rng.integers(0, layers[-1], size=8)
    n = 7  # one batch of rows 0..6: not all of X, so the step skips zeros (a full batch never does)
    a = X[:n]
    for i in range(params.n_layers - 1):  # no hidden unit at a kink (see above)
        z = a @ params.W(i) + params.b(i)
        if act in KINKED:
            assert np.abs(z).min() > 1e-3, "test data too close to a kink; change the seed"
        a = NumpyBackend().dense_forward(a, params.W(i), params.b(i), acts[i])
    made = []
    original = numba_data.NonzeroRows.__init__

    def counting(self, array):
        made.append(1)
        original(self, array)

    monkeypatch.setattr(numba_data.NonzeroRows, "__init__", counting)
    lr = 1e-3
    cfg = OptimizerConfig("sgd", lr, weight_decay=weight_decay)
    stepped = params.copy()
    NumbaBackend(skip_zeros=True).train_epoch(
        stepped, acts, X, y, np.arange(n), n, cfg, OptimizerState.zeros("sgd", params.data.size, params.dtype)
    )
    assert made == [1], "the zero-skipping path was not taken"
    step = (params.data - stepped.data) / lr

    backend = NumpyBackend()
    numeric = _central_difference(backend, params, acts, X[:n], y[:n])
    numeric += weight_decay * params.data * params.weight_mask()
    scale = np.abs(numeric).max()
    assert scale > 1e-3, "degenerate check: the gradient is ~0 everywhere"
    max_rel = np.abs(step - numeric).max() / scale
    assert max_rel < 1e-6, f"{act} {layers}: max |sparse step / lr - numeric| / max |g| = {max_rel:.3g}"

    reference = params.copy()
    grad = reference.zeros_like()
    backend.loss_and_gradient(reference, acts, X[:n], y[:n], grad)
    backend.apply_update(reference, grad, cfg, OptimizerState.zeros("sgd", params.data.size, params.dtype))
    err = np.abs(stepped.data - reference.data).max() / np.abs(reference.data).max()
    assert err <= 1e-13, f"{act} {layers}: the sparse step differs from the reference's by {err:.2e}"
    if weight_decay == 0:
        assert_array_equal(stepped.W(0)[2], params.W(0)[2], err_msg="an idle input's weights moved")


def test_loss_is_summed_and_gradient_is_of_the_mean(rng):
    backend = NumpyBackend()
    params, acts, X, y = _tiny_network("tanh", rng)
    g1, g2 = params.zeros_like(), params.zeros_like()
    loss1 = backend.loss_and_gradient(params, acts, X, y, g1)
    # Summed cross-entropy, computed independently from the forward pass.
    proba = backend.forward(params, acts, X)[-1]
    assert loss1 == pytest.approx(-np.log(proba[np.arange(len(y)), y]).sum(), rel=1e-12)
    # Doubling the batch doubles the summed loss and leaves the mean gradient alone.
    loss2 = backend.loss_and_gradient(params, acts, np.vstack([X, X]), np.r_[y, y], g2)
    assert loss2 == pytest.approx(2 * loss1, rel=1e-12)
    assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


def test_float32_gradient_close_to_float64(rng):
    backend = NumpyBackend()
    params, acts, X, y = _tiny_network("sigmoid", rng)
    g64 = params.zeros_like()
    backend.loss_and_gradient(params, acts, X, y, g64)
    p32 = Params(params.layer_sizes, params.data.astype(np.float32))
    g32 = p32.zeros_like()
    backend.loss_and_gradient(p32, acts, X.astype(np.float32), y, g32)
    assert g32.dtype == np.float32
    assert_allclose(g32, g64, rtol=1e-4, atol=1e-6)


def test_hand_worked_example():
    """A 2-2-2 relu network on two samples, every number worked out by hand.

    Parameters (W[l] has shape (n_in, n_out)):
        W0 = [[0.1, 0.2], [0.3, -0.4]]   b0 = [0.1, 0.1]
        W1 = [[0.5, -0.5], [1.0, 2.0]]   b1 = [0.0, 0.2]

    Sample 1: x = [1, 2], y = 1
        z1 = x W0 + b0 = [0.1 + 0.6 + 0.1, 0.2 - 0.8 + 0.1] = [0.8, -0.5]
        a1 = relu(z1) = [0.8, 0]
        z2 = a1 W1 + b1 = [0.4, -0.4 + 0.2] = [0.4, -0.2]
        p  = softmax(z2) = [sigmoid(0.6), sigmoid(-0.6)] = [0.6456563062, 0.3543436938]
        loss = -log p[1] = log(1 + e^0.6) = 1.0374879505
        delta2 = p - onehot(1) = [0.6456563062, -0.6456563062]
        dW1 = a1^T delta2 = [[0.5165250450, -0.5165250450], [0, 0]];  db1 = delta2
        delta2 W1^T = [0.5 p0 + 0.5 p0, p0 - 2 p0] = [0.6456563062, -0.6456563062]
        delta1 = that * relu'(a1) = that * [1, 0] = [0.6456563062, 0]
        dW0 = x^T delta1 = [[0.6456563062, 0], [1.2913126125, 0]];  db0 = delta1

    Sample 2: x = [-1, -1], y = 0
        z1 = [-0.1 - 0.3 + 0.1, -0.2 + 0.4 + 0.1] = [-0.3, 0.3];  a1 = [0, 0.3]
        z2 = [0.3 * 1.0, 0.3 * 2.0 + 0.2] = [0.3, 0.8]
        p  = [sigmoid(-0.5), sigmoid(0.5)] = [0.3775406688, 0.6224593312]
        loss = -log p[0] = log(1 + e^0.5) = 0.9740769842
        delta2 = [p0 - 1, p1] = [-0.6224593312, 0.6224593312]   (q := 0.6224593312)
        dW1 = a1^T delta2 = [[0, 0], [-0.3 q, 0.3 q]] = [[0, 0], [-0.1867377994, 0.1867377994]]
        delta2 W1^T = [-0.5 q - 0.5 q, -q + 2 q] = [-q, q];  delta1 = [-q, q] * [0, 1] = [0, q]
        dW0 = x^T delta1 = [[0, -q], [0, -q]];  db0 = [0, q]

    Batch: loss = 1.0374879505 + 0.9740769842 = 2.0115649347 (summed); the gradient
    is the mean of the two samples' gradients.
    """
    params = Params((2, 2, 2), np.zeros(12))
    params.W(0)[...] = [[0.1, 0.2], [0.3, -0.4]]
    params.b(0)[...] = [0.1, 0.1]
    params.W(1)[...] = [[0.5, -0.5], [1.0, 2.0]]
    params.b(1)[...] = [0.0, 0.2]
    X = np.array([[1.0, 2.0], [-1.0, -1.0]])
    y = np.array([1, 0])
    acts = ("relu", "softmax")
    backend = NumpyBackend()

    outs = backend.forward(params, acts, X)
    assert_allclose(outs[1], [[0.8, 0.0], [0.0, 0.3]], rtol=1e-12)
    assert_allclose(outs[2], [[0.6456563062, 0.3543436938], [0.3775406688, 0.6224593312]], rtol=1e-9)

    grad = np.full(12, np.nan)
    loss = backend.loss_and_gradient(params, acts, X, y, grad)
    assert loss == pytest.approx(2.0115649347, rel=1e-10)
    g = Params((2, 2, 2), grad)
    p0, q = 0.6456563062, 0.6224593312
    assert_allclose(g.W(0), [[p0 / 2, -q / 2], [p0, -q / 2]], rtol=1e-9)
    assert_allclose(g.W(0), [[0.3228281531, -0.3112296656], [0.6456563062, -0.3112296656]], rtol=1e-9)
    assert_allclose(g.b(0), [0.3228281531, 0.3112296656], rtol=1e-9)
    assert_allclose(g.W(1), [[0.2582625225, -0.2582625225], [-0.0933688997, 0.0933688997]], rtol=1e-9)
    assert_allclose(g.b(1), [0.0115984875, -0.0115984875], rtol=1e-8)

    # One SGD step with lr = 0.5 moves every parameter by -0.5 * gradient.
    before = params.data.copy()
    backend.apply_update(
        params, grad.copy(), OptimizerConfig("sgd", lr=0.5), OptimizerState.zeros("sgd", 12, np.float64)
    )
    assert_allclose(params.data, before - 0.5 * grad, rtol=1e-15)
    assert params.b(1)[0] == pytest.approx(0.0 - 0.5 * 0.0115984875, rel=1e-8)


# ------------------------------------------------------------------ optimisers
#: layer_sizes (2, 3, 2): W0 is entries 0-5, b0 6-8, W1 9-14, b1 15-16.
OPT_LAYERS = (2, 3, 2)
WEIGHT_MASK = np.r_[np.ones(6), np.zeros(3), np.ones(6), np.zeros(2)]


def _two_steps(name: str, wd: float, rng: np.random.Generator, dtype=np.float64):
    """Run apply_update twice; return (p0, g1, g2, p after 1 step, p after 2, state)."""
    p0 = rng.normal(size=17)
    g1, g2 = rng.normal(size=17), rng.normal(size=17)
    cfg = OptimizerConfig(name, lr=0.1, momentum=0.8, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=wd)
    params = Params(OPT_LAYERS, p0.astype(dtype))
    state = OptimizerState.zeros(name, 17, np.dtype(dtype))
    backend = NumpyBackend()
    backend.apply_update(params, g1.astype(dtype), cfg, state)
    p1 = params.data.copy()
    backend.apply_update(params, g2.astype(dtype), cfg, state)
    return p0, g1, g2, p1, params.data.copy(), state


def test_weight_mask_matches_hand_layout():
    assert_array_equal(Params(OPT_LAYERS, np.zeros(17)).weight_mask(), WEIGHT_MASK)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_sgd_two_steps(wd, rng):
    p0, g1, g2, p1, p2, _ = _two_steps("sgd", wd, rng)
    lr = 0.1
    e1 = p0 - lr * (g1 + wd * WEIGHT_MASK * p0)
    e2 = e1 - lr * (g2 + wd * WEIGHT_MASK * e1)
    assert_allclose(p1, e1, rtol=1e-14, atol=1e-15)
    assert_allclose(p2, e2, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_momentum_two_steps(wd, rng):
    p0, g1, g2, p1, p2, state = _two_steps("momentum", wd, rng)
    lr, mu = 0.1, 0.8
    G1 = g1 + wd * WEIGHT_MASK * p0
    v1 = mu * 0.0 - lr * G1
    e1 = p0 + v1
    G2 = g2 + wd * WEIGHT_MASK * e1
    v2 = mu * v1 - lr * G2
    e2 = e1 + v2
    assert_allclose(p1, e1, rtol=1e-14, atol=1e-15)
    assert_allclose(p2, e2, rtol=1e-14, atol=1e-15)
    assert_allclose(state.m, v2, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_nesterov_two_steps(wd, rng):
    p0, g1, g2, p1, p2, state = _two_steps("nesterov", wd, rng)
    lr, mu = 0.1, 0.8
    G1 = g1 + wd * WEIGHT_MASK * p0
    v1 = -lr * G1
    e1 = p0 + mu * v1 - lr * G1
    G2 = g2 + wd * WEIGHT_MASK * e1
    v2 = mu * v1 - lr * G2
    e2 = e1 + mu * v2 - lr * G2
    assert_allclose(p1, e1, rtol=1e-14, atol=1e-15)
    assert_allclose(p2, e2, rtol=1e-14, atol=1e-15)
    assert_allclose(state.m, v2, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_two_steps(wd, rng):
    p0, g1, g2, p1, p2, state = _two_steps("adam", wd, rng)
    lr, b1, b2, eps = 0.1, 0.9, 0.99, 1e-8
    G1 = g1 + wd * WEIGHT_MASK * p0
    m1 = (1 - b1) * G1
    s1 = (1 - b2) * G1**2
    e1 = p0 - lr * math.sqrt(1 - b2**1) / (1 - b1**1) * m1 / (np.sqrt(s1) + eps)
    G2 = g2 + wd * WEIGHT_MASK * e1
    m2 = b1 * m1 + (1 - b1) * G2
    s2 = b2 * s1 + (1 - b2) * G2**2
    e2 = e1 - lr * math.sqrt(1 - b2**2) / (1 - b1**2) * m2 / (np.sqrt(s2) + eps)
    assert_allclose(p1, e1, rtol=1e-13, atol=1e-15)
    assert_allclose(p2, e2, rtol=1e-13, atol=1e-15)
    assert_allclose(state.m, m2, rtol=1e-13)
    assert_allclose(state.s, s2, rtol=1e-13)
    assert state.t[0] == 2


def test_adam_first_step_is_lr_times_sign(rng):
    # From zero moments, step 1 is lr * g / (|g| + eps / sqrt(1 - b2)): about lr * sign(g),
    # whatever the gradient's scale.
    p0, g1, _, p1, _, _ = _two_steps("adam", 0.0, rng)
    assert_allclose(p1 - p0, -0.1 * g1 / (np.abs(g1) + 1e-8 / math.sqrt(1 - 0.99)), rtol=1e-12)
    assert_allclose(p1 - p0, -0.1 * np.sign(g1), rtol=1e-5)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_weight_decay_skips_biases(name):
    p0 = np.linspace(-1.0, 1.0, 17)
    params = Params(OPT_LAYERS, p0.copy())
    cfg = OptimizerConfig(name, lr=0.1, weight_decay=0.5)
    NumpyBackend().apply_update(
        params, np.zeros(17), cfg, OptimizerState.zeros(name, 17, np.dtype(np.float64))
    )
    biases = WEIGHT_MASK == 0
    assert_array_equal(params.data[biases], p0[biases])
    moved = params.data[~biases] - p0[~biases]
    assert np.all(moved * p0[~biases] <= 0), "weight decay must shrink weights towards 0"
    assert np.any(moved != 0)
    if name == "sgd":
        assert_allclose(params.data[~biases], p0[~biases] * (1 - 0.1 * 0.5), rtol=1e-15)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_update_keeps_float32(name, rng):
    *_, p2, state = _two_steps(name, 0.1, rng, dtype=np.float32)
    assert p2.dtype == np.float32
    assert state.m.dtype == np.float32 and state.s.dtype == np.float32


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_update_close_to_float64(name):
    _, _, _, _, p64, _ = _two_steps(name, 0.1, np.random.default_rng(7))
    _, _, _, _, p32, _ = _two_steps(name, 0.1, np.random.default_rng(7), dtype=np.float32)
    assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)
