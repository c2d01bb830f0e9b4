"""Download progress on stderr: a bar on a terminal, one line per file otherwise, or nothing."""

from __future__ import annotations

import sys
import time
from typing import IO


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class Progress:
    """A bar on a terminal, one line per file otherwise, or nothing; always on stderr."""

    def __init__(self, progress: bool | None) -> None:
        self.stream: IO[str] | None = None if progress is False else sys.stderr
        is_tty = False
        if self.stream is not None:
            try:
                is_tty = self.stream.isatty()
            except (AttributeError, ValueError, OSError):
                is_tty = False
        self.bar = bool(progress) or (progress is None and is_tty)
        self._open = False
        self._last = 0.0
        self._width = 0

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()

    def update(self, name: str, done: int, total: int | None, force: bool = False) -> None:
        if not self.bar or self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        if total:
            frac = min(done / total, 1.0)
            filled = int(30 * frac)
            bar = "#" * filled + "." * (30 - filled)
            line = f"{name:<27} [{bar}] {frac:4.0%}  {size_text(done)} of {size_text(total)}"
        else:
            line = f"{name:<27} {size_text(done)}"
        self._width = max(self._width, len(line))
        self._write(f"\r{line:<{self._width}}")  # pad over a longer previous line
        self._open = True

    def end_line(self) -> None:
        if self._open:
            self._write("\n")
            self._open = False
            self._width = 0

    def log(self, text: str) -> None:
        self.end_line()
        self._write(f"fastnn: {text}\n")

    def finished(self, name: str, n: int, url: str, how: str) -> None:
        if self.bar:
            self.update(name, n, n, force=True)
            self.end_line()
        else:
            self.log(f"downloaded {name} ({size_text(n)}) from {url}, {how}")
