"""Hyper-parameter sweeps over ``python -m fastnn.train`` options, on one machine or a Dask cluster.

One module per job, so each can move on its own when the command line and the
library are split: :mod:`~fastnn.cli.sweep.spec` (what to run: spec files, ``--grid``
flags, grid or seeded sample, every trial checked by train's own parser),
:mod:`~fastnn.cli.sweep.trial` (one trial, on a worker), :mod:`~fastnn.cli.sweep.warm`
(Numba's cache filled by one process at a time), :mod:`~fastnn.cli.sweep.store` (the
JSON-lines results file), :mod:`~fastnn.cli.sweep.cluster` (Dask, an optional extra),
:mod:`~fastnn.cli.sweep.runner` (:func:`run_sweep`), :mod:`~fastnn.cli.sweep.report` (the
table and the chart) and :mod:`~fastnn.cli.sweep.command` (``python -m fastnn.sweep``).
Importing this package imports neither Dask nor Numba.
"""

from __future__ import annotations

from fastnn.cli.sweep.runner import SweepOutcome, run_sweep
from fastnn.cli.sweep.spec import Trial, build_trials, read_spec_file

__all__ = ["SweepOutcome", "Trial", "build_trials", "read_spec_file", "run_sweep"]
