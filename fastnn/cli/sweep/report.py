"""A sweep's results for people: the ranked table and the accuracy chart.

The table is Markdown (readable on a terminal, pasteable into a README), best
validation accuracy first, failed and diverged trials last with their errors. The
chart (``--plot DIR``, matplotlib from the ``plots`` extra) has one panel per swept
option: accuracy against the option's values, every trial a point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastnn.cli.fit_options import flag
from fastnn.cli.plotting import _figure, _save

#: The chart's file name inside the --plot folder.
CHART_FILE = "sweep_accuracy.png"
MAX_ERROR = 70


def _value_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "full" if value is None else str(value)


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value:.2%}"


def results_table(records: Sequence[Mapping[str, Any]], swept: Sequence[str]) -> str:
    """Markdown table of ``records`` (already ranked), one column per swept option."""
    head = ["#", *(flag(d) for d in swept), "val acc", "test acc", "epochs", "seconds", "samples/s", "status"]
    rows = [head, ["---"] * len(head)]
    for rank, r in enumerate(records, 1):
        settings = r.get("settings", {})
        status = r.get("status", "?")
        if status != "ok":
            error = str(r.get("error") or "")
            status += f": {error[:MAX_ERROR]}{'...' if len(error) > MAX_ERROR else ''}"
        speed = r.get("samples_per_s")
        rows.append(
            [
                str(rank),
                *(_value_text(settings.get(d)) for d in swept),
                _percent(r.get("val_accuracy")),
                _percent(r.get("test_accuracy")),
                str(r.get("epochs", "-")),
                "-" if r.get("seconds") is None else f"{r['seconds']:.1f}",
                "-" if speed is None else f"{speed:,.0f}",
                status.replace("|", "/"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if c != "---" else "-" * w for c, w in zip(row, widths, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_sweep(records: Sequence[Mapping[str, Any]], swept: Sequence[str], folder: Path) -> Path:
    """One PNG with validation and test accuracy against each swept option; returns its path."""
    ok = [r for r in records if r.get("status") == "ok"]
    n = len(swept)
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig = _figure(4.2 * cols, 3.4 * nrows)
    for i, dest in enumerate(swept):
        ax = fig.add_subplot(nrows, cols, i + 1)
        values = [r["settings"].get(dest) for r in ok]
        if _numeric(values) and values:
            xs: list[Any] = list(values)
            positive = all(v > 0 for v in xs)
            if positive and max(xs) / min(xs) >= 10:
                ax.set_xscale("log")
        else:  # categories (activations, optimisers, layer lists) in first-seen order
            labels = list(dict.fromkeys(_value_text(v) for v in values))
            xs = [labels.index(_value_text(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        for key, marker, name in (("val_accuracy", "o", "validation"), ("test_accuracy", "x", "test")):
            pts = [(x, r[key]) for x, r in zip(xs, ok, strict=True) if r.get(key) is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=name, alpha=0.75)
        ax.set_xlabel(flag(dest))
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(f"sweep: {len(ok)} finished trials (every point is one trial)")
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    return _save(fig, folder / CHART_FILE)
