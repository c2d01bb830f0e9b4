"""Several processes starting at once on an empty Numba cache (numba issue #4807).

Each sweep worker warms the kernels under a per-machine file lock, so one process
compiles and writes the cache while the others wait and then only load finished
entries. Without the lock all of them would compile and write the same entries at
once (each would report a cache miss): the check below would fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fastnn.cli.sweep.warm import kernel_lock, lock_path

pytestmark = pytest.mark.skipif(
    os.environ.get("FASTNN_NUMBA_CACHE") == "0" or os.environ.get("NUMBA_DISABLE_JIT") == "1",
    reason="needs Numba's on-disk cache",
)

SCRIPT = """
import json
from fastnn.cli.sweep.warm import warm_kernels
warm_kernels([("float32", "predict")])
from fastnn.kernels import inference
stats = inference.softmax_output_rows.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


@pytest.mark.slow  # a cold compile: about 10-30 s on a shared 2-core machine
def test_processes_starting_together_on_an_empty_cache_compile_once(tmp_path):
    cache = tmp_path / "numba-cache"  # empty: nothing compiled yet
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    compiled = [o for o in outcomes if o["misses"]]
    loaded = [o for o in outcomes if not o["misses"]]
    assert len(compiled) == 1, outcomes  # one process compiled and wrote the cache...
    assert len(loaded) == 2 and all(o["hits"] >= 1 for o in loaded), outcomes  # ...the others read it
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))
    # A later process loads what they left: the cache is whole.
    late = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert late.returncode == 0, late.stderr
    assert json.loads(late.stdout.strip().splitlines()[-1]) == {"hits": 1, "misses": 0}


def test_lock_file_is_private_and_next_to_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "c"))
    with kernel_lock():
        path = lock_path()
        assert path.parent == tmp_path / "c"
        assert path.stat().st_mode & 0o077 == 0
