"""The numba backend's adapter refuses bad input with a clear error, before any kernel runs.

Valid float64 arguments for ``NumbaBackend.train_epoch`` are spoiled one at a time
(labels, X, optimiser state, order, activations, dtype, batch size, regression
targets): each gets an ``InvalidParameterError`` naming what is wrong, and the weights
stay untouched. The unspoiled case trains alike on both backends, so the refusals are
of the spoiled argument and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from parity_helpers import LAYERS, TOL, _rel_err, regression_targets

from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.errors import InvalidParameterError
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import Params, init_params


# ------------------------------------------------------------------ bad input
def _bad_input_case():
    """Valid float64 arguments for NumbaBackend.train_epoch, to be spoiled one at a time."""
    gen = np.random.default_rng(0)
    X = gen.random((9, LAYERS[0]))
    y = gen.integers(0, LAYERS[-1], 9)
    params = init_params(LAYERS, ("relu", "relu", "softmax"), gen, np.dtype(np.float64))
    return dict(
        params=params,
        activations=("relu", "relu", "softmax"),
        X=X,
        y=y,
        order=np.arange(9),
        batch_size=1,
        cfg=OptimizerConfig("adam", 0.01),
        state=OptimizerState.zeros("adam", params.data.size, params.dtype),
    )


def _float16_params(kw):
    data = kw["params"].data.astype(np.float16)
    return dict(
        params=Params(LAYERS, data),
        X=kw["X"].astype(np.float16),
        state=OptimizerState.zeros("adam", data.size, data.dtype),
    )


#: spoil(kwargs) -> overrides, and the message the adapter's check must give.
BAD_INPUTS = [
    pytest.param(
        lambda kw: dict(y=np.where(kw["y"] == 0, LAYERS[-1], kw["y"])), "labels in", id="label-too-large"
    ),
    pytest.param(lambda kw: dict(y=kw["y"] - 1), "labels in", id="label-negative"),
    pytest.param(lambda kw: dict(y=kw["y"][:-1]), "one label per sample", id="labels-wrong-length"),
    pytest.param(lambda kw: dict(y=kw["y"][:, None]), "shape", id="labels-2d"),
    pytest.param(lambda kw: dict(X=kw["X"].astype(np.float32)), "dtype float64", id="X-float32"),
    pytest.param(lambda kw: dict(X=(kw["X"] > 0.5).astype(np.int64)), "dtype float64", id="X-int"),
    pytest.param(lambda kw: dict(X=kw["X"][:, :-1]), "columns", id="X-wrong-width"),
    pytest.param(lambda kw: dict(X=kw["X"][0]), "2-D", id="X-1d"),
    pytest.param(lambda kw: dict(X=kw["X"].tolist()), "2-D", id="X-list"),
    pytest.param(
        lambda kw: dict(state=OptimizerState.zeros("adam", kw["params"].data.size, np.dtype(np.float32))),
        "state",
        id="state-float32",
    ),
    pytest.param(
        lambda kw: dict(state=OptimizerState.zeros("adam", 5, np.dtype(np.float64))),
        "state",
        id="state-short",
    ),
    pytest.param(lambda kw: dict(order=kw["order"] + 1), "order", id="order-out-of-range"),
    pytest.param(lambda kw: dict(order=kw["order"] - 1), "order", id="order-negative"),
    pytest.param(
        lambda kw: dict(activations=("relu", "softmax")), "activations", id="wrong-number-of-activations"
    ),
    pytest.param(lambda kw: dict(y=kw["y"] + 0.5), "y", id="labels-float-fractional"),
    pytest.param(lambda kw: dict(order=kw["order"] + 0.5), "order", id="order-float"),
    pytest.param(_float16_params, "dtype", id="params-float16"),
    pytest.param(lambda kw: dict(activations=("softmax", "relu", "softmax")), "output", id="softmax-hidden"),
    pytest.param(lambda kw: dict(batch_size=0), "batch_size", id="batch-size-zero"),
    pytest.param(lambda kw: dict(batch_size=2.5), "batch_size", id="batch-size-float"),
]


@pytest.mark.parametrize(("spoil", "match"), BAD_INPUTS)
def test_numba_train_epoch_rejects_bad_input(spoil, match):
    kw = _bad_input_case()
    kw.update(spoil(kw))
    before = kw["params"].data.copy()
    with pytest.raises(InvalidParameterError, match=match):
        NumbaBackend().train_epoch(
            kw["params"],
            kw["activations"],
            kw["X"],
            kw["y"],
            kw["order"],
            kw["batch_size"],
            kw["cfg"],
            kw["state"],
        )
    assert_array_equal(kw["params"].data, before, err_msg="a rejected call changed the weights")


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_numba_backend_rejects_a_skip_zeros_that_is_not_none_or_bool(value):
    with pytest.raises(InvalidParameterError, match="'skip_zeros' parameter must be None, True or False"):
        NumbaBackend(skip_zeros=value)


@pytest.mark.parametrize("value", [None, "yes", 1])
def test_numba_backend_rejects_a_parallel_first_layer_that_is_not_bool(value):
    with pytest.raises(InvalidParameterError, match="'parallel_first_layer' parameter must be True or False"):
        NumbaBackend(parallel_first_layer=value)


def test_numba_loss_and_gradient_rejects_labels_out_of_range():
    kw = _bad_input_case()
    y = kw["y"].copy()
    y[3] = LAYERS[-1]
    with pytest.raises(InvalidParameterError, match="labels in"):
        NumbaBackend().loss_and_gradient(
            kw["params"], kw["activations"], kw["X"], y, kw["params"].zeros_like()
        )


def test_reference_also_trains_on_the_bad_input_base_case():
    """The base case of the bad-input tests is valid: both backends train on it alike."""
    results = []
    for backend in (NumpyBackend(), NumbaBackend()):
        kw = _bad_input_case()
        result = backend.train_epoch(
            kw["params"],
            kw["activations"],
            kw["X"],
            kw["y"],
            kw["order"],
            kw["batch_size"],
            kw["cfg"],
            kw["state"],
        )
        results.append((result, kw["params"].data))
    assert results[0][0].loss == pytest.approx(results[1][0].loss, rel=1e-12)
    assert results[0][0].accuracy == results[1][0].accuracy
    assert _rel_err(results[1][1], results[0][1]) <= TOL[np.dtype(np.float64)]


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda Y: Y[:, :-1], id="too-few-columns"),
        pytest.param(lambda Y: Y[:-1], id="too-few-rows"),
        pytest.param(lambda Y: Y.astype(np.float32), id="wrong-dtype"),
        pytest.param(lambda Y: np.zeros(len(Y), dtype=np.int64), id="labels-for-a-regressor"),
    ],
)
def test_numba_train_epoch_rejects_bad_regression_targets(spoil, tiny_data):
    """An identity output takes (n, n_outputs) float targets of the parameters' dtype,
    checked before any kernel runs (Numba does not bounds-check)."""
    X, _ = tiny_data
    acts = ("relu", "relu", "identity")
    params = init_params(LAYERS, acts, np.random.default_rng(0), np.dtype(np.float64))
    before = params.data.copy()
    state = OptimizerState.zeros("sgd", params.data.size, params.dtype)
    with pytest.raises(InvalidParameterError, match="identity"):
        NumbaBackend().train_epoch(
            params, acts, X, spoil(regression_targets(X)), np.arange(len(X)), 8, OptimizerConfig(), state
        )
    assert_array_equal(params.data, before)
