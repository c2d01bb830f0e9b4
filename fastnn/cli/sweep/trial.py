"""One trial of a sweep, as a Dask worker runs it: train's model, split and fit call.

The trial builds its model with ``fastnn.cli.fit_setup.build_model``, splits and scales the
data with ``fastnn.cli.fit_setup.split_data`` and trains with ``MLP.fit(**fit_kwargs(args))``,
the same pieces ``python -m fastnn.train`` uses, so a trial's numbers are those of the
same train command. A trial that diverges or raises returns a failed record with its
error instead of raising: one bad setting must not stop the sweep.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from fastnn.cli import fit_setup
from fastnn.cli.fit_options import fit_kwargs
from fastnn.cli.sweep.warm import warm_kernels, warm_mode
from fastnn.data import MnistData
from fastnn.errors import TrainingDivergedError
from fastnn.model import MLP

#: Record statuses: ok, diverged (loss became NaN/inf), failed (raised, or its worker died too often).
STATUSES = ("ok", "diverged", "failed")


def worker_name() -> str:
    """Which worker ran this: its Dask address (if any), host and process id."""
    try:
        from distributed import get_worker

        address = get_worker().address
    except (ImportError, ValueError):
        address = "local"
    return f"{address} (host {socket.gethostname()}, pid {os.getpid()})"


def base_record(trial: dict[str, Any]) -> dict[str, Any]:
    """The part of a results line every outcome has: which trial, with what settings."""
    return {
        "key": trial["key"],
        "settings": trial["settings"],
        "seed": trial["options"]["seed"],
        "options": trial["record_options"],
    }


def run_trial(data: MnistData, trial: dict[str, Any]) -> tuple[dict[str, Any], MLP | None]:
    """Train one trial on ``data`` (already on this worker); returns (record, model or None).

    ``trial``: ``key``, ``settings``, ``options`` (train's resolved options) and
    ``record_options``. The model, moved to the numpy backend so the client can take
    it without Numba, is returned only when the trial finished.
    """
    record = base_record(trial)
    record["worker"] = worker_name()
    args = argparse.Namespace(**trial["options"])
    model: MLP | None = None
    start = time.perf_counter()
    try:
        model = fit_setup.build_model(args)
        need = warm_mode(trial["options"])
        record["compile_seconds"] = round(warm_kernels([need] if need else []), 3)
        split = fit_setup.split_data(args, data)
        validation = (split["x_val"], split["y_val"]) if len(split["x_val"]) else None
        model.fit(split["x"], split["y"], **fit_kwargs(args), validation=validation)
        val = model.evaluate(*validation) if validation else None
        test = model.evaluate(split["x_test"], split["y_test"]) if len(split["x_test"]) else None
        train_seconds = sum(r.seconds for r in model.history)
        record.update(
            status="ok",
            val_accuracy=None if val is None else val["accuracy"],
            val_loss=None if val is None else val["loss"],
            test_accuracy=None if test is None else test["accuracy"],
            test_loss=None if test is None else test["loss"],
            epochs=model.epochs_trained,
            best_epoch=model.best_epoch,
            train_seconds=round(train_seconds, 3),
            samples_per_s=len(split["x"]) * len(model.history) / train_seconds if train_seconds else None,
        )
    except TrainingDivergedError as exc:
        record.update(status="diverged", error=str(exc), epochs=model.epochs_trained if model else 0)
    except Exception as exc:  # any other failure is this trial's, recorded; the sweep goes on
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["seconds"] = round(time.perf_counter() - start, 3)
    if record["status"] != "ok" or model is None:
        return record, None
    return record, model.with_backend("numpy")
