"""scikit-learn's ``MLPClassifier`` (solver ``sgd``), one ``partial_fit`` call per epoch.

``partial_fit`` makes exactly one pass over the data it is given, shuffled, in batches of
``batch_size`` with the ragged last batch kept; it is ``fit`` with ``warm_start=True,
max_iter=1`` minus the ConvergenceWarning. Hyper-parameters as the recipe: constant
``learning_rate_init``, ``momentum`` and ``nesterovs_momentum``, ``alpha=0`` (the recipes
have no weight decay; scikit-learn's alpha is an L2 term divided by the batch size).

Same initial weights: scikit-learn only creates its weights inside a fit, so ``build``
primes the model with one ``partial_fit`` on the first batch, then overwrites
``coefs_``/``intercepts_`` in place with the shared initial weights and zeroes the
optimiser's velocities (its private ``_optimizer``; the in-place copy keeps the arrays
the optimiser holds). That is setup, outside any timing. ``random_state`` is a
``RandomState`` object, not an int: an int would re-seed, hence repeat, the same shuffle
in every ``partial_fit`` call.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.neural_network import MLPClassifier

from benchmarks.race.entrants import Setup

ACTIVATIONS = {"relu": "relu", "sigmoid": "logistic"}


def configure_threads(threads: int | None) -> None:
    """BLAS threads only, set by the worker with threadpoolctl."""


def versions() -> dict[str, str]:
    return {"scikit-learn": sklearn.__version__}


class SklearnTrainer:
    def __init__(self, setup: Setup) -> None:
        recipe, data, init = setup.recipe, setup.data, setup.init
        self.classes = np.arange(recipe.layers[-1])
        self.clf = MLPClassifier(
            hidden_layer_sizes=recipe.layers[1:-1],
            activation=ACTIVATIONS[recipe.activation],
            solver="sgd",
            alpha=0.0,
            batch_size=recipe.batch_size,
            learning_rate="constant",
            learning_rate_init=recipe.lr,
            momentum=recipe.momentum,
            nesterovs_momentum=recipe.optimizer == "nesterov",
            shuffle=setup.shuffle,
            random_state=np.random.RandomState(setup.seed),
        )
        bs = recipe.batch_size
        self.clf.partial_fit(data.x_train[:bs], data.y_train[:bs], classes=self.classes)
        for coef, intercept, (W, b) in zip(self.clf.coefs_, self.clf.intercepts_, init, strict=True):
            coef[...] = W
            intercept[...] = b
        for v in self.clf._optimizer.velocities:
            v[...] = 0
        self.data = data

    def train_epoch(self) -> None:
        self.clf.partial_fit(self.data.x_train, self.data.y_train)

    def test_accuracy(self) -> float:
        return float(np.mean(self.clf.predict(self.data.x_test) == self.data.y_test))

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(W.copy(), b.copy()) for W, b in zip(self.clf.coefs_, self.clf.intercepts_, strict=True)]


def build(setup: Setup) -> SklearnTrainer:
    return SklearnTrainer(setup)
