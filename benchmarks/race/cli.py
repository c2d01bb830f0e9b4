"""Race fastnn against PyTorch, JAX and scikit-learn on the same recipes and data.

Usage::

    python -m benchmarks.race --data /path/to/mnist --update-readme README.md --png benchmarks/race.png
    python -m benchmarks.race --data embedded --train-size 2000 --epochs 2 --threads 1   # smoke run
    python -m benchmarks.race --json race.json --out race.md       # re-render a saved run

Each entrant (fastnn numba, fastnn numpy, and JAX, PyTorch and scikit-learn where
installed: ``pip install -e '.[peers]'``) trains each recipe at each thread count in its
own process, one after another. The output is a Markdown section (seconds per epoch,
ratios, time to the target test accuracy), a chart (``--png``) and the raw results
(``--save-json``); ``--update-readme`` replaces the section between
``<!-- race-table:start -->`` and ``<!-- race-table:end -->``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from benchmarks.outputs import readme_link, splice, write_atomic
from benchmarks.race import entrants, render, results
from benchmarks.race.chart import write_chart
from benchmarks.race.recipes import RECIPES
from benchmarks.race.runner import RaceConfig, run_race
from fastnn.cli.common import error, nonnegative_float, nonnegative_int, positive_int
from fastnn.data.cache import ENV_DATA_DIR
from fastnn.errors import FastnnError

DEFAULT_TARGET = 0.98


def _names(choices: dict[str, Any], what: str) -> Any:
    def parse(text: str) -> list[str]:
        names = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{what} must be among {sorted(choices)}; got {text!r}")
        return list(dict.fromkeys(names))

    return parse


def _thread_list(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"must be positive ints separated by commas, like 1,2; got {text!r}")
    return list(dict.fromkeys(values))


def _skip(text: str) -> tuple[str, str | None]:
    name, _, recipe = text.partition(":")
    if name not in entrants.ENTRANTS or (recipe and recipe not in RECIPES):
        raise argparse.ArgumentTypeError(
            f"must be ENTRANT or ENTRANT:RECIPE with an entrant among {sorted(entrants.ENTRANTS)} "
            f"and a recipe among {sorted(RECIPES)}; got {text!r}"
        )
    return name, recipe or None


def _fraction(text: str) -> float:
    value = nonnegative_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1]; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.race",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data",
        help="MNIST for fastnn.data.load_dataset: a directory of IDX files, 'mnist', 'embedded' "
        "(default: $FASTNN_DATA, else the download cache, else the embedded digits)",
    )
    p.add_argument(
        "--recipes",
        type=_names(RECIPES, "recipes"),
        default=list(RECIPES),
        help=f"comma-separated, among {','.join(RECIPES)} (default: all)",
    )
    p.add_argument(
        "--entrants",
        type=_names(entrants.ENTRANTS, "entrants"),
        default=list(entrants.ENTRANTS),
        help=f"comma-separated, among {','.join(entrants.ENTRANTS)} (default: all; "
        "peers that are not installed are skipped)",
    )
    p.add_argument(
        "--threads", type=_thread_list, default=[1, 2], help="thread counts to race at (default 1,2)"
    )
    p.add_argument("--epochs", type=positive_int, default=6, help="epochs per entrant (default 6)")
    p.add_argument("--train-size", type=positive_int, help="use the first N training digits (default: all)")
    p.add_argument("--test-size", type=positive_int, help="use the first N test digits (default: all)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="initial weights and shuffles (default 0)")
    p.add_argument(
        "--target",
        type=_fraction,
        help="test accuracy to time (default 0.98, or the target of the run read with --json)",
    )
    p.add_argument(
        "--max-seconds",
        type=nonnegative_float,
        default=30.0,
        help="stop an entrant whose epoch takes longer than this (default 30; 0: no limit)",
    )
    p.add_argument(
        "--max-first-seconds",
        type=nonnegative_float,
        default=120.0,
        help="the same for the first epoch, which includes compiling (default 120; 0: no limit)",
    )
    p.add_argument(
        "--skip",
        type=_skip,
        action="append",
        default=[],
        metavar="ENTRANT[:RECIPE]",
        help="leave an entrant out (of one recipe); repeatable",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin each worker to N CPUs")
    p.add_argument("--json", type=Path, help="re-render a run saved with --save-json instead of racing")
    p.add_argument("--save-json", type=Path, help="write the raw results here")
    p.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    p.add_argument("--png", type=Path, help="write the chart here (needs matplotlib)")
    p.add_argument(
        "--update-readme",
        type=Path,
        metavar="README",
        help=f"replace the section between {render.START} and {render.END}",
    )
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return p


def _config(args: argparse.Namespace) -> RaceConfig:
    return RaceConfig(
        recipes=tuple(args.recipes),
        entrants=tuple(args.entrants),
        threads=tuple(args.threads),
        epochs=args.epochs,
        data=args.data,
        n_train=args.train_size,
        n_test=args.test_size,
        seed=args.seed,
        max_seconds=args.max_seconds or None,
        max_first_seconds=args.max_first_seconds or None,
        skip=tuple(args.skip),
        pin=not args.no_pin,
    )


def _worker(args: argparse.Namespace) -> int:
    """One entrant, recipe and thread count (started by the runner, in its own process)."""
    from benchmarks.race.worker import main_worker

    if len(args.entrants) != 1 or len(args.recipes) != 1 or len(args.threads) != 1:
        return error("--worker takes exactly one entrant, one recipe and one thread count")
    record = main_worker(
        args.entrants[0],
        RECIPES[args.recipes[0]],
        args.data,
        n_train=args.train_size,
        n_test=args.test_size,
        epochs=args.epochs,
        threads=args.threads[0],
        seed=args.seed,
        max_seconds=args.max_seconds or None,
        max_first_seconds=args.max_first_seconds or None,
        pin=not args.no_pin,
    )
    write_atomic(args.worker, json.dumps(record))
    return 0


def _command(argv: list[str]) -> str:
    data_dir = os.environ.get(ENV_DATA_DIR)
    env = f"{ENV_DATA_DIR}={shlex.quote(data_dir)} " if data_dir else ""
    return env + shlex.join(["python", "-m", "benchmarks.race", *argv])


def race(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Run the race and return its results document."""
    from benchmarks.race.recipes import load_race_data

    # Load once here so a bad --data is one clear message, not one per worker.
    data = load_race_data(args.data, args.train_size, args.test_size)
    config = _config(args)
    meta: dict[str, Any] = {
        "command": _command(argv),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": results.machine(),
        "config": dataclasses.asdict(config),
        "data": data.source,
        "target": args.target or DEFAULT_TARGET,
        "load_start": results.load_average(),
        "environment": results.environment(),
    }
    print(
        f"racing on {data.source}: {len(data.x_train):,} training, {len(data.x_test):,} test digits",
        file=sys.stderr,
    )
    records = run_race(config)
    meta["load_end"] = results.load_average()
    return results.document(meta, records)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        if args.worker is not None:
            return _worker(args)
        readme_text = None
        if args.update_readme is not None:
            if not args.update_readme.is_file():
                return error(f"{args.update_readme}: no such file")
            try:
                readme_text = args.update_readme.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return error(f"{args.update_readme}: cannot read as UTF-8 text ({exc})")
            splice(readme_text, "", str(args.update_readme), (render.START, render.END))  # fail early
        doc = results.load(args.json) if args.json is not None else race(args, argv)
    except FastnnError as exc:
        return error(str(exc))
    if args.target is not None:
        doc["meta"]["target"] = args.target
    if args.save_json is not None:
        write_atomic(args.save_json, json.dumps(doc, indent=1) + "\n")
    chart_written = write_chart(doc, args.png) if args.png is not None else False
    markdown = render.render(doc)
    if args.out is not None:
        write_atomic(args.out, markdown)
    else:
        sys.stdout.write(markdown)
    if args.update_readme is not None and readme_text is not None:
        link = readme_link(args.png, args.update_readme) if chart_written and args.png else None
        section = render.render(doc, link)
        markers = (render.START, render.END)
        write_atomic(args.update_readme, splice(readme_text, section, str(args.update_readme), markers))
        print(f"updated {args.update_readme}", file=sys.stderr)
    return 0
