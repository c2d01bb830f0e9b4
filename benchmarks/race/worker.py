"""One entrant, one recipe, one thread count: train, time every epoch, test after each.

The race starts each of these in its own process (``python -m benchmarks.race --worker
...``) because some thread knobs are read only once, at import: the environment from
:func:`thread_env` carries them in, :func:`pin_cpus` pins the process to as many CPUs as
threads before any library starts a thread pool, and :func:`run` sets the remaining
knobs (threadpoolctl for every BLAS, ``MLP(threads=...)`` for Numba, the entrant's own
``configure_threads`` for PyTorch).

The timed region is ``trainer.train_epoch()`` and nothing else: test accuracy is
measured after it, outside the clock, the same way for every entrant. The guard stops an
entrant whose epoch runs longer than ``max_seconds`` (``max_first_seconds`` for the first
epoch, which includes compiling) and says so in ``stopped``: a SIGALRM interrupts
Python-level loops mid-epoch; compiled code is stopped when it returns.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from benchmarks.race import entrants
from benchmarks.race.recipes import RaceData, Recipe, initial_weights

#: Thread-count environment variables read at import by OpenMP, MKL, OpenBLAS and Numba.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def xla_flags(threads: int) -> str:
    """XLA's CPU thread flags: one thread means no Eigen thread pool at all. (XLA reads a
    value that does not start with ``--`` as a file of flags, so the first is always a flag.)"""
    eigen = "true" if threads > 1 else "false"
    return f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"


def thread_env(threads: int, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with every import-time thread knob set to ``threads``.

    Anything else in ``base`` (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ...) is passed on as it is.
    """
    env = dict(base)
    for key in THREAD_ENV:
        env[key] = str(threads)
    env["XLA_FLAGS"] = " ".join(filter(None, (base.get("XLA_FLAGS", ""), xla_flags(threads))))
    return env


def pin_cpus(threads: int) -> list[int] | None:
    """Restrict this process to the first ``threads`` CPUs it may use; the CPUs, or None
    where the OS has no affinity call (then only the thread knobs limit it)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    os.sched_setaffinity(0, cpus)
    return cpus


class EpochTimeout(Exception):
    """An epoch ran past the --max-seconds guard."""


@contextmanager
def guard(seconds: float | None) -> Iterator[None]:
    """Raise EpochTimeout in this (main) thread once ``seconds`` have passed."""
    usable = seconds is not None and hasattr(signal, "setitimer")
    if usable:
        try:
            previous = signal.signal(signal.SIGALRM, _alarm)
        except ValueError:  # not the main thread: rely on the check after the epoch
            usable = False
    if not usable:
        yield
        return
    assert seconds is not None
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _alarm(signum: int, frame: Any) -> None:
    raise EpochTimeout


def run(
    entrant: entrants.Entrant,
    recipe: Recipe,
    data: RaceData,
    *,
    epochs: int,
    threads: int | None,
    seed: int = 0,
    max_seconds: float | None = None,
    max_first_seconds: float | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Train ``entrant`` on ``recipe`` for up to ``epochs`` epochs; the record of the run."""
    from threadpoolctl import threadpool_limits

    tag = f"[{recipe.name} {threads or 'default'}t {entrant.label}]"
    module = entrants.load(entrant)
    limits = threadpool_limits(limits=threads) if threads is not None else None
    try:
        module.configure_threads(threads)
        start = time.perf_counter()
        setup = entrants.Setup(recipe, data, initial_weights(recipe, seed), seed, threads)
        trainer = entrants.build(entrant, setup)
        setup_seconds = time.perf_counter() - start
        seconds: list[float] = []
        accuracy: list[float] = []
        stopped = None
        for epoch in range(1, epochs + 1):
            limit = max_first_seconds if epoch == 1 else max_seconds
            start = time.perf_counter()
            try:
                with guard(limit):
                    trainer.train_epoch()
            except EpochTimeout:
                stopped = _stopped(epoch, time.perf_counter() - start, limit)
                break
            took = time.perf_counter() - start
            if limit is not None and took > limit:
                stopped = _stopped(epoch, took, limit)
                break
            seconds.append(took)
            accuracy.append(trainer.test_accuracy())
            if log is not None:
                print(f"{tag} epoch {epoch}: {took:.3f} s, test accuracy {accuracy[-1]:.2%}", file=log)
        if stopped and log is not None:
            print(f"{tag} {stopped}", file=log)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return {
        "entrant": entrant.name,
        "label": entrant.label,
        "recipe": recipe.name,
        "threads": threads,
        "epoch_seconds": seconds,
        "test_accuracy": accuracy,
        "setup_seconds": setup_seconds,
        "stopped": stopped,
        "skipped": None,
        "versions": module.versions(),
        "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]),
    }


def _stopped(epoch: int, seconds: float, limit: float | None) -> str:
    flag = "--max-first-seconds" if epoch == 1 else "--max-seconds"
    return f"stopped in epoch {epoch} after {seconds:.1f} s: over {flag} {limit:g}"


def main_worker(
    entrant_name: str,
    recipe: Recipe,
    data_source: str | None,
    *,
    n_train: int | None,
    n_test: int | None,
    epochs: int,
    threads: int,
    seed: int,
    max_seconds: float | None,
    max_first_seconds: float | None,
    pin: bool,
) -> dict[str, Any]:
    """What ``--worker`` does: pin, load the data, run, and record where it ran."""
    from benchmarks.race.recipes import load_race_data

    cpus = pin_cpus(threads) if pin else None
    data = load_race_data(data_source, n_train, n_test)
    record = run(
        entrants.ENTRANTS[entrant_name],
        recipe,
        data,
        epochs=epochs,
        threads=threads,
        seed=seed,
        max_seconds=max_seconds,
        max_first_seconds=max_first_seconds,
        log=sys.stderr,
    )
    record["pinned_cpus"] = cpus
    record["thread_env"] = {k: os.environ.get(k) for k in (*THREAD_ENV, "XLA_FLAGS")}
    return record
