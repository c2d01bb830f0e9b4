"""Writing what the benchmark commands generate: files written atomically, sections of the
README between two marker lines, links to charts, and PNGs from matplotlib.

Shared by ``python -m benchmarks.report``, ``benchmarks.presets`` and ``benchmarks.race``.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

from fastnn.atomic import atomic_write


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through :func:`fastnn.atomic.atomic_write` (readers see
    the old file or the new one, never half of one), creating its folder and keeping an
    existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    with atomic_write(path, "wb", permissions=mode) as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)


def splice(text: str, section: str, where: str, markers: tuple[str, str]) -> str:
    """``text`` with everything between the two ``markers`` lines replaced by ``section``;
    SystemExit naming ``where`` unless each marker occurs once, in that order."""
    first, last = markers
    start, end = text.find(first), text.find(last)
    if start < 0 or end < 0 or end < start or text.count(first) != 1 or text.count(last) != 1:
        raise SystemExit(
            f"{where}: needs exactly one '{first}' line followed by one '{last}' line "
            "around the generated section"
        )
    return text[: start + len(first)] + "\n" + section.rstrip("\n") + "\n" + text[end:]


def readme_link(chart: Path, readme: Path) -> str | None:
    """The chart's path relative to the README, if it lives beside or below it (so it can be
    committed and linked); None otherwise."""
    try:
        rel = os.path.relpath(chart.resolve(), readme.resolve().parent)
    except ValueError:  # another drive on Windows
        return None
    return Path(rel).as_posix() if rel and not rel.startswith("..") else None


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None (and a message) when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the chart (pip install matplotlib)", file=sys.stderr)
        return None
    return plt


def save_png(fig: Any, path: Path, dpi: int) -> None:
    """Lay out, render and close a matplotlib figure, then write the PNG atomically."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
