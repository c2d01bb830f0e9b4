"""``python -m fastnn.sweep``: a hyper-parameter sweep over ``python -m fastnn.train`` options.

The sweep's own flags are parsed here; every other flag is a train flag, fixed for
every trial and checked by train's parser (so ``--preset``, ``--data``, ``--epochs``
and the rest mean what they mean to train). The work is :func:`fastnn.sweep.run_sweep`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastnn.cli import common as cli
from fastnn.cli.sweep.cluster import import_distributed
from fastnn.cli.sweep.report import plot_sweep, results_table
from fastnn.cli.sweep.runner import run_sweep
from fastnn.cli.sweep.spec import (
    MAX_TRIALS,
    SPEC_KEYS,
    SweepSpec,
    add_grid_flag,
    read_spec_file,
    train_parser,
)
from fastnn.data.images import optional_import
from fastnn.errors import FastnnError, InvalidParameterError

EXAMPLE = """\
examples:
  python -m fastnn.sweep --results sweep.jsonl --epochs 3 --batch-size 64 \\
      --grid lr=0.01,0.05,0.1 --grid 'activations=relu;tanh'
  python -m fastnn.sweep --results sweep.jsonl --spec sweep.toml --samples 20 --plot plots/
  python -m fastnn.sweep --results sweep.jsonl --spec sweep.toml --scheduler tcp://10.0.0.5:8786

A spec file (TOML or JSON) has the keys: """ + "; ".join(f"{k} ({v})" for k, v in SPEC_KEYS.items())


def build_parser() -> argparse.ArgumentParser:
    """The sweep's own flags (train's flags pass through to every trial)."""
    p = argparse.ArgumentParser(
        prog="python -m fastnn.sweep",
        allow_abbrev=False,  # an abbreviation could swallow a train flag
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one network per combination of python -m fastnn.train options, on a local "
        "Dask cluster (one single-threaded worker process per core, 127.0.0.1 only) or an existing "
        "one. Every other flag is a python -m fastnn.train flag fixed for all trials (--preset, "
        "--data, --epochs, ...). Each finished trial is appended to the results file at once; "
        "running the same command again skips finished trials. Needs pip install 'fastnn[sweep]'.",
        epilog=EXAMPLE
        + "\n\nExit status: 0 done, 1 no trial finished, 2 bad flags, spec or data, 130 interrupted.",
    )
    what = p.add_argument_group("what to run")
    what.add_argument(
        "--grid",
        metavar="NAME=V1,V2",
        action="append",
        default=[],
        help="sweep train option NAME over these values (repeatable; the grid is every combination); "
        "list options (layers, activations) separate values by ';': "
        "--grid 'layers=784,64,10;784,128,10' --grid 'activations=relu;tanh'",
    )
    what.add_argument("--spec", metavar="FILE", type=Path, help="a .toml or .json sweep spec (see below)")
    what.add_argument(
        "--samples",
        metavar="N",
        type=cli.positive_int,
        help=f"run N trials drawn at random from the grid instead of all (at most {MAX_TRIALS:,})",
    )
    what.add_argument(
        "--sample-seed", metavar="S", type=cli.nonnegative_int, help="seed of that draw (default 0)"
    )
    where = p.add_argument_group("where")
    where.add_argument(
        "--workers",
        metavar="N",
        type=cli.positive_int,
        help="worker processes of the local cluster (default: one per core)",
    )
    where.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="run on this existing Dask cluster instead"
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--results",
        metavar="PATH",
        type=Path,
        required=True,
        help="JSON-lines results file: one line per finished trial, appended as it finishes",
    )
    out.add_argument(
        "--save",
        metavar="PATH",
        type=Path,
        help="where the best model so far is saved (default: the results path with .best.npz)",
    )
    out.add_argument(
        "--plot",
        metavar="DIR",
        type=Path,
        help="write a chart of accuracy against each swept option into DIR (needs fastnn[plots])",
    )
    out.add_argument("--retry-failed", action="store_true", help="run trials recorded as failed again")
    out.add_argument("--quiet", action="store_true", help="print only the final table")
    return p


def default_save_path(results: Path) -> Path:
    """``sweep.jsonl`` -> ``sweep.best.npz``, next to the results."""
    return results.with_name(f"{results.stem}.best.npz")


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status. Through the commands' shared wrapper,
    which gives Python's Ctrl-C handler back (so Ctrl-C mid-sweep is the sweep's own
    clean stop, not "interrupted while starting") and guards standard output."""
    return cli.command(lambda: _run(argv))


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args, train_argv = parser.parse_known_args(argv)
    if args.scheduler is not None and args.workers is not None:
        parser.error("--workers sizes the local cluster; an existing cluster (--scheduler) has its own")
    save = args.save or default_save_path(args.results)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    try:
        import_distributed()
        if args.plot is not None:
            optional_import("matplotlib", "plots", "--plot")
        for flag_name, path in (("--results", args.results), ("--save", save)):
            if not path.parent.is_dir():
                raise InvalidParameterError(f"{flag_name} {path}: directory {path.parent} does not exist")
        tparser = train_parser()
        spec = read_spec_file(args.spec, tparser) if args.spec is not None else SweepSpec()
        for text in args.grid:
            add_grid_flag(spec, text, tparser)
        outcome = run_sweep(
            spec,
            args.results,
            train_args=train_argv,
            samples=args.samples,
            sample_seed=args.sample_seed,
            scheduler=args.scheduler,
            workers=args.workers,
            save=save,
            retry_failed=args.retry_failed,
            say=say,
        )
        ranked = outcome.ranked()
        print(results_table(ranked, list(spec.grid)))
        if outcome.saved is not None and outcome.best is not None:
            say(f"best model so far (validation {outcome.best.get('val_accuracy') or 0:.2%}) saved to {save}")
        if args.plot is not None and ranked:
            say(f"wrote {plot_sweep(ranked, list(spec.grid), args.plot)}")
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    except KeyboardInterrupt:
        print(f"interrupted; finished trials are in {args.results}", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    if outcome.interrupted:
        print(
            f"interrupted after {outcome.ran} trials; every finished trial is in {args.results}: "
            "run the same command again to run the rest",
            file=sys.stderr,
        )
        return cli.EXIT_INTERRUPTED
    return 0 if any(r.get("status") == "ok" for r in ranked) else cli.EXIT_FAILED
