"""Checks of the estimators' hyper-parameters, and how they map onto fastnn's.

scikit-learn validates an estimator's parameters in ``fit``, never in ``__init__``
(``clone`` and ``set_params`` must be able to store anything), so these run at the
start of every ``fit``/``partial_fit``. Messages follow sklearn's shape: the parameter,
what it must be, the value received. Errors are ``InvalidParameterError``, a ValueError.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from fastnn.activations import HIDDEN_ACTIVATIONS, get_activation
from fastnn.backends import backend_names
from fastnn.errors import InvalidParameterError
from fastnn.validation import check_dtype

SOLVERS: tuple[str, ...] = ("adam", "sgd")
#: sklearn's activation names; fastnn's other hidden activations are accepted too.
SKLEARN_ACTIVATIONS: tuple[str, ...] = ("identity", "logistic", "tanh", "relu")


def _fail(name: str, what: str, value: object) -> None:
    raise InvalidParameterError(f"The '{name}' parameter must be {what}. Got {value!r} instead.")


def _check_real(
    name: str, value: object, low: float, high: float | None, low_open: bool, high_open: bool
) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if low_open else v >= low) and (high is None or (v < high if high_open else v <= high))
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open or high is None else "]")
        _fail(name, f"a float in the range {lo}{low}, {'inf' if high is None else high}{hi}", value)


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        _fail(name, f"an int in the range [{low}, inf)", value)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, (bool, np.bool_)) and not (
        isinstance(value, numbers.Integral) and value in (0, 1)
    ):
        _fail(name, "a bool", value)


def hidden_sizes(value: object) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
    items: list[object] | None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        items = None
    else:
        items = list(value)
    if items is None or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) >= 1 for n in items
    ):
        _fail("hidden_layer_sizes", "an int or a sequence of positive ints, such as (100,)", value)
    return tuple(int(n) for n in items)  # type: ignore[union-attr, arg-type]


def hidden_activation(value: object) -> str:
    """The fastnn registry name for sklearn's (or fastnn's) activation name."""
    what = f"one of {sorted(set(SKLEARN_ACTIVATIONS) | set(HIDDEN_ACTIVATIONS))}"
    if not isinstance(value, str):
        _fail("activation", what, value)
    try:
        name = get_activation(value).name  # type: ignore[arg-type]
    except InvalidParameterError:
        name = None
    if name not in HIDDEN_ACTIVATIONS:
        _fail("activation", what, value)
    return name  # type: ignore[return-value]


def optimizer_name(solver: str, momentum: float, nesterovs_momentum: bool) -> str:
    """fastnn's optimiser for sklearn's solver: ``sgd`` with momentum is fastnn's
    ``nesterov`` (sklearn's default) or ``momentum``; without momentum, plain ``sgd``."""
    if solver == "adam":
        return "adam"
    if momentum == 0:
        return "sgd"
    return "nesterov" if nesterovs_momentum else "momentum"


def check_params(est: Any) -> None:
    """Every hyper-parameter of a fastnn.sklearn estimator, as sklearn checks its own."""
    hidden_sizes(est.hidden_layer_sizes)
    hidden_activation(est.activation)
    if est.solver not in SOLVERS:
        extra = " (fastnn has no 'lbfgs': use 'adam' or 'sgd')" if est.solver == "lbfgs" else ""
        _fail("solver", f"one of {list(SOLVERS)}{extra}", est.solver)
    _check_real("alpha", est.alpha, 0.0, None, False, True)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        if isinstance(est.batch_size, str):
            _fail("batch_size", "'auto' or an int in the range [1, inf)", est.batch_size)
        _check_int("batch_size", est.batch_size, 1)
    _check_real("learning_rate_init", est.learning_rate_init, 0.0, None, True, True)
    _check_int("max_iter", est.max_iter, 1)
    _check_bool("shuffle", est.shuffle)
    _check_real("tol", est.tol, 0.0, None, False, True)
    _check_bool("verbose", est.verbose)
    _check_bool("warm_start", est.warm_start)
    _check_real("momentum", est.momentum, 0.0, 1.0, False, False)
    _check_bool("nesterovs_momentum", est.nesterovs_momentum)
    _check_bool("early_stopping", est.early_stopping)
    _check_real("validation_fraction", est.validation_fraction, 0.0, 1.0, True, True)
    _check_real("beta_1", est.beta_1, 0.0, 1.0, False, True)
    _check_real("beta_2", est.beta_2, 0.0, 1.0, False, True)
    _check_real("epsilon", est.epsilon, 0.0, None, True, True)
    _check_int("n_iter_no_change", est.n_iter_no_change, 1)
    if not isinstance(est.backend, str) or est.backend not in backend_names():
        _fail("backend", f"one of {backend_names()}", est.backend)
    check_dtype(est.dtype)
