"""``run_sweep``: the trials of a sweep on a Dask cluster, each result kept as it arrives.

Order of work: load the data once (train's ``--data`` handling) and build every
trial (train's parser, checked before anything starts); read the results file and
skip finished trials; connect to the cluster; warm the Numba kernels on every worker
(one process at a time per machine, see :mod:`fastnn.cli.sweep.warm`); send the data to
each worker once; submit the trials; as each finishes, save the model if it is the
best so far (atomically) and then append its line to the results file.

Faults: a worker killed mid-trial makes the scheduler run that trial again on a
live worker (Dask's ``allowed-failures``, 3 by default, after which the trial is
recorded as failed); a trial that diverges or raises is recorded as such by the
worker and the sweep goes on; Ctrl-C cancels what has not finished and returns with
``interrupted`` set, the results file holding every finished trial.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastnn.cli.fit_options import fill_defaults, flag, parse_args
from fastnn.cli.inputs import load_data
from fastnn.cli.sweep.cluster import connect, send_data
from fastnn.cli.sweep.spec import (
    SweepSpec,
    Trial,
    add_grid_values,
    build_trials,
    train_parser,
)
from fastnn.cli.sweep.store import ResultsFile
from fastnn.cli.sweep.trial import base_record, run_trial
from fastnn.cli.sweep.warm import warm_kernels, warm_mode
from fastnn.cli.train_resume import data_fingerprint
from fastnn.data import MnistData
from fastnn.errors import FastnnError

#: How many times a sweep sends the data again after the workers that held it died.
MAX_DATA_RESENDS = 3


@dataclass
class SweepOutcome:
    """What a sweep did: every trial's latest record, what ran, and the best trial."""

    trials: list[Trial]
    records: dict[str, dict[str, Any]]  # trial key -> its latest record
    ran: int = 0
    skipped: int = 0
    interrupted: bool = False
    best: dict[str, Any] | None = None
    saved: Path | None = None  # where the best model was written in this run
    trial_seconds: float = 0.0  # from submitting the trials to the last result (no cluster start-up)
    notes: list[str] = field(default_factory=list)

    def ranked(self) -> list[dict[str, Any]]:
        """This sweep's records, best validation accuracy first, failures last."""
        rows = [self.records[t.key] for t in self.trials if t.key in self.records]
        return sorted(rows, key=rank_key)


def rank_key(record: Mapping[str, Any]) -> tuple[float, float]:
    """Sort key: finished trials by validation accuracy (then test), descending."""
    if record.get("status") != "ok":
        return (1.0, 0.0)
    return (-(record.get("val_accuracy") or 0.0), -(record.get("test_accuracy") or 0.0))


def trial_label(settings: Mapping[str, Any]) -> str:
    return " ".join(f"{flag(d)} {_text(v)}" for d, v in settings.items())


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "full" if value is None else str(value)


def load_sweep_data(train_args: Sequence[str], say: Callable[[str], None]) -> MnistData:
    """The data the train flags ask for (``--data``, ``--fix-polarity``), loaded once."""
    parser = train_parser()
    base: argparse.Namespace = parse_args(list(train_args), parser)
    fill_defaults(base, parser)
    return load_data(base, warn=lambda message: say(f"warning: {message}"))


def _payload(trial: Trial) -> dict[str, Any]:
    return {
        "key": trial.key,
        "settings": trial.settings,
        "options": trial.options,
        "record_options": trial.record_options(),
    }


def _is_better(record: Mapping[str, Any], best: Mapping[str, Any] | None) -> bool:
    return record.get("status") == "ok" and (best is None or rank_key(record) < rank_key(best))


def run_sweep(
    grid: Mapping[str, Iterable[Any]] | SweepSpec,
    results: str | Path,
    *,
    train_args: Sequence[str] = (),
    samples: int | None = None,
    sample_seed: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    save: str | Path | None = None,
    retry_failed: bool = False,
    say: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run a sweep of ``python -m fastnn.train`` options; finished trials are never rerun.

    Parameters
    ----------
    grid : mapping or SweepSpec
        Option name (``"lr"``, ``"batch-size"``, ...) -> values to try, as in a spec
        file's ``grid`` table; or a spec read by :func:`fastnn.sweep.read_spec_file`.
    results : path
        The JSON-lines results file, appended to (created if missing).
    train_args : sequence of str
        ``python -m fastnn.train`` flags fixed for every trial (``--preset``, ``--data``,
        ``--epochs``, ...).
    samples, sample_seed : int, optional
        Run ``samples`` trials drawn from the grid with this seed instead of all of them.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler; default: a local cluster.
    workers : int, optional
        Worker processes of the local cluster (default: one per core).
    save : path, optional
        Where the best model so far is written (atomically).
    retry_failed : bool
        Run trials recorded as failed again (diverged ones are final).
    say : callable
        Receives every progress line.
    """
    parser = train_parser()
    if isinstance(grid, SweepSpec):
        spec = grid
    else:
        spec = SweepSpec()
        for name, values in grid.items():
            add_grid_values(spec, name, list(values), "grid", parser)
    if samples is not None:
        spec.samples = samples
    if sample_seed is not None:
        spec.sample_seed = sample_seed
    data = load_sweep_data(train_args, say)
    data_id = data_fingerprint(data.x_train, data.y_train, len(data.x_train))
    trials = build_trials(spec, train_args, data, data_id, parser)
    store = ResultsFile(results)
    records = {r["key"]: r for r in store.open()}
    if store.torn:
        say(f"note: {store.path}: its last line was cut off (an interrupted write) and was removed")
    final = ("ok", "diverged") if retry_failed else ("ok", "diverged", "failed")
    todo = [t for t in trials if records.get(t.key, {}).get("status") not in final]
    outcome = SweepOutcome(trials, records, skipped=len(trials) - len(todo))
    for t in trials:
        if t.key in records and _is_better(records[t.key], outcome.best):
            outcome.best = records[t.key]
    say(
        f"sweep: {len(trials)} trials ({', '.join(f'{flag(d)} x{len(v)}' for d, v in spec.grid.items())}"
        f"{f', {spec.samples} sampled with seed {spec.sample_seed}' if spec.samples else ''}); "
        f"{outcome.skipped} already in {store.path}, {len(todo)} to run"
    )
    if todo:
        _run(todo, data, store, outcome, scheduler, workers, Path(save) if save else None, say)
    return outcome


def _run(
    todo: list[Trial],
    data: MnistData,
    store: ResultsFile,
    outcome: SweepOutcome,
    scheduler: str | None,
    workers: int | None,
    save: Path | None,
    say: Callable[[str], None],
) -> None:
    from concurrent.futures import CancelledError

    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    with connect(scheduler, workers) as client:
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        say(f"cluster: {scheduler or 'local, 127.0.0.1 only'}, {n_workers} workers")
        needs = sorted({m for m in (warm_mode(t.options) for t in todo) if m is not None})
        if needs:
            seconds = client.run(warm_kernels, needs)
            say(f"numba kernels ready on every worker in {max(seconds.values()):.1f} s (one at a time)")
        data_future = send_data(client, data)
        start = time.perf_counter()
        futures = {_submit(client, data_future, t): t for t in todo}
        pending = as_completed(futures, loop=client.loop)
        resends = 0
        try:
            for future in pending:
                trial = futures.pop(future)
                try:
                    record, model = future.result()
                except KilledWorker as exc:
                    record, model = base_record(_payload(trial)), None
                    record.update(status="failed", error=f"its worker died every time it ran it ({exc})")
                except Exception as exc:
                    lost = data_future.status != "finished" or isinstance(exc, CancelledError)
                    if lost and resends < MAX_DATA_RESENDS:
                        # A worker that held the only copy of the data died (it joined after
                        # the broadcast, or the others had not yet got theirs): send the
                        # data again and run the trial again. Not the trial's fault.
                        resends += 1
                        data_future = send_data(client, data)
                        again = _submit(client, data_future, trial)
                        futures[again] = trial
                        pending.add(again)
                        continue
                    # The cluster, not the trial: stop, keeping what finished.
                    client.cancel(list(futures))
                    raise FastnnError(f"the Dask cluster failed: {type(exc).__name__}: {exc}") from None
                if model is not None and save is not None and _is_better(record, outcome.best):
                    model.save(save)  # before its line: a best model on disk is always in the file
                    outcome.saved = save
                if _is_better(record, outcome.best):
                    outcome.best = record
                store.append(record)
                outcome.records[trial.key] = record
                outcome.ran += 1
                outcome.trial_seconds = time.perf_counter() - start
                say(_progress(outcome.ran, len(todo), trial, record, outcome.trial_seconds))
        except KeyboardInterrupt:
            outcome.interrupted = True
            client.cancel(list(futures))


def _submit(client: Any, data_future: Any, trial: Trial) -> Any:
    return client.submit(
        run_trial,
        data_future,
        _payload(trial),
        key=f"fastnn-trial-{trial.key}-{uuid.uuid4().hex[:8]}",
        pure=False,
        retries=1,  # an error outside the trial's own try (e.g. unpickling) gets a second go
    )


def _progress(done: int, total: int, trial: Trial, record: Mapping[str, Any], elapsed: float) -> str:
    head = f"[{done}/{total} {elapsed:.0f}s] {trial_label(trial.settings)}: "
    if record["status"] == "ok":
        parts = [
            f"{name} {record[key]:.2%}"
            for name, key in (("val", "val_accuracy"), ("test", "test_accuracy"))
            if record.get(key) is not None
        ]
        return head + " ".join(parts) + f" in {record['seconds']:.1f} s"
    return head + f"{record['status']}: {record.get('error')}"
