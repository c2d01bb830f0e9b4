"""``python -m fastnn.compare``: both backends, same run, honest verdict.

Runs are tiny (300 training digits, a 784-16-10 network, 2 epochs) so each takes
well under a second once Numba's kernels are compiled. Skipped when the numba
backend cannot be imported.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from fastnn import MLP
from fastnn.backends import get_backend
from fastnn.cli.compare import DEFAULT_RTOL, build_parser, main
from fastnn.data import load_embedded, scale_pixels, split_validation
from fastnn.errors import InvalidParameterError

QUICK = ["--train-size", "300", "--val-size", "100", "--epochs", "2", "--layers", "784,16,10"]


@pytest.fixture(autouse=True)
def _needs_numba() -> None:
    try:
        get_backend("numba")
    except InvalidParameterError as exc:
        pytest.skip(f"numba backend unavailable: {exc}")


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_normal_run_agrees_and_prints_the_speedup(capsys):
    code, out, err = run(capsys, QUICK)
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0] == (
        "data: embedded MNIST subset (5,000 digits): 300 train, 100 validation, 1,000 test "
        "(the same for both backends)"
    )
    for name in ("numpy", "numba"):
        for epoch in (1, 2):
            assert any(
                line.startswith(f"[{name}] epoch {epoch}/2  loss ") and line.endswith(" s/epoch")
                for line in lines
            ), (name, epoch)
    assert re.search(r"^numba compile/cache load: \d+\.\d\d s \(not counted in epoch times\)$", out, re.M)
    assert re.search(
        r"^time per epoch: numpy \d+\.\d{3} s, numba \d+\.\d{3} s \(mean of 2\); "
        r"speedup \d+\.\dx$",
        out,
        re.M,
    )
    assert re.search(
        r"^test accuracy: numpy \d+\.\d\d%, numba \d+\.\d\d%; \d+ of 1,000 predictions differ$", out, re.M
    )
    assert re.search(r"^largest weight difference: \S+ absolute, \S+ relative", out, re.M)
    assert re.search(r"^largest predict_proba difference on the 1,000 test digits: \S+$", out, re.M)
    assert lines[-1] == "backends agree: differences <= rtol 0.001 (float32 default)"


def test_early_stopping_0_switches_a_presets_off_as_in_train(capsys, monkeypatch):
    """compare takes train's flags with train's meaning: --early-stopping 0 is "off",
    not patience 0 (which would stop at the first epoch without progress)."""
    from fastnn.model import MLP

    seen = []
    real_fit = MLP.fit

    def spying(self, *args, **kwargs):
        seen.append(kwargs.get("early_stopping"))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "fit", spying)
    code, _, err = run(
        capsys, ["--preset", "two-hidden", "--early-stopping", "0", *QUICK[:4], "--epochs", "2"]
    )
    assert code == 0 and err == "", err
    assert seen[:2] == [None, None]


def test_float64_agrees_to_the_tight_default(capsys):
    code, out, err = run(capsys, [*QUICK, "--dtype", "float64", "--quiet"])
    assert code == 0, err
    assert out == f"backends agree: differences <= rtol {DEFAULT_RTOL['float64']:g} (float64 default)\n"


def test_an_absurdly_tight_tolerance_exits_1(capsys):
    code, out, err = run(capsys, [*QUICK, "--rtol", "0"])
    assert code == 1
    assert err.startswith("fastnn: backends DISAGREE: weight difference ") and "> --rtol 0" in err
    assert "backends agree" not in out and "speedup" in out


def test_metrics_json_shows_the_same_run_on_both_backends(tmp_path, capsys):
    path = tmp_path / "compare.json"
    argv = [
        *QUICK,
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--lr-schedule",
        "cosine",
        "--metrics-json",
        path,
    ]
    code, _, err = run(capsys, argv)
    assert code == 0, err
    doc = json.loads(path.read_text())
    assert doc["status"] == "agree" and doc["rtol"] == 1e-3 and doc["evaluated_on"] == "test"
    ref, fast = doc["history"]["numpy"], doc["history"]["numba"]
    assert [r["epoch"] for r in ref] == [r["epoch"] for r in fast] == [1, 2, 3]
    # The same schedule, hyper-parameters and sample order: the same losses to float32 rounding.
    assert [r["lr"] for r in ref] == [r["lr"] for r in fast] and ref[2]["lr"] < ref[0]["lr"]
    np.testing.assert_allclose([r["loss"] for r in ref], [r["loss"] for r in fast], rtol=1e-4)
    assert doc["weight_difference"]["relative"] <= 1e-3 and doc["compile_seconds"] >= 0
    assert set(doc["accuracy"]) == {"numpy", "numba"} and doc["config"]["optimizer"] == "momentum"
    assert doc["config"]["batch_size"] == 8 and "backend" not in doc["config"]


def test_the_reference_run_is_the_train_command_run(tmp_path, capsys):
    """compare's numpy model is exactly what ``MLP`` trains from the same flags."""
    path = tmp_path / "c.json"
    assert main([*QUICK, "--seed", "4", "--metrics-json", str(path)]) == 0
    capsys.readouterr()
    data = load_embedded()
    x, y, x_val, y_val = split_validation(data.x_train, data.y_train, 100)
    model = MLP([784, 16, 10], seed=4, backend="numpy").fit(
        scale_pixels(x[:300]), y[:300], epochs=2, lr=0.01, validation=(scale_pixels(x_val), y_val)
    )
    ref = json.loads(path.read_text())["history"]["numpy"]
    assert [r["loss"] for r in ref] == [r.loss for r in model.history]
    assert [r["val_accuracy"] for r in ref] == [r.val_accuracy for r in model.history]


def test_target_accuracy_applies_to_both(capsys):
    code, _, err = run(capsys, [*QUICK, "--target-acc", "0.999"])
    assert code == 1 and "below --target-acc 99.90%" in err


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--backend", "numba", "always trains with both numpy and numba"),
        ("--save", "m.npz", "compare trains two models"),
        ("--resume", "c.npz", "--resume is not a compare flag"),
    ],
)
def test_flags_that_pick_or_save_one_model_are_refused(capsys, flag, value, expected):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, flag, value])
    assert info.value.code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--epochs", "0"], "--epochs"),
        (["--rtol", "-1"], "--rtol"),
        (["--rtol", "x"], "--rtol"),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, *argv])
    assert info.value.code == 2 and expected in capsys.readouterr().err


def test_library_errors_are_one_line(capsys, tmp_path):
    code, out, err = run(capsys, [*QUICK, "--layers", "784,16,5"])
    assert code == 2 and out == "" and err.startswith("fastnn: error: --layers") and err.count("\n") == 1
    code, out, err = run(capsys, [*QUICK, "--data", tmp_path / "none"])
    assert code == 2 and err.startswith("fastnn: error: --data") and "Traceback" not in err


def test_help_hides_refused_flags_and_documents_rtol():
    text = build_parser().format_help()
    assert "--rtol R" in text and "comparison:" in text and "1e-09 for float64" in text
    options = {line.split()[0] for line in text.splitlines() if line.startswith("  --")}
    assert not options & {"--backend", "--save", "--resume", "--checkpoint"}
    assert {"--layers", "--epochs", "--rtol", "--metrics-json"} <= options


def test_same_weights_check_separates_drift_from_kernel_differences(capsys, monkeypatch):
    """A run that drifts (here: one nudged weight in numba's first epoch) is beyond --rtol at
    the end, but the same-weights check shows the kernels agree: reported, not a failure."""
    cls = type(get_backend("numba"))
    original = cls.train_epoch
    calls = []

    def drifting(self, params, *args, **kwargs):
        loss = original(self, params, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            params.data[0] += 0.05
        return loss

    monkeypatch.setattr(cls, "train_epoch", drifting)
    code, out, _ = run(capsys, QUICK)
    assert (
        code == 0 and "backends agree step by step, but the two runs drifted apart: weight difference" in out
    )
    assert "note: from the same weights (numpy's final ones)" in out
    assert "the kernels agree, the two runs drifted apart" in out and "--dtype float64" in out
    assert len(calls) == 3  # 2 epochs, then the one pass of the check


def test_a_real_kernel_difference_is_not_called_drift(capsys, monkeypatch):
    cls = type(get_backend("numba"))
    original = cls.train_epoch

    def wrong(self, params, *args, **kwargs):
        loss = original(self, params, *args, **kwargs)
        params.data[:5] += 0.05  # every epoch, the check's included
        return loss

    monkeypatch.setattr(cls, "train_epoch", wrong)
    code, _, err = run(capsys, QUICK)
    assert code == 1 and "fastnn: note: from the same weights" in err and "drifted" not in err
