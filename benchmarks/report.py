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
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.outputs import readme_link, splice, write_atomic
from benchmarks.report_chart import write_chart
from benchmarks.report_tables import render

START = "<!-- benchmark-table:start -->"
END = "<!-- benchmark-table:end -->"
REPO = Path(__file__).resolve().parent.parent


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
        splice(
            readme_text, "", str(args.update_readme), (START, END)
        )  # fail on bad markers before writing anything
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
        write_atomic(args.update_readme, splice(readme_text, section, str(args.update_readme), (START, END)))
        print(f"updated {args.update_readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
