"""Every case of the table in ``cases.py``, for each backend and thread count.

Order of events for one benchmark, all outside the timing except step 4:

1. ``backend.warmup(dtype)`` compiles (or loads from the cache) the numba kernels;
2. the case is set up for the backend (data, weights, buffers);
3. one call from a fresh state: it compiles anything still lazy, is compared with the
   numpy reference (numba must match it before it is timed), and sizes the rounds;
4. ``benchmark.pedantic`` times ``rounds`` calls, each from fresh copies of the
   parameters and optimiser state made by an untimed ``setup``.

Threads are pinned with ``fastnn.threads.limit_threads`` around steps 3 and 4. With
``--benchmark-disable`` (the default in pyproject) a case runs once and is checked: a
smoke test.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.cases import Case, Ready
from benchmarks.machine import blas_info
from benchmarks.reference import check_against_reference
from benchmarks.suite_data import TIME_SCALE, machine_info
from fastnn.backends import get_backend
from fastnn.threads import limit_threads

#: A round of a pure (stateless) case loops calls until it lasts at least this long,
#: so microsecond calls are not dominated by timer overhead.
MIN_ROUND_SECONDS = 1e-3


def _first_call(ready: Ready) -> tuple[float, dict[str, Any]]:
    """Run once from a fresh state (warm-up and check); return the call's seconds and result."""
    args = ready.fresh()
    start = time.perf_counter()
    out = ready.run(*args)
    seconds = time.perf_counter() - start
    result = ready.result(out, args)
    if not ready.stateful:  # cheap: a better estimate than the first, cold call
        for _ in range(3):
            start = time.perf_counter()
            ready.run(*args)
            seconds = min(seconds, time.perf_counter() - start)
    return seconds, result


def _plan(case: Case, seconds: float, stateful: bool) -> tuple[int, int, int]:
    """(rounds, iterations, warmup_rounds) that spend about ``case.budget`` seconds."""
    seconds = max(seconds, 1e-7)
    iterations = 1 if stateful else max(1, min(10_000, int(MIN_ROUND_SECONDS / seconds)))
    per_round = seconds * iterations
    rounds = int(case.budget * TIME_SCALE / per_round)
    rounds = max(case.min_rounds, min(case.max_rounds, rounds))
    # The checked call above already warmed everything; one more round for cheap cases.
    warmup = 1 if per_round < 0.5 else 0
    return rounds, iterations, warmup


def test_backend(benchmark: Any, case: Case, backend: str, threads: int, command: str) -> None:
    """Check ``case`` against the numpy reference, then time it for ``backend``."""
    benchmark.group = f"{case.name}|{threads}t"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    be = get_backend(backend)
    warmup_seconds = be.warmup(case.dtype)
    ready = case.setup(backend)
    with limit_threads(threads):
        pools = blas_info()
        if benchmark.disabled:
            used: list[tuple[Any, ...]] = []

            def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
                used.append(ready.fresh())
                return used[-1], {}

            out = benchmark.pedantic(ready.run, setup=setup, rounds=1)
            diff = check_against_reference(case, backend, threads, ready.result(out, used[-1]))
            rounds, iterations = 1, 1
        else:
            seconds, result = _first_call(ready)
            diff = check_against_reference(case, backend, threads, result)
            rounds, iterations, warmup = _plan(case, seconds, ready.stateful)
            if ready.stateful:
                benchmark.pedantic(
                    ready.run, setup=lambda: (ready.fresh(), {}), rounds=rounds, warmup_rounds=warmup
                )
            else:
                benchmark.pedantic(
                    ready.run, args=ready.fresh(), rounds=rounds, iterations=iterations, warmup_rounds=warmup
                )
    benchmark.extra_info.update(
        {
            "case": case.name,
            "op": case.op,
            "backend": backend,
            "threads": threads,
            "dtype": case.dtype,
            **case.info,
            "n_samples": case.n_samples,
            "target_speedup": case.target,
            "check_max_rel_diff": diff,
            "rounds": rounds,
            "iterations": iterations,
            "warmup_seconds": warmup_seconds,
            "loadavg_1m": load,
            **machine_info(),
            "blas": pools,
            "command": command,
        }
    )
