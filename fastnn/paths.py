"""Where a command reads and writes: one plan of every path, checked before any work.

Every command that writes files builds an :class:`OutputPlan` from its command line
(never from a file's contents), adds the files it reads, and calls
:meth:`OutputPlan.check` before loading data or training. The check refuses, with the
flag in the message:

- an output that is the same file as an input or as another output (compared by
  ``(st_dev, st_ino)`` where the file exists, else by resolved path), so
  ``--save d.npz --data d.npz`` cannot destroy the data;
- an output that exists and is not a regular file (a directory, FIFO, device node,
  socket), since an atomic write would replace the node itself;
- an output whose directory is missing or cannot be written (read-only mount,
  permissions): probed by creating and removing an empty file of our own naming
  (``access()`` is wrong for root and for some network file systems).

:func:`check_input_file` says truthfully what a path that should be a file is (a
directory, a FIFO, a device), and :func:`recovery_path` finds somewhere to put a
trained model when the file the user named could not be written after training.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastnn.errors import DataError, InvalidParameterError

#: Prefix and suffix of the temporary files written next to a target (see fastnn.atomic).
PART_SUFFIX = ".part"


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``a directory``, ``a FIFO (named pipe)``..."""
    for test, text in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return text
    return "not a regular file"


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (20, 40):  # ENOTDIR, ELOOP: treated as absent, reported by the parent check
            return None
        raise DataError(f"{path}: cannot read its status ({exc.strerror or exc})") from None


def describe_path(path: Path) -> str:
    """``a FIFO (named pipe)``, ``a character device (a link to /dev/zero)``... or ``missing``."""
    st = _stat(path)
    if st is None:
        return "missing"
    kind = file_kind(st.st_mode)
    if path.is_symlink():
        kind += f" (a link to {os.path.realpath(path)})"
    return kind


def check_input_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path if it is a regular file (or a link to one); else DataError saying what it is.

    ``what`` names the expected file (``model file``, ``data file``...). Checked before
    opening, so a FIFO or a device is never read (it would hang, or never end).
    """
    p = Path(path)
    st = _stat(p)
    if st is None:
        raise DataError(f"{p}: no such {what}")
    if not stat.S_ISREG(st.st_mode):
        article = "an" if what[:1] in "aeiou" else "a"
        raise DataError(f"{p}: is {describe_path(p)}, not {article} {what}")
    return p


def check_path_argument(name: str, value: object) -> Path:
    """An API path argument (str or os.PathLike, not empty) as a Path; else InvalidParameterError."""
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidParameterError(
            f"the '{name}' parameter must be a file path (str or os.PathLike); got {value!r}"
        )
    return Path(value)


def _identity(path: Path) -> tuple[str, object]:
    st = _stat(path)
    if st is not None:
        return ("inode", (st.st_dev, st.st_ino))
    return ("path", os.path.realpath(path))


def probe_writable(directory: Path) -> str | None:
    """None if a file can be created in ``directory``; else why not (the OS's words)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".fastnn-probe.{os.getpid()}.", suffix=PART_SUFFIX, dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None


@dataclass
class _Entry:
    flag: str
    path: Path
    is_dir: bool = False


@dataclass
class OutputPlan:
    """The files a run reads and writes, each with the flag that named it."""

    inputs: list[_Entry] = field(default_factory=list)
    outputs: list[_Entry] = field(default_factory=list)

    def read(self, flag: str, path: str | os.PathLike[str] | None) -> None:
        """A file (or every file in a directory) the run reads."""
        if path is None:
            return
        p = Path(path).expanduser()
        if p.is_dir():
            try:
                children = sorted(c for c in p.iterdir() if c.is_file())
            except OSError:
                children = []
            self.inputs.extend(_Entry(flag, c) for c in children)
        else:
            self.inputs.append(_Entry(flag, p))

    def write(self, flag: str, path: str | os.PathLike[str] | None, *, directory: bool = False) -> None:
        """A file the run writes (``directory``: a folder it creates and fills)."""
        if path is not None:
            self.outputs.append(_Entry(flag, Path(path), directory))

    def written(self) -> Iterator[tuple[str, Path]]:
        for e in self.outputs:
            yield e.flag, e.path

    def describe(self) -> list[str]:
        """``--save m.npz`` lines, one per output, for printing before the run starts."""
        return [f"{e.flag} {e.path}" + ("/" if e.is_dir else "") for e in self.outputs]

    def check(self, allow_same: Iterable[tuple[str, str]] = ()) -> None:
        """Refuse any output that is an input, another output, not a file, or not writable.

        ``allow_same`` lists (output flag, input flag) pairs that may be one file (a
        resumed checkpoint rewritten in place).
        """
        allowed = set(allow_same)
        seen: dict[tuple[str, object], str] = {}
        for e in self.inputs:
            seen.setdefault(_identity(e.path), e.flag)
        outputs_seen: dict[tuple[str, object], str] = {}
        for e in self.outputs:
            self._check_one(e)
            ident = _identity(e.path)
            if ident in seen and (e.flag, seen[ident]) not in allowed:
                raise InvalidParameterError(
                    f"{e.flag} {e.path} is the same file as the input {seen[ident]}; writing it would "
                    "destroy what is being read: choose another path"
                )
            if ident in outputs_seen:
                raise InvalidParameterError(
                    f"{e.flag} {e.path} is the same file as {outputs_seen[ident]}; the second "
                    "write would destroy the first: choose another path"
                )
            outputs_seen[ident] = e.flag

    @staticmethod
    def _check_one(e: _Entry) -> None:
        st = _stat(e.path)
        if e.is_dir:
            if st is not None and not stat.S_ISDIR(st.st_mode):
                raise InvalidParameterError(f"{e.flag} {e.path}: is {describe_path(e.path)}, not a directory")
            # The folder is created if missing: its nearest existing ancestor must be writable.
            directory = e.path if st is not None else _existing_ancestor(e.path)
        else:
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise InvalidParameterError(
                    f"{e.flag} {e.path}: is {describe_path(e.path)}, not a regular file; "
                    "refusing to replace it: choose a file path"
                )
            directory = e.path.parent if str(e.path.parent) else Path(".")
            if not directory.is_dir():
                raise InvalidParameterError(f"{e.flag} {e.path}: directory {directory} does not exist")
        why = probe_writable(directory)
        if why is not None:
            raise InvalidParameterError(f"{e.flag} {e.path}: cannot write in {directory} ({why})")


def _existing_ancestor(path: Path) -> Path:
    for parent in [path, *path.absolute().parents]:
        if parent.exists():
            return parent
    return Path(".")


def recovery_path(name: str, avoid: Iterable[Path] = ()) -> Path | None:
    """A writable place for a trained model that could not be saved where asked.

    Tries the current directory, the user's home and the temp folder (often another
    file system than a full one); returns the first whose probe write succeeds.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bad = {os.path.realpath(p) for p in avoid}
    places = []
    for where in (Path.cwd, Path.home, lambda: Path(tempfile.gettempdir())):
        with contextlib.suppress(OSError, RuntimeError, KeyError):  # no cwd, no home
            places.append(where())
    for directory in places:
        candidate = directory / f"fastnn-recovered-{stamp}-{os.getpid()}-{name}"
        if os.path.realpath(directory) in bad or probe_writable(directory) is not None:
            continue
        return candidate
    return None
