"""One wording for a value outside a fixed set: ``the 'NAME' parameter must be one of [...]; got X``
(fastnn.validation.choice_error), wherever the library checks a choice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fastnn
from fastnn.activations import get_activation
from fastnn.backends import get_backend
from fastnn.data.datasets import get_dataset
from fastnn.data.idx import read_idx
from fastnn.early_stopping import check_monitor
from fastnn.errors import InvalidParameterError
from fastnn.fit_config import FitConfig
from fastnn.metrics import classification_report
from fastnn.optim import OptimizerConfig
from fastnn.params import check_init
from fastnn.schedule import lr_at
from fastnn.validation import check_dtype, choice_error


@pytest.mark.parametrize(
    ("call", "name", "choices", "value"),
    [
        (lambda: check_dtype("float16"), "dtype", "['float32', 'float64']", "'float16'"),
        (lambda: classification_report([[1]]).average("median"), "kind", "['macro', 'weighted']", "'median'"),
        (lambda: get_dataset("cifar"), "dataset", "['fashion-mnist', 'kmnist', 'mnist']", "'cifar'"),
        (lambda: read_idx("unused", ndim=2), "ndim", "[1, 3, None]", "2"),  # main: "an int among"
        (lambda: get_activation("swish"), "activation", "[", "'swish'"),
        (lambda: get_backend("jax"), "backend", "[", "'jax'"),
        (lambda: check_init("zeros"), "init", "[", "'zeros'"),
        (
            lambda: OptimizerConfig("rmsprop"),
            "optimizer",
            "['adam', 'momentum', 'nesterov', 'sgd']",
            "'rmsprop'",
        ),
        (
            lambda: lr_at(0, 1, 0.1, "linear", 10, 0.1),
            "lr_schedule",
            "['constant', 'cosine', 'step']",
            "'linear'",
        ),
        (
            lambda: FitConfig(lr_schedule="linear"),
            "lr_schedule",
            "['constant', 'cosine', 'step']",
            "'linear'",
        ),
        (lambda: check_monitor("accuracy"), "monitor", "['loss', 'val_accuracy', 'val_loss']", "'accuracy'"),
    ],
    ids=[
        "dtype",
        "kind",
        "dataset",
        "ndim",
        "activation",
        "backend",
        "init",
        "optimizer",
        "lr_at",
        "fit_config",
        "monitor",
    ],
)
def test_every_choice_error_has_the_same_shape(call, name, choices, value):
    with pytest.raises(InvalidParameterError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"the '{name}' parameter must be one of {choices}"), message
    assert re.fullmatch(rf"the '{name}' parameter must be one of \[.*\]; got {re.escape(value)}", message), (
        message
    )


def test_choice_error_keeps_the_order_it_is_given():
    error = choice_error("solver", ["adam", "sgd"], "lbfgs")
    assert isinstance(error, InvalidParameterError)
    assert str(error) == "the 'solver' parameter must be one of ['adam', 'sgd']; got 'lbfgs'"


def test_choice_error_says_when_none_is_allowed_too():
    with pytest.raises(InvalidParameterError) as info:
        check_monitor("accuracy", none_allowed=True)
    assert str(info.value) == (
        "the 'monitor' parameter must be one of ['loss', 'val_accuracy', 'val_loss'] or None; got 'accuracy'"
    )


def test_the_choice_wording_is_written_once():
    """Every module of fastnn words a bad choice through choice_error: the phrase is typed in
    validation.py alone (fastnn.sklearn keeps scikit-learn's own wording on purpose; the
    kernels, installed as fastnn.kernels in a wheel, import nothing from fastnn)."""
    package = Path(fastnn.__file__).parent
    library = [
        p for p in package.rglob("*.py") if not {"sklearn", "kernels"} & set(p.relative_to(package).parts)
    ]
    typed = sorted(
        str(p.relative_to(package))
        for p in library
        if "parameter must be one of" in p.read_text(encoding="utf-8")
    )
    assert typed == ["validation.py"], typed
