"""JAX in its fastest idiomatic form: one ``jax.jit`` function per epoch, ``lax.scan`` over
the batches.

Inside the compiled epoch: a fresh ``jax.random.permutation`` of the sample indices, the
full batches as rows of an index matrix scanned with ``lax.scan`` (each step gathers its
rows of X, takes ``jax.grad`` of the mean softmax cross-entropy and applies the update),
then the ragged last batch (``n % batch_size`` samples) as one more step, as fastnn does.
The update is fastnn's (scikit-learn's): ``v = mu v - lr g``; momentum ``p += v``,
Nesterov ``p += mu v - lr g``, plain SGD ``p -= lr g``. X and y are put on the device
once, before the first epoch; an epoch is timed until its result is ready
(``jax.block_until_ready``), since JAX dispatches asynchronously.

Thread knobs for XLA are environment variables read at import (``XLA_FLAGS``), set by
the worker before this module is imported.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.race.entrants import Setup
from benchmarks.race.recipes import Recipe

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}

#: ``[W0, b0, W1, b1, ...]``: a flat list keeps the update a plain comprehension.
Params = list[jax.Array]


def configure_threads(threads: int | None) -> None:
    """XLA's threads are set through ``XLA_FLAGS`` before import (see the worker)."""


def versions() -> dict[str, str]:
    return {"jax": jax.__version__, "jaxlib": importlib.metadata.version("jaxlib")}


def forward(params: Params, x: jax.Array, activation: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """Logits of ``x`` (softmax is in the loss)."""
    n_layers = len(params) // 2
    for layer in range(n_layers):
        x = x @ params[2 * layer] + params[2 * layer + 1]
        if layer < n_layers - 1:
            x = activation(x)
    return x


def make_epoch(recipe: Recipe, n: int, shuffle: bool) -> Callable[..., tuple[Params, Params]]:
    """The jitted ``epoch(params, velocity, X, y, key) -> (params, velocity)``."""
    activation = ACTIVATIONS[recipe.activation]
    bs, lr, mu = recipe.batch_size, recipe.lr, recipe.momentum
    n_full, tail = divmod(n, bs)

    def loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(forward(params, x, activation))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    grad = jax.grad(loss)

    def step(
        carry: tuple[Params, Params], idx: jax.Array, X: jax.Array, Y: jax.Array
    ) -> tuple[Params, Params]:
        params, velocity = carry
        g = grad(params, X[idx], Y[idx])
        if recipe.optimizer == "sgd":
            return [p - lr * gi for p, gi in zip(params, g, strict=True)], velocity
        velocity = [mu * v - lr * gi for v, gi in zip(velocity, g, strict=True)]
        if recipe.optimizer == "nesterov":
            return [p + mu * v - lr * gi for p, v, gi in zip(params, velocity, g, strict=True)], velocity
        return [p + v for p, v in zip(params, velocity, strict=True)], velocity

    @jax.jit
    def epoch(
        params: Params, velocity: Params, X: jax.Array, Y: jax.Array, key: jax.Array
    ) -> tuple[Params, Params]:
        order = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
        carry = (params, velocity)
        if n_full:
            batches = order[: n_full * bs].reshape(n_full, bs)
            carry, _ = lax.scan(lambda c, idx: (step(c, idx, X, Y), None), carry, batches)
        if tail:
            carry = step(carry, order[n_full * bs :], X, Y)
        return carry

    return epoch


class JaxTrainer:
    def __init__(self, setup: Setup) -> None:
        recipe, data, init = setup.recipe, setup.data, setup.init
        self.params: Params = [jnp.asarray(a) for W, b in init for a in (W, b)]
        self.velocity: Params = [jnp.zeros_like(p) for p in self.params]
        self.x, self.y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
        self.x_test, self.y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
        self.key = jax.random.key(setup.seed)
        self.epoch = make_epoch(recipe, data.x_train.shape[0], setup.shuffle)
        activation = ACTIVATIONS[recipe.activation]
        self.accuracy = jax.jit(
            lambda params, x, y: jnp.mean(jnp.argmax(forward(params, x, activation), axis=1) == y)
        )

    def train_epoch(self) -> None:
        self.key, key = jax.random.split(self.key)
        self.params, self.velocity = jax.block_until_ready(
            self.epoch(self.params, self.velocity, self.x, self.y, key)
        )

    def test_accuracy(self) -> float:
        return float(self.accuracy(self.params, self.x_test, self.y_test))

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        arrays = [np.asarray(p) for p in self.params]
        return list(zip(arrays[0::2], arrays[1::2], strict=True))


def build(setup: Setup) -> JaxTrainer:
    return JaxTrainer(setup)
