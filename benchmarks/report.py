"""Turn a pytest-benchmark JSON file into the README's benchmark tables and a speed-up chart.

Usage::

    python -m benchmarks.report --run --out bench.md --update-readme README.md
    python -m benchmarks.report --json bench.json --out bench.md --png bench.png

``--run`` runs the suite first (``python -m pytest benchmarks --benchmark-only
--benchmark-json=...``; arguments after ``--`` go to pytest). Every number in the output
comes from the JSON: the tables are generated, never typed (numbagg ``run_benchmarks.py``).
The README section between ``<!-- benchmark-table:start -->`` and
``<!-- benchmark-table:end -->`` is replaced atomically. The chart needs matplotlib and is
skipped, with a message, when it is not installed.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastnn.atomic import atomic_write

START = "<!-- benchmark-table:start -->"
END = "<!-- benchmark-table:end -->"
REPO = Path(__file__).resolve().parent.parent
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


# ---------------------------------------------------------------------------- reading
def load(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise SystemExit(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' key)")
    return data


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


# ---------------------------------------------------------------------------- formatting
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


# ---------------------------------------------------------------------------- chart
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


def save_png(fig: Any, path: Path, dpi: int) -> None:
    """Lay out, render and close a matplotlib figure, then write the PNG atomically."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


# ---------------------------------------------------------------------------- files
def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through :func:`fastnn.atomic.atomic_write` (readers see
    the old file or the new one, never half of one), creating its folder and keeping an
    existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    with atomic_write(path, "wb", permissions=mode) as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)


def splice(text: str, section: str, where: str, markers: tuple[str, str] = (START, END)) -> str:
    """``text`` with everything between the two ``markers`` (default: the benchmark
    table's) replaced by ``section``."""
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


def run_suite(json_path: Path, pytest_args: list[str]) -> str:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks",
        "--benchmark-only",
        f"--benchmark-json={json_path}",
        "-q",
        *pytest_args,
    ]
    print("running:", shlex.join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the benchmark run failed (pytest exit code {proc.returncode}); no report written")
    return shlex.join(cmd)


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--json", type=Path, help="read this pytest-benchmark JSON file")
    src.add_argument(
        "--run", action="store_true", help="run the suite first (arguments after -- go to pytest)"
    )
    parser.add_argument(
        "--save-json", type=Path, help="with --run: keep the JSON here (default: a temp file)"
    )
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    parser.add_argument("--png", type=Path, help="write the chart here (default: --out with .png)")
    parser.add_argument(
        "--update-readme",
        type=Path,
        metavar="README",
        help=f"replace the README section between {START} and {END}",
    )
    parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pytest_args and not args.run:
        parser.error(f"unexpected arguments {args.pytest_args} (pytest arguments need --run)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    report_command = shlex.join(["python", "-m", "benchmarks.report", *argv])
    if args.run:
        if args.save_json:
            json_path = args.save_json.resolve()
            run_suite(json_path, args.pytest_args)
            data, source = load(json_path), str(json_path)
        else:
            with tempfile.TemporaryDirectory(prefix="fastnn-bench-") as tmp:
                json_path = Path(tmp) / "bench.json"
                run_suite(json_path, args.pytest_args)
                data, source = load(json_path), "its own run of the suite"
    else:
        data, source = load(args.json), str(args.json)

    png = args.png or (args.out.with_suffix(".png") if args.out else None)
    readme_text = None
    if args.update_readme:
        if not args.update_readme.is_file():
            raise SystemExit(f"{args.update_readme}: no such file")
        readme_text = args.update_readme.read_text(encoding="utf-8")
        splice(readme_text, "", str(args.update_readme))  # fail on bad markers before writing anything
    chart_written = write_chart(data, png) if png else False
    source = Path(source).name if args.json or args.save_json else source
    markdown = render(data, source, report_command, None)
    if args.out:
        write_atomic(args.out, markdown)
        print(f"wrote {args.out}" + (f" and {png}" if chart_written else ""), file=sys.stderr)
    elif not args.update_readme:
        sys.stdout.write(markdown)
    if args.update_readme and readme_text is not None:
        link = readme_link(png, args.update_readme) if chart_written and png is not None else None
        section = render(data, source, report_command, link)
        write_atomic(args.update_readme, splice(readme_text, section, str(args.update_readme)))
        print(f"updated {args.update_readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
