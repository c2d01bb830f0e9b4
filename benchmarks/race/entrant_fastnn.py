"""fastnn through its public API: ``MLP(...).fit(X, y, epochs=1, ...)``, called once per epoch.

The timed region is the whole call, as a user's stopwatch sees it: argument checks,
the backend's per-fit preparation and the epoch. ``train_accuracy=False`` keeps out
the extra pass over X that only reports training accuracy (no peer makes one).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from typing import Any

import numpy as np

import fastnn
from benchmarks.race.entrants import Setup


def configure_threads(threads: int | None) -> None:
    """Nothing beyond ``MLP(threads=...)``, which sets BLAS and Numba threads around each call."""


def versions() -> dict[str, str]:
    out = {"fastnn": fastnn.__version__, "numpy": np.__version__}
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        out["numba"] = importlib.metadata.version("numba")
    return out


class FastnnTrainer:
    def __init__(self, setup: Setup, backend: str) -> None:
        recipe, data, init = setup.recipe, setup.data, setup.init
        self.model = fastnn.MLP(
            recipe.layers, recipe.activations, backend=backend, seed=setup.seed, threads=setup.threads
        )
        for i, (W, b) in enumerate(init):
            self.model.params.W(i)[...] = W
            self.model.params.b(i)[...] = b
        self.data = data
        self.fit_args: dict[str, Any] = {
            "epochs": 1,
            "lr": recipe.lr,
            "batch_size": recipe.batch_size,
            "optimizer": recipe.optimizer,
            "momentum": recipe.momentum,
            "shuffle": setup.shuffle,
            "train_accuracy": False,
        }

    def train_epoch(self) -> None:
        self.model.fit(self.data.x_train, self.data.y_train, **self.fit_args)

    def test_accuracy(self) -> float:
        return float(np.mean(self.model.predict(self.data.x_test) == self.data.y_test))

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        p = self.model.params
        return [(p.W(i).copy(), p.b(i).copy()) for i in range(p.n_layers)]


def build(setup: Setup, backend: str) -> FastnnTrainer:
    return FastnnTrainer(setup, backend=backend)
