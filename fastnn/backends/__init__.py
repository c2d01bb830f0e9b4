"""Backends: the small protocol every backend implements, and the registry of them.

A backend is chosen by name (``get_backend("numba")``); its module is imported only
then, so ``import fastnn`` never imports Numba or compiles anything. There is no
silent fallback: an unknown or unavailable backend is an error.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from fastnn.errors import InvalidParameterError
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import Params
from fastnn.validation import choice_error

#: Backend name -> "module:ClassName", imported lazily (tinygrad ``get_class``).
BACKENDS: dict[str, str] = {
    "numpy": "fastnn.backends.numpy_backend:NumpyBackend",
    "numba": "fastnn.backends.numba_backend:NumbaBackend",
}

DEFAULT_BACKEND = "numba"


class EpochResult(NamedTuple):
    """What one ``train_epoch`` measured, from the passes training itself made.

    ``accuracy`` is the fraction of samples whose most probable class was the label
    in the forward pass of their own batch, before that batch's update (as Keras and
    PyTorch Lightning report training accuracy): no second pass over X is made.
    """

    loss: float
    accuracy: float


@runtime_checkable
class Backend(Protocol):
    """What a backend must provide. Every array argument has the parameters' dtype.

    ``train_epoch`` is the hot entry point; the other operations exist so each piece
    can be tested against the reference on its own and reused by tools.
    """

    name: str

    def warmup(
        self, dtype: str | np.dtype = "float32", mode: str = "all", activations: Sequence[str] | None = None
    ) -> float:
        """Prepare for ``dtype`` (compile, load caches); returns the seconds it took.
        ``mode`` (``sample``, ``batch``, ``predict``, ``all``) says which kind of run,
        ``activations`` which network's (None: any)."""

    def prepare(self, X: np.ndarray, batch_size: int | None = None, first_units: int | None = None) -> Any:
        """Work that depends only on the training data and batch size, done once per
        ``fit`` and handed to every ``train_epoch`` for that same X (the numba backend
        lists non-zero pixels, or keeps X transposed for full batches); may be None.
        ``first_units``, the first layer's width when known, lets a backend choose a
        path by the shape of the work. X must not change while the result is in use."""

    def dense_forward(self, a_prev: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str) -> np.ndarray:
        """Fused ``g(a_prev @ W + b)`` for a batch (n, n_in) -> (n, n_out)."""

    def activation_derivative(self, a: np.ndarray, activation: str) -> np.ndarray:
        """``g'`` from the activation output ``a``, same shape as ``a``."""

    def forward(self, params: Params, activations: Sequence[str], X: np.ndarray) -> list[np.ndarray]:
        """Every layer's output, input first: ``[X, a_1, ..., a_L]``."""

    def predict_proba(self, params: Params, activations: Sequence[str], X: np.ndarray) -> np.ndarray:
        """The network's output for ``X``, (n_samples, n_outputs): softmax probabilities,
        or an identity output's values (regression, and ``MLP.logits``, which asks for
        the network with its softmax replaced by an identity output)."""

    def loss_and_gradient(
        self, params: Params, activations: Sequence[str], X: np.ndarray, y: np.ndarray, grad: np.ndarray
    ) -> float:
        """Backward pass: summed loss; gradient of the mean loss written into ``grad``."""

    def apply_update(
        self, params: Params, grad: np.ndarray, cfg: OptimizerConfig, state: OptimizerState
    ) -> None:
        """One optimiser step, in place on ``params.data`` and ``state``."""

    def train_epoch(
        self,
        params: Params,
        activations: Sequence[str],
        X: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        batch_size: int,
        cfg: OptimizerConfig,
        state: OptimizerState,
        prepared: Any = None,
    ) -> EpochResult:
        """One epoch over ``X[order]``; updates ``params``/``state`` in place and returns
        the mean loss and the training accuracy of the epoch's own forward passes.
        ``prepared`` is what ``prepare(X, batch_size)`` returned for this X, or None."""


def backend_names() -> list[str]:
    """Registered backend names, sorted (CLI choices come from here)."""
    return sorted(BACKENDS)


@cache
def _backend_class(name: str) -> type:
    module_name, _, class_name = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # e.g. numba missing from a minimal install
        raise InvalidParameterError(
            f"the {name!r} backend could not be imported ({exc}); "
            f"install its dependencies or choose another of {backend_names()}"
        ) from exc
    return getattr(module, class_name)


def get_backend(name: str | Backend = DEFAULT_BACKEND) -> Backend:
    """Return a backend instance by name (or pass an instance through)."""
    if not isinstance(name, str):
        if isinstance(name, Backend):
            return name
        raise choice_error("backend", backend_names(), name)
    if name not in BACKENDS:
        raise choice_error("backend", backend_names(), name)
    return _backend_class(name)()
