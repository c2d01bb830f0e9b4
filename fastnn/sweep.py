"""Entry point of ``python -m fastnn.sweep``, and ``fastnn.sweep.run_sweep``; the sweep
lives in :mod:`fastnn.cli.sweep` (it runs ``python -m fastnn.train``'s options)."""

from fastnn.cli.sweep import SweepOutcome, Trial, build_trials, read_spec_file, run_sweep
from fastnn.cli.sweep.command import main

__all__ = ["SweepOutcome", "Trial", "build_trials", "main", "read_spec_file", "run_sweep"]

if __name__ == "__main__":
    raise SystemExit(main())
