"""The speed-up chart of the README's benchmark section: numba/numpy per case and thread count.

Needs matplotlib; without it the chart is skipped with a message (:func:`benchmarks.outputs.pyplot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.outputs import pyplot, save_png
from benchmarks.report_tables import KERNEL_OPS, collect, first_info


def write_chart(data: dict[str, Any], path: Path) -> bool:
    """Horizontal bars of numba/numpy speed-up per case and thread count (log scale)."""
    plt = pyplot()
    if plt is None:
        return False
    rows, _ = collect(data)
    # Training and inference first: they are what a user runs.
    rows = sorted((r for r in rows if r.speedup is not None), key=lambda r: r.op in KERNEL_OPS)
    cases = list(dict.fromkeys(r.case for r in rows))
    thread_counts = sorted({r.threads for r in rows})
    if not cases:
        return False
    height = 0.8 / len(thread_counts)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.24 * len(cases) * max(1, len(thread_counts) / 1.5)))
    for k, t in enumerate(thread_counts):
        ys: list[float] = []
        xs: list[float] = []
        for r in rows:
            if r.threads == t and r.speedup is not None:
                ys.append(cases.index(r.case) + (k - (len(thread_counts) - 1) / 2) * height)
                xs.append(r.speedup)
        ax.barh(ys, xs, height=height, label=f"{t} thread{'s' if t > 1 else ''}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(cases)), cases, fontsize=7)
    ax.set_ylim(len(cases) - 0.5, -0.5)
    ax.set_xlabel("speed-up: numpy median / numba median (log scale; > 1 means numba is faster)")
    info = first_info(data)
    ax.set_title(f"fastnn numba vs numpy - {info.get('cpu', '')}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    save_png(fig, path, dpi=110)
    return True
