"""What machine a benchmark ran on: the CPU model and the BLAS thread pools.

Shared by the pytest benchmark suite (``suite_data.py``) and the race (``benchmarks.race``).
"""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model and count, the CPUs this process may use, platform and Python version."""
    from fastnn.threads import available_threads

    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "available_threads": available_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS/OpenMP pools (call it inside limit_threads)."""
    from threadpoolctl import threadpool_info

    keep = (
        "user_api",
        "internal_api",
        "prefix",
        "filepath",
        "version",
        "num_threads",
        "threading_layer",
        "architecture",
    )
    return [{k: pool.get(k) for k in keep if k in pool} for pool in threadpool_info()]
