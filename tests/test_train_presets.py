"""``--preset NAME``: a preset sets defaults; any flag typed on the command line wins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn import MLP
from fastnn.backends import backend_names
from fastnn.cli.fit_options import STORED_OPTIONS, UNSET
from fastnn.cli.presets import PRESETS
from fastnn.cli.train import build_model, build_parser, fill_defaults, main, parse_args

QUICK = ["--train-size", "300", "--epochs", "2"]


def resolved(argv: list[str]):
    parser = build_parser()
    args = parse_args(argv, parser)
    fill_defaults(args, parser)
    return args


def test_an_explicit_flag_overrides_the_preset_and_the_rest_comes_from_it():
    args = resolved(["--preset", "tutorial", "--lr", "0.5"])
    assert args.lr == 0.5
    assert args.layers == [784, 10, 10] and args.activations == ["relu", "softmax"]
    assert args.batch_size is None and args.optimizer == "sgd"
    assert args.epochs == 500 and args.val_size == 1000
    assert args.explicit == {"preset", "lr"}


def test_a_flag_equal_to_the_parser_default_still_overrides_the_preset():
    """--lr 0.01 is the parser default, yet the user typed it: the preset's 0.1 must not win."""
    assert resolved(["--preset", "tutorial", "--lr", "0.01"]).lr == 0.01
    assert resolved(["--preset", "tutorial", "--batch-size", "1"]).batch_size == 1


def test_without_a_preset_every_option_has_its_parser_default():
    args = resolved([])
    parser = build_parser()
    assert args.layers == [784, 128, 64, 10] and args.activations == ["relu"]
    assert args.lr == parser.get_default("lr") and args.preset is None
    assert all(getattr(args, d) is not UNSET for d in vars(args))


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_names_only_real_options_and_builds_its_network(name):
    settings = PRESETS[name].settings
    assert set(settings) - {"save"} <= set(STORED_OPTIONS), "a preset key is not a train option"
    args = resolved(["--preset", name])
    for key, value in settings.items():
        assert getattr(args, key) == (Path(value) if key == "save" else value), key
    model = build_model(args)
    assert list(model.layer_sizes) == settings["layers"]


def test_help_lists_every_preset_with_its_description():
    result = subprocess.run(
        [sys.executable, "-m", "fastnn.train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for name, preset in PRESETS.items():
        assert f"{name} {preset.reproduces.split(':')[0]}" in text
    for flag in (
        "--preset NAME",
        "--early-stopping PATIENCE",
        "--monitor {val_accuracy,val_loss,loss}",
        "--tol",
        "--lr-schedule {constant,step,cosine}",
        "--lr-step",
        "--lr-gamma",
        "--checkpoint PATH",
        "--resume PATH",
        "--verbose",
        "--data PATH",
    ):
        assert flag in result.stdout, flag
    assert "'mnist' (the full 70,000 digits: downloaded once, about 11 MB" in text
    assert "two-hidden saves its parameters as its original does" in " ".join(text.split())


def test_preset_run_prints_what_it_reproduces_and_records_it(capsys, tmp_path):
    metrics = tmp_path / "m.json"
    assert main(["--preset", "tutorial", "--lr", "0.5", *QUICK, "--metrics-json", str(metrics)]) == 0
    out = capsys.readouterr().out
    assert f"preset tutorial: {PRESETS['tutorial'].reproduces}" in out
    assert "the original, run as written, reaches 84.0% test accuracy on full MNIST" in out
    assert "overridden on the command line: --lr, --epochs" in out
    assert "network 784-10(relu)-10(softmax) | sgd lr 0.5 batch full" in out
    data = json.loads(metrics.read_text())
    assert data["preset"] == "tutorial"
    config = data["config"]
    assert (config["lr"], config["layers"], config["batch_size"], config["val_size"]) == (
        0.5,
        [784, 10, 10],
        "full",
        1000,
    )


def test_two_hidden_saves_its_parameters_like_the_original(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--preset", "two-hidden", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "saves its parameters at the end, as the original does: two-hidden.npz" in out
    assert "early stopping 50 on val_accuracy" in out
    assert [p.name for p in tmp_path.iterdir()] == ["two-hidden.npz"]
    assert MLP.load(tmp_path / "two-hidden.npz").layer_sizes == (784, 10, 10, 10)
    assert main(["--preset", "two-hidden", *QUICK, "--save", "mine.npz", "--early-stopping", "0"]) == 0
    out = capsys.readouterr().out
    assert "as the original does" not in out and "| early stopping" not in out
    assert (tmp_path / "mine.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz", "two-hidden.npz"]


def test_unknown_preset_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--preset", "lenet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--preset" in err and all(name in err for name in PRESETS)


@pytest.mark.slow
@pytest.mark.parametrize("backend", backend_names())
def test_tutorial_preset_reaches_85_percent_on_the_embedded_digits(capsys, tmp_path, backend):
    """500 full-batch steps on 3,000 embedded digits (the original: 84-85% on full MNIST)."""
    metrics = tmp_path / "m.json"
    assert (
        main(
            [
                "--preset",
                "tutorial",
                "--backend",
                backend,
                "--data",
                "embedded",
                "--metrics-json",
                str(metrics),
                "--quiet",
            ]
        )
        == 0
    )
    final = json.loads(metrics.read_text())["final"]
    assert final["epochs_trained"] == 500
    assert final["test_accuracy"] >= 0.85
    capsys.readouterr()
