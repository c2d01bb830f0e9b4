"""Load or compile the Numba kernels with one process at a time per machine.

Numba writes its on-disk cache without locking: processes that compile the same
functions into an empty cache at once can crash or leave entries that crash a later
reader (numba issue #4807, "Cache causes Segmentation Faults when generated in
parallel"). Sweep workers start together, so each takes an exclusive file lock before
it first touches the kernels (importing them, which may clear a stale cache, and
compiling or loading them): the first compiles and writes the cache, the others wait
and then only read finished entries. The lock lives next to the cache
(``$NUMBA_CACHE_DIR``) or in the temp folder, one per user, so it also holds between
sweeps, and between workers of a cluster that share a machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastnn.backends import get_backend

try:  # POSIX; elsewhere the runner's one-worker-first warm-up is the only guard
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def lock_path() -> Path:
    """The warm-up lock of this user on this machine (and this Numba cache folder)."""
    folder = os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(folder) / f"fastnn-numba-warmup-{uid}.lock"


@contextmanager
def kernel_lock() -> Iterator[None]:
    """Hold the warm-up lock for the block (a no-op where file locks are unavailable)."""
    path = lock_path()
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_NOFOLLOW: a link planted in a shared temp folder cannot redirect the open.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def warm_kernels(needs: Iterable[tuple[str, str]]) -> float:
    """Compile or load the numba kernels for each (dtype, mode), under the lock; seconds taken.

    ``mode`` is the backend's warm-up mode (``sample``, ``batch``, ``predict``, ``all``).
    """
    needs = sorted(set(needs))
    start = time.perf_counter()
    if needs:
        with kernel_lock():
            backend = get_backend("numba")  # imports the kernels (and checks the cache) under the lock
            for dtype, mode in needs:
                backend.warmup(dtype, mode)
    return time.perf_counter() - start


def warm_mode(options: dict[str, object]) -> tuple[str, str] | None:
    """(dtype, mode) a trial's kernels need, or None if it does not use the numba backend."""
    if options["backend"] != "numba":
        return None
    return str(options["dtype"]), "sample" if options["batch_size"] == 1 else "batch"
