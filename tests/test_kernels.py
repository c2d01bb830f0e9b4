"""Each Numba kernel against the NumPy reference, on small odd shapes (stumpy ``naive.py``).

The numba backend's single-step entry points (``dense_forward``,
``activation_derivative``, ``loss_and_gradient``, ``apply_update``,
``predict_proba``) against ``NumpyBackend``, for every activation, optimiser and dtype;
``dense_forward_sample`` called directly, with and without zero skipping; and the
kernels' activation and optimiser codes against the registries they mirror.
The compiled code as such (signatures, ``.py_func``, bounds checks) is
``test_kernels_compiled.py``; ``TinyNet`` and the tolerances are in ``kernel_helpers.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from kernel_helpers import (
    DTYPES,
    NUMBA,
    NUMPY,
    ONE_STEP,
    SHAPES,
    _assert_close,
    _assert_forward_close,
    _dense_inputs,
    _tiny_net,
)
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, LEAKY_SLOPE, SELU_ALPHA, SELU_LAMBDA
from fastnn.backends import numba_backend, numpy_backend
from fastnn.errors import InvalidParameterError
from fastnn.kernels import activations as k_act
from fastnn.kernels import dense as k_dense
from fastnn.kernels import inference as k_inference
from fastnn.kernels import optimizers as k_opt
from fastnn.optim import OPTIMIZERS
from fastnn.params import Params


@pytest.fixture
def strict_fp():
    """Any warning, and any NumPy overflow/invalid/divide, is an error (the reference's too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield


# ------------------------------------------------------------------ codes and constants
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_kernel_activation_code_matches_registry(name):
    assert getattr(k_act, name.upper()) == ACTIVATIONS[name].code, (
        f"fastnn.kernels.activations.{name.upper()} != ACTIVATIONS[{name!r}].code"
    )


def test_every_activation_has_an_inference_pass_and_no_code_is_left_over():
    assert sorted(k_inference.BY_CODE) == sorted(spec.code for spec in ACTIVATIONS.values())
    for name, spec in ACTIVATIONS.items():
        want = "softmax_output_rows" if name == "softmax" else f"{name}_rows"
        assert k_inference.BY_CODE[spec.code].__name__ == want


def test_kernel_codes_are_distinct_and_constants_match_registry():
    codes = [getattr(k_act, name.upper()) for name in ACTIVATIONS]
    assert len(set(codes)) == len(codes)
    assert k_act.LEAKY_SLOPE == LEAKY_SLOPE
    assert k_act.SELU_ALPHA == SELU_ALPHA
    assert k_act.SELU_LAMBDA == SELU_LAMBDA


def test_kernel_optimizer_codes_cover_every_optimizer_once():
    assert set(k_opt.CODES) == set(OPTIMIZERS)
    assert sorted(k_opt.CODES.values()) == list(range(len(OPTIMIZERS)))
    for name, code in k_opt.CODES.items():
        assert getattr(k_opt, name.upper()) == code


def test_hyper_parameters_land_in_their_named_slots():
    hp = k_opt.pack_hyper(lr=0.5, momentum=0.25, beta1=0.125, beta2=0.0625, eps=1e-3, weight_decay=2.0)
    assert hp.dtype == np.float64 and hp.shape == (k_opt.N_HYPER,)
    slots = {k_opt.LR: 0.5, k_opt.MU: 0.25, k_opt.BETA1: 0.125, k_opt.BETA2: 0.0625, k_opt.EPS: 1e-3}
    slots[k_opt.WEIGHT_DECAY] = 2.0
    assert len(slots) == k_opt.N_HYPER
    for slot, value in slots.items():
        assert hp[slot] == value


# ------------------------------------------------------------------------ dense forward
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_matches_reference(act, shape, dtype, rng, strict_fp):
    a, W, b = _dense_inputs(shape, dtype, rng)
    want = NUMPY.dense_forward(a, W, b, act)
    got = NUMBA.dense_forward(a, W, b, act)
    _assert_forward_close(got, want, a, W, b, f"dense_forward {act} {shape} {dtype}")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_propagates_nan_like_reference(act):
    z = np.array([[np.nan], [1.5], [-1.5]])
    with np.errstate(invalid="ignore"):
        want = NUMPY.dense_forward(z, np.ones((1, 1)), np.zeros(1), act)
    got = NUMBA.dense_forward(z, np.ones((1, 1)), np.zeros(1), act)
    assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{act}: NaN handling differs")


def test_dense_forward_rejects_mismatched_arrays():
    W = np.ones((3, 2))
    with pytest.raises(InvalidParameterError, match="dtype"):
        NUMBA.dense_forward(np.ones((2, 3), np.float32), W, np.zeros(2), "relu")
    with pytest.raises(InvalidParameterError, match="shapes do not chain"):
        NUMBA.dense_forward(np.ones((2, 4)), W, np.zeros(2), "relu")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_activation_derivative_matches_reference(act, dtype, rng, strict_fp):
    z = rng.uniform(-4.0, 4.0, size=(9, 7))
    z[0] = 0.0  # the kink: derivative at a == g(0) exactly
    z[1, :3] = [-1e3, 1e3, -30.0]
    a = ACTIVATIONS[act].fn(z.astype(dtype))
    for arr in (a, a[:, ::2], a.T, a[3]):  # C, strided, F-ordered and 1-D inputs
        want = NUMPY.activation_derivative(arr, act)
        got = NUMBA.activation_derivative(arr, act)
        assert got.dtype == dtype and got.shape == arr.shape
        eps = np.finfo(dtype).eps
        assert_allclose(got, want, rtol=2 * eps, atol=2 * eps, err_msg=f"{act} {dtype}")


def test_activation_derivative_of_softmax_raises_like_reference():
    a = np.full((2, 3), 1 / 3)
    for backend in (NUMPY, NUMBA):
        with pytest.raises(InvalidParameterError, match="output layer"):
            backend.activation_derivative(a, "softmax")


@pytest.mark.parametrize("skip_zeros", [True, False], ids=["skip-zeros", "dense"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_forward_sample_matches_reference(act, dtype, skip_zeros, rng, strict_fp):
    a, W, b = _dense_inputs((5, 13, 6), dtype, rng)
    net = _tiny_net(dtype)
    for r, x in enumerate(a):  # row 0 is all zero, the last has |z| up to 1e3
        want = NUMPY.dense_forward(x[None, :], W, b, act)[0]
        got = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, skip_zeros))
        _assert_forward_close(got, want, x, W, b, f"dense_forward_sample {act} row {r}")


@pytest.mark.parametrize("act", ["relu", "softmax"])
def test_dense_forward_sample_skipping_is_exact(act, rng):
    a, W, b = _dense_inputs((6, 13, 6), np.float64, rng)
    net = _tiny_net(np.float64)
    for x in a:
        sparse = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, True))
        dense = k_dense.dense_forward_sample(*net.dense_forward_sample_args(x, W, b, act, False))
        assert_array_equal(sparse, dense)


# ------------------------------------------------------------- backward and optimiser
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_loss_and_gradient_matches_reference(act, dtype, strict_fp):
    for layer_sizes, n in (((6, 5, 4, 3), 7), ((6, 3), 5), ((6, 1, 2), 1)):
        net = _tiny_net(dtype, (act,) * (len(layer_sizes) - 2) + ("softmax",), n=n, layer_sizes=layer_sizes)
        g_np, g_nb = net.params.zeros_like(), net.params.zeros_like()
        loss_np = NUMPY.loss_and_gradient(net.params, net.activations, net.X, net.y, g_np)
        loss_nb = NUMBA.loss_and_gradient(net.params, net.activations, net.X, net.y, g_nb)
        what = f"{act} {layer_sizes} {dtype}"
        assert isinstance(loss_nb, float)
        assert loss_nb == pytest.approx(loss_np, rel=ONE_STEP[net.dtype]), f"loss {what}"
        for i in range(net.params.n_layers):
            grads_np, grads_nb = Params(layer_sizes, g_np), Params(layer_sizes, g_nb)
            _assert_close(grads_nb.W(i), grads_np.W(i), ONE_STEP[net.dtype], f"dW[{i}] {what}")
            _assert_close(grads_nb.b(i), grads_np.b(i), ONE_STEP[net.dtype], f"db[{i}] {what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_apply_update_matches_reference(optimizer, weight_decay, dtype, rng):
    nets = {
        name: _tiny_net(dtype, optimizer=optimizer, weight_decay=weight_decay) for name in ("numpy", "numba")
    }
    backends = {"numpy": NUMPY, "numba": NUMBA}
    for step in range(1, 4):
        grad = rng.normal(0.0, 0.5, size=nets["numpy"].params.data.shape).astype(dtype)
        grad[::5] = 0.0  # zero gradients still decay and move momentum
        for name, net in nets.items():
            # The reference adds weight decay into its grad argument: give each a copy.
            backends[name].apply_update(net.params, grad.copy(), net.cfg, net.state)
        ref, got = nets["numpy"], nets["numba"]
        what = f"{optimizer} wd={weight_decay} {np.dtype(dtype)} after step {step}"
        _assert_close(got.params.data, ref.params.data, ONE_STEP[ref.dtype], f"weights, {what}")
        _assert_close(got.state.m, ref.state.m, ONE_STEP[ref.dtype], f"state m, {what}")
        _assert_close(got.state.s, ref.state.s, ONE_STEP[ref.dtype], f"state s, {what}")
        assert_array_equal(got.state.t, ref.state.t, err_msg=f"state t, {what}")


# -------------------------------------------------------------------------- predict
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n_rows", [1, 3, 8, 11])
def test_predict_proba_in_small_chunks_matches_reference(n_rows, dtype, monkeypatch):
    # Chunks of 4 rows: several full ones, a short last one, or a single short one.
    monkeypatch.setattr(numba_backend, "PREDICT_CHUNK", 4)
    monkeypatch.setattr(numpy_backend, "PREDICT_CHUNK", 4)
    net = _tiny_net(dtype, ("selu", "sigmoid", "softmax"), n=n_rows)
    want = NUMPY.predict_proba(net.params, net.activations, net.X)
    got = NUMBA.predict_proba(net.params, net.activations, net.X)
    _assert_close(got, want, ONE_STEP[net.dtype], f"predict_proba {n_rows} rows")
    assert_allclose(got.sum(axis=1), 1.0, rtol=10 * np.finfo(dtype).eps)


def test_predict_proba_with_non_softmax_output_is_refused():
    # The kernels' output layer is always softmax; a net that says otherwise is refused
    # at the adapter rather than silently computed with softmax.
    net = _tiny_net(np.float64, ("relu", "tanh", "sigmoid"))
    with pytest.raises(InvalidParameterError, match="followed by the output 'softmax'"):
        NUMBA.predict_proba(net.params, net.activations, net.X)


def test_predict_proba_of_no_rows_is_empty():
    net = _tiny_net(np.float64)
    got = NUMBA.predict_proba(net.params, net.activations, net.X[:0])
    assert got.shape == (0, 3)
