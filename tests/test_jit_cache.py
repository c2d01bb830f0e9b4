"""Where the kernels' machine code is cached (``fastnn.kernels._jit``), and what happens
when a folder is stale, shared or read-only. Unwritable folders are simulated (the
tests may run as root, who can write anywhere); a fresh process caching into
``NUMBA_CACHE_DIR`` is checked for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numba
import pytest

from fastnn.kernels import _jit

requires_posix_ids = pytest.mark.skipif(not hasattr(os, "getuid"), reason="needs POSIX user ids")


def test_numba_cache_dir_comes_first(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    assert _jit.cache_folder() == tmp_path / _jit._CACHE_SUBDIR


def test_package_folder_when_writable(monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(_jit, "_writable", lambda folder: folder == _jit._KERNEL_DIR / "__pycache__")
    assert _jit.cache_folder() == _jit._KERNEL_DIR / "__pycache__"


@requires_posix_ids
def test_read_only_install_without_a_home_falls_back_to_a_private_temp_folder(tmp_path, monkeypatch):
    """Package folder and ~/.cache refused: a mode-700 folder in the temp directory, given
    to Numba as CACHE_DIR only while entry points are decorated (Numba would otherwise
    refuse to import the kernels), never for the rest of the process."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    refused = (_jit._KERNEL_DIR / "__pycache__", "numba")
    real_writable = _jit._writable
    monkeypatch.setattr(
        _jit,
        "_writable",
        lambda folder: folder != refused[0] and refused[1] not in folder.parts and real_writable(folder),
    )
    monkeypatch.setattr(_jit, "_ENTRY_CACHE_DIR", None)
    root = tmp_path / f"fastnn-numba-{os.getuid()}"
    assert _jit.cache_folder() == root / _jit._CACHE_SUBDIR
    assert _jit.choose_cache() is True
    assert (root / _jit._CACHE_SUBDIR).is_dir() and root.stat().st_mode & 0o777 == 0o700
    assert str(root) == _jit._ENTRY_CACHE_DIR
    assert numba.config.CACHE_DIR == "", "the fallback leaked into Numba's process-wide setting"

    def entry(x):
        return x + 1

    dispatcher = _jit.jit(entry)
    # Numba names the subfolder after the decorated function's own folder (tests/ here).
    assert Path(dispatcher._cache._cache_path).parent == root
    assert numba.config.CACHE_DIR == ""


@requires_posix_ids
def test_a_temp_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    """A shared temp directory lets another user create the folder first and plant code."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    planted = tmp_path / f"fastnn-numba-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    assert _jit._private_temp_root() is None
    planted.chmod(0o700)
    assert _jit._private_temp_root() == planted
    if os.getuid() == 0:  # root can hand the folder to someone else
        os.chown(planted, 65534, 65534)
        assert _jit._private_temp_root() is None


def test_no_writable_folder_means_no_cache_and_a_warning(monkeypatch):
    monkeypatch.setattr(_jit, "_find_cache_folder", lambda: None)
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        assert _jit.choose_cache() is False


def test_stale_entries_are_dropped_and_current_ones_kept(tmp_path):
    entries = [tmp_path / "dense.f-1.py311.nbi", tmp_path / "dense.f-1.py311.1.nbc"]
    for entry in entries:
        entry.write_bytes(b"old machine code")
    (tmp_path / _jit._STAMP_NAME).write_text("a hash of other sources")
    _jit.drop_stale_cache(tmp_path)
    assert not any(entry.exists() for entry in entries)
    assert (tmp_path / _jit._STAMP_NAME).read_text() == _jit._sources_digest()
    for entry in entries:
        entry.write_bytes(b"current machine code")
    _jit.drop_stale_cache(tmp_path)
    assert all(entry.exists() for entry in entries)


def test_a_fresh_process_caches_into_numba_cache_dir_with_the_stamp(tmp_path):
    script = (
        "import numpy as np; from fastnn.kernels import sparse; "
        "sparse.count_nonzeros(np.ones((2, 3)), np.empty(3, np.int64))"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FASTNN_NUMBA_CACHE="1")
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    folder = Path(tmp_path) / _jit._CACHE_SUBDIR
    assert (folder / _jit._STAMP_NAME).read_text() == _jit._sources_digest()
    assert list(folder.glob("sparse.count_nonzeros-*.nbi")), sorted(p.name for p in folder.iterdir())
