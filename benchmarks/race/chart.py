"""The race as a chart: test accuracy against training wall time, one panel per recipe and
thread count, one line per entrant (the x-axis is where a user's stopwatch would be).

Needs matplotlib (``pip install -e '.[plots]'``); without it the chart is skipped with a
message (:func:`benchmarks.outputs.pyplot`), as ``benchmarks.report`` does.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

from benchmarks.outputs import pyplot, save_png
from benchmarks.race.entrants import ENTRANTS


def write_chart(doc: dict[str, Any], path: Path) -> bool:
    """Write the PNG to ``path`` atomically; False (and a message) without matplotlib or data."""
    plt = pyplot()
    if plt is None:
        return False
    from matplotlib.ticker import FuncFormatter

    records = [r for r in doc["records"] if r["epoch_seconds"]]
    panels = list(dict.fromkeys((r["recipe"], r["threads"]) for r in records))
    if not panels:
        print("no entrant finished an epoch; no chart written", file=sys.stderr)
        return False
    target = float(doc["meta"].get("target", 0.98))
    cols = min(len(panels), 2)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    colours = dict(zip(ENTRANTS, itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])))
    for ax, (recipe, threads) in zip(axes.flat, panels, strict=False):
        for r in records:
            if (r["recipe"], r["threads"]) != (recipe, threads):
                continue
            elapsed = list(itertools.accumulate(r["epoch_seconds"]))
            ax.plot(
                elapsed,
                [100 * a for a in r["test_accuracy"]],
                marker="o",
                markersize=3,
                label=ENTRANTS[r["entrant"]].label,
                color=colours[r["entrant"]],
            )
        ax.axhline(100 * target, color="grey", linewidth=0.7, linestyle="--")
        ax.set_xscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 20, not 2x10^1
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.set_title(f"{recipe}, {threads} thread{'s' if threads > 1 else ''}", fontsize=9)
        ax.set_xlabel("training wall time, s (log scale)", fontsize=8)
        ax.set_ylabel("test accuracy, %", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    save_png(fig, path, dpi=100)
    return True
