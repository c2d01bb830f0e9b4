"""The README's benchmark section from pytest-benchmark's JSON: rows per case and thread
count, the Markdown tables and the text around them.

Every number comes from the JSON (the records ``bench_backends.py`` and
``bench_compile.py`` write); nothing is typed by hand (numbagg ``run_benchmarks.py``).
``benchmarks.race.render`` reuses the table helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFERENCE, FAST = "numpy", "numba"
#: Ops whose second thread can pay (BLAS products): they get the thread-scaling table.
THREADED_OPS = ("batch64_epoch", "batch256_epoch", "fullbatch_step", "predict_proba")
KERNEL_OPS = ("dense_forward", "activation_derivative")


@dataclass
class Row:
    """One case at one thread count: each backend's stats (seconds per call)."""

    case: str
    op: str
    threads: int
    n_samples: int | None
    target: float | None
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def median(self, backend: str) -> float | None:
        s = self.stats.get(backend)
        return None if s is None else float(s["median"])

    @property
    def speedup(self) -> float | None:
        ref, fast = self.median(REFERENCE), self.median(FAST)
        return ref / fast if ref and fast else None


def collect(data: dict[str, Any]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Rows in suite order, and the compile-time records."""
    rows: dict[tuple[str, int], Row] = {}
    compiles: list[dict[str, Any]] = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if info.get("op") == "compile":
            compiles.append({**info, "median": bench["stats"]["median"]})
            continue
        if "case" not in info or "backend" not in info:
            continue  # not one of ours
        key = (info["case"], int(info["threads"]))
        row = rows.setdefault(
            key,
            Row(
                info["case"],
                info["op"],
                int(info["threads"]),
                info.get("n_samples"),
                info.get("target_speedup"),
            ),
        )
        row.stats[info["backend"]] = bench["stats"]
    return list(rows.values()), compiles


def first_info(data: dict[str, Any]) -> dict[str, Any]:
    for bench in data["benchmarks"]:
        if "cpu" in bench.get("extra_info", {}):
            return bench["extra_info"]
    return {}


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_rate(n: int | None, seconds: float | None) -> str:
    if not n or not seconds:
        return ""
    rate = n / seconds
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate:,.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}x" if x < 100 else f"{x:.0f}x"


def table(header: list[str], lines: list[list[str]], right: set[int]) -> list[str]:
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|",
    ]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return out


def main_table(rows: list[Row]) -> list[str]:
    """case | threads | numpy | numba | speed-up, plus samples/s where a call has samples."""
    rates = any(r.n_samples for r in rows)
    lines = []
    for r in rows:
        ref, fast = r.median(REFERENCE), r.median(FAST)
        cells = [f"`{r.case}`", str(r.threads), fmt_time(ref), fmt_time(fast), fmt_ratio(r.speedup)]
        if rates:
            cells += [fmt_rate(r.n_samples, ref), fmt_rate(r.n_samples, fast)]
        lines.append(cells)
    header = ["case", "threads", "numpy median", "numba median", "speed-up numba/numpy"]
    if rates:
        header += ["numpy samples/s", "numba samples/s"]
    return table(header, lines, set(range(1, len(header))))


def best(rows: list[Row], backend: str) -> dict[str, tuple[float, int]]:
    """Each case's fastest median over thread counts, and that thread count."""
    out: dict[str, tuple[float, int]] = {}
    for r in rows:
        m = r.median(backend)
        if m is not None and (r.case not in out or m < out[r.case][0]):
            out[r.case] = (m, r.threads)
    return out


def targets_table(rows: list[Row]) -> list[str]:
    """Issue #3's speed criteria: each backend at its best thread count."""
    ref, fast = best(rows, REFERENCE), best(rows, FAST)
    lines, seen = [], set()
    for r in rows:
        if r.target is None or r.case in seen or r.case not in ref or r.case not in fast:
            continue
        seen.add(r.case)
        ratio = ref[r.case][0] / fast[r.case][0]
        status = "met" if ratio >= r.target else "**not met**"
        lines.append(
            [
                f"`{r.case}`",
                f"{fmt_time(ref[r.case][0])} ({ref[r.case][1]}t)",
                f"{fmt_time(fast[r.case][0])} ({fast[r.case][1]}t)",
                fmt_ratio(ratio),
                f">= {r.target:g}x",
                status,
            ]
        )
    return table(["case", "numpy best", "numba best", "speed-up", "target", "status"], lines, {1, 2, 3, 4})


def scaling_table(rows: list[Row]) -> list[str]:
    """1-thread median / all-threads median, per backend, for ops that can use 2 cores."""
    by_case: dict[str, dict[int, Row]] = {}
    for r in rows:
        if r.op in THREADED_OPS:
            by_case.setdefault(r.case, {})[r.threads] = r
    lines = []
    for case, per in by_case.items():
        if 1 not in per or len(per) < 2:
            continue
        most = max(per)
        cells = [f"`{case}`", str(most)]
        for backend in (REFERENCE, FAST):
            one, many = per[1].median(backend), per[most].median(backend)
            cells.append(fmt_ratio(one / many) if one and many else "-")
        lines.append(cells)
    return table(["case", "threads", "numpy 1t/Nt", "numba 1t/Nt"], lines, {1, 2, 3})


def compile_lines(compiles: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in compiles:
        out.append(
            f"- Numba compile, {c['dtype']}: a cold first run takes {c['median']:.1f} s "
            f"(new process: import {c.get('cold_import_seconds', math.nan):.2f} s, compile "
            f"{c.get('cold_warmup_seconds', math.nan):.1f} s); with the cache warm a new process "
            f"is ready to train in {c.get('warm_total_seconds', math.nan):.2f} s (import "
            f"{c.get('warm_import_seconds', math.nan):.2f} s + warm-up "
            f"{c.get('warm_warmup_seconds', math.nan):.2f} s)."
        )
    return out


def blas_summary(info: dict[str, Any]) -> str:
    pools = info.get("blas") or []
    parts = []
    for p in pools:
        # Which package bundles it: .../numpy.libs/libscipy_openblas64_-....so -> numpy
        where = Path(p.get("filepath", "") or "").parent.name.removesuffix(".libs") or p.get("prefix", "?")
        desc = (
            f"{p.get('internal_api', '?')} {p.get('version', '')} ({where}, "
            f"{p.get('threading_layer', '?')} threads, {p.get('architecture', '?')})"
        )
        parts.append(desc.replace("  ", " "))
    return "; ".join(parts) or "unknown"


def load_lines(data: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """The machine's 1-minute load average as each benchmark started, and what it implies."""
    loads = [
        b["extra_info"]["loadavg_1m"]
        for b in data["benchmarks"]
        if b.get("extra_info", {}).get("loadavg_1m") is not None
    ]
    if not loads:
        return []
    cpus = info.get("available_threads") or info.get("cpu_count") or 1
    line = (
        f"- Load: 1-minute load average {min(loads):.1f} to {max(loads):.1f} while the suite ran "
        f"({cpus} CPUs; the suite itself accounts for about 1)."
    )
    if max(loads) > cpus:
        line += (
            " Other processes were competing for the cores, so these timings, above all the "
            "multi-thread rows, are noisy; rerun on an idle machine for numbers to quote."
        )
    return [line]


def render(data: dict[str, Any], source: str, report_command: str, chart: str | None) -> str:
    rows, compiles = collect(data)
    if not rows and not compiles:
        raise SystemExit(f"{source}: no fastnn benchmark records (was it written by `pytest benchmarks`?)")
    info = first_info(data) or (compiles[0] if compiles else {})
    versions = info.get("versions", {})
    cores = f"{info.get('cpu_count', '?')} logical CPUs, {info.get('available_threads', '?')} usable"
    training = [r for r in rows if r.op not in KERNEL_OPS]
    kernels = [r for r in rows if r.op in KERNEL_OPS]
    out = [
        f"<!-- Generated by `{report_command}` from {source}; do not edit by hand. -->",
        "",
        f"- Machine: {info.get('cpu', '?')}, {cores}; {info.get('platform', '?')}",
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        + f", Python {info.get('python', '?')}",
        f"- BLAS: {blas_summary(info)}",
        f"- Data: {info.get('data', '?')}",
        f"- Run: {data.get('datetime', '?')}; command: `{info.get('command', '?')}`",
        *load_lines(data, info),
        "",
        "Times are medians of one call (one epoch, one full-batch step, one forward pass).",
        "Speed-up is numpy median / numba median: above 1 the numba backend is faster.",
        "Both backends are warmed up first (compile time is reported below) and their",
        "results are checked against each other before timing.",
    ]
    if training:
        out += ["", "**Issue #3 targets** (float32; each backend at its best thread count):", ""]
        out += targets_table(training)
        out += ["", "**Training and inference:**", ""]
        out += main_table(training)
        scaling = scaling_table(training)
        if len(scaling) > 2:
            out += [
                "",
                "**Thread scaling** (1-thread median / all-threads median; above 1 the second core helps):",
                "",
            ]
            out += scaling
    if kernels:
        out += [
            "",
            "**Kernels** (784->128 dense layer fused with its activation; derivative "
            "from the activation output):",
            "",
        ]
        out += main_table(kernels)
    if compiles:
        out += ["", *compile_lines(compiles)]
    if chart:
        out += ["", f"![numba/numpy speed-up per case]({chart})"]
    out += [
        "",
        "Reproduce and compare runs:",
        "",
        "```sh",
        "python -m benchmarks.report --run --out bench.md      # run the suite, write this table",
        "pytest benchmarks --benchmark-only --benchmark-autosave   # save a run in .benchmarks/",
        "pytest benchmarks --benchmark-only --benchmark-compare    # compare with the last saved run",
        "```",
    ]
    return "\n".join(out) + "\n"
