"""The public MLP's argument checks: construction and fit refuse bad input up front.

Every bad constructor or ``fit`` argument (layer sizes, activations, dtypes, data,
labels, hyper-parameters) gets an ``InvalidParameterError`` that names it; aliases
and integral float labels are accepted. Training itself is ``test_model.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_model import LAYERS

from fastnn import MLP
from fastnn.errors import InvalidParameterError


# --------------------------------------------------------------- construction
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer_sizes": [12]}, "needs an input and an output size"),
        ({"layer_sizes": []}, "needs an input and an output size"),
        ({"layer_sizes": [12, 0, 3]}, "'layer_sizes' parameter must be a positive int; got 0"),
        ({"layer_sizes": [12, -4, 3]}, "'layer_sizes' parameter must be a positive int; got -4"),
        ({"layer_sizes": [12, 4.0, 3]}, "'layer_sizes' parameter must be a positive int; got 4.0"),
        ({"layer_sizes": [12, True, 3]}, "'layer_sizes' parameter must be a positive int; got True"),
        ({"layer_sizes": [12, "4", 3]}, "'layer_sizes' parameter must be a positive int"),
        ({"layer_sizes": "12,3"}, "'layer_sizes' parameter must be a list of ints"),
        ({"layer_sizes": 12}, "'layer_sizes' parameter must be a list of ints"),
        ({"layer_sizes": [12, 4, 1]}, "at least 2 classes"),
        ({"activations": ["relu", "relu", "softmax"]}, r"needs one name per weight layer \(2 for"),
        ({"activations": ["softmax"]}, r"needs one name per weight layer \(2 for .* got 1"),
        ({"activations": []}, "needs one name per weight layer"),
        (
            {"activations": ["softmax", "softmax"]},
            "activation 0 is 'softmax', which is only valid as the output layer",
        ),
        ({"activations": "softmax"}, "only valid as the output layer"),
        ({"activations": ["relu", "relu"]}, "output activation must be 'softmax'.*got 'relu'"),
        ({"activations": ["relu", "sigmoid"]}, "output activation must be 'softmax'"),
        ({"activations": "swish"}, r"'activation' parameter must be one of \[.*'relu'.*\]; got 'swish'"),
        ({"activations": ["relu", "softmx"]}, "got 'softmx'"),
        (
            {"dtype": "float16"},
            r"'dtype' parameter must be one of \['float32', 'float64'\]; got 'float16'",
        ),
        ({"dtype": "int32"}, "'dtype' parameter"),
        ({"dtype": np.int64}, "'dtype' parameter"),
        ({"dtype": "complex128"}, "'dtype' parameter"),
        ({"seed": -1}, "'seed' parameter must be a non-negative int; got -1"),
        ({"seed": 1.5}, "'seed' parameter must be a non-negative int; got 1.5"),
        ({"seed": "0"}, "'seed' parameter must be a non-negative int; got '0'"),
        ({"seed": True}, "'seed' parameter must be a non-negative int; got True"),
        ({"seed": None}, "'seed' parameter"),
        (
            {"init": "xavier"},
            r"'init' parameter must be one of \['auto', 'fan_out', 'glorot', 'he', 'lecun'\]; got 'xavier'",
        ),
        ({"init": None}, "'init' parameter"),
        ({"threads": 0}, "'threads' parameter must be a positive int or None; got 0"),
        ({"backend": "torch"}, r"'backend' parameter must be one of \[.*'numpy'.*\]; got 'torch'"),
        ({"backend": 3}, "'backend' parameter"),
    ],
)
def test_construction_errors(kwargs, match):
    args = {"layer_sizes": LAYERS, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        MLP(args.pop("layer_sizes"), **args)


@pytest.mark.parametrize("dtype", ["flaot32", "not-a-dtype"])
def test_construction_error_misspelt_dtype(dtype):
    with pytest.raises(InvalidParameterError, match=f"'dtype' parameter must be one of .*; got '{dtype}'"):
        MLP(LAYERS, dtype=dtype)


def test_construction_accepts_aliases_and_one_hidden_name():
    m = MLP([12, 8, 8, 3], "ReLU", dtype="float64", seed=np.int64(3))
    assert m.activations == ("relu", "relu", "softmax")
    assert m.dtype == np.float64 and m.params.dtype == np.float64
    m = MLP((12, 8, 3), ["logistic", "softmax"])
    assert m.activations == ("sigmoid", "softmax")
    assert m.params.dtype == np.float32  # the default
    assert all(b.sum() == 0 for b in m.params.biases())


# ----------------------------------------------------------------------- fit
def _set(a, index, value):
    a = a.copy()
    a[index] = value
    return a


#: (id, make_kwargs(X, y) -> fit overrides, match). X is tiny_data's (60, 12) float64.
BAD_FIT = [
    ("X-1d", lambda X, y: {"X": X[0]}, "'X' parameter must be a 2-D array"),
    (
        "X-3d",
        lambda X, y: {"X": X.reshape(60, 3, 4)},
        r"must be a 2-D array .* got shape \(60, 3, 4\) \(flatten images",
    ),
    (
        "X-11-features",
        lambda X, y: {"X": X[:, :11]},
        r"'X' parameter must have 12 features .* got shape \(60, 11\)",
    ),
    ("X-24-features", lambda X, y: {"X": np.hstack([X, X])}, "must have 12 features"),
    (
        "X-nan",
        lambda X, y: {"X": _set(X, (3, 4), np.nan)},
        "'X' parameter must be finite; got 1 NaN or infinite values",
    ),
    ("X-inf", lambda X, y: {"X": _set(X, (5, 0), -np.inf)}, "'X' parameter must be finite; got 1 NaN"),
    (
        "X-empty",
        lambda X, y: {"X": np.empty((0, 12)), "y": np.empty(0, np.int64)},
        r"'X' parameter is empty; got shape \(0, 12\)",
    ),
    ("X-empty-list", lambda X, y: {"X": []}, "'X' parameter must be a 2-D array"),
    (
        "X-uint8-pixels",
        lambda X, y: {"X": (X * 255).astype(np.uint8)},
        r"holds integers up to 25\d; scale pixels to \[0, 1\]",
    ),
    ("X-int-pixels", lambda X, y: {"X": (X * 255).astype(np.int64)}, "scale pixels to"),
    ("X-str", lambda X, y: {"X": X.astype(str)}, "'X' parameter must be a 2-D numeric array; got dtype <U"),
    ("X-complex", lambda X, y: {"X": X.astype(complex)}, "'X' parameter must be real"),
    (
        "X-object",
        lambda X, y: {"X": X.astype(object)},
        "'X' parameter must be a 2-D numeric array; got dtype object",
    ),
    ("X-ragged", lambda X, y: {"X": [[0.0, 1.0], [0.0]]}, "'X' parameter must be a 2-D numeric array"),
    (
        "y-too-big",
        lambda X, y: {"y": np.where(y == 2, 3, y)},
        r"'y' parameter must hold labels in \[0, 2\] .* from 0 to 3",
    ),
    ("y-negative", lambda X, y: {"y": y - 1}, r"labels in \[0, 2\] .* from -1 to 1"),
    (
        "y-float",
        lambda X, y: {"y": y + 0.5},
        "'y' parameter must hold integer class labels; got dtype float64",
    ),
    ("y-nan", lambda X, y: {"y": np.where(y == 0, np.nan, y)}, "integer class labels; got dtype float64"),
    ("y-bool", lambda X, y: {"y": y.astype(bool)}, "integer class labels; got dtype bool"),
    ("y-str", lambda X, y: {"y": y.astype(str)}, "integer class labels"),
    (
        "y-one-hot",
        lambda X, y: {"y": np.eye(3)[y]},
        r"got a one-hot array of shape \(60, 3\) \(use y.argmax\(axis=1\)\)",
    ),
    ("y-column", lambda X, y: {"y": y.reshape(60, 1)}, r"'y' parameter must be 1-D .* got shape \(60, 1\)"),
    ("y-short", lambda X, y: {"y": y[:-1]}, r"'y' parameter must have one label per sample \(60\); got 59"),
    ("y-long", lambda X, y: {"y": np.r_[y, y]}, "one label per sample"),
    (
        "batch-too-big",
        lambda X, y: {"batch_size": 61},
        r"'batch_size' parameter must be at most the number of samples \(60\); got 61 \(use batch_size=None",
    ),
    (
        "batch-0",
        lambda X, y: {"batch_size": 0},
        "'batch_size' parameter must be a positive int or None; got 0",
    ),
    ("batch-float", lambda X, y: {"batch_size": 2.0}, "'batch_size' parameter must be a positive int"),
    ("batch-bool", lambda X, y: {"batch_size": True}, "'batch_size' parameter must be a positive int"),
    ("epochs-0", lambda X, y: {"epochs": 0}, "'epochs' parameter must be a positive int; got 0"),
    ("epochs-negative", lambda X, y: {"epochs": -2}, "'epochs' parameter must be a positive int"),
    ("epochs-none", lambda X, y: {"epochs": None}, "'epochs' parameter must be a positive int; got None"),
    ("lr-negative", lambda X, y: {"lr": -0.1}, "'lr' parameter must be a positive float; got -0.1"),
    ("lr-0", lambda X, y: {"lr": 0.0}, "'lr' parameter"),
    ("lr-nan", lambda X, y: {"lr": float("nan")}, "'lr' parameter"),
    ("lr-inf", lambda X, y: {"lr": float("inf")}, "'lr' parameter"),
    ("lr-str", lambda X, y: {"lr": "fast"}, "'lr' parameter"),
    (
        "optimizer-unknown",
        lambda X, y: {"optimizer": "rmsprop"},
        r"'optimizer' parameter must be one of \['adam', 'momentum', 'nesterov', 'sgd'\]; got 'rmsprop'",
    ),
    ("optimizer-case", lambda X, y: {"optimizer": "SGD"}, "'optimizer' parameter"),
    (
        "momentum-1",
        lambda X, y: {"momentum": 1.0, "optimizer": "momentum"},
        r"'momentum' parameter must be a float in \[0, 1\)",
    ),
    ("beta2-negative", lambda X, y: {"beta2": -0.1, "optimizer": "adam"}, "'beta2' parameter"),
    ("eps-0", lambda X, y: {"eps": 0.0, "optimizer": "adam"}, "'eps' parameter"),
    ("weight-decay-negative", lambda X, y: {"weight_decay": -1e-4}, "'weight_decay' parameter"),
    ("validation-not-pair", lambda X, y: {"validation": X}, "'validation' parameter must be a pair"),
    (
        "validation-X",
        lambda X, y: {"validation": (X[:, :5], y)},
        "'validation X' parameter must have 12 features",
    ),
    (
        "validation-y",
        lambda X, y: {"validation": (X, y[:10])},
        "'validation y' parameter must have one label per",
    ),
]


def _check_fit_refused(X, y, kwargs, match):
    args = {"X": X, "y": y, **kwargs}
    model = MLP(LAYERS, seed=0)
    before = model.params.data.copy()
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(args.pop("X"), args.pop("y"), **args)
    # A refused call changes nothing.
    assert_array_equal(model.params.data, before)
    assert model.epochs_trained == 0 and model.history == [] and model.optimizer_state is None


@pytest.mark.parametrize(("make_kwargs", "match"), [c[1:] for c in BAD_FIT], ids=[c[0] for c in BAD_FIT])
def test_fit_errors(make_kwargs, match, tiny_data):
    X, y = tiny_data
    _check_fit_refused(X, y, make_kwargs(X, y), match)


def test_fit_error_x_overflows_float32(tiny_data):
    X, y = tiny_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under `pytest -W error`, whatever the command line
        _check_fit_refused(
            X, y, {"X": np.full((60, 12), 1e39)}, "must be finite; got 720 .* after casting to float32"
        )


def test_fit_accepts_integral_float_labels_lists_and_bools(tiny_data):
    X, y = tiny_data
    a = MLP(LAYERS, seed=0).fit(X, y, epochs=1, batch_size=8)
    b = MLP(LAYERS, seed=0).fit(X.tolist(), y.astype(np.float64), epochs=1, batch_size=8)
    assert_array_equal(a.params.data, b.params.data)
    MLP(LAYERS, seed=0).fit(X > 0.5, y, epochs=1)  # bool pixels are 0/1
    MLP(LAYERS, seed=0).fit((X > 0.5).astype(np.uint8), y, epochs=1)  # so are 0/1 uint8 pixels
