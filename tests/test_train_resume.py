"""``--checkpoint``/``--resume``: a resumed run ends exactly where an uninterrupted one does.

Every comparison is bit-for-bit (``np.array_equal`` on the saved weights): the
checkpoint restores weights, optimiser state, shuffle RNG, epoch count and the
early-stopping state, and the resumed run re-reads the same data split.
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
from fastnn.model_files import save_checkpoint
from fastnn.model_loading import load_checkpoint

#: About a tenth of a second per epoch on either backend.
SMALL = ["--train-size", "300", "--val-size", "100"]


def run(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> tuple[str, str]:
    got = main(argv)
    out, err = capsys.readouterr()
    assert got == code, f"exit {got}, expected {code}; stderr:\n{err}"
    return out, err


def weights(path: Path) -> np.ndarray:
    return MLP.load(path).params.data


@pytest.mark.parametrize("batch", ["1", "16"], ids=["per-sample", "mini-batch"])
@pytest.mark.parametrize("backend", backend_names())
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(capsys, tmp_path, backend, batch):
    common = [*SMALL, "--backend", backend, "--batch-size", batch]
    run(capsys, [*common, "--epochs", "3", "--save", str(tmp_path / "straight.npz")])
    ckpt = tmp_path / "c.npz"
    run(capsys, [*common, "--epochs", "1", "--checkpoint", str(ckpt)])
    assert load_checkpoint(ckpt)[0].epochs_trained == 1
    out, _ = run(capsys, ["--resume", str(ckpt), "--epochs", "3", "--save", str(tmp_path / "resumed.npz")])
    assert f"resumed {ckpt}: 1 of 3 epochs done" in out and "training epochs 2-3" in out
    assert "epoch 1/3" not in out and "epoch 3/3" in out
    assert np.array_equal(weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz"))
    assert load_checkpoint(ckpt)[0].epochs_trained == 3  # the resumed run keeps updating the file


def interrupt_epoch(monkeypatch: pytest.MonkeyPatch, backend: str, n: int) -> None:
    """Make the ``n``-th ``train_epoch`` call raise KeyboardInterrupt (a second Ctrl-C)."""
    cls = type(get_backend(backend))
    original, calls = cls.train_epoch, []

    def train_epoch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            monkeypatch.setattr(cls, "train_epoch", original)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "train_epoch", train_epoch)


@pytest.mark.parametrize("backend", backend_names())
def test_resume_after_an_epoch_aborted_by_keyboard_interrupt(capsys, tmp_path, monkeypatch, backend):
    """A second Ctrl-C aborts the epoch; the checkpoint holds the last finished one.

    Adam's moments and step count and a cosine schedule over the total carry over too.
    """
    common = [
        *SMALL,
        "--backend",
        backend,
        "--batch-size",
        "8",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--lr-schedule",
        "cosine",
        "--epochs",
        "4",
    ]
    run(capsys, [*common, "--save", str(tmp_path / "straight.npz")])
    ckpt, metrics = tmp_path / "c.npz", tmp_path / "m.json"
    interrupt_epoch(monkeypatch, backend, 3)
    _, err = run(capsys, [*common, "--checkpoint", str(ckpt), "--metrics-json", str(metrics)], code=130)
    assert err == f"interrupted after epoch 2; resume with: python -m fastnn.train --resume {ckpt}\n"
    assert json.loads(metrics.read_text())["status"] == "interrupted"
    run(capsys, ["--resume", str(ckpt), "--save", str(tmp_path / "resumed.npz")])  # --epochs 4 stored
    assert np.array_equal(weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz"))
    # The run wrote --metrics-json; the resumed one writes it beside the checkpoint, never
    # where the file says (issue 15).
    assert json.loads(metrics.read_text())["status"] == "interrupted"
    resumed = json.loads((tmp_path / "c.metrics.json").read_text())
    assert resumed["status"] == "completed" and [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["checkpoint"] == {"path": str(ckpt), "resumed_from": str(ckpt), "resumed_at_epoch": 2}


def test_a_new_total_changes_the_cosine_schedule_and_says_so(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--lr-schedule", "cosine", "--epochs", "2", "--checkpoint", str(ckpt)])
    out, _ = run(capsys, ["--resume", str(ckpt), "--epochs", "3"])
    assert "note: the cosine schedule decays over --epochs, which was 2 and is now 3" in out
    assert re.search(r"epoch 3/3 .* lr \d\.\d\de-\d\d ", out), out


def _run_record(metrics: Path) -> tuple[list[dict], dict]:
    """A metrics JSON's history without wall times, and its early-stopping summary."""
    data = json.loads(metrics.read_text())
    times = ("seconds", "samples_per_second")
    return [{k: v for k, v in r.items() if k not in times} for r in data["history"]], data["early_stopping"]


@pytest.mark.parametrize("stop_at", [1, 2, 3], ids=["best-is-latest", "best-is-older", "already-stopped"])
def test_early_stopping_state_survives_a_resume(capsys, tmp_path, stop_at):
    """--tol 1 means no epoch after the first improves: stop after epoch 3, restore epoch 1.
    The resumed run ends with the same weights, best epoch and history."""
    common = [*SMALL, "--early-stopping", "2", "--tol", "1", "--epochs", "6"]
    straight = [*common, "--save", str(tmp_path / "straight.npz"), "--metrics-json", str(tmp_path / "s.json")]
    out, _ = run(capsys, straight)
    assert (
        "early stopping: no val_accuracy improvement > 1 in 2 epochs; stopped after epoch 3, "
        "restored the weights of epoch 1"
    ) in out
    ckpt = tmp_path / "c.npz"
    run(capsys, [*common, "--epochs", str(stop_at), "--checkpoint", str(ckpt)])
    assert (tmp_path / "c.best.npz").exists() == (stop_at > 1)
    resumed = ["--resume", str(ckpt), "--epochs", "6", "--save", str(tmp_path / "resumed.npz")]
    out, _ = run(capsys, [*resumed, "--metrics-json", str(tmp_path / "r.json")])
    assert "stopped after epoch 3, restored the weights of epoch 1" in out
    assert np.array_equal(weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz"))
    assert _run_record(tmp_path / "r.json") == _run_record(tmp_path / "s.json")
    assert _run_record(tmp_path / "r.json")[1]["best_epoch"] == 1
    out, _ = run(capsys, ["--resume", str(ckpt)])  # finished: nothing left to train
    assert "early stopping already ended this run after epoch 3; evaluating" in out
    assert "test accuracy" in out and "epoch 4" not in out


def test_a_checkpoint_from_before_the_state_held_its_rule_resumes(capsys, tmp_path):
    """Checkpoints written before the early-stopping state held patience, monitor and tol
    (only best, best_epoch, waited, stopped, best_sha256) take them from the stored options."""
    common = [*SMALL, "--early-stopping", "2", "--tol", "1", "--epochs", "6"]
    run(capsys, [*common, "--save", str(tmp_path / "straight.npz")])
    ckpt = tmp_path / "c.npz"
    run(capsys, [*common, "--epochs", "2", "--checkpoint", str(ckpt)])
    model, config = load_checkpoint(ckpt)
    state = config["early_stopping_state"]
    assert {"patience", "monitor", "tol"} <= set(state)
    config["early_stopping_state"] = {
        k: state[k] for k in ("best", "best_epoch", "waited", "stopped", "best_sha256")
    }
    save_checkpoint(model, ckpt, config)
    out, _ = run(capsys, ["--resume", str(ckpt), "--epochs", "6", "--save", str(tmp_path / "resumed.npz")])
    assert "stopped after epoch 3, restored the weights of epoch 1" in out
    assert np.array_equal(weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz"))


def test_python_m_fastnn_train_resumes_early_stopping_to_the_same_end(tmp_path):
    """The same through the documented command, each leg its own process."""
    common = [*SMALL, "--backend", "numpy", "--early-stopping", "2", "--tol", "1", "--epochs", "6", "--quiet"]

    def train(*argv: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "fastnn.train", *common, *argv],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    ckpt = tmp_path / "c.npz"
    train("--save", str(tmp_path / "straight.npz"), "--metrics-json", str(tmp_path / "s.json"))
    train("--epochs", "2", "--checkpoint", str(ckpt))
    train(
        "--resume",
        str(ckpt),
        "--save",
        str(tmp_path / "resumed.npz"),
        "--metrics-json",
        str(tmp_path / "r.json"),
    )
    assert np.array_equal(weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz"))
    assert _run_record(tmp_path / "r.json") == _run_record(tmp_path / "s.json")


def test_tampered_best_weights_are_refused(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--early-stopping", "2", "--tol", "1", "--epochs", "2", "--checkpoint", str(ckpt)])
    other = MLP([784, 128, 64, 10], seed=5)
    other.epochs_trained = 1
    other.save(tmp_path / "c.best.npz")
    _, err = run(capsys, ["--resume", str(ckpt), "--epochs", "4"], code=2)
    assert "the weights of the best epoch 1 do not match the checkpoint" in err


def test_already_finished_run_just_evaluates(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--epochs", "2", "--checkpoint", str(ckpt)])
    before = load_checkpoint(ckpt)[0].params.data
    out, _ = run(capsys, ["--resume", str(ckpt), "--epochs", "2"])
    assert "2 epochs already done (--epochs 2); nothing to train, evaluating" in out
    assert "test accuracy" in out and "epoch 1/2" not in out
    assert np.array_equal(load_checkpoint(ckpt)[0].params.data, before)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--lr", "0.5"], "--lr 0.5 (the checkpoint has 0.01)"),
        (["--layers", "784,32,10"], "--layers 784,32,10 (the checkpoint has 784,128,64,10)"),
        (["--batch-size", "full"], "--batch-size full (the checkpoint has 1)"),
        (["--val-size", "50"], "--val-size 50 (the checkpoint has 100)"),
        (["--preset", "tutorial"], "--preset tutorial (the checkpoint has none)"),
        (["--early-stopping", "3"], "--early-stopping 3 (the checkpoint has none)"),
    ],
)
def test_flags_that_change_the_numbers_are_refused(capsys, tmp_path, flags, expected):
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--epochs", "1", "--checkpoint", str(ckpt), "--quiet"])
    _, err = run(capsys, ["--resume", str(ckpt), "--epochs", "2", *flags], code=2)
    assert err.startswith(f"fastnn: error: --resume {ckpt}: ") and expected in err, err
    assert "drop the flag to continue that run" in err and err.count("\n") == 1


def test_same_values_and_run_options_may_be_given(capsys, tmp_path):
    """Repeating the checkpoint's values is fine; --backend, --threads and outputs may change."""
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--epochs", "1", "--checkpoint", str(ckpt), "--quiet"])
    other = next(b for b in backend_names() if b != "numpy")
    out, _ = run(
        capsys,
        [
            "--resume",
            str(ckpt),
            *SMALL,
            "--lr",
            "0.01",
            "--activations",
            "relu,relu,softmax",
            "--epochs",
            "2",
            "--backend",
            other,
            "--threads",
            "1",
            "--verbose",
        ],
    )
    assert f"backend {other} |" in out and "epoch 2/2" in out


def test_other_data_are_refused(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    run(capsys, [*SMALL, "--epochs", "1", "--checkpoint", str(ckpt), "--quiet"])
    _, err = run(
        capsys,
        ["--resume", str(ckpt), "--train-size", "300", "--epochs", "2", "--data", str(_csv(tmp_path))],
        code=2,
    )
    assert "the checkpoint was trained on embedded MNIST subset" in err and "pass the --data" in err


def _csv(tmp_path: Path) -> Path:
    from fastnn.data import load_embedded

    data = load_embedded()
    rows = [
        ",".join(map(str, [label, *pixels]))
        for label, pixels in zip(data.y_train[400:900], data.x_train[400:900], strict=True)
    ]
    path = tmp_path / "other.csv"
    path.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("model", "a model file, not a checkpoint"),
        ("missing", "no such model file"),
        ("garbage", "not a fastnn model file"),
    ],
)
def test_resume_from_something_else_is_a_one_line_error(capsys, tmp_path, make, expected):
    path = tmp_path / "x.npz"
    if make == "model":
        MLP([784, 10, 10]).save(path)
    elif make == "garbage":
        path.write_bytes(b"not a zip")
    _, err = run(capsys, ["--resume", str(path)], code=2)
    assert err.startswith("fastnn: error: --resume ") and expected in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "the checkpoint has no stored training options"),
        ({"options": {"lr": "fast"}}, "invalid stored option --lr 'fast'"),
        ({"options": {"optimizer": "rmsprop"}}, "invalid stored option --optimizer 'rmsprop'"),
        ({"options": {"layers": {"a": 1}}}, "invalid stored option --layers"),
    ],
)
def test_a_checkpoint_with_bad_stored_options_is_refused(capsys, tmp_path, config, expected):
    """Checkpoints come from files: every stored option is re-parsed by its flag's type."""
    path = tmp_path / "c.npz"
    save_checkpoint(MLP([784, 10, 10], "relu"), path, config)
    _, err = run(capsys, ["--resume", str(path)], code=2)
    assert err.startswith(f"fastnn: error: --resume {path}: ") and expected in err, err


def test_divergence_keeps_the_checkpoint_of_the_last_good_epoch(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    _, err = run(capsys, [*SMALL, "--epochs", "3", "--lr", "1e30", "--checkpoint", str(ckpt)], code=1)
    assert "training diverged in epoch 1" in err and "lower learning rate" in err
    assert f"the checkpoint {ckpt} holds the initial weights" in err
    kept = load_checkpoint(ckpt)[0]
    assert kept.epochs_trained == 0
    assert np.array_equal(kept.params.data, MLP([784, 128, 64, 10], seed=0).params.data)


def test_checkpoint_directory_is_checked_before_training(capsys, tmp_path):
    target = tmp_path / "missing" / "c.npz"
    _, err = run(capsys, [*SMALL, "--checkpoint", str(target)], code=2)
    assert "--checkpoint" in err and str(target.parent) in err
