"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Write to a temporary file in the same directory, flush and fsync it, then
``os.replace`` it over the target (atomic on POSIX and Windows). If anything fails,
the temporary file is removed and the original is untouched.

The temporary file is ``.NAME.PID.RANDOM.part``. A process killed while writing
(``kill -9``, power loss) cannot remove its own, so every write first removes the
stale ones of its target: ours by name, owned by this user, whose writing process is
gone (by PID) and that nobody has written to for :data:`STALE_SECONDS`. Parts in the
older ``.NAME.RANDOM.part`` naming, which has no PID, are removed after a day.

The target must be a regular file or absent: ``os.replace`` over a directory fails
and over a device node or FIFO it would replace the node itself, so both are refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from fastnn.errors import DataError
from fastnn.paths import PART_SUFFIX, describe_path

#: A part file untouched for this long, whose process is gone, is stale.
STALE_SECONDS = 30.0
#: A part file without a PID in its name is stale after this long.
LEGACY_STALE_SECONDS = 24 * 3600.0


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or not a PID we can ask about: keep the file
    return True


def remove_stale_parts(directory: Path, name: str, now: float | None = None) -> list[Path]:
    """Delete the stale ``.NAME.*.part`` files of target ``name`` in ``directory``; returns them."""
    now = time.time() if now is None else now
    escaped = re.escape(name)
    with_pid = re.compile(rf"\.{escaped}\.([0-9]{{1,10}})\.[A-Za-z0-9_]{{8}}{re.escape(PART_SUFFIX)}")
    legacy = re.compile(rf"\.{escaped}\.[A-Za-z0-9_]{{8}}{re.escape(PART_SUFFIX)}")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = with_pid.fullmatch(entry.name)
        if match is None and not legacy.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            age = now - st.st_mtime
            stale = (
                age > STALE_SECONDS and not _pid_alive(int(match.group(1)))
                if match is not None
                else age > LEGACY_STALE_SECONDS
            )
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when the block succeeds."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise DataError(f"{target}: cannot write, directory {directory} does not exist")
    if target.exists() or target.is_symlink():
        kind = describe_path(target)
        if kind != "missing" and not kind.startswith("a regular file"):
            raise DataError(f"{target}: is {kind}, not a regular file; refusing to replace it")
    remove_stale_parts(directory, target.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=PART_SUFFIX, dir=directory)
    try:
        # mkstemp makes the file owner-only; give it the permissions open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
