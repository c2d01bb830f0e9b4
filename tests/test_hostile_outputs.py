"""Issue 15, kinds 1-3: a file never decides where fastnn writes; outputs never destroy
inputs, each other or non-files; trained work is never lost to an output problem.

Every refusal must come before any work (no epoch line printed, the input unchanged),
and every output problem found after training must leave a recoverable model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from faults import char_device, fifo, fill, tmpfs

from fastnn import MLP
from fastnn.atomic import STALE_SECONDS, remove_stale_parts
from fastnn.cli import evaluate as evaluate_cli
from fastnn.cli.train import main as train_main

SMALL = [
    "--train-size",
    "200",
    "--val-size",
    "50",
    "--epochs",
    "1",
    "--backend",
    "numpy",
    "--layers",
    "784,8,10",
]


def train(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> tuple[str, str]:
    got = train_main([*SMALL, *map(str, argv)])
    out, err = capsys.readouterr()
    assert got == code, f"exit {got}, expected {code}; stderr:\n{err}"
    return out, err


def refused_before_training(capsys, argv: list[str], match: str) -> str:
    out, err = train(capsys, argv, code=2)
    assert "epoch 1/1" not in out, "training ran before the refusal"
    assert match in err, err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------ kind 1
def _rewrite_train_config(path: Path, edit) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["fastnn_meta"]))
    edit(meta["train_config"]["options"])
    arrays["fastnn_meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def test_resume_never_writes_where_the_checkpoint_says(capsys, tmp_path):
    ckpt, victim = tmp_path / "c.npz", tmp_path / "victim.txt"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    train(capsys, ["--epochs", "1", "--checkpoint", ckpt, "--save", elsewhere / "s.npz"])
    victim.write_text("precious")

    def point_at_victim(options):
        options.update(save=str(victim), metrics_json=str(victim), plot=str(tmp_path / "plotdir"), epochs=2)

    _rewrite_train_config(ckpt, point_at_victim)
    out, _ = train(capsys, ["--resume", ckpt, "--epochs", "2"])
    assert victim.read_text() == "precious"
    assert not (tmp_path / "plotdir").exists()
    # The outputs the checkpoint's run wrote now sit beside the checkpoint, and are printed first.
    beside = tmp_path / "c.model.npz"
    assert MLP.load(beside).epochs_trained == 2
    assert f"--save {beside}" in out and f"--metrics-json {tmp_path / 'c.metrics.json'}" in out
    assert out.index("writes:") < out.index("epoch 2/2")


def test_resume_writes_where_the_command_line_says(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    train(capsys, ["--epochs", "1", "--checkpoint", ckpt, "--save", tmp_path / "first.npz"])
    out, _ = train(capsys, ["--resume", ckpt, "--epochs", "2", "--save", tmp_path / "mine.npz"])
    assert MLP.load(tmp_path / "mine.npz").epochs_trained == 2
    assert not (tmp_path / "c.model.npz").exists()
    assert "writes: --save" in out


# ------------------------------------------------------------------ kind 2
def _keras_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 300)
    np.savez(path, x_train=x, y_train=y, x_test=x[:50], y_test=y[:50])
    return path


@pytest.mark.parametrize(
    "case",
    [
        "checkpoint-is-save",
        "save-is-metrics",
        "data-is-save",
        "symlink-to-data",
        "hardlink-to-data",
        "save-is-resume",
    ],
)
def test_an_output_that_is_an_input_or_another_output_is_refused(capsys, tmp_path, case):
    data = _keras_npz(tmp_path / "d.npz")
    if case == "checkpoint-is-save":
        argv, keep = ["--checkpoint", tmp_path / "c.npz", "--save", tmp_path / "c.npz"], None
    elif case == "save-is-metrics":
        argv, keep = ["--save", tmp_path / "r.npz", "--metrics-json", tmp_path / "r.npz"], None
    elif case == "save-is-resume":
        ckpt = tmp_path / "c.npz"
        train(capsys, ["--data", data, "--checkpoint", ckpt])
        argv, keep = ["--resume", ckpt, "--epochs", "2", "--save", ckpt], ckpt
    else:
        target = tmp_path / "alias.npz"
        if case == "symlink-to-data":
            target.symlink_to(data)
        elif case == "hardlink-to-data":
            os.link(data, target)
        else:
            target = data
        argv, keep = ["--data", data, "--save", target], data
    before = keep.read_bytes() if keep is not None else None
    err = refused_before_training(
        capsys, argv if "--data" in map(str, argv) else ["--data", data, *argv], "same file"
    )
    assert "choose another path" in err
    if keep is not None:
        assert keep.read_bytes() == before
    assert (
        not (tmp_path / "r.npz").exists() and not (tmp_path / "c.npz").exists()
    ) or case == "save-is-resume"


def test_evaluate_json_onto_its_model_is_refused(capsys, tmp_path):
    model = MLP([784, 8, 10], seed=1).save(tmp_path / "m.npz")
    before = model.read_bytes()
    assert evaluate_cli.main(["--model", str(model), "--json", str(model)]) == 2
    assert "same file as the input --model" in capsys.readouterr().err
    assert model.read_bytes() == before


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "dot"])
def test_an_output_that_is_not_a_regular_file_is_refused(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    target = {
        "device": lambda: char_device(tmp_path / "null"),
        "fifo": lambda: fifo(tmp_path / "pipe.npz"),
        "directory": lambda: (tmp_path / "d").mkdir() or tmp_path / "d",
        "dot": lambda: Path("."),
    }[kind]()
    for flag in ("--save", "--metrics-json", "--checkpoint"):
        err = refused_before_training(capsys, [flag, target], "not a regular file")
        assert {
            "device": "a character device",
            "fifo": "a FIFO",
            "directory": "a directory",
            "dot": "a directory",
        }[kind] in err
    if kind == "device":
        assert (tmp_path / "null").is_char_device()  # the node was not replaced by a file
    if kind == "fifo":
        assert (tmp_path / "pipe.npz").is_fifo()


def test_plot_onto_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    refused_before_training(capsys, ["--plot", tmp_path / "f"], "not a directory")


# ------------------------------------------------------------------ kind 3
def test_a_read_only_directory_is_refused_before_training(capsys, tmp_path):
    with tmpfs(tmp_path / "ro", read_only=True) as ro:
        for flag in ("--save", "--metrics-json", "--checkpoint"):
            err = refused_before_training(capsys, [flag, ro / "m.npz"], "cannot write in")
            assert "Read-only file system" in err


def test_a_full_disk_after_training_keeps_the_model(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with tmpfs(tmp_path / "full", size="64k") as full:
        fill(full)
        out, err = train(capsys, ["--save", full / "m.npz", "--metrics-json", full / "m.json"], code=1)
    assert "epoch 1/1" in out
    assert f"--save {full / 'm.npz'}: could not write the trained model (No space left on device)" in err
    recovered = Path(err.split("was saved to ")[1].split(" instead")[0])
    assert recovered.parent == tmp_path and MLP.load(recovered).epochs_trained == 1
    assert "--metrics-json" in err and "Traceback" not in err


def test_a_failed_save_after_training_keeps_the_model_anywhere(capsys, tmp_path, monkeypatch):
    """The same without a tmpfs: the save itself fails with ENOSPC, so it runs everywhere."""
    import fastnn.cli.train_outputs as outputs

    monkeypatch.chdir(tmp_path)
    real_save = outputs.save_model

    def full_disk(model, path, *args, **kwargs):
        if Path(path).name == "m.npz":
            raise OSError(28, "No space left on device")
        return real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(outputs, "save_model", full_disk)
    _, err = train(capsys, ["--save", tmp_path / "m.npz"], code=1)
    assert "could not write the trained model (No space left on device)" in err
    recovered = Path(err.split("was saved to ")[1].split(" instead")[0])
    assert MLP.load(recovered).epochs_trained == 1


def test_a_checkpoint_that_cannot_be_written_stops_training_and_keeps_the_model(
    capsys, tmp_path, monkeypatch
):
    import fastnn.cli.train_loop as loop

    monkeypatch.chdir(tmp_path)
    calls = []

    def failing(model, path, config=None):
        calls.append(1)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loop, "save_checkpoint", failing)
    out, err = train(capsys, ["--epochs", "3", "--checkpoint", tmp_path / "c.npz"], code=1)
    assert "could not write it (No space left on device); training stopped" in err
    assert "epoch 2/3" not in out and len(calls) == 1
    recovered = Path(err.split("was saved to ")[1].split(" instead")[0])
    assert MLP.load(recovered).epochs_trained == 1


# ------------------------------------------------------------------ stale parts
def test_stale_part_files_of_our_naming_are_removed_and_nothing_else(tmp_path):
    dead = 2**22 + 12345  # above any default pid_max: no such process
    old = time.time() - 2 * STALE_SECONDS
    names = {
        f".m.npz.{dead}.abcd1234.part": True,  # ours, writer gone, untouched for long
        f".m.npz.{os.getpid()}.abcd1234.part": False,  # this live process
        ".m.npz.1.abcd1234.part": False,  # pid 1 is alive
        ".m.npz.abcd1234.part": False,  # old naming, younger than a day
        f".other.npz.{dead}.abcd1234.part": False,  # another target's
        f"m.npz.{dead}.abcd1234.part": False,  # not hidden: not our naming
        f".m.npz.{dead}.abcd1234.tmp": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    recent = tmp_path / f".m.npz.{dead}.zzzz9999.part"  # writer gone, but written to just now
    recent.write_bytes(b"x")
    removed = remove_stale_parts(tmp_path, "m.npz")
    assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
    assert recent.exists()
    assert all((tmp_path / n).exists() != gone for n, gone in names.items())


_WRITER = """
import sys
import numpy as np
from fastnn import MLP
model = MLP([784, 300, 10], seed=0)
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def test_kill_loop_leaves_a_loadable_model_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "m.npz"
    MLP([784, 300, 10], seed=0).save(target)
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert MLP.load(target).layer_sizes == (784, 300, 10)
    parts = list(tmp_path.glob(".m.npz.*.part"))
    old = time.time() - 2 * STALE_SECONDS
    for part in parts:
        os.utime(part, (old, old))
    MLP([784, 300, 10], seed=1).save(target)
    assert list(tmp_path.glob(".m.npz.*.part")) == []
    assert MLP.load(target).seed == 1


@pytest.mark.parametrize("data", [None, "mnist"])
def test_the_default_data_directory_counts_as_an_input(tmp_path, monkeypatch, data):
    from fastnn.cli.inputs import plan_data
    from fastnn.errors import InvalidParameterError
    from fastnn.paths import OutputPlan

    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    plan = OutputPlan()
    plan_data(plan, data)
    plan.write("--save", tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(InvalidParameterError, match="same file as the input --data"):
        plan.check()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_api_save_never_replaces_a_node(tmp_path, kind):
    from fastnn.errors import DataError, InvalidParameterError
    from fastnn.model_files import save_checkpoint

    node = fifo(tmp_path / "n.npz") if kind == "fifo" else char_device(tmp_path / "n.npz")
    with pytest.raises(InvalidParameterError, match=r"the 'path' parameter .* not a file path"):
        MLP([4, 3, 2]).save(node)
    with pytest.raises(DataError, match="not a regular file; refusing to replace it"):
        save_checkpoint(MLP([4, 3, 2]), node)
    assert node.is_fifo() if kind == "fifo" else node.is_char_device()
