"""One switch for thread counts: BLAS pools (NumPy's and SciPy's) and Numba's.

NumPy and SciPy each bundle their own OpenBLAS with its own thread pool, and Numba's
``np.dot`` goes through SciPy's; threadpoolctl reaches all of them. Numba's own pool
is only touched if Numba is already imported, so the numpy backend never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController, threadpool_limits


def available_threads() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Run the block with at most ``threads`` BLAS and Numba threads (None: leave as is)."""
    if threads is None:
        yield
        return
    numba = sys.modules.get("numba")
    old_numba = None
    if numba is not None:
        old_numba = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if numba is not None and old_numba is not None:
            numba.set_num_threads(old_numba)


_controller: ThreadpoolController | None = None


def single_blas_thread() -> Any:
    """A context in which every loaded BLAS runs on one thread (Numba's threads are left
    alone). The controller is made once: inspecting the loaded libraries takes
    milliseconds, and a fit enters this once per epoch."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
