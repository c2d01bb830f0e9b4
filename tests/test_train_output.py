"""What ``python -m fastnn.train`` prints: levels, progress bar, epoch lines, data hints, JSON."""

from __future__ import annotations

import io
import json
import re
import shlex
import sys

import pytest

from fastnn.cli.fit_options import STORED_OPTIONS
from fastnn.cli.report import Reporter, auto_print_every, epoch_line, format_duration
from fastnn.cli.train import build_parser, fill_defaults, main, parse_args
from fastnn.data import EMBEDDED_SOURCE, MnistData, load_embedded
from fastnn.model import EpochRecord

QUICK = ["--train-size", "200", "--val-size", "100", "--epochs", "2"]


def run_ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"exit {code}; stderr:\n{err}"
    assert err == ""
    return out


def epoch_numbers(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^epoch +(\d+)/", out, re.MULTILINE)]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(epoch: int, lr: float = 0.01) -> EpochRecord:
    return EpochRecord(epoch, 0.5, 0.9, 0.6, 0.85, 0.25, 4000.0, lr)


def test_epoch_line_has_every_field():
    line = epoch_line(record(3), 10, elapsed=75.0)
    assert line == (
        "epoch  3/10  loss 0.5000  running train  90.00%  val  85.00%      4,000 samples/s  elapsed  1m15s"
    )
    verbose = epoch_line(record(3, lr=0.005), 10, elapsed=1.5, show_lr=True, show_seconds=True)
    assert "  lr 5.00e-03  " in verbose and "  0.25 s/epoch  " in verbose and verbose.endswith("1.50s")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.42, "0.42s"), (59.994, "59.99s"), (125, "2m05s"), (7380, "2h03m")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("total", "step"),
    [(1, 1), (50, 1), (51, 2), (100, 2), (101, 5), (500, 10), (1000, 20), (2500, 50), (5000, 100)],
)
def test_long_runs_print_about_50_lines(total, step):
    assert auto_print_every(total) == step


def test_progress_bar_on_a_terminal_with_tqdm(monkeypatch):
    pytest.importorskip("tqdm")
    term = FakeTerminal()
    report = Reporter(1, stream=term)
    with report.progress(0, 3):
        for e in (1, 2, 3):
            report.epoch(record(e), 3, e * 0.1, print_every=1, show_lr=False, force=e == 1)
    text = term.getvalue()
    assert "training" in text and "epoch" in text  # tqdm's bar, with the unit
    assert [int(n) for n in re.findall(r"epoch (\d)/3  loss", text)] == [1, 2, 3]


def test_without_tqdm_a_terminal_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    term = FakeTerminal()
    report = Reporter(1, stream=term)
    with report.progress(0, 2):
        report.epoch(record(1), 2, 0.1, print_every=1, show_lr=False, force=False)
    assert term.getvalue() == epoch_line(record(1), 2, elapsed=0.1) + "\n"


def test_quiet_and_verbose_cannot_be_combined(capsys):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, "--quiet", "--verbose"])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_verbose_prints_a_config_that_reproduces_the_run(capsys):
    argv = [*QUICK, "--backend", "numpy", "--optimizer", "momentum", "--batch-size", "full", "--verbose"]
    out = run_ok(capsys, argv)
    config = next(line for line in out.splitlines() if line.startswith("config: "))
    versions = next(line for line in out.splitlines() if line.startswith("versions: "))
    assert "fastnn " in versions and "numpy " in versions and "python " in versions
    assert re.search(r"^epoch 2/2 .* lr 1\.00e-02 .* s/epoch  elapsed", out, re.MULTILINE), out
    words = shlex.split(config.removeprefix("config: "))
    assert words[:3] == ["python", "-m", "fastnn.train"]
    parser = build_parser()
    again, original = parse_args(words[3:], parser), parse_args(argv, parser)
    fill_defaults(again, parser)
    fill_defaults(original, parser)
    original.data = "embedded"  # the run records which data the default was
    for dest in STORED_OPTIONS:
        assert getattr(again, dest) == getattr(original, dest), dest


def test_print_every_keeps_the_first_and_last_epoch(capsys):
    out = run_ok(capsys, [*QUICK, "--epochs", "5", "--print-every", "2", "--batch-size", "50"])
    assert epoch_numbers(out) == [1, 2, 4, 5]


def test_lr_is_shown_when_a_schedule_changes_it(capsys):
    out = run_ok(
        capsys, [*QUICK, "--epochs", "3", "--lr-schedule", "step", "--lr-step", "1", "--lr-gamma", "0.5"]
    )
    assert re.findall(r"  lr (\S+)  ", out) == ["1.00e-02", "5.00e-03", "2.50e-03"]
    assert "sgd lr 0.01 (step decay) batch 1" in out
    assert "  lr " not in run_ok(capsys, QUICK)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--monitor", "loss"], "--monitor needs --early-stopping PATIENCE"),
        (["--tol", "0.1"], "--tol needs --early-stopping PATIENCE"),
        (["--lr-gamma", "0.5"], "--lr-gamma applies to --lr-schedule step; the schedule is constant"),
        (
            ["--early-stopping", "2", "--monitor", "val_accuracy", "--val-size", "0"],
            "--monitor val_accuracy needs a validation set",
        ),
        (["--early-stopping", "2", "--monitor", "val_loss", "--val-size", "0"], "--monitor val_loss needs"),
    ],
)
def test_flags_that_need_another_flag(capsys, argv, expected):
    assert main([*QUICK, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"fastnn: error: {err.removeprefix('fastnn: error: ')}"
    assert expected in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--lr-gamma", "0"], ["--lr-gamma", "(0, 1]"]),
        (["--tol", "-1"], ["--tol", ">= 0"]),
        (["--monitor", "accuracy"], ["--monitor", "'val_accuracy'"]),
        (["--lr-schedule", "linear"], ["--lr-schedule", "'cosine'"]),
        (["--early-stopping", "-3"], ["--early-stopping"]),
    ],
)
def test_bad_new_flag_values_are_argparse_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert all(text in err for text in expected), err


def test_early_stopping_on_the_training_loss_without_validation(capsys, tmp_path):
    metrics = tmp_path / "m.json"
    out = run_ok(
        capsys,
        [
            *QUICK,
            "--val-size",
            "0",
            "--epochs",
            "6",
            "--early-stopping",
            "1",
            "--tol",
            "5",
            "--metrics-json",
            str(metrics),
        ],
    )
    assert "| early stopping 1 on loss" in out
    assert "stopped after epoch 2, restored the weights of epoch 1 (best loss " in out
    data = json.loads(metrics.read_text())
    assert data["status"] == "early_stopped"
    assert data["early_stopping"] == {
        "patience": 1,
        "monitor": "loss",
        "tol": 5.0,
        "best_epoch": 1,
        "best_value": data["history"][0]["loss"],
        "stopped": True,
        "stopped_after_epoch": 2,
    }
    assert data["checkpoint"] == {"path": None, "resumed_from": None, "resumed_at_epoch": None}
    assert data["preset"] is None and data["elapsed_seconds"] > 0


def test_embedded_data_hint_mentions_the_download(capsys):
    out = run_ok(capsys, QUICK)
    assert (
        "hint: this is a small subset; pass --data mnist to download full MNIST (about 11 MB), or "
        "--data DIR" in out
    )


def test_cached_full_mnist_is_the_default_and_says_so(capsys, monkeypatch, tmp_path):
    embedded = load_embedded()
    fake = MnistData(
        embedded.x_train, embedded.y_train, embedded.x_test, embedded.y_test, source=str(tmp_path / "cache")
    )
    seen = []
    monkeypatch.setattr("fastnn.cli.inputs.load_dataset", lambda source: seen.append(source) or fake)
    out = run_ok(capsys, QUICK)
    assert seen == [None]
    assert f"data: {tmp_path / 'cache'}: 200 train" in out
    assert (
        "(full MNIST found in the download cache, used by default; --data embedded for the small subset)"
        in out
        and "hint:" not in out
    )
    assert EMBEDDED_SOURCE not in out


def test_data_mnist_without_network_is_a_clear_error(capsys):
    """conftest points the mirrors at a closed local port: the download fails at once."""
    assert main([*QUICK, "--data", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "\nfastnn: error: --data: could not download" in err and "Traceback" not in err
