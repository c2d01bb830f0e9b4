"""Model files: round trips and atomic saves.

A saved model loads back with the same weights, metadata and training state and keeps
training; the file is a plain npz. A save goes through a ``.part`` file: a failed
save keeps the old file and a failed first save leaves nothing. Refusal of malformed,
corrupt or pickled files is ``test_model_io_malformed.py``.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from model_file_helpers import LAYERS, _part_files
from model_file_helpers import trained as trained  # the fixture
from numpy.testing import assert_array_equal

from fastnn import MLP
from fastnn.errors import DataError
from fastnn.model_files import FORMAT_NAME, FORMAT_VERSION, META_KEY
from fastnn.model_loading import load_model


# ----------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip(dtype, tiny_data, tmp_path):
    X, y = tiny_data
    model = MLP([12, 8, 6, 3], ["selu", "leaky_relu", "softmax"], dtype=dtype, seed=11, init="glorot")
    model.fit(X, y, epochs=3, batch_size=8, lr=0.05)
    path = tmp_path / "model.npz"
    assert model.save(path) == path
    loaded = MLP.load(path)
    assert loaded.layer_sizes == model.layer_sizes
    assert loaded.activations == model.activations
    assert loaded.dtype == model.dtype == np.dtype(dtype)
    assert loaded.seed == 11 and loaded.init == "glorot"
    assert loaded.epochs_trained == 3
    assert loaded.params.data.dtype == np.dtype(dtype)
    assert_array_equal(loaded.params.data, model.params.data)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.evaluate(X, y) == model.evaluate(X, y)


def test_round_trip_with_str_path_and_load_model(trained, tmp_path, tiny_data):
    X, _ = tiny_data
    path = str(tmp_path / "m.npz")
    trained.save(path)
    assert_array_equal(load_model(path).predict_proba(X), trained.predict_proba(X))
    assert _part_files(tmp_path) == []


def test_loaded_model_keeps_training(trained, tmp_path, tiny_data):
    X, y = tiny_data
    trained.save(tmp_path / "m.npz")
    loaded = MLP.load(tmp_path / "m.npz")
    loaded.fit(X, y, epochs=1, batch_size=8)
    assert loaded.epochs_trained == 3 and loaded.history[-1].epoch == 3


def test_file_is_a_plain_npz(trained, tmp_path):
    path = trained.save(tmp_path / "m.npz")
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"W0", "b0", "W1", "b1", META_KEY}
        meta = json.loads(str(npz[META_KEY]))
        assert npz["W0"].shape == (12, 8) and npz["W0"].dtype == np.float32
        assert npz["b1"].shape == (3,) and npz["b1"].dtype == np.float32
        assert_array_equal(npz["W1"], trained.params.W(1))
    assert meta["format"] == FORMAT_NAME == "fastnn-mlp"
    assert meta["format_version"] == FORMAT_VERSION == 1
    assert meta["layer_sizes"] == LAYERS
    assert meta["activations"] == ["tanh", "softmax"]
    assert meta["dtype"] == "float32"
    assert meta["seed"] == 4 and meta["epochs_trained"] == 2


def test_save_overwrites_existing_file(trained, tmp_path, tiny_data):
    X, _ = tiny_data
    path = tmp_path / "m.npz"
    MLP(LAYERS, seed=99).save(path)
    trained.save(path)
    assert_array_equal(MLP.load(path).predict_proba(X), trained.predict_proba(X))
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


# ---------------------------------------------------------------- atomic save
def test_save_into_missing_directory(trained, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "m.npz"
    with pytest.raises(DataError, match=r"cannot write, directory .* does not exist"):
        trained.save(target)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    "error", [OSError("No space left on device"), KeyboardInterrupt()], ids=["disk-full", "interrupted"]
)
def test_failed_save_keeps_old_file(error, trained, tmp_path, tiny_data, monkeypatch):
    X, _ = tiny_data
    path = tmp_path / "m.npz"
    old = MLP(LAYERS, seed=99)
    old.save(path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)  # half the work is done: bytes are in the temp file
        file.write(b"garbage")
        raise error

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(error)):
        trained.save(path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert_array_equal(MLP.load(path).predict_proba(X), old.predict_proba(X))
    assert _part_files(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_failed_first_save_leaves_nothing(trained, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="No space left"):
        trained.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
