"""The one set of JIT options every kernel uses (stumpy ``config``, numbagg ``_FASTMATH``).

- ``cache=True`` unless ``FASTNN_NUMBA_CACHE=0``: the first run compiles and writes
  the machine code to disk; later processes load it. The folder is the first that is
  writable, in Numba's own order: ``$NUMBA_CACHE_DIR``, the package's ``__pycache__``,
  the per-user cache (``~/.cache/numba``). Where none is (a read-only install run by
  a user without a writable home), a private folder in the temp directory is used
  for the kernels only (POSIX; Numba's own setting is left alone); failing that,
  kernels compile in every process, with a warning, instead of Numba refusing to
  import them. (A custom ``NUMBA_CACHE_LOCATOR_CLASSES`` is not followed here.)
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
- ``parallel=True`` only for the few ``parallel`` entry points whose ``prange`` loops
  split the zero-skipping first layer between Numba's threads when the backend is
  asked to (``kernels/sparse.py``);
  per-sample SGD is sequential by nature. Numba's threading layer is set to
  ``workqueue`` unless the user chose one (``NUMBA_THREADING_LAYER``): GNU OpenMP,
  Numba's first choice on Linux, kills a forked child that starts a parallel region
  after the parent did, and its spinning threads made a batch-64 epoch 4-14 s instead
  of 1.1 s while another process used the second core (workqueue: 1.1 s). workqueue
  must not be entered by two threads at once; the numba backend holds a lock around
  its parallel calls.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.misc.appdirs import AppDirs

CACHE: bool = os.environ.get("FASTNN_NUMBA_CACHE", "1") != "0"

if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

#: The kernel folder as Numba derives cache paths from it (absolute, links not resolved).
_KERNEL_DIR = Path(os.path.abspath(os.path.dirname(__file__)))
#: Numba's name for this folder's entries inside a cache root (``get_suitable_cache_subpath``).
_CACHE_SUBDIR = f"{_KERNEL_DIR.name}_{hashlib.sha1(str(_KERNEL_DIR).encode()).hexdigest()}"
_STAMP_NAME = "fastnn-kernels.sha256"


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted(_KERNEL_DIR.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _writable(folder: Path) -> bool:
    """Numba's own test for a cache folder: create it, then a temporary file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _private_temp_root() -> Path | None:
    """``<tmp>/fastnn-numba-<uid>``, made mode 700; None unless it is ours and private.

    The temp directory is shared, and a cache folder another user could write to would
    let them plant machine code that this process then runs.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    root = Path(tempfile.gettempdir()) / f"fastnn-numba-{uid if uid is not None else 'user'}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        info = root.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o022 or (uid is not None and info.st_uid != uid):
        return None
    return root


def _find_cache_folder() -> tuple[Path, str | None] | None:
    """(folder, the CACHE_DIR Numba must be given to use it, or None), or None if no
    folder is writable, trying them in Numba's locator order and then the temp fallback."""
    candidates = []
    if numba.config.CACHE_DIR:
        candidates.append(Path(numba.config.CACHE_DIR) / _CACHE_SUBDIR)
    candidates.append(_KERNEL_DIR / "__pycache__")
    candidates.append(Path(AppDirs(appname="numba", appauthor=False).user_cache_dir) / _CACHE_SUBDIR)
    for folder in candidates:
        if _writable(folder):
            return folder, None
    root = _private_temp_root()
    if root is not None and _writable(root / _CACHE_SUBDIR):
        return root / _CACHE_SUBDIR, str(root)
    return None


def cache_folder() -> Path | None:
    """The folder the kernels' machine code is cached in, or None if none is writable."""
    found = _find_cache_folder()
    return None if found is None else found[0]


def drop_stale_cache(folder: Path) -> None:
    """Delete cached machine code compiled from other versions of the kernel sources.

    Numba keys a cache entry on the mtime and size of the file that holds the entry
    point only, but our kernels inline helpers from sibling files: editing
    ``activations.py`` would leave ``dense.py``'s cached code stale. So the cache
    folder carries a hash of every kernel source, and a mismatch clears it.
    """
    digest = _sources_digest()
    stamp = folder / _STAMP_NAME
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for entry in list(folder.glob("*.nbi")) + list(folder.glob("*.nbc")):
            entry.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass  # cache_folder() found it writable; if that changed, Numba will say so


#: Numba's CACHE_DIR while an entry point is decorated (Numba picks an entry's cache
#: folder then): the temp fallback, or None to leave Numba's setting alone. Only the
#: kernels use it; other code in the process keeps Numba's own cache folders.
_ENTRY_CACHE_DIR: str | None = None


def choose_cache() -> bool:
    """Find the cache folder and clear it of stale code; False (with a warning) if there
    is no writable folder, so kernels compile without a cache instead of failing."""
    global _ENTRY_CACHE_DIR
    found = _find_cache_folder()
    if found is None:
        warnings.warn(
            "fastnn: no writable folder for Numba's cache (the package folder, ~/.cache and "
            "the temp directory all refused); kernels will compile in every process. "
            "Set NUMBA_CACHE_DIR to a writable folder to keep them.",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    folder, _ENTRY_CACHE_DIR = found
    drop_stale_cache(folder)
    return True


if CACHE:
    CACHE = choose_cache()

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


def _entry(func: Callable[..., Any], options: dict[str, Any]) -> Any:
    if _ENTRY_CACHE_DIR is None:
        return numba.njit(**options)(func)
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = _ENTRY_CACHE_DIR
    try:
        return numba.njit(**options)(func)
    finally:
        numba.config.CACHE_DIR = saved


def jit(func: Callable[..., Any]) -> Any:
    """An entry point: compiled lazily (first call, per dtype) with the project's
    options, and cached in the folder ``choose_cache`` found."""
    return _entry(func, JIT_OPTIONS)


def parallel(func: Callable[..., Any]) -> Any:
    """An entry point whose ``prange`` loops run on Numba's threads (as many as
    ``numba.set_num_threads`` allows); cached like ``jit``. Kernels call it only when
    they have more than one part of work to hand out."""
    return _entry(func, {**JIT_OPTIONS, "parallel": True})


def inline(func: Callable[..., Any]) -> Any:
    """A function Numba inlines into its callers' IR instead of compiling it on its own.

    For hot scalar and per-row code, inlining lets the loop see through every call
    (measured 2x faster per sample on 784-10-10). For the stages of a batch step
    (forward, output, backward, update) and the activation dispatchers, it saves
    compile time: LLVM re-optimises a compiled helper inside every caller above it,
    so each level of calls costs another pass over everything below (a cold batched
    run compiled in 7.2-7.7 s instead of 9.3-10.6 s). Each call site is typed again,
    so it suits functions with one or two call sites per entry point.
    """
    return numba.njit(inline="always", **_HELPER_OPTIONS)(func)


def helper(func: Callable[..., Any]) -> Any:
    """A function compiled once per signature and called from many places (LLVM may
    still inline it): the per-activation loops, the softmax passes, ``layer_view``."""
    return numba.njit(**_HELPER_OPTIONS)(func)


def overload_inline(stub: Callable[..., Any]) -> Any:
    """Register the decorated typing function as ``stub``'s compiled form, inlined.

    The typing function receives the Numba types of the arguments and returns the plain
    function to compile for them, so a kernel can take a different path by argument
    *type* (integer labels or float targets; 1-D or 2-D gradient scratch for the first
    layer, unsplit or split between threads) without a runtime branch whose other side
    would fail to type, or would compile code the call never runs. ``stub`` itself is what runs as plain Python (NUMBA_DISABLE_JIT).
    """
    from numba.extending import overload

    return overload(stub, inline="always", jit_options=_HELPER_OPTIONS)
