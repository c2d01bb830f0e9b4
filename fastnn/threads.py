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

from threadpoolctl import threadpool_limits


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
