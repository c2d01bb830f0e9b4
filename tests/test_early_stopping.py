"""One early stopping for ``MLP.fit`` and the command line, whose state checkpoints keep.

- a run with early stopping, checkpointed and resumed (at the best epoch, after it, or
  after it stopped), ends with the same weights, best epoch and history as a run that
  never stopped: through the API here, through ``python -m fastnn.train`` in
  ``tests/test_train_resume.py``;
- ``EarlyStopping.from_state`` treats a state as hostile input: every field is checked
  by type and range, and the best weights must be the ones the state names;
- ``FitConfig`` holds fit's options: ``config=`` trains exactly as the keywords do.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fastnn import MLP, early_stopping
from fastnn.backends import backend_names
from fastnn.early_stopping import EarlyStopping, params_sha256
from fastnn.errors import DataError, InvalidParameterError
from fastnn.fit_config import FitConfig
from fastnn.model_files import save_checkpoint
from fastnn.model_loading import load_checkpoint

LAYERS = [12, 16, 3]
#: Stops after epoch 11 of 30, keeping epoch 8 (numpy, float32, tiny_data's first 40 rows).
RUN = {"lr": 0.5, "batch_size": 8, "lr_schedule": "cosine", "total_epochs": 30}
EPOCHS = 30
TIMES = ("seconds", "samples_per_second")


def _history(model: MLP) -> list[dict]:
    """The history without the wall times, which no two runs share."""
    return [{k: v for k, v in r.as_dict().items() if k not in TIMES} for r in model.history]


def _split(data):
    X, y = data
    return X[:40], y[:40], (X[40:], y[40:])


@pytest.mark.parametrize("when", ["best-is-latest", "best-is-older", "already-stopped"])
@pytest.mark.parametrize("backend", backend_names())
def test_a_checkpointed_and_resumed_run_ends_as_an_uninterrupted_one(tiny_data, tmp_path, backend, when):
    X, y, val = _split(tiny_data)
    straight = MLP(LAYERS, backend=backend, seed=0)
    straight.fit(X, y, epochs=EPOCHS, validation=val, early_stopping=3, **RUN)
    assert straight.best_epoch is not None and straight.best_epoch < straight.epochs_trained < EPOCHS
    stop_at = {
        "best-is-latest": straight.best_epoch,
        "best-is-older": straight.best_epoch + 1,
        "already-stopped": straight.epochs_trained,
    }[when]

    # The first process: checkpoints every epoch from the callback, then dies after stop_at.
    ckpt, best_file = tmp_path / "c.npz", tmp_path / "best.npy"
    first = MLP(LAYERS, backend=backend, seed=0)
    stopper = EarlyStopping(3)

    def checkpoint(record) -> bool:
        save_checkpoint(first, ckpt, {"early_stopping": stopper.state()})
        np.save(best_file, stopper.best_params)
        return record.epoch == stop_at

    first.fit(X, y, epochs=EPOCHS, validation=val, early_stopping=stopper, callback=checkpoint, **RUN)

    # The second process: the checkpoint and the best weights are all it has.
    resumed, config = load_checkpoint(ckpt, backend=backend)
    assert resumed.epochs_trained == stop_at
    continued = EarlyStopping.from_state(config["early_stopping"], np.load(best_file))
    assert continued.stopped == (when == "already-stopped")
    resumed.fit(
        X,
        y,
        epochs=EPOCHS - stop_at,
        validation=val,
        early_stopping=continued,
        callback=lambda r: None,
        **RUN,
    )
    assert np.array_equal(resumed.params.data, straight.params.data)
    assert resumed.best_epoch == straight.best_epoch
    assert resumed.epochs_trained == straight.epochs_trained
    assert _history(resumed) == _history(straight)


def test_the_state_is_json_and_keeps_the_keys_older_checkpoints_have(tiny_data):
    import json

    X, y, val = _split(tiny_data)
    stopper = EarlyStopping(2, "val_loss", 0.01)
    MLP(LAYERS, seed=0).fit(X, y, epochs=3, validation=val, early_stopping=stopper, **RUN)
    state = json.loads(json.dumps(stopper.state()))
    assert {"best", "best_epoch", "waited", "stopped", "best_sha256"} <= set(state)
    assert state["best_sha256"] == params_sha256(stopper.best_params)
    again = EarlyStopping.from_state(state, stopper.best_params)
    assert again.state() == stopper.state() and again.restore_best


def test_early_stop_state_hashes_the_best_weights_once_per_best_epoch(monkeypatch):
    """Checkpoints store the best weights' SHA-256 every epoch; it is computed only when
    a new best epoch is recorded, not on every write."""
    calls = []
    real = early_stopping.params_sha256
    monkeypatch.setattr(early_stopping, "params_sha256", lambda data: calls.append(1) or real(data))
    stop = EarlyStopping(patience=10, monitor="loss", tol=0.0)
    weights = np.arange(6, dtype=np.float32)
    for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7, 0.4, 0.8], start=1):
        stop.update(loss, epoch, weights + epoch)
        state = stop.state()
        assert state["best_sha256"] == real(stop.best_params)
    assert len(calls) == 3  # one per new best epoch (1, 2 and 5), not one per checkpoint


def test_a_state_without_its_rule_is_refused_naming_what_is_missing():
    """Checkpoints written before the state held patience, monitor and tol: the command
    line fills them in from its stored options (tests/test_train_resume.py)."""
    old = {"best": None, "best_epoch": 0, "waited": 0, "stopped": False, "best_sha256": None}
    with pytest.raises(DataError, match=r"c\.npz: invalid early-stopping state: no 'patience'"):
        EarlyStopping.from_state(old, where="c.npz")
    fresh = EarlyStopping.from_state({"patience": 2, "monitor": "loss", "tol": 0.5, **old})
    assert fresh.best_epoch == 0 and math.isnan(fresh.best) and fresh.best_params is None


def _state(**changes):
    weights = np.arange(5, dtype=np.float32)
    state = {
        "patience": 3,
        "monitor": "val_accuracy",
        "tol": 0.0,
        "best": 0.5,
        "best_epoch": 2,
        "waited": 1,
        "stopped": False,
        "best_sha256": params_sha256(weights),
    }
    return {**state, **changes}, weights


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"patience": 0}, "'early_stopping' parameter must be a positive int"),
        ({"patience": True}, "'early_stopping' parameter must be a positive int"),
        ({"monitor": "accuracy"}, "'monitor' parameter must be one of"),
        ({"tol": -1}, "'tol' parameter"),
        ({"tol": "0"}, "'tol' parameter"),
        ({"best": "0.5"}, "the 'best' field is '0.5'; expected a number or null"),
        ({"best": True}, "the 'best' field"),
        ({"best_epoch": -1}, r"the 'best_epoch' field is -1; expected an int in \[0, "),
        ({"best_epoch": 2.0}, "the 'best_epoch' field"),
        ({"best_epoch": 2**60}, "the 'best_epoch' field"),
        ({"best_epoch": 0}, "the 'best_sha256' field .* expected null"),
        ({"waited": 4}, r"the 'waited' field is 4; expected an int in \[0, 3\] \(the patience\)"),
        ({"waited": None}, "the 'waited' field"),
        ({"stopped": 0}, "the 'stopped' field is 0; expected False"),
        ({"stopped": True}, "the 'stopped' field is True; expected False"),
        ({"waited": 3}, "the 'stopped' field is False; expected True"),
        ({"best_sha256": "abc"}, "the 'best_sha256' field is 'abc'; expected 64 hex digits"),
        ({"best_sha256": None}, "the 'best_sha256' field is None"),
    ],
)
def test_a_hostile_state_is_a_data_error_naming_the_field(changes, match):
    state, weights = _state(**changes)
    with pytest.raises(DataError, match=f"^ckpt.npz: invalid early-stopping state: .*{match}"):
        EarlyStopping.from_state(state, weights, where="ckpt.npz")


@pytest.mark.parametrize("state", [None, [], "state", 5])
def test_a_state_that_is_not_a_dict_is_refused(state):
    with pytest.raises(DataError, match=r"ckpt\.npz: invalid early-stopping state"):
        EarlyStopping.from_state(state, where="ckpt.npz")


def test_the_best_weights_must_be_given_and_be_the_ones_the_state_names():
    state, weights = _state()
    with pytest.raises(DataError, match="the weights of the best epoch 2 for early stopping are missing"):
        EarlyStopping.from_state(state)
    with pytest.raises(DataError, match="the weights of the best epoch 2 do not match the checkpoint"):
        EarlyStopping.from_state(state, weights + 1)
    asked = []
    rule = EarlyStopping.from_state(state, lambda epoch: asked.append(epoch) or weights)
    assert asked == [2] and np.array_equal(rule.best_params, weights) and rule.best == 0.5
    rule.best_params[0] = 99  # a copy: the caller's array is not the rule's
    assert weights[0] == 0


def test_a_stopped_state_trains_no_more_and_restores_the_best_weights(tiny_data):
    X, y, val = _split(tiny_data)
    model = MLP(LAYERS, seed=0)
    state, _ = _state(waited=3, stopped=True, best_sha256=params_sha256(model.params.data))
    before = model.params.data.copy()
    model.params.data[...] += 1.0
    model.fit(X, y, epochs=5, validation=val, early_stopping=EarlyStopping.from_state(state, before))
    assert model.epochs_trained == 0 and model.history == []
    assert np.array_equal(model.params.data, before) and model.best_epoch == 2


def test_a_state_of_another_network_is_refused_before_any_epoch(tiny_data):
    X, y, val = _split(tiny_data)
    other = MLP([12, 4, 3], seed=0).params.data
    stopper = EarlyStopping.from_state(_state(best_sha256=params_sha256(other))[0], other)
    model = MLP(LAYERS, seed=0)
    before = model.params.data.copy()
    with pytest.raises(
        InvalidParameterError, match=r"'early_stopping' object holds best weights of shape \(67,\)"
    ):
        model.fit(X, y, validation=val, early_stopping=stopper)
    assert model.epochs_trained == 0 and np.array_equal(model.params.data, before)


def test_restore_best_false_leaves_the_last_epoch_and_restore_puts_the_best_back(tiny_data):
    X, y, val = _split(tiny_data)
    kept = MLP(LAYERS, seed=0).fit(X, y, epochs=EPOCHS, validation=val, early_stopping=3, **RUN)
    stopper = EarlyStopping(3, restore_best=False)
    model = MLP(LAYERS, seed=0).fit(X, y, epochs=EPOCHS, validation=val, early_stopping=stopper, **RUN)
    assert stopper.stopped and model.best_epoch is None
    assert not np.array_equal(model.params.data, kept.params.data)
    assert stopper.restore(model) and model.best_epoch == kept.best_epoch
    assert np.array_equal(model.params.data, kept.params.data)
    assert not EarlyStopping(3).restore(model)  # nothing recorded: nothing changes


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"monitor": "loss"},
            "the 'monitor' and 'tol' parameters .* differ from those of the 'early_stopping'",
        ),
        ({"tol": 0.5}, "the 'monitor' and 'tol' parameters"),
    ],
)
def test_an_early_stopping_object_keeps_its_own_rule(tiny_data, kwargs, match):
    X, y, val = _split(tiny_data)
    with pytest.raises(InvalidParameterError, match=match):
        MLP(LAYERS).fit(X, y, validation=val, early_stopping=EarlyStopping(2), **kwargs)
    with pytest.raises(InvalidParameterError, match="'val_accuracy' but no validation set was given"):
        MLP(LAYERS).fit(X, y, early_stopping=EarlyStopping(2))


# ------------------------------------------------------------------ FitConfig
def test_config_trains_exactly_as_the_keywords_do(tiny_data):
    X, y, val = _split(tiny_data)
    options = {
        "epochs": 4,
        "optimizer": "adam",
        "lr": 0.01,
        "early_stopping": 2,
        "monitor": "val_loss",
        **RUN,
    }
    by_keywords = MLP(LAYERS, seed=1).fit(X, y, validation=val, **options)
    by_config = MLP(LAYERS, seed=1).fit(X, y, validation=val, config=FitConfig(**options))
    assert np.array_equal(by_keywords.params.data, by_config.params.data)
    assert _history(by_keywords) == _history(by_config)


def test_config_and_keywords_together_are_refused(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS)
    with pytest.raises(
        InvalidParameterError, match=r"'config' parameter holds every fit option; .* lr, shuffle"
    ):
        model.fit(X, y, lr=0.5, shuffle=False, config=FitConfig())
    with pytest.raises(InvalidParameterError, match="the 'config' parameter must be a FitConfig or None"):
        model.fit(X, y, config={"lr": 0.5})
    model.fit(X, y, lr=0.01, config=FitConfig(lr=0.5))  # a keyword at its default is no conflict
    assert model.history[0].lr == 0.5


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"epochs": 0}, "'epochs' parameter must be a positive int; got 0"),
        ({"batch_size": 0}, "'batch_size' parameter must be a positive int or None; got 0"),
        ({"lr": -1.0}, "'lr' parameter must be a positive float; got -1.0"),
        ({"optimizer": "rmsprop"}, "'optimizer' parameter must be one of"),
        ({"shuffle": "yes"}, "'shuffle' parameter must be True or False; got 'yes'"),
        ({"train_accuracy": 1}, "'train_accuracy' parameter must be True or False"),
        ({"lr_schedule": "linear"}, "'lr_schedule' parameter must be one of"),
        ({"lr_step": 0}, "'lr_step' parameter must be a positive int"),
        ({"lr_gamma": 1.5}, r"'lr_gamma' parameter must be a float in \(0, 1\]; got 1.5"),
        ({"total_epochs": -3}, "'total_epochs' parameter must be a positive int"),
        ({"early_stopping": 0}, r"'early_stopping' parameter must be a positive int \(patience in epochs\)"),
        ({"early_stopping": 2.5}, "'early_stopping' parameter"),
        ({"monitor": "accuracy"}, r"'monitor' parameter must be one of \[.*\] or None; got 'accuracy'"),
        ({"tol": math.nan}, "'tol' parameter must be a finite number >= 0"),
    ],
)
def test_fit_config_checks_every_option_once_with_the_library_wording(options, match):
    with pytest.raises(InvalidParameterError, match=match):
        FitConfig(**options)
    with pytest.raises(InvalidParameterError, match=match):
        dataclasses.replace(FitConfig(), **options)  # a changed copy is checked again


def test_fit_config_normalises_what_it_checked():
    config = FitConfig(epochs=np.int64(3), batch_size=np.int64(8), shuffle=np.bool_(False), total_epochs=0)
    assert config.epochs == 3 and type(config.epochs) is int and config.batch_size == 8
    assert config.shuffle is False and config.total_epochs is None  # 0 has always meant "not given"
    assert config.optimizer_config.lr == config.lr
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0  # type: ignore[misc]


def test_init_is_checked_once(monkeypatch):
    """``init`` is validated by ``init_params`` alone (it was also checked by ``MLP``)."""
    from fastnn import model as model_module
    from fastnn import params

    calls = []
    real = params.check_init

    def counting(init):
        calls.append(init)
        return real(init)

    monkeypatch.setattr(params, "check_init", counting)
    monkeypatch.setattr(model_module, "check_init", counting, raising=False)
    MLP(LAYERS, init="he")
    assert calls == ["he"]
    with pytest.raises(InvalidParameterError, match=r"'init' parameter must be one of \[.*\]; got 'xavier'"):
        MLP(LAYERS, init="xavier", backend="no-such-backend")  # refused before the backend is looked up
