"""One wording for a value outside a fixed set: ``the 'NAME' parameter must be one of [...]; got X``
(fastnn.validation.choice_error), wherever the library checks a choice."""

from __future__ import annotations

import re

import pytest

from fastnn.activations import get_activation
from fastnn.backends import get_backend
from fastnn.data.datasets import get_dataset
from fastnn.data.idx import read_idx
from fastnn.errors import InvalidParameterError
from fastnn.metrics import classification_report
from fastnn.params import check_init
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
    ],
    ids=["dtype", "kind", "dataset", "ndim", "activation", "backend", "init"],
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
