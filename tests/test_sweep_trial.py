"""One trial as a worker runs it, called directly: the same numbers as train, failures recorded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fastnn.cli.sweep.spec import SweepSpec, add_grid_flag, build_trials, train_parser
from fastnn.cli.sweep.trial import run_trial
from fastnn.data import load_dataset
from fastnn.train import main as train_main

ARGS = [
    "--data",
    "embedded",
    "--epochs",
    "2",
    "--train-size",
    "500",
    "--layers",
    "784,16,10",
    "--backend",
    "numpy",
]


def payload(data, *flags: str) -> dict:
    spec = SweepSpec()
    for text in flags:
        add_grid_flag(spec, text, train_parser())
    (trial,) = build_trials(spec, [*ARGS, "--batch-size", "32"], data, "d")
    return {
        "key": trial.key,
        "settings": trial.settings,
        "options": trial.options,
        "record_options": trial.record_options(),
    }


def test_a_trial_computes_what_train_computes(tmp_path):
    data = load_dataset("embedded")
    record, model = run_trial(data, payload(data, "lr=0.2"))
    assert record["status"] == "ok" and record["epochs"] == 2 and model is not None
    assert model.backend.name == "numpy"  # the client can take it without Numba
    saved = tmp_path / "train.npz"
    assert train_main([*ARGS, "--batch-size", "32", "--lr", "0.2", "--save", str(saved), "--quiet"]) == 0
    from fastnn.model_loading import load_model

    np.testing.assert_array_equal(load_model(saved, backend="numpy").params.data, model.params.data)


def test_a_trial_that_raises_is_recorded_as_failed_with_its_error():
    data = load_dataset("embedded")
    bad = dataclasses.replace(data, y_train=np.full_like(data.y_train, 12))  # labels beyond the 10 classes
    record, model = run_trial(bad, payload(data, "lr=0.2"))
    assert model is None and record["status"] == "failed"
    assert record["error"].startswith("InvalidParameterError: ") and "y" in record["error"]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_trial_is_recorded_as_diverged():
    data = load_dataset("embedded")
    record, model = run_trial(data, payload(data, "lr=1e20"))
    assert model is None and record["status"] == "diverged" and "diverged" in record["error"]
