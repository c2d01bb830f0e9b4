"""Model and checkpoint files under random damage: DataError or a clean load, nothing else.

Loading a file from someone else must never raise an unexpected exception, hang, or
allocate what a lying header asks for (issue: "bad input, everywhere").
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastnn import MLP
from fastnn.errors import DataError
from fastnn.model_files import save_checkpoint
from fastnn.model_loading import load_checkpoint


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


# ----------------------------------------------------------- metadata by type and range (issue 15)
#: Any JSON value, with the numbers that broke loaders before: negative, beyond 2**64,
#: bools where ints go, NaN and infinities, text, nesting.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([-1, -2, 0, 2**64, 2**128, 2**200, 10**15])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["abc", "float32", "PCG64", "checkpoint", "adam", "softmax"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
#: Where a crafted value goes: every field fastnn reads from a checkpoint's metadata.
META_PATHS = [
    ("layer_sizes",),
    ("layer_sizes", 1),
    ("activations",),
    ("activations", 0),
    ("dtype",),
    ("seed",),
    ("init",),
    ("epochs_trained",),
    ("format_version",),
    ("kind",),
    ("optimizer",),
    ("rng_state",),
    ("rng_state", "bit_generator"),
    ("rng_state", "state"),
    ("rng_state", "state", "state"),
    ("rng_state", "state", "inc"),
    ("rng_state", "has_uint32"),
    ("rng_state", "uinteger"),
    ("history",),
    ("history", 0),
    ("history", 0, "epoch"),
    ("history", 0, "loss"),
    ("history", 0, "val_accuracy"),
    ("history", 0, "lr"),
    ("train_config",),
]


def _set(meta: dict, path: tuple, value: object) -> None:
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _checkpoint_parts() -> tuple[dict, dict[str, np.ndarray]]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.npz"
        path.write_bytes(CHECKPOINT)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return json.loads(str(arrays.pop("fastnn_meta"))), arrays


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(META_PATHS), JSON_VALUES), min_size=1, max_size=3))
def test_crafted_metadata_values_load_or_raise_data_error(edits):
    """Any value in any field: a clean load or a DataError, never another exception."""
    meta, arrays = _checkpoint_parts()
    for path, value in edits:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            _set(meta, path, value)
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "c.npz"
        np.savez(target, **arrays, fastnn_meta=np.array(json.dumps(meta)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with contextlib.suppress(DataError):
                model, _ = load_checkpoint(target, backend="numpy")
                # What loaded must be usable: the RNG draws, the history prints.
                model.shuffle_rng.permutation(3)
                [f"{r.loss:.4f}" for r in model.history]


@FUZZ
@given(
    arrays=st.dictionaries(
        st.sampled_from(["W0", "b0", "W1", "b1", "W2", "opt_m", "opt_s", "opt_t", "x"]),
        st.tuples(
            st.lists(st.integers(0, 10**13), min_size=0, max_size=3),
            st.sampled_from(["<f4", "<f8", "<i8", "|u1", ">f4", "<U3"]),
        ),
        max_size=4,
    )
)
def test_lying_array_headers_are_refused_before_allocation(arrays):
    """Members replaced by .npy headers declaring any shape and dtype, with a few bytes of
    data: refused from the header alone (a 10**13-element claim must not allocate)."""
    import io
    import zipfile

    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "c.npz"
        target.write_bytes(CHECKPOINT)
        with zipfile.ZipFile(target) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        for key, (shape, dtype) in arrays.items():
            buf = io.BytesIO()
            header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(buf, header)
            members[f"{key}.npy"] = buf.getvalue() + b"\0" * 16
        with zipfile.ZipFile(target, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with contextlib.suppress(DataError):
                load_checkpoint(target, backend="numpy")


@FUZZ
@given(
    options=st.dictionaries(
        st.sampled_from(
            ["save", "metrics_json", "plot", "data", "lr", "epochs", "layers", "batch_size", "preset", "x"]
        ),
        JSON_VALUES,
        max_size=6,
    )
)
def test_a_resumed_run_takes_no_output_path_from_the_checkpoint(options):
    """Whatever the stored options, --resume refuses them (DataError) or keeps none of the
    output paths they name (issue 15: a file never decides where fastnn writes)."""
    from fastnn.cli.fit_options import OUTPUT_OPTIONS, build_parser, parse_args
    from fastnn.cli.train_resume import read_resume

    meta, arrays = _checkpoint_parts()
    meta["train_config"] = {"options": options}
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "c.npz"
        np.savez(target, **arrays, fastnn_meta=np.array(json.dumps(meta)))
        parser = build_parser()
        args = parse_args(["--resume", str(target)], parser)
        try:
            config = read_resume(args, parser)
        except DataError:
            return
    assert not set(OUTPUT_OPTIONS) & set(config["options"])


@FUZZ
@given(
    doc=JSON_VALUES,
    history=st.lists(
        st.fixed_dictionaries({"loss": JSON_VALUES}, optional={"epoch": JSON_VALUES, "val_loss": JSON_VALUES})
        | JSON_VALUES,
        max_size=3,
    ),
)
def test_plots_history_loads_or_raises_data_error(doc, history):
    from fastnn.cli.plots import read_history

    with tempfile.TemporaryDirectory() as d:
        for content in (doc, {"history": history}):
            path = Path(d) / "m.json"
            path.write_text(json.dumps(content))
            with contextlib.suppress(DataError):
                records, _ = read_history(path)
                # What plot_curves does with each value it draws.
                [float(v) for r in records for v in r.values() if v is not None]
