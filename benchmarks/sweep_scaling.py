"""Trials per second of one sweep with 1 and with 2 local workers, from one run.

    python -m benchmarks.sweep_scaling                 # embedded digits, 12 small trials
    python -m benchmarks.sweep_scaling --data /work/shared/mnist --epochs 1

Each worker count gets its own local cluster (started, and its kernels loaded,
before the clock starts) and a fresh results file; the clock runs from submitting
the trials to the last result. Also printed: the time per trial the workers spent
inside trials, and what is left per trial (scheduling, sending the task and its
result, the client's bookkeeping), which Dask cannot parallelise away.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from fastnn.cli.sweep.cluster import connect
from fastnn.cli.sweep.runner import run_sweep
from fastnn.threads import available_threads

GRID = {"lr": [0.02, 0.05, 0.1], "activations": ["relu", "tanh"], "seed": [0, 1]}


def measure(workers: int, train_args: list[str], folder: Path) -> tuple[int, float, float]:
    """(trials, seconds from submission to last result, seconds spent inside trials)."""
    with connect(None, workers) as client:
        results = folder / f"w{workers}.jsonl"
        outcome = run_sweep(
            GRID, results, train_args=train_args, scheduler=client.scheduler.address, say=lambda s: None
        )
    inside = sum(r["seconds"] for r in outcome.records.values())
    return outcome.ran, outcome.trial_seconds, inside


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_scaling", description=__doc__.splitlines()[0]
    )
    p.add_argument("--data", default="embedded")
    p.add_argument("--epochs", default="3")
    p.add_argument("--layers", default="784,128,64,10")
    p.add_argument("--batch-size", default="32")
    args = p.parse_args(argv)
    train_args = [
        "--data", args.data, "--epochs", args.epochs, "--layers", args.layers, "--batch-size", args.batch_size,
    ]  # fmt: skip
    print(
        f"machine: {platform.processor() or platform.machine()}, {available_threads()} usable CPUs; "
        f"sweep: {' x '.join(f'{k} {len(v)}' for k, v in GRID.items())} trials, "
        f"train flags: {' '.join(train_args)}"
    )
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            rows[workers] = measure(workers, train_args, Path(tmp))
    print("| workers | trials | seconds | trials/s | in-trial s/trial | other s/trial |")
    print("|---:|---:|---:|---:|---:|---:|")
    for workers, (n, seconds, inside) in rows.items():
        other = (seconds * workers - inside) / n  # worker time not spent training, per trial
        print(f"| {workers} | {n} | {seconds:.2f} | {n / seconds:.2f} | {inside / n:.3f} | {other:.3f} |")
    (n1, s1, _), (n2, s2, _) = rows[1], rows[2]
    print(f"speed-up, 2 workers over 1: {(n2 / s2) / (n1 / s1):.2f}x")
    if hasattr(os, "getloadavg"):  # other work on the machine takes cores from the workers
        print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f} on {available_threads()} CPUs")
    return 0


if __name__ == "__main__":  # the local cluster's workers are spawned processes
    raise SystemExit(main())
