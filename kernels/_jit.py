"""The one set of JIT options every kernel uses (stumpy ``config``, numbagg ``_FASTMATH``).

- ``cache=True`` unless ``FASTNN_NUMBA_CACHE=0``: the first run compiles and writes
  the machine code next to the kernels; later processes load it. Where the package
  directory is read-only, Numba itself falls back to a per-user cache directory
  (``$NUMBA_CACHE_DIR`` if set, else ``~/.cache/numba``-style paths), so installs into
  a system site-packages still cache.
- fast-math is off. Full fast-math also assumes no NaN/inf (``nnan``/``ninf``), which
  would break the checks that stop a diverging run, and approximates functions
  (``afn``). Only two LLVM flags are on: ``reassoc``, which lets a dot product be
  summed in SIMD lanes (without it the running sum is one serial dependency chain,
  measured 6x slower on a 128x64 backprop row loop), and ``contract``, which fuses
  multiply-adds. Both only change rounding order, as BLAS does, so results stay
  deterministic and within the parity tolerances; NaN and inf propagate as usual.
- ``error_model="numpy"``: division by zero gives inf/nan as in NumPy instead of a
  Python exception check in every loop.
- ``boundscheck`` is left to ``NUMBA_BOUNDSCHECK`` (CI runs a pass with it set to 1).
- No ``parallel=True`` here: per-sample SGD is sequential by nature, and the batched
  kernels get their second core from BLAS threads instead (see ``kernels/batch.py``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

CACHE: bool = os.environ.get("FASTNN_NUMBA_CACHE", "1") != "0"

_KERNEL_DIR = Path(__file__).resolve().parent
_STAMP_NAME = "fastnn-kernels.sha256"


def _drop_stale_cache() -> None:
    """Delete cached machine code compiled from other versions of the kernel sources.

    Numba keys a cache entry on the mtime and size of the file that holds the entry
    point only, but our kernels inline helpers from sibling files: editing
    ``activations.py`` would leave ``dense.py``'s cached code stale. So the cache
    folder carries a hash of every kernel source, and a mismatch clears it.
    """
    cache_dir = _KERNEL_DIR / "__pycache__"
    digest = hashlib.sha256()
    for source in sorted(_KERNEL_DIR.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    stamp = cache_dir / _STAMP_NAME
    try:
        if stamp.read_text() == digest.hexdigest():
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for entry in list(cache_dir.glob("*.nbi")) + list(cache_dir.glob("*.nbc")):
            entry.unlink(missing_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:
        # Read-only install: Numba caches in a per-user folder instead, and an
        # install always rewrites the sources (new mtimes), which Numba does notice.
        pass


if CACHE and "NUMBA_CACHE_DIR" not in os.environ:
    _drop_stale_cache()

JIT_OPTIONS: dict[str, Any] = {
    "cache": CACHE,
    "fastmath": {"reassoc", "contract"},
    "nogil": True,
    "error_model": "numpy",
}


#: Helpers are linked into the entry points that call them, and an entry point's cache
#: entry holds that linked code, so a helper's own cache entry is never read: writing
#: it cost about 2.5 s of a cold compile.
_HELPER_OPTIONS: dict[str, Any] = {**JIT_OPTIONS, "cache": False}


def jit(func: Callable[..., Any]) -> Any:
    """Compile ``func`` lazily (first call, per dtype) with the project's options."""
    return numba.njit(**JIT_OPTIONS)(func)


def inline(func: Callable[..., Any]) -> Any:
    """A small hot helper that Numba inlines into its callers (scalar and per-row code).

    Inlining lets the per-sample loop see through every call (measured 2x faster on
    784-10-10) but each inlined copy is compiled again, so it is kept for code that
    runs per element or per row.
    """
    return numba.njit(inline="always", **_HELPER_OPTIONS)(func)


def helper(func: Callable[..., Any]) -> Any:
    """A per-batch helper compiled once and called (LLVM may still inline it)."""
    return numba.njit(**_HELPER_OPTIONS)(func)
