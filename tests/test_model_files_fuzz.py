"""Model and checkpoint files under random damage: DataError or a clean load, nothing else.

Loading a file from someone else must never raise an unexpected exception, hang, or
allocate what a lying header asks for (issue: "bad input, everywhere").
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastnn import MLP
from fastnn.checkpoint import load_checkpoint, save_checkpoint
from fastnn.errors import DataError


def _valid_bytes(checkpoint: bool) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.random((20, 6))
    y = rng.integers(0, 3, 20)
    model = MLP([6, 4, 3], "tanh", backend="numpy", seed=1).fit(X, y, epochs=1, optimizer="adam")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        if checkpoint:
            save_checkpoint(model, path, {"lr": 0.01})
        else:
            model.save(path)
        return path.read_bytes()


MODEL = _valid_bytes(False)
CHECKPOINT = _valid_bytes(True)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


def _load(raw: bytes, loader) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.npz"
        path.write_bytes(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with contextlib.suppress(DataError):
                loader(path)


EDITS = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), max_size=8)
CUTS = st.one_of(st.none(), st.integers(0, len(MODEL)))
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(edits=EDITS, cut=CUTS)
@example(edits=[(37167, 64)], cut=None)  # a central directory "version needed" of 6.4: NotImplementedError
def test_mutated_model_file_loads_or_raises_data_error(edits, cut):
    _load(_mutate(MODEL, edits, cut), lambda p: MLP.load(p, backend="numpy"))


@FUZZ
@given(edits=EDITS, cut=CUTS)
def test_mutated_checkpoint_loads_or_raises_data_error(edits, cut):
    _load(_mutate(CHECKPOINT, edits, cut), lambda p: load_checkpoint(p, backend="numpy"))


@FUZZ
@given(raw=st.binary(max_size=2048))
def test_random_bytes_raise_data_error(raw):
    _load(raw, lambda p: MLP.load(p, backend="numpy"))
    _load(b"PK\x03\x04" + raw, lambda p: MLP.load(p, backend="numpy"))


def test_valid_files_still_load(tmp_path):
    """The unmutated files load, with no DataError to hide behind (the fuzz tests accept one)."""
    (tmp_path / "m.npz").write_bytes(MODEL)
    (tmp_path / "c.npz").write_bytes(CHECKPOINT)
    model = MLP.load(tmp_path / "m.npz", backend="numpy")
    resumed, config = load_checkpoint(tmp_path / "c.npz", backend="numpy")
    assert model.layer_sizes == resumed.layer_sizes == (6, 4, 3)
    assert model.epochs_trained == resumed.epochs_trained == 1
    np.testing.assert_array_equal(model.params.data, resumed.params.data)
    assert resumed.optimizer_state is not None and resumed.optimizer_state.t[0] == 20
    assert config == {"lr": 0.01}
