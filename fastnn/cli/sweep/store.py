"""The results file: one JSON line per finished trial, appended the moment it finishes.

Each line is written with a single ``write`` call, then flushed and fsynced, so a
sweep stopped at any point (Ctrl-C, a crash, a power cut) leaves whole lines plus at
most one torn line at the end. The reader skips such a torn last line (the trial is
run again) and :meth:`ResultsFile.open` cuts it off before anything is appended
after it. Any other bad line is an error naming the file and line: the file is read
as hostile input (bounded size, JSON only, fields checked by type).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from fastnn.cli.common import json_safe
from fastnn.cli.sweep.trial import STATUSES
from fastnn.errors import DataError

MAX_RESULTS_BYTES = 256 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
_NUMBER_FIELDS = ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "seconds", "samples_per_s")


def _plain(value: Any) -> Any:
    """NumPy scalars and paths as JSON values."""
    return value.item() if hasattr(value, "item") else str(value)


def check_record(record: Any, where: str) -> dict[str, Any]:
    """A results line's object, with the fields the sweep reads checked by type."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object; got {type(record).__name__}")
    key, status = record.get("key"), record.get("status")
    if not isinstance(key, str) or not 0 < len(key) <= 64:
        raise DataError(f"{where}: 'key' must be a string of 1 to 64 characters; got {key!r}")
    if status not in STATUSES:
        raise DataError(f"{where}: 'status' must be one of {list(STATUSES)}; got {status!r}")
    if not isinstance(record.get("settings"), dict):
        raise DataError(f"{where}: 'settings' must be an object")
    for name in _NUMBER_FIELDS:
        value = record.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise DataError(f"{where}: '{name}' must be a finite number or null; got {value!r}")
    return record


class ResultsFile:
    """A sweep's JSON-lines results file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.torn = False  # the last line was cut short (and is ignored)

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, in file order; a torn last line is skipped (``self.torn``)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read the results file: {exc.strerror or exc}") from None
        if size > MAX_RESULTS_BYTES:
            raise DataError(
                f"{self.path}: larger than {MAX_RESULTS_BYTES >> 20} MiB; not a sweep results file"
            )
        try:
            raw = self.path.read_bytes()[:MAX_RESULTS_BYTES]
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read the results file: {exc.strerror or exc}") from None
        lines = raw.split(b"\n")
        self.torn = bool(lines[-1].strip())  # text after the last newline: a cut-off write
        records = []
        for number, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            where = f"{self.path}, line {number}"
            if len(line) > MAX_LINE_BYTES:
                raise DataError(f"{where}: longer than {MAX_LINE_BYTES >> 20} MiB")
            try:
                record = json.loads(line.decode("utf-8"), parse_constant=lambda c: None)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise DataError(f"{where}: not a JSON line ({exc}); is this a sweep results file?") from None
            records.append(check_record(record, where))
        return records

    def open(self) -> list[dict[str, Any]]:
        """Read the file and cut off a torn last line, so appends start on a fresh line."""
        records = self.read()
        if self.torn:
            raw = self.path.read_bytes()
            with open(self.path, "r+b") as fh:
                fh.truncate(raw.rfind(b"\n") + 1)
                fh.flush()
                os.fsync(fh.fileno())
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Add one line, whole, and make it durable before returning."""
        data = (json.dumps(json_safe(record), default=_plain) + "\n").encode("utf-8")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            view = memoryview(data)
            while view:  # one write in practice; a short write continues where it stopped
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created and hasattr(os, "O_DIRECTORY"):  # make the new file's name durable too
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
