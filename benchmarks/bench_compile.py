"""First-run cost of the numba backend: a cold compile, then a process with the cache warm.

Each measurement is a fresh Python process (``python -c PROBE``) so nothing compiled in
this session can help. The cold run gets an empty temporary ``NUMBA_CACHE_DIR``; the
timed figure is that whole process (interpreter start, ``import``, ``warmup(dtype)``).
A second process then reuses the cache it filled; its import and warm-up seconds, the
"starts training in under 1 s" number of issue #3, go into ``extra_info``.

With ``--benchmark-disable`` (the default) a cold compile would cost ~15 s of a plain
test run, so only the probe itself is smoke-tested, against this session's cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

from benchmarks.suite_data import machine_info

PROBE = """
import json, sys, time
start = time.perf_counter()
from fastnn.backends import get_backend
backend = get_backend("numba")
imported = time.perf_counter()
compiled = backend.warmup(sys.argv[1])
print(json.dumps({"import_seconds": imported - start, "warmup_seconds": compiled,
                  "total_seconds": time.perf_counter() - start}))
"""


def run_probe(dtype: str, cache_dir: str | None) -> dict[str, Any]:
    """Import fastnn's numba backend and warm it up for ``dtype`` in a new process.

    ``cache_dir`` None keeps this process's Numba cache settings. Never raises (a
    benchmark that raises inside its timing leaves pytest-benchmark unable to write its
    JSON): a failure is returned as ``{"error": ...}`` for :func:`checked` to report.
    """
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
        env["FASTNN_NUMBA_CACHE"] = "1"
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, dtype],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "the compile probe took more than 900 s"}
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": f"the compile probe failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"}
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"the compile probe printed no JSON result:\n{proc.stdout[-2000:]}"}
    result["process_seconds"] = seconds
    return result


def checked(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        pytest.fail(result["error"])
    return result


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32"])
def test_compile_time(benchmark: Any, dtype: str, command: str) -> None:
    """Cold compile of every numba entry kernel for ``dtype``, then a warm-cache start."""
    benchmark.group = f"compile/numba/{dtype}"
    info: dict[str, Any] = {
        "case": f"compile/numba/{dtype}",
        "op": "compile",
        "backend": "numba",
        "dtype": dtype,
        "threads": 1,
    }
    if benchmark.disabled:
        warm = checked(benchmark.pedantic(run_probe, args=(dtype, None), rounds=1))
        assert warm["warmup_seconds"] >= 0
        return
    with tempfile.TemporaryDirectory(prefix="fastnn-numba-cache-") as cache_dir:
        cold = checked(benchmark.pedantic(run_probe, args=(dtype, cache_dir), rounds=1, iterations=1))
        warm = checked(run_probe(dtype, cache_dir))
    info.update({f"cold_{k}": v for k, v in cold.items()})
    info.update({f"warm_{k}": v for k, v in warm.items()})
    benchmark.extra_info.update({**info, **machine_info(), "command": command})
