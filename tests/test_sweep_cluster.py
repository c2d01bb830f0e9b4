"""Sweeps on a real Dask LocalCluster: 2 worker processes on 127.0.0.1, the embedded digits.

One cluster, started by the sweep's own ``connect`` (the settings the command uses),
serves every test through ``--scheduler``; the default path (the command starting its
own cluster) has one test of its own. Trials are tiny (1 epoch, 500 samples) except
the deliberately slow ones that the kill -9 and Ctrl-C tests interrupt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from fastnn.cli.sweep import run_sweep  # noqa: E402
from fastnn.cli.sweep.cluster import connect, send_data, worker_addresses  # noqa: E402
from fastnn.cli.sweep.command import main  # noqa: E402
from fastnn.cli.sweep.spec import SweepSpec, add_grid_values, build_trials, train_parser  # noqa: E402
from fastnn.cli.train_resume import data_fingerprint  # noqa: E402
from fastnn.data import load_dataset, scale_pixels, split_validation  # noqa: E402
from fastnn.model_loading import load_model  # noqa: E402

TINY = ["--data", "embedded", "--epochs", "1", "--train-size", "500", "--layers", "784,16,10"]
#: Per-sample training with the numpy backend: seconds per trial, and no Numba needed.
SLOW = ["--data", "embedded", "--train-size", "1000", "--layers", "784,16,10", "--backend", "numpy"]


@pytest.fixture(scope="module")
def client():
    """Also checks that the cluster leaves this process's environment as it was: Dask's
    nannies set OMP_NUM_THREADS=1 etc. here before spawning workers and never undo it, so
    every later subprocess (other tests' training runs) would sum in another order."""
    before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    with connect(None, workers=2) as c:
        assert os.environ.get("OMP_NUM_THREADS") == "1"  # what the nannies left in this process
        yield c
    after = {k: os.environ.get(k) for k in before}
    assert after == before, f"the local cluster changed this process's environment: {before} -> {after}"


@pytest.fixture
def address(client):
    return client.scheduler.address


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def listening(pid: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN}


def test_cluster_listens_on_loopback_only(client):
    workers = client.run(os.getpid)
    assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    for pid in [os.getpid(), *workers.values()]:  # scheduler and nannies here, workers in their own
        assert listening(pid) <= {"127.0.0.1"}, pid
    assert all(threads == 1 for threads in client.nthreads().values())


def test_data_is_sent_to_each_worker_once(client):
    data = load_dataset("embedded")
    future = send_data(client, data)
    assert set(client.who_has(future)[future.key]) == set(worker_addresses(client))
    # Held on the workers as one object: trials receive the same arrays, not copies per task.
    same = client.run(lambda dask_worker: type(dask_worker.data[future.key]).__name__)
    assert set(same.values()) == {"MnistData"}


def test_sweep_records_trials_saves_the_best_and_skips_finished_ones(tmp_path, address, capsys):
    results, best, plots = tmp_path / "r.jsonl", tmp_path / "best.npz", tmp_path / "plots"
    argv = [
        "--results", str(results), "--scheduler", address, "--save", str(best), "--plot", str(plots),
        *TINY, "--batch-size", "32", "--grid", "lr=0.1,1e20", "--grid", "activations=relu;selu",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    records = lines(results)
    assert len(records) == 4
    by_status = {s: [r for r in records if r["status"] == s] for s in ("ok", "diverged")}
    assert len(by_status["ok"]) == 2 and len(by_status["diverged"]) == 2
    assert all("diverged" in r["error"] and r["settings"]["lr"] == 1e20 for r in by_status["diverged"])
    for r in by_status["ok"]:
        assert r["epochs"] == 1 and r["seed"] == 0 and r["seconds"] > 0 and r["samples_per_s"] > 0
        assert r["worker"].startswith("tcp://127.0.0.1:")
        assert 0.1 < r["val_accuracy"] <= 1 and 0.1 < r["test_accuracy"] <= 1
    # The table: ranked by validation accuracy, the diverged trials last.
    table = [row for row in out.splitlines() if row.startswith("| ") and "---" not in row][1:]
    shown = [float(row.split("|")[4].strip().rstrip("%")) / 100 for row in table[:2]]
    assert shown == sorted((r["val_accuracy"] for r in by_status["ok"]), reverse=True)
    assert "diverged" in table[2] and "diverged" in table[3]
    # The best model is the best trial's: same validation and test accuracy when reloaded.
    top = max(by_status["ok"], key=lambda r: r["val_accuracy"])
    model = load_model(best, backend="numpy")
    data = load_dataset("embedded")
    _, _, x_val, y_val = split_validation(data.x_train, data.y_train, 1000)
    assert model.evaluate(scale_pixels(x_val, "float32"), y_val)["accuracy"] == pytest.approx(
        top["val_accuracy"]
    )
    assert model.activations[0] == top["settings"]["activations"][0]
    assert (plots / "sweep_accuracy.png").stat().st_size > 1000

    # The same command again: nothing to run, the same table.
    assert main(argv) == 0
    assert "4 already in" in capsys.readouterr().out and len(lines(results)) == 4
    # A wider grid: only the new trials run.
    wider = [a.replace("lr=0.1,1e20", "lr=0.1,0.3,1e20") for a in argv]
    assert main(wider) == 0
    assert "4 already in" in capsys.readouterr().out
    new = lines(results)[4:]
    assert len(new) == 2 and {r["settings"]["lr"] for r in new} == {0.3}


def slow_trial_key(grid: dict, train_args: list[str]) -> str:
    """The key run_sweep gives the trial with the most epochs (as its task key holds it)."""
    data = load_dataset("embedded")
    spec = SweepSpec()
    for name, values in grid.items():
        add_grid_values(spec, name, values, "grid", train_parser())
    trials = build_trials(
        spec, train_args, data, data_fingerprint(data.x_train, data.y_train, len(data.x_train))
    )
    return max(trials, key=lambda t: t.options["epochs"]).key


def test_killed_worker_costs_the_trial_a_retry_not_the_sweep(tmp_path, client, address):
    results, grid, train_args = tmp_path / "r.jsonl", {"epochs": [1, 6]}, [*SLOW, "--batch-size", "1"]
    prefix = f"fastnn-trial-{slow_trial_key(grid, train_args)}-"
    outcome = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            run_sweep(grid, results, train_args=train_args, scheduler=address, say=lambda s: None)
        )
    )
    thread.start()
    pids = client.run(os.getpid)
    victim, deadline = None, time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:  # the worker running the 6-epoch trial
        running = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])
        victim = next((w for w, keys in running.items() if any(k.startswith(prefix) for k in keys)), None)
        time.sleep(0.05)
    assert victim is not None, "the slow trial never started"
    time.sleep(0.5)  # well inside its training
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    records = lines(results)
    assert sorted(r["settings"]["epochs"] for r in records) == [1, 6]  # each once, both finished
    slow = next(r for r in records if r["settings"]["epochs"] == 6)
    assert slow["status"] == "ok" and slow["epochs"] == 6
    assert f"pid {pids[victim]})" not in slow["worker"]  # finished by another (or the restarted) worker
    assert outcome[0].ran == 2 and not outcome[0].interrupted
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_data_lost_with_its_only_worker_is_sent_again(tmp_path, client, address, monkeypatch):
    """The scattered data can live on one worker only (a worker that joined after the
    broadcast, or a copy not yet made) and die with it: the sweep sends it again and
    runs the trials, instead of stopping with "the Dask cluster failed" (seen in CI
    when the kill -9 test above killed the worker that held the only copy)."""
    from fastnn.cli.sweep import runner

    sends = []

    def lossy_send(dask_client, data):
        sends.append(len(sends))
        if len(sends) > 1:
            return send_data(dask_client, data)
        victim = worker_addresses(dask_client)[0]
        future = dask_client.scatter(data, workers=[victim], broadcast=False, hash=False)
        os.kill(dask_client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        return future

    monkeypatch.setattr(runner, "send_data", lossy_send)
    results = tmp_path / "r.jsonl"
    outcome = run_sweep({"epochs": [1, 2]}, results, train_args=SLOW, scheduler=address, say=lambda s: None)
    assert len(sends) >= 2, "the data was never sent again"
    assert outcome.ran == 2 and not outcome.interrupted
    assert sorted(r["settings"]["epochs"] for r in lines(results)) == [1, 2]
    assert all(r["status"] == "ok" for r in lines(results))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_ctrl_c_stops_cleanly_and_the_same_command_runs_the_rest(tmp_path, address):
    """The command on its own local cluster; Ctrl-C (SIGINT to its process group, as a
    terminal sends it) after the first trial; then the same command finishes the rest."""
    results = tmp_path / "r.jsonl"
    argv = ["--results", str(results), *SLOW, "--batch-size", "1", "--grid", "epochs=1,4,5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastnn.sweep", "--workers", "2", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (results.exists() and results.read_bytes().endswith(b"\n")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "run the same command again" in err
    done = lines(results)  # whole lines only
    assert 1 <= len(done) < 3 and results.read_bytes().endswith(b"\n")
    # The same command again (here on the shared cluster): only the unfinished trials run.
    assert main([*argv, "--scheduler", address, "--quiet"]) == 0
    records = lines(results)
    assert sorted(r["settings"]["epochs"] for r in records) == [1, 4, 5]
    assert records[: len(done)] == done


def test_missing_dask_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    assert main(["--results", str(tmp_path / "r.jsonl"), "--grid", "lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "fastnn: error: python -m fastnn.sweep needs dask[distributed]" in err
    assert "pip install 'fastnn[sweep]'" in err and "Traceback" not in err


def test_unreachable_scheduler_is_a_clear_error():
    from fastnn.errors import InvalidParameterError

    with (
        pytest.raises(
            InvalidParameterError, match=r"--scheduler tcp://127.0.0.1:9: no Dask scheduler answered"
        ),
        connect("tcp://127.0.0.1:9", timeout=1),
    ):
        pass
