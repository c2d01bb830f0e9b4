"""Issue 15, kind 5: no raw traceback from a crafted file or a wrong-typed argument.

Model and checkpoint metadata are checked against a schema of types and ranges; every
API argument of the wrong type is an InvalidParameterError naming it; a full stdout is
one message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from faults import edit_model_file
from test_hostile_outputs import train

from fastnn import MLP, DataError, InvalidParameterError
from fastnn.cli.train import main as train_main
from fastnn.data import scale_pixels
from fastnn.data.download import download_mnist
from fastnn.model_loading import load_checkpoint

LAYERS = [12, 6, 3]


# ------------------------------------------------------------------ kind 5: crafted metadata
CRAFTED = [
    ("dtype-dict", lambda m: m.update(dtype={"names": "a"}), "dtype"),
    (
        "dtype-negative-offset",
        lambda m: m.update(dtype={"names": ["a"], "formats": ["f4"], "offsets": [-1]}),
        "dtype",
    ),
    ("rng-negative", lambda m: m["rng_state"]["state"].update(state=-1), "RNG state"),
    ("rng-huge", lambda m: m["rng_state"]["state"].update(inc=2**200), "RNG state"),
    ("rng-not-dict", lambda m: m.update(rng_state=[1, 2]), "RNG state"),
    ("history-text-loss", lambda m: m["history"][0].update(loss="abc"), "loss 'abc' is not a number"),
    ("history-nested", lambda m: m["history"][0].update(loss=[[1.0]]), "is not a number"),
    ("history-bool", lambda m: m["history"][0].update(epoch=True), "not an epoch number"),
    ("history-extra", lambda m: m["history"][0].update(evil=1), "unknown fields"),
    ("optimizer-dict", lambda m: m.update(optimizer={"a": 1}), "optimizer"),
    ("seed-huge", lambda m: m.update(seed=2**300), "seed"),
    ("sizes-bool", lambda m: m.update(layer_sizes=[12, True, 3]), "layer_sizes"),
]


@pytest.mark.parametrize(("edit", "match"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_metadata_is_a_data_error(checkpoint_file, edit, match):
    edit_model_file(checkpoint_file, edit)
    with pytest.raises(DataError, match=match):
        load_checkpoint(checkpoint_file, backend="numpy")


@pytest.mark.parametrize("step", [-1, -2, 2**62])
def test_adam_step_count_out_of_range_is_a_data_error(checkpoint_file, step):
    edit_model_file(checkpoint_file, arrays_edit=lambda a: a.update(opt_t=np.array([step], np.int64)))
    with pytest.raises(DataError, match="optimizer step count"):
        load_checkpoint(checkpoint_file, backend="numpy")


def test_deeply_nested_metadata_is_a_data_error(checkpoint_file):
    with np.load(checkpoint_file) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "fastnn_meta"}
    deep = '{"format": "fastnn-mlp", "format_version": 1, "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    np.savez(checkpoint_file, **arrays, fastnn_meta=np.array(deep))
    with pytest.raises(DataError, match="model metadata is not valid JSON"):
        MLP.load(checkpoint_file)


def test_crafted_history_reaches_no_plot(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    train(capsys, ["--checkpoint", ckpt])
    edit_model_file(ckpt, lambda m: m["history"][0].update(loss="abc"))
    capsys.readouterr()
    assert train_main(["--resume", str(ckpt), "--epochs", "2", "--plot", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "loss 'abc' is not a number" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "history",
    [
        [{"epoch": 1, "loss": [[1]]}],
        [{"epoch": 1, "loss": "abc"}],
        [{"epoch": {"a": 1}, "loss": 1.0}],
        [[1, 2]],
    ],
)
def test_plots_metrics_json_with_a_bad_history_is_refused(capsys, tmp_path, history):
    pytest.importorskip("matplotlib")
    from fastnn.cli.plots import main as plots_main

    model = MLP([784, 8, 10]).save(tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps({"history": history}))
    assert (
        plots_main(
            ["--model", str(model), "--metrics-json", str(tmp_path / "m.json"), "--out", str(tmp_path / "p")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--metrics-json" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://host:99999/", "http://host:port/", "http://a b/", "http:///x"]
)
def test_malformed_mirror_urls_are_refused(tmp_path, url):
    with pytest.raises(InvalidParameterError, match="mirrors"):
        download_mnist(tmp_path, mirrors=[url])


# ------------------------------------------------------------------ kind 5: API arguments
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda X, y: MLP(LAYERS, None), "activations"),
        (lambda X, y: MLP(LAYERS, 5), "activations"),
        (lambda X, y: MLP(LAYERS, ["tanh", 5]), "activations"),
        (lambda X, y: MLP(LAYERS, dtype={"names": "a"}), "dtype"),
        (lambda X, y: MLP(LAYERS, dtype={"names": ["a"], "formats": ["f4"], "offsets": [-1]}), "dtype"),
        (lambda X, y: scale_pixels(np.zeros(3, np.uint8), {"names": "a"}), "dtype"),
        (lambda X, y: MLP(LAYERS).fit(X, y, tol="abc"), "tol"),
        (lambda X, y: MLP(LAYERS).fit(X, y, tol=float("nan")), "tol"),
        (lambda X, y: MLP(LAYERS).fit(X, y, early_stopping=2, monitor=5), "monitor"),
        (lambda X, y: MLP(LAYERS).fit(X, y, monitor="accuracy"), "monitor"),
        (lambda X, y: MLP(LAYERS).fit(X, y, lr_gamma=True), "lr_gamma"),
        (lambda X, y: MLP(LAYERS).save("."), "path"),
        (lambda X, y: MLP(LAYERS).save(5), "path"),
        (lambda X, y: MLP.load(5), "path"),
        (lambda X, y: MLP.load(b"m.npz"), "path"),
    ],
)
def test_wrong_api_arguments_are_invalid_parameter_errors_naming_them(tiny_data, call, name):
    X, y = tiny_data
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        call(X, y)


def test_a_bad_callback_is_refused_before_any_epoch(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, backend="numpy")
    before = model.params.data.copy()
    with pytest.raises(InvalidParameterError, match="'callback'"):
        model.fit(X, y, epochs=3, callback=5)
    assert model.epochs_trained == 0 and np.array_equal(model.params.data, before)


def test_stdout_on_a_full_device_gives_a_message_not_a_traceback(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    model = MLP([784, 8, 10], seed=0).save(tmp_path / "m.npz")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "fastnn.evaluate", "--model", str(model)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "cannot write to standard output (No space left on device)" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_train_with_stdout_on_a_full_device_still_saves(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fastnn.train",
                "--train-size",
                "100",
                "--val-size",
                "20",
                "--epochs",
                "2",
                "--backend",
                "numpy",
                "--layers",
                "784,8,10",
                "--save",
                str(tmp_path / "m.npz"),
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert MLP.load(tmp_path / "m.npz").epochs_trained == 2


def test_a_library_message_names_its_flag_once(capsys):
    assert train_main(["--layers", "784,10000000,10", "--backend", "numpy"]) == 2
    assert capsys.readouterr().err.count("(--layers)") == 1
