"""Hostile places to write and read, made in a test's temporary folder.

Each maker skips the test cleanly, with the reason, where the machine does not
allow it (mounting a tmpfs needs root with CAP_SYS_ADMIN, a device node CAP_MKNOD),
so the suite runs everywhere and exercises all of it where it can (CI runs as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "256k", read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted on ``directory`` (read-only if asked); unmounted afterwards."""
    if os.name != "posix" or shutil.which("mount") is None:
        pytest.skip("needs mount(8) on a POSIX system")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True, capture_output=True)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


def fill(directory: Path) -> None:
    """Write into ``directory`` until its file system is full (ENOSPC)."""
    block = b"\0" * 4096
    with open(directory / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError:
            pass
    with contextlib.suppress(OSError):
        (directory / "filler.small").write_bytes(b"\0" * 512)


def char_device(path: Path, major: int = 1, minor: int = 3) -> Path:
    """A character device node (1, 3 is /dev/null's) at ``path``; skips without CAP_MKNOD."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except (PermissionError, AttributeError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    return path


def fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    os.mkfifo(path)
    return path


def edit_model_file(path: Path, meta_edit=None, arrays_edit=None) -> Path:
    """Rewrite a model or checkpoint file with its metadata dict and arrays edited in place."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("fastnn_meta")))
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    np.savez(path, **arrays, fastnn_meta=np.array(json.dumps(meta)))
    return path
