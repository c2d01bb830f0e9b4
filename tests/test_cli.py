"""``python -m fastnn.train``: what it prints, the files it writes, how it fails.

Tests call ``main(argv)`` in-process (capsys captures the output) on a 1,000-sample
slice of the embedded digits, for every backend. Bad flags must end with exit status
2 and a message naming the flag (and the valid choices), never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn import MLP
from fastnn.backends import backend_names, get_backend
from fastnn.cli.train import main
from fastnn.data import load_embedded, scale_pixels, split_validation

#: A run of about a second: 1,000 training samples, 200 for validation, 1 epoch.
QUICK = ["--train-size", "1000", "--val-size", "200", "--epochs", "1"]
HISTORY_FIELDS = {
    "epoch",
    "loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
    "samples_per_second",
}


@pytest.fixture(params=backend_names())
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


def printed_test_accuracy(out: str) -> float:
    match = re.search(r"^test accuracy (\d+\.\d\d)%", out, re.MULTILINE)
    assert match, f"no final test accuracy line in:\n{out}"
    return float(match.group(1)) / 100


def run_ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"exit {code}; stderr:\n{err}"
    assert err == ""
    return out


def test_quick_run_prints_each_stage_in_order(capsys, backend_name):
    out = run_ok(capsys, [*QUICK, "--epochs", "2", "--backend", backend_name])
    lines = out.splitlines()
    assert lines[0] == (
        "data: embedded MNIST subset (5,000 digits): 1,000 train (first 1,000 of "
        "3,800), 200 validation, 1,000 test"
    )
    assert lines[1].startswith("hint: ") and "--data DIR" in lines[1]
    assert lines[2].startswith(f"backend {backend_name} | dtype float32 | threads ")
    assert "network 784-128(relu)-64(relu)-10(softmax)" in lines[2]
    rest = lines[3:]
    if backend_name == "numba":
        assert re.fullmatch(r"compile/cache load: \d+\.\d\d s", rest.pop(0))
    epoch = (
        r"epoch {}/2  loss \d\.\d{{4}}  running train +\d+\.\d\d%  val +\d+\.\d\d%  "
        r"+[\d,]+ samples/s  elapsed +\d+\.\d\ds"
    )
    assert re.fullmatch(epoch.format(1), rest[0]), rest[0]
    assert re.fullmatch(epoch.format(2), rest[1]), rest[1]
    assert rest[2].startswith("test accuracy ") and rest[2].endswith("on 1,000 test digits after 2 epochs")
    assert len(rest) == 3
    assert 0.5 < printed_test_accuracy(out) <= 1.0


def test_quiet_prints_only_the_final_line(capsys):
    out = run_ok(capsys, [*QUICK, "--quiet"])
    assert out.splitlines() == [out.strip()] and out.startswith("test accuracy ")


def test_metrics_json_has_history_config_versions_and_final(capsys, tmp_path, backend_name):
    path = tmp_path / "metrics.json"
    out = run_ok(capsys, [*QUICK, "--epochs", "3", "--backend", backend_name, "--metrics-json", str(path)])
    metrics = json.loads(path.read_text())
    assert metrics["status"] == "completed"
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    for record in metrics["history"]:
        assert set(record) >= HISTORY_FIELDS
        assert record["seconds"] > 0 and record["samples_per_second"] > 0
        assert 0 <= record["val_accuracy"] <= 1 and record["loss"] > 0
    assert metrics["config"]["backend"] == backend_name
    assert metrics["config"]["layers"] == [784, 128, 64, 10]
    assert metrics["config"]["activations"] == ["relu", "relu", "softmax"]
    assert metrics["config"]["batch_size"] == 1
    assert set(metrics["versions"]) >= {"fastnn", "numpy", "numba", "python"}
    assert metrics["data"]["source"].startswith("embedded MNIST subset")
    sizes = metrics["data"]
    assert (sizes["n_train"], sizes["n_val"], sizes["n_test"]) == (1000, 200, 1000)
    assert metrics["compile_seconds"] >= 0
    final = metrics["final"]
    assert final["epochs_trained"] == 3
    assert round(final["test_accuracy"] * 100, 2) == pytest.approx(printed_test_accuracy(out) * 100)


def test_saved_model_is_exactly_what_the_flags_train(capsys, tmp_path, backend_name):
    """Same weights as the API with the same settings, and the printed accuracy on reload."""
    model_path, metrics_path = tmp_path / "model.npz", tmp_path / "m.json"
    run_ok(
        capsys,
        [*QUICK, "--backend", backend_name, "--save", str(model_path), "--metrics-json", str(metrics_path)],
    )
    accuracy = json.loads(metrics_path.read_text())["final"]["test_accuracy"]

    data = load_embedded()
    x, y, _, _ = split_validation(data.x_train, data.y_train, 200)
    api = MLP([784, 128, 64, 10], "relu", backend=backend_name, seed=0)
    api.fit(scale_pixels(x[:1000]), y[:1000], epochs=1, lr=0.01, batch_size=1)
    x_test = scale_pixels(data.x_test)
    predictions = []
    for other in backend_names():
        loaded = MLP.load(model_path, backend=other)
        if other == backend_name:  # same backend, same seed and order: bit-identical
            assert np.array_equal(loaded.params.data, api.params.data)
        assert loaded.evaluate(x_test, data.y_test)["accuracy"] == pytest.approx(accuracy, abs=1e-3)
        predictions.append(loaded.predict(x_test))
    assert all(np.array_equal(p, predictions[0]) for p in predictions)


def test_hidden_activation_names_get_a_softmax_output(capsys):
    out = run_ok(capsys, [*QUICK, "--layers", "784,32,16,10", "--activations", "sigmoid,TANH"])
    assert "network 784-32(sigmoid)-16(tanh)-10(softmax)" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--backend", "tpu"], ["--backend", "'numba'", "'numpy'"]),
        (["--activations", "relu,swish"], ["--activations", "'swish'", "relu", "sigmoid", "tanh", "softmax"]),
        (["--layers", "784,abc,10"], ["--layers", "784,128,64,10"]),
        (["--batch-size", "0"], ["--batch-size", "'full'"]),
        (["--epochs", "0"], ["--epochs"]),
        (["--target-acc", "97"], ["--target-acc", "[0, 1]"]),
        (["--optimizer", "rmsprop"], ["--optimizer", "'adam'"]),
    ],
)
def test_bad_flag_values_are_argparse_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, f"{text!r} missing from:\n{err}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--layers", "128,64"], ["--layers", "784", "did you mean 784,128,64,10?"]),
        (["--layers", "784,128,5"], ["--layers", "10 classes"]),
        (["--activations", "relu,relu,relu,relu"], ["--activations", "3 for --layers 784,128,64,10"]),
        (["--activations", "softmax,relu,softmax"], ["--activations", "output layer", "relu"]),
        (["--lr", "-1"], ["--lr", "-1"]),
        (["--momentum", "1.5"], ["--momentum"]),
        (["--val-size", "4000"], ["--val-size", "4,000"]),
        (["--train-size", "5000"], ["--train-size", "3,800"]),
        (["--batch-size", "2000"], ["--batch-size", "full"]),
    ],
)
def test_bad_combinations_are_one_line_errors(capsys, argv, expected):
    assert main([*QUICK, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, f"{text!r} missing from:\n{err}"


def test_missing_data_path_names_flag_and_file(capsys, tmp_path):
    missing = tmp_path / "no-such-dir"
    assert main([*QUICK, "--data", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: --data") and str(missing) in err and "Traceback" not in err


def test_output_directory_is_checked_before_training(capsys, tmp_path):
    target = tmp_path / "missing" / "model.npz"
    assert main([*QUICK, "--save", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--save" in err and str(target.parent) in err


def test_missed_target_accuracy_exits_1(capsys):
    assert main([*QUICK, "--train-size", "100", "--target-acc", "0.999"]) == 1
    out, err = capsys.readouterr()
    assert "test accuracy" in out
    assert "below --target-acc 99.90%" in err


def test_met_target_accuracy_exits_0(capsys):
    assert main([*QUICK, "--target-acc", "0.5"]) == 0


def test_divergence_exits_1_and_saves_the_kept_weights(capsys, tmp_path):
    path, metrics = tmp_path / "kept.npz", tmp_path / "m.json"
    assert main([*QUICK, "--lr", "1e30", "--save", str(path), "--metrics-json", str(metrics)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: training diverged") and "Traceback" not in err
    # Diverged in epoch 1, so the kept weights are the initial ones.
    assert np.array_equal(MLP.load(path).params.data, MLP([784, 128, 64, 10], seed=0).params.data)
    assert json.loads(metrics.read_text())["status"] == "diverged"


def test_keyboard_interrupt_exits_130_after_saving(capsys, tmp_path, monkeypatch):
    cls = type(get_backend("numpy"))
    original = cls.train_epoch
    calls = []

    def interrupt_second_epoch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "train_epoch", interrupt_second_epoch)
    path = tmp_path / "m.npz"
    assert main([*QUICK, "--backend", "numpy", "--epochs", "3", "--save", str(path)]) == 130
    out, err = capsys.readouterr()
    assert err == (
        "interrupted after epoch 1; pass --checkpoint PATH to be able to resume an interrupted run\n"
    )
    assert "epoch 1/3" in out and "epoch 2/3" not in out
    assert MLP.load(path).epochs_trained == 1


def test_csv_without_test_split_says_so_and_targets_validation(capsys, tmp_path):
    data = load_embedded()
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = [
        ",".join(map(str, [label, *pixels]))
        for label, pixels in zip(data.y_train[:400], data.x_train[:400], strict=True)
    ]
    csv = tmp_path / "train.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    assert main(["--data", str(csv), "--val-size", "100", "--epochs", "1", "--target-acc", "0.01"]) == 0
    out = capsys.readouterr().out
    assert f"data: {csv}: 300 train, 100 validation, 0 test" in out
    assert "no test split" in out and "final validation accuracy" in out and "hint:" not in out


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "fastnn.train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for text in (
        "model:",
        "training:",
        "data:",
        "output:",
        "--backend {numba,numpy}",
        "(default: 784,128,64,10)",
        "--metrics-json",
    ):
        assert text in result.stdout


@pytest.mark.slow
def test_defaults_reach_90_percent_on_the_embedded_digits(capsys, tmp_path, backend_name):
    path = tmp_path / "m.json"
    run_ok(capsys, ["--backend", backend_name, "--data", "embedded", "--metrics-json", str(path)])
    final = json.loads(Path(path).read_text())["final"]
    assert final["epochs_trained"] == 5
    assert final["test_accuracy"] >= 0.90


def test_every_console_script_names_a_callable_main():
    """pyproject's [project.scripts] targets import and are callables (a wrong path is only
    found when a user runs the installed script)."""
    import importlib
    from pathlib import Path

    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts, "no console scripts declared"
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), f"{name} -> {target}"
