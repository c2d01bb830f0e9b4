"""The activation registry: derivatives, closed forms, stability, dtypes and names."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn.activations import (
    ACTIVATIONS,
    ALIASES,
    HIDDEN_ACTIVATIONS,
    OUTPUT_ACTIVATIONS,
    get_activation,
)
from fastnn.errors import InvalidParameterError

HIDDEN = [name for name, spec in ACTIVATIONS.items() if not spec.output_only]
#: Activations whose derivative jumps at z == 0; sample points keep away from it.
KINKED = {"relu", "leaky_relu", "selu"}
#: Step of the central difference: truncation error ~h**2, rounding ~1e-16 / h.
H = 1e-6


def _sample_z(rng: np.random.Generator, shape=(50, 7), low=-5.0, high=5.0) -> np.ndarray:
    """float64 points in [low, high] with |z| >= 1e-3, well clear of the kink at 0."""
    z = rng.uniform(low, high, size=shape)
    z[np.abs(z) < 1e-3] = 0.5
    return z


@pytest.fixture
def no_fp_errors():
    """Turn every NumPy floating-point complaint (and any warning) into an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield


def test_registry_is_consistent():
    assert set(HIDDEN_ACTIVATIONS) == set(HIDDEN)
    assert OUTPUT_ACTIVATIONS == ("softmax", "identity")
    assert ACTIVATIONS["softmax"].output_only
    codes = [spec.code for spec in ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes), "activation codes must be unique"
    for key, spec in ACTIVATIONS.items():
        assert spec.name == key
        assert spec.init in ("he", "glorot", "lecun")


@pytest.mark.parametrize("name", HIDDEN)
def test_grad_matches_central_difference(name, rng):
    spec = ACTIVATIONS[name]
    z = _sample_z(rng)
    numeric = (spec.fn(z + H) - spec.fn(z - H)) / (2 * H)
    analytic = spec.grad(spec.fn(z))  # derivative written in terms of the output a
    err = np.abs(analytic - numeric)
    assert err.max() < 1e-7, f"{name}: max |grad - central difference| = {err.max():.3g}"
    assert err.mean() < 1e-8, f"{name}: mean |grad - central difference| = {err.mean():.3g}"


@pytest.mark.parametrize("name", sorted(KINKED))
def test_grad_on_each_side_of_kink(name):
    spec = ACTIVATIONS[name]
    z = np.array([-1e-3, 1e-3, -3.0, 3.0])
    expected = {
        "relu": [0.0, 1.0, 0.0, 1.0],
        "leaky_relu": [0.01, 1.0, 0.01, 1.0],
        "selu": [
            1.0507009873554805 * 1.6732632423543772 * math.exp(-1e-3),
            1.0507009873554805,
            1.0507009873554805 * 1.6732632423543772 * math.exp(-3.0),
            1.0507009873554805,
        ],
    }[name]
    assert_allclose(spec.grad(spec.fn(z)), expected, rtol=1e-12)


def _closed_form(name: str, z: np.ndarray) -> np.ndarray:
    """Reference values written from the textbook formulas, in float64."""
    lam, alpha = 1.0507009873554804934, 1.6732632423543772848  # Klambauer et al. (2017)
    if name == "identity":
        return z
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "sigmoid":
        return np.array([1.0 / (1.0 + math.exp(-v)) for v in z.ravel()]).reshape(z.shape)
    if name == "tanh":
        return np.array([math.tanh(v) for v in z.ravel()]).reshape(z.shape)
    if name == "selu":
        return np.array([lam * v if v > 0 else lam * alpha * (math.exp(v) - 1) for v in z.ravel()]).reshape(
            z.shape
        )
    if name == "softmax":
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    raise AssertionError(f"no closed form for {name}")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_values_match_closed_form(name, rng):
    z = _sample_z(rng, shape=(20, 5))
    assert_allclose(ACTIVATIONS[name].fn(z), _closed_form(name, z), rtol=1e-13, atol=1e-15)


def test_selu_constants():
    from fastnn import activations

    assert pytest.approx(1.6732632423543772848170429916717, rel=1e-15) == activations.SELU_ALPHA
    assert pytest.approx(1.0507009873554804934193349852946, rel=1e-15) == activations.SELU_LAMBDA
    selu = ACTIVATIONS["selu"].fn
    # selu(1) = lambda; selu(z) -> -lambda*alpha as z -> -inf.
    assert selu(np.array([1.0]))[0] == pytest.approx(1.0507009873554805, rel=1e-15)
    assert selu(np.array([-50.0]))[0] == pytest.approx(-1.0507009873554805 * 1.6732632423543772, rel=1e-15)


def test_softmax_rows_sum_to_one(rng):
    z = rng.normal(0, 3, size=(30, 10))
    a = ACTIVATIONS["softmax"].fn(z)
    assert np.all(a > 0)
    assert_allclose(a.sum(axis=1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_for_large_inputs(dtype, no_fp_errors):
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, 0.0]], dtype=dtype)
    a = ACTIVATIONS["softmax"].fn(z)
    assert a.dtype == dtype
    assert np.isfinite(a).all()
    assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
    assert_allclose(a[0], [1.0, 0.0, 0.0])
    assert_allclose(a[1], [1 / 3] * 3, rtol=1e-6)
    assert_allclose(a[2], [1 / 3] * 3, rtol=1e-6)
    e = math.exp(-1.0)
    assert_allclose(a[3], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_never_warns_or_overflows(dtype, no_fp_errors):
    z = np.array([-1e4, -1000.0, -100.0, -89.0, -30.0, 0.0, 30.0, 89.0, 100.0, 1000.0, 1e4], dtype=dtype)
    a = ACTIVATIONS["sigmoid"].fn(z)
    assert a.dtype == dtype
    assert np.isfinite(a).all()
    assert np.all((a >= 0) & (a <= 1))
    assert a[0] == 0.0 and a[-1] == 1.0
    assert a[5] == 0.5
    assert np.all(np.diff(a) >= 0)
    g = ACTIVATIONS["sigmoid"].grad(a)
    assert np.isfinite(g).all() and np.all(g >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_no_fp_errors_on_extreme_inputs(name, dtype, no_fp_errors):
    z = np.array([[-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4]], dtype=dtype)
    spec = ACTIVATIONS[name]
    a = spec.fn(z)
    assert np.isfinite(a).all()
    if not spec.output_only:
        assert np.isfinite(spec.grad(a)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_dtype_preserved(name, dtype, rng):
    spec = ACTIVATIONS[name]
    z = _sample_z(rng, shape=(4, 6)).astype(dtype)
    a = spec.fn(z)
    assert a.dtype == dtype, f"{name}.fn turned {np.dtype(dtype)} into {a.dtype}"
    assert a.shape == z.shape
    if not spec.output_only:
        g = spec.grad(a)
        assert g.dtype == dtype, f"{name}.grad turned {np.dtype(dtype)} into {g.dtype}"
        assert g.shape == z.shape


def test_fn_does_not_modify_its_input(rng):
    z = _sample_z(rng)
    before = z.copy()
    for spec in ACTIVATIONS.values():
        a = spec.fn(z)
        if not spec.output_only:
            spec.grad(a)
        assert_array_equal(z, before, err_msg=spec.name)
    # identity returns a copy, so writing to the output cannot corrupt the input
    ACTIVATIONS["identity"].fn(z)[...] = 0
    assert_array_equal(z, before)


def test_softmax_has_no_standalone_derivative():
    with pytest.raises(InvalidParameterError, match="only used as the output layer"):
        ACTIVATIONS["softmax"].grad(np.array([[0.5, 0.5]]))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_keys_resolve_to_themselves(name):
    assert get_activation(name) is ACTIVATIONS[name]
    assert get_activation(name.upper()) is ACTIVATIONS[name]


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_aliases_resolve(alias, target):
    assert target in ACTIVATIONS
    assert get_activation(alias) is ACTIVATIONS[target]
    assert get_activation(alias.upper()) is ACTIVATIONS[target]


def test_expected_aliases_present():
    assert get_activation("linear").name == "identity"
    assert get_activation("logistic").name == "sigmoid"
    assert get_activation("LeakyReLU").name == "leaky_relu"


@pytest.mark.parametrize("bad", ["swish", "", "relu6", "soft max", None, 3, ["relu"]])
def test_unknown_name_lists_valid_names(bad):
    with pytest.raises(InvalidParameterError, match="'activation' parameter must be one of") as info:
        get_activation(bad)
    message = str(info.value)
    for name in ACTIVATIONS:
        assert repr(name) in message, f"{name!r} missing from: {message}"
    assert repr(bad) in message
