"""What ``MLP.fit`` reports per epoch is what the epoch did (issue 11, part 2).

- ``train_accuracy`` comes from the training passes themselves: each batch's forward
  pass before that batch's update. A replay of those passes with the numpy reference
  gives the same numbers (and differs from evaluating after the epoch, so the check
  can tell the two apart);
- fit makes no second pass over X: no ``predict_proba``/``forward`` on the training
  data, and with a validation set only on the validation rows;
- ``seconds`` summed over the epochs is fit's wall time, less what the callback took;
  the first epoch includes fit's per-call preparation;
- ``train_accuracy=False`` records None.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from fastnn import MLP
from fastnn.backends import backend_names, get_backend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.optim import OptimizerState

LAYERS = [12, 16, 3]
NUMPY = NumpyBackend()


def _spy_train_epoch(monkeypatch, backend: str) -> list:
    """Record (order, batch_size, cfg) of every train_epoch call of that backend."""
    cls = type(get_backend(backend))
    original, calls = cls.train_epoch, []

    def train_epoch(self, params, activations, X, y, order, batch_size, cfg, state, *args, **kwargs):
        calls.append((np.array(order), batch_size, cfg))
        return original(self, params, activations, X, y, order, batch_size, cfg, state, *args, **kwargs)

    monkeypatch.setattr(cls, "train_epoch", train_epoch)
    return calls


def _replay(model: MLP, start, X, y, calls) -> tuple[list[float], list[float]]:
    """The epochs of ``calls`` redone with the numpy reference, one batch at a time:
    per epoch, the accuracy of each batch's forward pass before its update, and the
    accuracy of the weights after the epoch (what a second pass would report)."""
    params = start.copy()
    state = OptimizerState.zeros(calls[0][2].name, params.data.size, params.dtype)
    in_epoch, after = [], []
    for order, batch_size, cfg in calls:
        correct = 0
        for s in range(0, order.shape[0], batch_size):
            idx = order[s : s + batch_size]
            proba = NUMPY.predict_proba(params, model.activations, X[idx])
            correct += int(np.count_nonzero(proba.argmax(axis=1) == y[idx]))
            grad = params.zeros_like()
            NUMPY.loss_and_gradient(params, model.activations, X[idx], y[idx], grad)
            NUMPY.apply_update(params, grad, cfg, state)
        in_epoch.append(correct / order.shape[0])
        proba = NUMPY.predict_proba(params, model.activations, X)
        after.append(float(np.mean(proba.argmax(axis=1) == y)))
    return in_epoch, after


@pytest.mark.parametrize("batch_size", [1, 8, None], ids=["per-sample", "mini-batch", "full-batch"])
@pytest.mark.parametrize("backend", backend_names())
def test_train_accuracy_is_each_batch_before_its_update(backend, batch_size, tiny_data, monkeypatch):
    X, y = tiny_data
    model = MLP(LAYERS, backend=backend, dtype="float64", seed=0)
    start = model.params.copy()
    calls = _spy_train_epoch(monkeypatch, backend)
    model.fit(X, y, epochs=4, lr=0.1, batch_size=batch_size, optimizer="momentum")
    assert len(calls) == 4
    in_epoch, after = _replay(model, start, X, y, calls)
    recorded = [r.train_accuracy for r in model.history]
    assert recorded == in_epoch, f"{backend} batch_size={batch_size}: {recorded} vs replay {in_epoch}"
    assert in_epoch != after, "this run cannot tell in-epoch accuracy from a post-epoch evaluation"


@pytest.mark.parametrize("batch_size", [1, 8, None], ids=["per-sample", "mini-batch", "full-batch"])
@pytest.mark.parametrize("backend", backend_names())
def test_fit_makes_no_second_pass_over_x(backend, batch_size, tiny_data, monkeypatch):
    X, y = tiny_data
    model = MLP(LAYERS, backend=backend, seed=0)
    cls = type(model.backend)
    passes: list[tuple[str, int]] = []
    depth = [0]  # a pass that one inference method makes through another counts once
    for name in ("predict_proba", "forward"):
        original = getattr(cls, name)

        def spy(self, params, activations, A, *args, _original=original, _name=name, **kwargs):
            if depth[0] == 0:
                passes.append((_name, A.shape[0]))
            depth[0] += 1
            try:
                return _original(self, params, activations, A, *args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(cls, name, spy)
    model.fit(X, y, epochs=3, batch_size=batch_size)
    assert passes == [], f"fit ran forward passes over {passes} rows besides training"
    model.fit(X, y, epochs=2, batch_size=batch_size, validation=(X[:7], y[:7]))
    assert {rows for _, rows in passes} == {7}, f"with a validation set, only its 7 rows: {passes}"
    assert len(passes) == 2, f"one pass over the validation rows per epoch: {passes}"
    assert all(r.train_accuracy is not None for r in model.history)


@pytest.mark.parametrize("backend", backend_names())
def test_no_training_accuracy_when_not_asked(backend, tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, backend=backend, seed=0).fit(X, y, epochs=2, batch_size=8, train_accuracy=False)
    assert [r.train_accuracy for r in model.history] == [None, None]
    assert all(np.isfinite(r.loss) for r in model.history)


def test_epoch_seconds_add_up_to_the_wall_time_of_fit(tiny_data):
    """numpy per-sample epochs on 60 samples: the run is all epochs, so their seconds
    must account for most of the wall time and never exceed it."""
    X, y = tiny_data
    model = MLP(LAYERS, backend="numpy", seed=0)
    start = time.perf_counter()
    model.fit(X, y, epochs=10, batch_size=1)
    wall = time.perf_counter() - start
    total = sum(r.seconds for r in model.history)
    assert 0.5 * wall <= total <= wall, f"epochs {total:.4f} s of a {wall:.4f} s fit"


def test_epoch_seconds_exclude_the_callback_and_include_preparation(tiny_data, monkeypatch):
    """Structural, whatever the machine's speed: a 50 ms callback is never counted, and a
    50 ms ``prepare`` lands in the first epoch."""
    X, y = tiny_data
    model = MLP(LAYERS, backend="numpy", seed=0)
    original = type(model.backend).prepare

    def slow_prepare(self, *args, **kwargs):
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model.backend), "prepare", slow_prepare)
    start = time.perf_counter()
    model.fit(X, y, epochs=3, batch_size=8, callback=lambda record: time.sleep(0.05))
    wall = time.perf_counter() - start
    seconds = [r.seconds for r in model.history]
    assert seconds[0] >= 0.05, f"the first epoch's {seconds[0]:.4f} s leaves out prepare's 0.05 s"
    assert sum(seconds) <= wall - 3 * 0.05, f"epochs {seconds} count the callbacks of a {wall:.3f} s fit"
