"""Run the race: every thread count, recipe and entrant, one worker process after another.

Entrants never run concurrently: each worker is started only when the previous one has
exited, so they do not compete for the cores. A worker writes its record as JSON to a
temporary file this module chooses; its progress lines go straight to stderr. A peer
that is not installed, or an entrant the user skipped, gets a record with ``skipped``
and one line saying why; a worker that fails or hangs gets a record with ``stopped``
(the race goes on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.race import entrants
from benchmarks.race.recipes import RECIPES
from benchmarks.race.worker import thread_env

REPO = Path(__file__).resolve().parents[2]
#: Extra seconds a worker gets beyond its epochs' guards for start-up, data and compiling.
WORKER_SLACK_SECONDS = 300.0


@dataclass(frozen=True)
class RaceConfig:
    """Everything a run of the race was asked to do (recorded with its results)."""

    recipes: tuple[str, ...]
    entrants: tuple[str, ...]
    threads: tuple[int, ...]
    epochs: int
    data: str | None
    n_train: int | None
    n_test: int | None
    seed: int
    max_seconds: float | None
    max_first_seconds: float | None
    skip: tuple[tuple[str, str | None], ...]  # (entrant, recipe or None for every recipe)
    pin: bool


def skip_reason(config: RaceConfig, entrant: str, recipe: str) -> str | None:
    """Why ``entrant`` does not run ``recipe``: a missing package or ``--skip``."""
    why = entrants.missing(entrants.ENTRANTS[entrant])
    if why:
        return why
    for name, only in config.skip:
        if name == entrant and only in (None, recipe):
            return f"skipped by --skip {name}" + (f":{only}" if only else "")
    return None


def worker_command(config: RaceConfig, entrant: str, recipe: str, threads: int, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.race", "--worker", str(out)]
    cmd += ["--entrants", entrant, "--recipes", recipe, "--threads", str(threads)]
    cmd += ["--epochs", str(config.epochs), "--seed", str(config.seed)]
    if config.data is not None:
        cmd += ["--data", config.data]
    if config.n_train is not None:
        cmd += ["--train-size", str(config.n_train)]
    if config.n_test is not None:
        cmd += ["--test-size", str(config.n_test)]
    cmd += ["--max-seconds", f"{config.max_seconds or 0:g}"]
    cmd += ["--max-first-seconds", f"{config.max_first_seconds or 0:g}"]
    if not config.pin:
        cmd.append("--no-pin")
    return cmd


def _placeholder(entrant: str, recipe: str, threads: int, **why: str | None) -> dict[str, Any]:
    e = entrants.ENTRANTS[entrant]
    return {
        "entrant": entrant,
        "label": e.label,
        "recipe": recipe,
        "threads": threads,
        "epoch_seconds": [],
        "test_accuracy": [],
        "skipped": why.get("skipped"),
        "stopped": why.get("stopped"),
    }


def run_worker(config: RaceConfig, entrant: str, recipe: str, threads: int) -> dict[str, Any]:
    """Run one worker process to completion and return its record."""
    timeout = None
    if config.max_seconds is not None and config.max_first_seconds is not None:
        timeout = config.max_first_seconds + config.max_seconds * (config.epochs - 1) + WORKER_SLACK_SECONDS
    with tempfile.TemporaryDirectory(prefix="fastnn-race-") as tmp:
        out = Path(tmp) / "record.json"
        cmd = worker_command(config, entrant, recipe, threads, out)
        env = thread_env(threads, os.environ)
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return _placeholder(
                entrant, recipe, threads, stopped=f"the worker ran past {timeout:.0f} s and was stopped"
            )
        if proc.returncode != 0 or not out.is_file():
            return _placeholder(
                entrant,
                recipe,
                threads,
                stopped=f"the worker failed (exit status {proc.returncode}; its messages are above)",
            )
        record: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return record


def run_race(config: RaceConfig, log: Any = sys.stderr) -> list[dict[str, Any]]:
    """Every (threads, recipe, entrant) in order; each record as the worker wrote it.

    Ctrl-C stops the race and returns the records finished so far, so they are still
    reported and saved.
    """
    records: list[dict[str, Any]] = []
    try:
        _race(config, records, log)
    except KeyboardInterrupt:
        print(f"interrupted: reporting the {len(records)} run(s) finished", file=log, flush=True)
    return records


def _race(config: RaceConfig, records: list[dict[str, Any]], log: Any) -> None:
    for threads in config.threads:
        for recipe in config.recipes:
            print(f"== {recipe}: {RECIPES[recipe].describe()}, {threads} thread(s)", file=log, flush=True)
            for entrant in config.entrants:
                label = entrants.ENTRANTS[entrant].label
                why = skip_reason(config, entrant, recipe)
                if why:
                    print(f"{label}: skipped ({why})", file=log, flush=True)
                    records.append(_placeholder(entrant, recipe, threads, skipped=why))
                    continue
                record = run_worker(config, entrant, recipe, threads)
                if record.get("stopped") and not record.get("epoch_seconds"):
                    print(f"{label}: {record['stopped']}", file=log, flush=True)
                records.append(record)
