"""The race against the peers (``python -m benchmarks.race``), on a few hundred embedded digits.

No timing is asserted anywhere: speed is what the race prints, not what a test checks.
What is checked: every installed entrant trains the same maths as fastnn's reference
(same weights after an epoch in the same order), the records, the guard, a missing peer
being skipped with a line, the report's numbers from hand-made records, the results file
checks, and one whole run through the command line. Peers that are not installed (CI
installs neither PyTorch nor JAX) skip cleanly with ``pytest.importorskip``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.race import entrants, render, results, runner, summary, worker
from benchmarks.race.cli import main
from benchmarks.race.recipes import RECIPES, RaceData, initial_weights, load_race_data

#: The import each entrant needs (None: fastnn itself).
NEEDS = {"numba": "numba", "numpy": None, "jax": "jax", "torch": "torch", "sklearn": "sklearn"}
#: 300 samples: batch 64 and 256 both end in a ragged batch (44 samples).
N_TRAIN, N_TEST = 300, 200


@pytest.fixture(scope="module")
def data() -> RaceData:
    return load_race_data("embedded", N_TRAIN, N_TEST)


def _need(entrant: str) -> None:
    if NEEDS[entrant]:
        pytest.importorskip(NEEDS[entrant])


def _max_diff(a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]]) -> float:
    return max(
        float(np.max(np.abs(x - y))) for pa, pb in zip(a, b, strict=True) for x, y in zip(pa, pb, strict=True)
    )


# ------------------------------------------------------------------ same maths everywhere
@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("entrant", ["numba", "jax", "torch", "sklearn"])
def test_each_entrant_trains_the_same_recipe_as_fastnn(entrant: str, recipe: str, data: RaceData) -> None:
    """Same initial weights, samples in order, two epochs: the weights match fastnn numpy's.

    This is what makes the race fair: each peer's optimiser, loss averaging and ragged
    last batch are fastnn's, not just similar.
    """
    _need(entrant)
    entrants.load(entrants.ENTRANTS[entrant]).configure_threads(1)  # tiny steps: no thread pool
    r = RECIPES[recipe]
    init = initial_weights(r, seed=3)
    trained = {}
    for name in ("numpy", entrant):
        setup = entrants.Setup(r, data, init, seed=3, threads=1, shuffle=False)
        trainer = entrants.build(entrants.ENTRANTS[name], setup)
        trainer.train_epoch()
        trainer.train_epoch()
        trained[name] = trainer.weights()
    moved = _max_diff(trained["numpy"], init)
    assert moved > 1e-2, f"{recipe}: the reference barely trained (max change {moved})"
    diff = _max_diff(trained[entrant], trained["numpy"])
    assert diff < 2e-5, f"{entrant} on {recipe}: weights differ from fastnn numpy's by {diff}"


def test_initial_weights_are_what_fastnn_draws() -> None:
    import fastnn

    r = RECIPES["fast-b64"]
    model = fastnn.MLP(r.layers, r.activations, seed=5)
    init = initial_weights(r, seed=5)
    assert [W.shape for W, _ in init] == [(784, 256), (256, 128), (128, 10)]
    for i, (W, b) in enumerate(init):
        np.testing.assert_array_equal(W, model.params.W(i))
        np.testing.assert_array_equal(b, model.params.b(i))


# ------------------------------------------------------------------ one worker's run
@pytest.mark.parametrize("entrant", list(entrants.ENTRANTS))
def test_run_records_every_epoch(entrant: str, data: RaceData) -> None:
    _need(entrant)
    log = io.StringIO()
    record = worker.run(entrants.ENTRANTS[entrant], RECIPES["small-b256"], data, epochs=2, threads=1, log=log)
    assert record["entrant"] == entrant and record["recipe"] == "small-b256" and record["threads"] == 1
    assert len(record["epoch_seconds"]) == len(record["test_accuracy"]) == 2
    assert all(s > 0 for s in record["epoch_seconds"])
    # 300 digits, two epochs at lr 0.1 with momentum: well above chance (10%) for everyone.
    assert record["test_accuracy"][-1] > 0.3, record["test_accuracy"]
    assert record["stopped"] is None and record["skipped"] is None
    assert record["versions"] and all(isinstance(v, str) for v in record["versions"].values())
    assert (record["n_train"], record["n_test"]) == (N_TRAIN, N_TEST)
    assert log.getvalue().count("epoch ") == 2
    results.check_record(json.loads(json.dumps(record)), "record")


@pytest.mark.parametrize(
    ("first", "later", "done", "flag"),
    [(1e-4, None, 0, "--max-first-seconds"), (None, 1e-4, 1, "--max-seconds")],
)
def test_guard_stops_an_entrant_whose_epoch_is_too_long(
    data: RaceData, first: float | None, later: float | None, done: int, flag: str
) -> None:
    """300 per-sample steps of the numpy backend cannot finish in 0.1 ms."""
    log = io.StringIO()
    record = worker.run(
        entrants.ENTRANTS["numpy"],
        RECIPES["sigmoid-sgd"],
        data,
        epochs=3,
        threads=1,
        max_seconds=later,
        max_first_seconds=first,
        log=log,
    )
    assert len(record["epoch_seconds"]) == len(record["test_accuracy"]) == done
    assert record["stopped"].startswith(f"stopped in epoch {done + 1} after ")
    assert record["stopped"].endswith(f"over {flag} 0.0001")
    assert record["stopped"] in log.getvalue()


def test_thread_env_sets_every_knob_and_keeps_the_rest() -> None:
    base = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512000", "XLA_FLAGS": "--xla_foo=1"}
    env = worker.thread_env(1, base)
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["OPENBLAS_L2_SIZE"] == "512000"
    for key in worker.THREAD_ENV:
        assert env[key] == "1"
    assert env["XLA_FLAGS"] == "--xla_foo=1 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    flags = "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"
    assert worker.thread_env(2, {})["XLA_FLAGS"] == flags


@pytest.mark.parametrize("threads", [1, 2])
def test_xla_accepts_the_thread_flags(threads: int) -> None:
    """XLA aborts the process on a flag it cannot parse, so try them in a child process."""
    pytest.importorskip("jax")
    import os
    import subprocess
    import sys

    code = "import jax.numpy as jnp; print(float(jnp.arange(4.0).sum()))"
    env = worker.thread_env(threads, os.environ)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "6.0", proc.stderr[-2000:]


# ------------------------------------------------------------------ skipping
def _config(**changes: Any) -> runner.RaceConfig:
    base = runner.RaceConfig(
        recipes=("small-b256",),
        entrants=("torch",),
        threads=(1,),
        epochs=1,
        data="embedded",
        n_train=N_TRAIN,
        n_test=N_TEST,
        seed=0,
        max_seconds=None,
        max_first_seconds=None,
        skip=(),
        pin=False,
    )
    return dataclasses.replace(base, **changes)


def test_a_missing_peer_is_skipped_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = entrants.importlib.util.find_spec
    monkeypatch.setattr(
        entrants.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    monkeypatch.setattr(runner, "run_worker", lambda *a: pytest.fail("a worker was started"))
    log = io.StringIO()
    records = runner.run_race(_config(), log=log)
    assert [r["skipped"] for r in records] == ["torch not installed (pip install -e '.[peers]')"]
    assert "PyTorch eager: skipped (torch not installed" in log.getvalue()
    assert "Traceback" not in log.getvalue()


def test_ctrl_c_keeps_the_runs_already_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_worker(config: runner.RaceConfig, entrant: str, recipe: str, threads: int) -> dict[str, Any]:
        calls.append(entrant)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _record(entrant, [1.0], [0.5])

    monkeypatch.setattr(runner, "run_worker", fake_worker)
    log = io.StringIO()
    records = runner.run_race(_config(entrants=("numpy", "numba", "numpy")), log=log)
    assert [r["entrant"] for r in records] == ["numpy"] and calls == ["numpy", "numba"]
    assert "interrupted: reporting the 1 run(s) finished" in log.getvalue()


def test_skip_option_names_itself() -> None:
    config = _config(entrants=("numpy",), skip=(("numpy", "small-b256"),))
    assert runner.skip_reason(config, "numpy", "small-b256") == "skipped by --skip numpy:small-b256"
    assert runner.skip_reason(config, "numpy", "fast-b64") is None
    assert (
        runner.skip_reason(_config(skip=(("numpy", None),)), "numpy", "fast-b64") == "skipped by --skip numpy"
    )


# ------------------------------------------------------------------ numbers and Markdown
def _record(entrant: str, seconds: list[float], accuracy: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "entrant": entrant,
        "label": entrants.ENTRANTS[entrant].label,
        "recipe": "fast-b64",
        "threads": 1,
        "epoch_seconds": seconds,
        "test_accuracy": accuracy,
        "skipped": None,
        "stopped": None,
        "versions": {},
        "n_train": 60000,
        "n_test": 10000,
    } | extra


def test_summary_numbers_from_hand_made_records() -> None:
    assert summary.median_after_first([9.0, 1.0, 3.0, 2.0]) == 2.0
    assert summary.median_after_first([9.0]) is None
    assert summary.time_to_target([2.0, 1.0, 1.5], [0.95, 0.981, 0.99], 0.98) == (3.0, 2)
    assert summary.time_to_target([2.0, 1.0], [0.95, 0.97], 0.98) is None
    row = {
        o.entrant: o
        for o in (
            summary.outcome(_record("numba", [5.0, 0.5, 0.5], [0.9, 0.97, 0.98]), 0.98),
            summary.outcome(_record("jax", [9.0, 1.5, 1.5], [0.9, 0.97, 0.98]), 0.98),
            summary.outcome(_record("torch", [1.2, 1.0, 1.2], [0.9, 0.97, 0.98]), 0.98),
        )
    }
    ratio, peer = summary.speed_ratio(row)
    assert peer.entrant == "torch" and ratio == pytest.approx(1.1 / 0.5)
    assert row["numba"].target_seconds == 6.0 and row["numba"].target_epoch == 3


def test_markdown_shows_ratios_targets_and_every_skip() -> None:
    doc = results.document(
        {
            "command": "python -m benchmarks.race --epochs 3",
            "target": 0.98,
            "config": {"epochs": 3},
            "environment": {"OPENBLAS_CORETYPE": "Haswell"},
        },
        [
            _record("numba", [5.0, 0.5, 0.5], [0.9, 0.97, 0.98]),
            _record("torch", [1.2, 1.0, 1.0], [0.9, 0.97, 0.975]),
            _record("jax", [], [], skipped="jax not installed (pip install -e '.[peers]')"),
            _record(
                "sklearn", [30.5], [0.9], stopped="stopped in epoch 2 after 31.0 s: over --max-seconds 30"
            ),
        ],
    )
    text = render.render(results.check_document(doc, "doc"), chart="race.png")
    assert (
        "| `fast-b64` | 1 | 0.5 s (first 5 s) | - | 1 s (first 1.2 s) | first 30.5 s † | 2x vs PyTorch eager |"
        in text
    )
    assert (
        "| `fast-b64` | 1 | 6 s (epoch 3); 98.00% | - | not in 3 epochs; 97.50% | not in 1 epoch; 90.00% |"
        in text
    )
    assert "- JAX (jit + lax.scan), `fast-b64`, 1 thread(s): jax not installed" in text
    assert "- scikit-learn, `fast-b64`, 1 thread(s): stopped in epoch 2" in text
    assert "![test accuracy against training time, per recipe and entrant](race.png)" in text
    assert "python -m benchmarks.race --epochs 3" in text
    assert "`OPENBLAS_CORETYPE=Haswell`" in text


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("format"), "no 'format'"),
        (lambda d: d["records"][0].update(entrant="keras"), "unknown entrant 'keras'"),
        (lambda d: d["records"][0].update(recipe="x"), "unknown recipe 'x'"),
        (lambda d: d["records"][0].update(threads=0), "'threads' must be an int"),
        (lambda d: d["records"][0].update(test_accuracy=[1.5]), "'test_accuracy' holds 1.5"),
        (lambda d: d["records"][0].update(epoch_seconds=["1"]), "'epoch_seconds' holds '1'"),
        (lambda d: d["records"][0].update(epoch_seconds=[1.0, 2.0]), "differ in length"),
        (lambda d: d["meta"].update(target=7), "'meta.target' must be a number"),
        (lambda d: d["meta"].update(machine=[]), "'meta.machine' must be an object"),
        (lambda d: d["meta"].update(environment={"A": 1}), "'meta.environment' must map"),
    ],
)
def test_results_file_is_checked_before_use(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = results.document({"target": 0.98}, [_record("numba", [1.0], [0.5])])
    mutate(doc)
    path = tmp_path / "race.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match=message) as info:
        results.load(path)
    assert str(path) in str(info.value)


def test_results_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "race.json"
    path.write_bytes(b"\xff\x00not json")
    with pytest.raises(SystemExit, match=r"race\.json: not a race results file .*\(not JSON"):
        results.load(path)
    with pytest.raises(SystemExit, match="cannot read"):
        results.load(tmp_path / "missing.json")


# ------------------------------------------------------------------ the command
def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (["--entrants", "keras"], ["--threads", "0"], ["--skip", "numpy:nope"], ["--target", "2"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert "entrants must be among" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such file or directory" in capsys.readouterr().err
    readme = tmp_path / "README.md"
    readme.write_bytes(b"\xff\xfe")
    assert main(["--update-readme", str(readme), "--data", "embedded"]) == 2
    assert "README.md: cannot read as UTF-8 text" in capsys.readouterr().err
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="race-table:start"):
        main(["--update-readme", str(readme), "--data", "embedded"])


@pytest.mark.slow
def test_race_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every installed entrant in its own worker process, the README section, JSON and chart."""
    installed = [name for name, e in entrants.ENTRANTS.items() if entrants.missing(e) is None]
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{render.START}\nold\n{render.END}\n\nafter\n")
    saved, png, out = tmp_path / "race.json", tmp_path / "race.png", tmp_path / "race.md"
    argv = ["--data", "embedded", "--train-size", str(N_TRAIN), "--test-size", str(N_TEST)]
    argv += ["--epochs", "2", "--threads", "1", "--recipes", "small-b256", "--entrants", ",".join(installed)]
    argv += ["--save-json", str(saved), "--png", str(png), "--out", str(out), "--update-readme", str(readme)]
    assert main(argv) == 0
    doc = results.load(saved)
    assert [r["entrant"] for r in doc["records"]] == installed
    for r in doc["records"]:
        assert len(r["epoch_seconds"]) == 2, r
        assert r["pinned_cpus"] and len(r["pinned_cpus"]) == 1
        assert r["thread_env"]["OPENBLAS_NUM_THREADS"] == "1"
    text = readme.read_text()
    assert (
        text.startswith("# Title\n\n") and text.endswith(f"{render.END}\n\nafter\n") and "\nold\n" not in text
    )
    for name in installed:
        assert entrants.ENTRANTS[name].label in text
    assert "![test accuracy against training time" in text  # the chart lives beside the README
    if png.exists():
        assert png.read_bytes().startswith(b"\x89PNG")
    # Re-rendering the saved run gives the same Markdown.
    again = tmp_path / "again.md"
    assert main(["--json", str(saved), "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
