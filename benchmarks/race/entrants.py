"""Who races: fastnn's two backends and the peers, each behind the same small interface.

Every entrant module defines:

- ``configure_threads(threads)``: the library's own thread knobs, called once in the
  worker before anything is built (the knobs that must be set before import are
  environment variables, set by :func:`benchmarks.race.worker.thread_env`);
- ``build(setup, **options) -> Trainer`` (``setup``: a :class:`Setup`);
- ``versions() -> dict``: the versions that decide its numbers.

A :class:`Trainer`'s ``train_epoch`` is what a user's stopwatch times: one whole epoch,
returning only when the work is done (JAX blocks on its result). Test accuracy and
weights are read outside the timed region. ``shuffle=False`` makes every entrant visit
the samples in order, so their weights after an epoch can be compared (the tests do).

A peer that is not installed is reported by :func:`missing` and skipped, never an error.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from benchmarks.race.recipes import RaceData, Recipe

#: How to install the peers (pyproject's optional extra).
PEERS_INSTALL = "pip install -e '.[peers]'"


class Trainer(Protocol):
    def train_epoch(self) -> None:
        """One epoch over the training set, in the recipe's batches; returns when done."""

    def test_accuracy(self) -> float:
        """Fraction of the test digits classified correctly."""

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W (n_in, n_out), b (n_out,)), ...]`` as NumPy arrays."""


@dataclass(frozen=True, eq=False)
class Setup:
    """What every trainer is built from: the recipe, the data, the shared initial weights
    ``[(W (n_in, n_out), b), ...]``, the seed of its own shuffles and its thread count."""

    recipe: Recipe
    data: RaceData
    init: list[tuple[np.ndarray, np.ndarray]]
    seed: int
    threads: int | None
    shuffle: bool = True


@dataclass(frozen=True)
class Entrant:
    """One competitor: a display label, the module that implements it, what it needs."""

    name: str
    label: str
    module: str
    requires: tuple[str, ...]
    peer: bool
    options: dict[str, Any] = field(default_factory=dict)


ENTRANTS: dict[str, Entrant] = {
    e.name: e
    for e in (
        Entrant(
            "numba",
            "fastnn numba",
            "benchmarks.race.entrant_fastnn",
            ("numba",),
            False,
            {"backend": "numba"},
        ),
        Entrant("numpy", "fastnn numpy", "benchmarks.race.entrant_fastnn", (), False, {"backend": "numpy"}),
        Entrant("jax", "JAX (jit + lax.scan)", "benchmarks.race.entrant_jax", ("jax",), True),
        Entrant("torch", "PyTorch eager", "benchmarks.race.entrant_torch", ("torch",), True),
        Entrant("sklearn", "scikit-learn", "benchmarks.race.entrant_sklearn", ("sklearn",), True),
    )
}

#: The peers a ratio is taken against: fastnn numba vs the faster of these.
RATIO_PEERS: tuple[str, ...] = ("torch", "jax")


def missing(entrant: Entrant) -> str | None:
    """Why ``entrant`` cannot run here (a package it needs is not installed), or None."""
    absent = [m for m in entrant.requires if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    hint = f" ({PEERS_INSTALL})" if entrant.peer else ""
    return f"{', '.join(absent)} not installed{hint}"


def load(entrant: Entrant) -> ModuleType:
    """The entrant's module (imports its library)."""
    return importlib.import_module(entrant.module)


def build(entrant: Entrant, setup: Setup) -> Trainer:
    """A ready-to-train :class:`Trainer` (setup time is not part of any epoch)."""
    trainer: Trainer = load(entrant).build(setup, **entrant.options)
    return trainer
