"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Write to a temporary file in the same directory, flush and fsync it, then
``os.replace`` it over the target (atomic on POSIX and Windows). If anything fails,
the temporary file is removed and the original is untouched.

The temporary file is ``.NAME.PID.RANDOM.part``. A process killed while writing
(``kill -9``, power loss) cannot remove its own, so every write first removes the
stale ones of its target: ours by name, owned by this user, whose writing process is
gone (by PID) and that nobody has written to for :data:`STALE_SECONDS`. Parts in the
older ``.NAME.RANDOM.part`` naming, which has no PID, are removed after a day.

Every file fastnn writes goes through here: :func:`atomic_write` for a block that only
writes (models, checkpoints, reports, plots, package data), :func:`atomic_part` for one
that checks what it wrote before committing it (a download, by its checksum).
(``fastnn.paths.probe_writable`` creates and deletes an empty file to test a folder:
not a write of anything.)

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
from dataclasses import dataclass
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


def remove_stale_parts(
    directory: Path,
    name: str,
    now: float | None = None,
    *,
    older_naming: re.Pattern[str] | None = None,
    older_after: float = LEGACY_STALE_SECONDS,
) -> list[Path]:
    """Delete the stale ``.NAME.*.part`` files of target ``name`` in ``directory``; returns them.

    ``older_naming`` matches the names a caller gave its part files before it wrote
    through this module (they hold no PID); those are stale after ``older_after``
    seconds unwritten.
    """
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
        if match is not None:
            max_age = STALE_SECONDS
        elif legacy.fullmatch(entry.name):
            max_age = LEGACY_STALE_SECONDS
        elif older_naming is not None and older_naming.fullmatch(entry.name):
            max_age = older_after
        else:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                continue
            stale = now - st.st_mtime > max_age and (match is None or not _pid_alive(int(match.group(1))))
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


@dataclass(frozen=True)
class PartFile:
    """The temporary file of an atomic write: ``file`` to write to, and its ``path``, to
    read back what was written (a checksum, say) before the block decides to commit."""

    file: IO
    path: Path


@contextmanager
def atomic_part(
    path: str | os.PathLike[str], mode: str = "wb", *, permissions: int | None = None
) -> Iterator[PartFile]:
    """A temporary file beside ``path`` that replaces it when the block succeeds.

    The block may check what it wrote (through :attr:`PartFile.path`) and raise to
    refuse it: on any exception, Ctrl-C included, the temporary file is removed and
    ``path`` is untouched. The new file's mode is ``permissions`` exactly, or (None)
    what ``open()`` gives a file it creates, 0o666 less the umask (mkstemp alone would
    leave it owner-only).
    """
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
        if permissions is None:
            umask = os.umask(0)
            os.umask(umask)
            permissions = 0o666 & ~umask
        os.chmod(tmp, permissions)
        with os.fdopen(fd, mode) as fh:
            yield PartFile(fh, Path(tmp))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, permissions: int | None = None
) -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when the block succeeds
    (:func:`atomic_part`, for a block that only writes)."""
    with atomic_part(path, mode, permissions=permissions) as part:
        yield part.file
