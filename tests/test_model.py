"""The public MLP: training, determinism, warm start, dtypes, divergence, history.

Every optimiser learns ``tiny_data`` on both backends; a seed fixes weights and shuffle;
a warm start equals one long fit; dtypes are kept; a diverging run restores its
weights; history, callbacks, evaluate and predict. Argument checks are
``test_model_arguments.py``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import MLP
from fastnn.backends import numpy_backend
from fastnn.errors import InvalidParameterError, TrainingDivergedError
from fastnn.optim import OPTIMIZERS

LAYERS = [12, 16, 3]
#: Learning rates at which every optimiser learns tiny_data in a few epochs.
LR = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05, "adam": 0.01}


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("batch_size", [1, 8, None], ids=["bs1", "bs8", "full"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_training_learns(optimizer, batch_size, tiny_data, backend):
    X, y = tiny_data
    model = MLP(LAYERS, "relu", backend=backend, seed=0)
    start = model.evaluate(X, y)
    epochs = 15 if batch_size == 1 else 40
    model.fit(X, y, epochs=epochs, lr=LR[optimizer], batch_size=batch_size, optimizer=optimizer)
    end = model.evaluate(X, y)
    assert end["loss"] < 0.6 * start["loss"], f"loss {start['loss']:.3f} -> {end['loss']:.3f}"
    assert end["accuracy"] >= 0.85, f"accuracy {end['accuracy']:.2f}"
    assert np.isfinite(model.params.data).all()
    assert len(model.history) == epochs
    assert model.history[-1].loss < model.history[0].loss


@pytest.mark.parametrize("act", ["identity", "leaky_relu", "sigmoid", "tanh", "selu"])
def test_training_learns_other_activations(act, tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, act, seed=1)
    start = model.evaluate(X, y)["loss"]
    model.fit(X, y, epochs=40, lr=0.02, batch_size=8, optimizer="adam")
    assert model.evaluate(X, y)["loss"] < 0.7 * start


def test_weight_decay_shrinks_weights(tiny_data):
    X, y = tiny_data
    plain = MLP(LAYERS, seed=0).fit(X, y, epochs=10, lr=0.2, batch_size=8)
    decayed = MLP(LAYERS, seed=0).fit(X, y, epochs=10, lr=0.2, batch_size=8, weight_decay=0.05)

    def norm(m: MLP) -> float:
        return sum(float(np.sum(W.astype(np.float64) ** 2)) for W in m.params.weights())

    assert norm(decayed) < norm(plain)


# -------------------------------------------------------------- determinism
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_seed_gives_identical_weights(optimizer, tiny_data, backend):
    X, y = tiny_data
    a = MLP(LAYERS, backend=backend, seed=7).fit(X, y, epochs=3, batch_size=8, optimizer=optimizer, lr=0.05)
    b = MLP(LAYERS, backend=backend, seed=7).fit(X, y, epochs=3, batch_size=8, optimizer=optimizer, lr=0.05)
    assert_array_equal(a.params.data, b.params.data)
    assert [r.loss for r in a.history] == [r.loss for r in b.history]


def test_different_seed_gives_different_weights(tiny_data):
    X, y = tiny_data
    assert not np.array_equal(MLP(LAYERS, seed=1).params.data, MLP(LAYERS, seed=2).params.data)
    a = MLP(LAYERS, seed=1).fit(X, y, epochs=2, batch_size=8)
    b = MLP(LAYERS, seed=2).fit(X, y, epochs=2, batch_size=8)
    assert not np.array_equal(a.params.data, b.params.data)


def test_seed_drives_the_shuffle(tiny_data):
    # Same initial weights (copied), different shuffle streams -> different results.
    X, y = tiny_data
    a, b = MLP(LAYERS, seed=1), MLP(LAYERS, seed=2)
    b.params.data[...] = a.params.data
    a.fit(X, y, epochs=1, batch_size=8)
    b.fit(X, y, epochs=1, batch_size=8)
    assert not np.array_equal(a.params.data, b.params.data)
    # Without shuffling the order is fixed, so only the initial weights matter.
    c, d = MLP(LAYERS, seed=1), MLP(LAYERS, seed=2)
    d.params.data[...] = c.params.data
    c.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    d.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    assert_array_equal(c.params.data, d.params.data)


@pytest.mark.parametrize(
    ("optimizer", "batch_size"),
    [("sgd", 1), ("sgd", 8), ("momentum", 8), ("nesterov", 1), ("adam", 8), ("adam", None)],
)
def test_warm_start_equals_one_long_fit(optimizer, batch_size, tiny_data, backend):
    """fit(epochs=3) == fit(epochs=1) three times: same shuffle stream, optimiser state kept."""
    X, y = tiny_data
    kw = {"lr": LR[optimizer], "batch_size": batch_size, "optimizer": optimizer}
    once = MLP(LAYERS, backend=backend, seed=3).fit(X, y, epochs=3, **kw)
    thrice = MLP(LAYERS, backend=backend, seed=3)
    for _ in range(3):
        thrice.fit(X, y, epochs=1, **kw)
    assert_array_equal(once.params.data, thrice.params.data)
    assert_array_equal(once.optimizer_state.m, thrice.optimizer_state.m)
    assert_array_equal(once.optimizer_state.s, thrice.optimizer_state.s)
    assert_array_equal(once.optimizer_state.t, thrice.optimizer_state.t)
    assert once.epochs_trained == thrice.epochs_trained == 3
    assert [r.epoch for r in thrice.history] == [1, 2, 3]
    assert [r.loss for r in once.history] == [r.loss for r in thrice.history]


def test_changing_optimizer_restarts_its_state(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, seed=0).fit(X, y, epochs=1, batch_size=8, optimizer="adam", lr=0.01)
    assert model.optimizer_state.name == "adam" and model.optimizer_state.t[0] == 8
    model.fit(X, y, epochs=1, batch_size=8, optimizer="momentum", lr=0.01)
    assert model.optimizer_state.name == "momentum" and model.optimizer_state.t[0] == 0


# -------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, input_dtype, tiny_data, backend):
    X, y = tiny_data
    X = X.astype(input_dtype)
    model = MLP(LAYERS, backend=backend, dtype=np.dtype(dtype).name, seed=0)
    model.fit(X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
    assert model.params.data.dtype == dtype
    assert all(W.dtype == dtype for W in model.params.weights())
    assert model.optimizer_state.m.dtype == dtype
    proba = model.predict_proba(X)
    assert proba.dtype == dtype
    assert proba.shape == (60, 3)


def test_float32_and_float64_start_from_the_same_weights():
    a = MLP(LAYERS, dtype="float32", seed=5)
    b = MLP(LAYERS, dtype="float64", seed=5)
    assert_array_equal(a.params.data, b.params.data.astype(np.float32))


# ---------------------------------------------------------------- divergence
def _diverge(model: MLP, X, y):
    """A good epoch, then a step size at which identity-network weights overflow.

    The epoch that diverges must be rolled back: the weights and optimiser state are
    those after the last completed epoch (snapshotted by the callback), all finite.
    """
    model.fit(X, y, epochs=1, lr=0.05, batch_size=8, optimizer="momentum")
    snapshots = [(model.params.data.copy(), model.optimizer_state.copy())]

    def snapshot(record):
        snapshots.append((model.params.data.copy(), model.optimizer_state.copy()))

    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch \d+: .* lr=10000000000.0") as info:
        model.fit(X, y, epochs=10, lr=1e10, batch_size=8, optimizer="momentum", callback=snapshot)
    good, good_state = snapshots[-1]
    assert np.isfinite(model.params.data).all()
    assert_array_equal(model.params.data, good)
    assert_array_equal(model.optimizer_state.m, good_state.m)
    assert model.epochs_trained == len(snapshots) == len(model.history)
    assert f"diverged in epoch {model.epochs_trained + 1}:" in str(info.value)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_restores_weights(dtype, tiny_data):
    """With NumPy's default warning behaviour, divergence is caught and rolled back."""
    X, y = tiny_data
    _diverge(MLP(LAYERS, "identity", dtype=dtype, seed=0), X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_restores_weights_when_warnings_are_errors(dtype, tiny_data):
    X, y = tiny_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what `pytest -W error` and strict users do
        _diverge(MLP(LAYERS, "identity", dtype=dtype, seed=0), X, y)


# ------------------------------------------------------------ history, eval
def test_history_records(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, seed=0)
    model.fit(X, y, epochs=2, batch_size=8, validation=(X[:20], y[:20]))
    model.fit(X, y, epochs=1, batch_size=8, train_accuracy=False)
    assert [r.epoch for r in model.history] == [1, 2, 3]
    fields = {
        "epoch",
        "loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "samples_per_second",
        "lr",
    }
    for r in model.history:
        assert set(r.as_dict()) == fields
        assert isinstance(r.loss, float) and np.isfinite(r.loss) and r.loss > 0
        assert r.seconds >= 0 and r.samples_per_second > 0
    for r in model.history[:2]:
        assert 0.0 <= r.train_accuracy <= 1.0
        assert 0.0 <= r.val_accuracy <= 1.0
        assert r.val_loss > 0
    assert model.history[2].train_accuracy is None
    assert model.history[2].val_loss is None and model.history[2].val_accuracy is None
    # The validation numbers are what evaluate() reports after that epoch.
    twin = MLP(LAYERS, seed=0).fit(X, y, epochs=2, batch_size=8)
    expected = twin.evaluate(X[:20], y[:20])
    assert model.history[1].val_loss == pytest.approx(expected["loss"], rel=1e-12)
    assert model.history[1].val_accuracy == pytest.approx(expected["accuracy"])
    # The training accuracy is the epoch's own (before each batch's update): the numpy
    # backend's in-epoch count (test_fit_epochs.py replays it batch by batch).
    reference = MLP(LAYERS, backend="numpy", seed=0).fit(X, y, epochs=2, batch_size=8)
    assert [r.train_accuracy for r in model.history[:2]] == [r.train_accuracy for r in reference.history]


def test_history_loss_is_measured_before_each_update(tiny_data):
    # Full batch: one update per epoch, so epoch 1's loss is the initial loss.
    X, y = tiny_data
    model = MLP(LAYERS, dtype="float64", seed=0)
    initial = model.evaluate(X, y)["loss"]
    model.fit(X, y, epochs=1, batch_size=None, lr=0.1)
    assert model.history[0].loss == pytest.approx(initial, rel=1e-12)


def test_callback_can_stop_training(tiny_data):
    X, y = tiny_data
    seen = []

    def callback(record):
        seen.append(record.epoch)
        return record.epoch == 2

    model = MLP(LAYERS, seed=0).fit(X, y, epochs=5, batch_size=8, callback=callback)
    assert seen == [1, 2]
    assert model.epochs_trained == 2 and len(model.history) == 2


def test_evaluate(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, dtype="float64", seed=0).fit(X, y, epochs=3, batch_size=8)
    result = model.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"}
    proba = model.predict_proba(X)
    assert result["loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(60), y])), rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean(model.predict(X) == y))
    assert isinstance(result["loss"], float) and isinstance(result["accuracy"], float)
    with pytest.raises(InvalidParameterError, match="one label per sample"):
        model.evaluate(X, y[:5])


def test_predict_is_argmax_of_predict_proba(tiny_data, backend):
    X, y = tiny_data
    model = MLP(LAYERS, backend=backend, seed=0).fit(X, y, epochs=2, batch_size=8)
    proba = model.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all((proba >= 0) & (proba <= 1))
    pred = model.predict(X)
    assert np.issubdtype(pred.dtype, np.integer) and pred.shape == (60,)
    assert_array_equal(pred, proba.argmax(axis=1))
    # The all-zero row (row 0) goes through the biases only and still gets a distribution.
    assert np.isfinite(proba[0]).all()
    with pytest.raises(InvalidParameterError, match="must have 12 features"):
        model.predict(X[:, :3])


def test_predict_proba_in_chunks_matches_one_pass(tiny_data, monkeypatch):
    X, y = tiny_data
    model = MLP(LAYERS, seed=0).fit(X, y, epochs=1, batch_size=8)
    whole = model.predict_proba(X)
    monkeypatch.setattr(numpy_backend, "PREDICT_CHUNK", 7)  # 60 = 8 chunks of 7 + 4
    assert_allclose(model.predict_proba(X), whole, rtol=1e-6)


def test_threads_limit_does_not_change_results(tiny_data):
    X, y = tiny_data
    a = MLP(LAYERS, seed=0, threads=1).fit(X, y, epochs=1, batch_size=8)
    b = MLP(LAYERS, seed=0).fit(X, y, epochs=1, batch_size=8)
    assert_allclose(a.params.data, b.params.data, rtol=1e-5, atol=1e-6)


def test_copy_trains_independently(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, seed=0).fit(X, y, epochs=1, batch_size=8)
    twin = model.copy()
    twin.fit(X, y, epochs=1, batch_size=8)
    model.fit(X, y, epochs=1, batch_size=8)
    assert_array_equal(model.params.data, twin.params.data)  # the shuffle RNG is copied too
    assert twin.params.data is not model.params.data


def test_import_does_not_import_numba():
    code = "import fastnn, sys; assert 'numba' not in sys.modules, 'import fastnn imported numba'"
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_fan_out_init_draws_normal_with_variance_one_over_n_out():
    from fastnn.params import init_params

    p = init_params(
        (400, 300, 10), ("sigmoid", "softmax"), np.random.default_rng(0), np.dtype("float64"), "fan_out"
    )
    assert abs(p.W(0).std() - np.sqrt(1 / 300)) < 0.02 * np.sqrt(1 / 300)
    assert abs(p.W(1).std() - np.sqrt(1 / 10)) < 0.1 * np.sqrt(1 / 10)
    assert not p.b(0).any()


def test_total_epochs_shorter_than_the_run_is_refused_up_front(tiny_data):
    """A cosine schedule over 3 epochs cannot drive 5: refused before any epoch, naming why."""
    X, y = tiny_data
    model = MLP([X.shape[1], 8, 10], backend="numpy", seed=0)
    before = model.params.data.copy()
    with pytest.raises(InvalidParameterError, match=r"'total_epochs'.*at least.*0 \+ 5 = 5.*got 3"):
        model.fit(X, y, epochs=5, lr_schedule="cosine", total_epochs=3)
    assert model.epochs_trained == 0 and np.array_equal(model.params.data, before)
    model.fit(X, y, epochs=2, lr_schedule="cosine", total_epochs=4)
    with pytest.raises(InvalidParameterError, match=r"already trained plus.*2 \+ 3 = 5.*got 4"):
        model.fit(X, y, epochs=3, lr_schedule="cosine", total_epochs=4)
    assert model.epochs_trained == 2
    model.fit(X, y, epochs=2, lr_schedule="cosine", total_epochs=4)  # exactly enough is fine
    assert model.epochs_trained == 4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_loss_comes_from_the_logits_not_clipped_probabilities(backend, dtype):
    """A confidently wrong model: the mean cross-entropy is logsumexp(z) - z[y], in the
    thousands, where -log(max(p, tiny)) would cap each sample at 87.3 / 708.4. (fit's
    val_loss is the same computation, MLP._loss_and_accuracy.)"""
    rng = np.random.default_rng(0)
    X = rng.random((64, 6)).astype(dtype)
    model = MLP([6, 5, 3], backend=backend, dtype=dtype, seed=1)
    model.params.W(0)[...] *= 300.0
    model.params.W(1)[...] *= 300.0
    z = model.logits(X).astype(np.float64)
    y = z.argmin(axis=1)  # the least likely class: every answer wrong, most by a lot
    expected = float(
        np.mean(
            np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1) - z[np.arange(64), y]
        )
    )
    assert expected > 1000.0  # beyond what clipped probabilities could report
    result = model.evaluate(X, y)
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["accuracy"] == 0.0


def test_logits_match_the_probabilities_they_make(tiny_data, backend):
    X, _ = tiny_data
    model = MLP([X.shape[1], 16, 10], backend=backend, seed=0)
    z = model.logits(X[:50]).astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    assert_allclose(p / p.sum(axis=1, keepdims=True), model.predict_proba(X[:50]), rtol=1e-4, atol=1e-6)
