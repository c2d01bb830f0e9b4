"""Optimiser settings and state, shared by every backend.

The update rules follow scikit-learn's ``_stochastic_optimizers.py``. With ``g`` the
gradient of the mean mini-batch loss plus ``weight_decay * W`` (L2; biases are not
decayed):

- ``sgd``:       ``p -= lr * g``
- ``momentum``:  ``v = mu v - lr g``; ``p += v``
- ``nesterov``:  ``v = mu v - lr g``; ``p += mu v - lr g``
- ``adam``:      ``m = b1 m + (1-b1) g``; ``s = b2 s + (1-b2) g**2``; ``t += 1``;
  ``p -= lr sqrt(1-b2**t)/(1-b1**t) * m / (sqrt(s) + eps)``

State buffers have the same flat layout as ``Params.data``, so an update is an
elementwise pass over one buffer whatever the network's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastnn.errors import InvalidParameterError
from fastnn.validation import choice_error

#: Optimiser names (the Numba kernels' codes for them are ``fastnn.kernels.optimizers.CODES``).
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "nesterov", "adam")


def _check_float(
    name: str,
    value: float,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = True,
    high_open: bool = True,
) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    ok = math.isfinite(v) and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        if high is None and low == 0 and low_open:
            what = "a positive float"
        elif high is None:
            what = f"a float >= {low}"
        else:
            lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
            what = f"a float in {lo}{low}, {high}{hi}"
        raise InvalidParameterError(f"the '{name}' parameter must be {what}; got {value!r}")
    return v


@dataclass(frozen=True)
class OptimizerConfig:
    """What to do with a gradient: the rule and its hyper-parameters."""

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise choice_error("optimizer", sorted(OPTIMIZERS), self.name)
        _check_float("lr", self.lr, low=0)
        _check_float("momentum", self.momentum, low=0, high=1, low_open=False)
        _check_float("beta1", self.beta1, low=0, high=1, low_open=False)
        _check_float("beta2", self.beta2, low=0, high=1, low_open=False)
        _check_float("eps", self.eps, low=0)
        _check_float("weight_decay", self.weight_decay, low=0, low_open=False)


@dataclass
class OptimizerState:
    """Buffers an optimiser carries between steps; shaped like ``Params.data``.

    ``m`` is the velocity (momentum, nesterov) or Adam's first moment, ``s`` Adam's
    second moment, ``t`` the number of Adam steps taken (a 1-element int64 array so
    compiled kernels can advance it in place).
    """

    name: str
    m: np.ndarray
    s: np.ndarray
    t: np.ndarray

    @classmethod
    def zeros(cls, name: str, size: int, dtype: np.dtype) -> OptimizerState:
        return cls(name, np.zeros(size, dtype), np.zeros(size, dtype), np.zeros(1, np.int64))

    def copy(self) -> OptimizerState:
        return OptimizerState(self.name, self.m.copy(), self.s.copy(), self.t.copy())


def adam_step_size(cfg: OptimizerConfig, t: int) -> float:
    """Adam's bias-corrected step size for step number ``t`` (1-based), in float64."""
    return cfg.lr * math.sqrt(1.0 - cfg.beta2**t) / (1.0 - cfg.beta1**t)
