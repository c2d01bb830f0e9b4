"""Ctrl-C during ``python -m fastnn.train``: a real SIGINT sent to a real process.

The first SIGINT lets the running epoch finish, writes the checkpoint and exits 130
with a resume hint; a second one aborts the epoch at once and the checkpoint of the
last finished epoch stays. Never a traceback. The numpy backend is used because its
epochs run Python code between samples, where a second SIGINT can land mid-epoch
(a Numba kernel only sees it when the epoch's kernel returns).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fastnn.cli.train import main
from fastnn.model_loading import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: Epochs of about half a second each on the numpy backend, far more than a test waits for.
LONG_RUN = ["--backend", "numpy", "--train-size", "1500", "--val-size", "100", "--epochs", "200"]


def start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    with (tmp_path / "stderr.txt").open("w") as err:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "fastnn.train", *LONG_RUN, *extra],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=tmp_path,
        )


def wait_for_epoch_line(proc: subprocess.Popen[str]) -> list[str]:
    """Read stdout until the first epoch line; returns the lines read."""
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("epoch "):
            return lines
    proc.kill()
    pytest.fail(f"no epoch line; stdout so far:\n{''.join(lines)}")


def finish(proc: subprocess.Popen[str], tmp_path: Path, lines: list[str]) -> tuple[str, str]:
    out, _ = proc.communicate(timeout=120)
    return "".join(lines) + out, (tmp_path / "stderr.txt").read_text()


def last_epoch(out: str) -> int:
    return int(re.findall(r"^epoch +(\d+)/200", out, re.MULTILINE)[-1])


def test_first_sigint_finishes_the_epoch_checkpoints_and_exits_130(tmp_path):
    proc = start(tmp_path, "--checkpoint", "c.npz", "--save", "m.npz", "--metrics-json", "m.json")
    lines = wait_for_epoch_line(proc)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, tmp_path, lines)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    n = last_epoch(out)
    assert 1 <= n < 200
    assert "Ctrl-C: stopping after this epoch (Ctrl-C again to stop now)" in err
    assert err.rstrip().endswith(
        f"interrupted after epoch {n}; resume with: python -m fastnn.train --resume c.npz"
    )
    model, config = load_checkpoint(tmp_path / "c.npz")
    assert model.epochs_trained == n and len(model.history) == n
    assert config["options"]["epochs"] == 200 and config["options"]["backend"] == "numpy"
    assert f"saved model to m.npz (weights after epoch {n})" in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["status"] == "interrupted" and len(metrics["history"]) == n


def test_second_sigint_aborts_the_epoch_and_keeps_the_last_checkpoint(tmp_path):
    proc = start(tmp_path, "--checkpoint", "c.npz")
    lines = wait_for_epoch_line(proc)
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while "Ctrl-C again" not in (tmp_path / "stderr.txt").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, tmp_path, lines)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    n = last_epoch(out)  # the epoch running at the second SIGINT was abandoned: no line for it
    assert f"interrupted after epoch {n}; resume with: python -m fastnn.train --resume c.npz" in err
    model, _ = load_checkpoint(tmp_path / "c.npz")
    assert model.epochs_trained == n


def test_sigint_without_checkpoint_says_how_to_make_runs_resumable(tmp_path):
    proc = start(tmp_path)
    lines = wait_for_epoch_line(proc)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, tmp_path, lines)
    assert proc.returncode == 130 and "Traceback" not in err
    assert f"interrupted after epoch {last_epoch(out)}; pass --checkpoint PATH" in err


def test_the_sigint_handler_is_restored_after_training(capsys):
    before = signal.getsignal(signal.SIGINT)
    assert main(["--backend", "numpy", "--train-size", "100", "--val-size", "50", "--epochs", "1"]) == 0
    assert signal.getsignal(signal.SIGINT) is before
    capsys.readouterr()


def test_training_in_a_worker_thread_installs_no_handler(capsys):
    """Only the main thread may set signal handlers; elsewhere, training runs without one."""
    codes = []
    worker = threading.Thread(
        target=lambda: codes.append(
            main(["--backend", "numpy", "--train-size", "100", "--val-size", "50", "--epochs", "1"])
        )
    )
    worker.start()
    worker.join(timeout=120)
    assert codes == [0]
    assert "test accuracy" in capsys.readouterr().out


def test_resuming_after_sigint_matches_an_uninterrupted_run(tmp_path):
    """The real-signal path end to end: interrupt, resume to N, compare with a straight N."""
    proc = start(tmp_path, "--checkpoint", "c.npz", "--batch-size", "32")
    lines = wait_for_epoch_line(proc)
    proc.send_signal(signal.SIGINT)
    out, _ = finish(proc, tmp_path, lines)
    n = last_epoch(out) + 1
    quick = ["--quiet", "--epochs", str(n)]
    assert main(["--resume", str(tmp_path / "c.npz"), *quick, "--save", str(tmp_path / "r.npz")]) == 0
    assert main([*LONG_RUN, "--batch-size", "32", *quick, "--save", str(tmp_path / "s.npz")]) == 0
    from fastnn import MLP

    assert np.array_equal(MLP.load(tmp_path / "r.npz").params.data, MLP.load(tmp_path / "s.npz").params.data)
