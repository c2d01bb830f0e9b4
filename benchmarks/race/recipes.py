"""What the race trains: the recipes, the data and the initial weights every entrant shares.

A recipe is one network and one optimiser setting, trained with a constant learning
rate and softmax cross-entropy averaged over each mini-batch. Every entrant follows
fastnn's batching: a fresh shuffle each epoch, batches of ``batch_size`` in that order,
and the ragged last batch (``n % batch_size`` samples) kept as a smaller step, never
dropped. Weight decay is 0 in every recipe (scikit-learn's ``alpha`` is divided by the
batch size, so it would not be the same penalty as fastnn's on a ragged batch).

All entrants start from the same weights: the ones ``fastnn.MLP(..., seed=seed)`` draws
(He normal for ReLU layers, Glorot uniform for sigmoid ones, zero biases), copied into
each library's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import fastnn
from fastnn.data import MnistData, load_dataset, scale_pixels
from fastnn.errors import DataError


@dataclass(frozen=True)
class Recipe:
    """One training setting, the same for every entrant."""

    name: str
    layers: tuple[int, ...]
    activation: str  # every hidden layer; the output is softmax
    batch_size: int
    optimizer: str  # "sgd", "momentum" or "nesterov" (fastnn's names)
    lr: float
    momentum: float = 0.0

    @property
    def activations(self) -> tuple[str, ...]:
        return (self.activation,) * (len(self.layers) - 2) + ("softmax",)

    def describe(self) -> str:
        """``784-256-128-10 relu, batch 64, nesterov 0.9, lr 0.05``."""
        net = "-".join(map(str, self.layers))
        batch = "per-sample" if self.batch_size == 1 else f"batch {self.batch_size}"
        opt = self.optimizer if self.optimizer == "sgd" else f"{self.optimizer} {self.momentum:g}"
        return f"{net} {self.activation}, {batch}, {opt}, lr {self.lr:g}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        # The network and optimiser of issue #11's targets (the `fast` preset's until it
        # became 784-256-10 at batch 100, fastnn/cli/presets.py), constant lr.
        Recipe("fast-b64", (784, 256, 128, 10), "relu", 64, "nesterov", 0.05, 0.9),
        Recipe("fast-b256", (784, 256, 128, 10), "relu", 256, "nesterov", 0.05, 0.9),
        Recipe("small-b256", (784, 128, 64, 10), "relu", 256, "momentum", 0.1, 0.9),
        Recipe("sigmoid-sgd", (784, 128, 64, 10), "sigmoid", 1, "sgd", 0.01),
    )
}


@dataclass(frozen=True, eq=False)
class RaceData:
    """float32 pixels in [0, 1] and int64 labels, C-contiguous, as every entrant gets them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def prepare_data(data: MnistData, n_train: int | None = None, n_test: int | None = None) -> RaceData:
    """The first ``n_train``/``n_test`` digits of each split (all of them for None), scaled."""
    if len(data.x_test) == 0:
        raise DataError(f"{data.source}: has no test split; the race needs test accuracy")
    n_train = len(data.x_train) if n_train is None else min(n_train, len(data.x_train))
    n_test = len(data.x_test) if n_test is None else min(n_test, len(data.x_test))
    return RaceData(
        scale_pixels(data.x_train[:n_train], np.float32),
        np.ascontiguousarray(data.y_train[:n_train]),
        scale_pixels(data.x_test[:n_test], np.float32),
        np.ascontiguousarray(data.y_test[:n_test]),
        data.source,
    )


def load_race_data(source: str | None, n_train: int | None = None, n_test: int | None = None) -> RaceData:
    """Load through fastnn's own loaders (``fastnn.data.load_dataset``; None reads ``$FASTNN_DATA``)."""
    return prepare_data(load_dataset(source), n_train, n_test)


def initial_weights(recipe: Recipe, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W (n_in, n_out), b (n_out,)), ...]`` float32: what ``fastnn.MLP(seed=seed)`` starts from."""
    model = fastnn.MLP(recipe.layers, recipe.activations, backend="numpy", seed=seed)
    return [(W.copy(), b.copy()) for W, b in zip(model.params.weights(), model.params.biases(), strict=True)]
