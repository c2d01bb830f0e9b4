"""The identity output (squared error): MLP's regression surface and its model files."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastnn import MLP
from fastnn.errors import InvalidParameterError
from fastnn.model_files import read_model_file
from fastnn.model_loading import load_model


def _data(n: int = 80):
    gen = np.random.default_rng(3)
    X = gen.uniform(-1, 1, size=(n, 4))
    Y = np.c_[X[:, 0] - 2 * X[:, 1], np.sin(2 * X[:, 2]) + X[:, 3]]
    return X, Y


def test_regressor_learns_and_predicts_outputs(backend):
    X, Y = _data()
    model = MLP([4, 16, 2], ["tanh", "identity"], backend=backend, dtype="float64", seed=0)
    assert model.is_regressor and model.loss == "squared_error"
    model.fit(X, Y, epochs=60, lr=0.01, batch_size=8, optimizer="adam", validation=(X, Y))
    losses = [r.loss for r in model.history]
    assert losses[-1] < 0.2 * losses[0]
    assert model.history[-1].train_accuracy is None and model.history[-1].val_accuracy is None
    pred = model.predict(X)
    assert pred.shape == Y.shape and pred.dtype == np.float64
    # evaluate's loss is the training loss's definition: mean of 0.5 * ||a - y||^2.
    assert model.evaluate(X, Y) == {"loss": pytest.approx(0.5 * ((pred - Y) ** 2).sum(axis=1).mean())}
    with pytest.raises(InvalidParameterError, match="use predict"):
        model.predict_proba(X)


def test_single_output_takes_1d_targets():
    X, Y = _data()
    model = MLP([4, 8, 1], ["relu", "identity"], backend="numpy", seed=0)
    model.fit(X, Y[:, 0], epochs=2, batch_size=8)
    assert model.predict(X).shape == (len(X), 1)


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        (lambda Y: Y[:, :1], "shape"),
        (lambda Y: np.where(Y > 1, np.nan, Y), "finite"),
        (lambda Y: Y.astype(str), "numeric"),
    ],
)
def test_regressor_rejects_bad_targets(targets, match):
    X, Y = _data()
    model = MLP([4, 8, 2], ["relu", "identity"], backend="numpy", seed=0)
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(X, targets(Y))


def test_output_validation_stays_strict():
    with pytest.raises(InvalidParameterError, match=r"'softmax'.*'identity'"):
        MLP([4, 8, 2], ["relu", "sigmoid"])
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        MLP([4, 8, 1], ["relu", "softmax"])
    with pytest.raises(InvalidParameterError, match="val_accuracy"):
        X, Y = _data()
        MLP([4, 8, 2], ["relu", "identity"], backend="numpy").fit(
            X, Y, validation=(X, Y), early_stopping=2, monitor="val_accuracy"
        )


def test_regression_model_file_round_trip_keeps_format_version_1(tmp_path):
    """The output activation is already in the file's activations list: a regression
    model is written in the same format (version 1), and reads back identical."""
    X, Y = _data()
    model = MLP([4, 8, 2], ["tanh", "identity"], backend="numpy", seed=0).fit(X, Y, epochs=2, batch_size=8)
    path = model.save(tmp_path / "reg.npz")
    meta, _ = read_model_file(path)
    assert meta["format_version"] == 1 and meta["activations"] == ["tanh", "identity"]
    loaded = load_model(path, backend="numpy")
    assert loaded.is_regressor
    assert_array_equal(loaded.predict(X), model.predict(X))
