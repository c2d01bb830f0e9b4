"""Training under ``python -m fastnn.train``: checkpoints, resumable early stopping, Ctrl-C.

``MLP.fit`` runs the epochs and early stopping (the run's
:class:`fastnn.early_stopping.EarlyStopping`, which ``fit`` updates before it calls
back); its per-epoch callback (:meth:`Session.on_epoch`) writes the checkpoint, then
prints the line. So a printed epoch line means that epoch is safe on disk.

Early stopping's state survives a resume: its ``state()`` (the rule, the best value and
epoch, the epochs waited) goes into the checkpoint's config; the best epoch's weights
are the checkpoint's own weights while that epoch is the latest, else they are in the
sibling file ``NAME.best.npz``, written *before* the checkpoint that first needs it
(so every checkpoint on disk can be resumed exactly, whenever the process dies). The
best weights are put back only when the run completes or stops early
(:meth:`Session.restore_best`), not when it is interrupted.

Ctrl-C (SIGINT): the first one lets the current epoch finish, then training stops
with the checkpoint written; a second one aborts the epoch at once (``fit`` puts
back the weights, optimiser and RNG state from before it). The handler is installed
only while training, only in the main thread, and the previous one is put back.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from fastnn.cli.fit_options import fit_config, stored_options
from fastnn.cli.report import Reporter, auto_print_every
from fastnn.early_stopping import EarlyStopping
from fastnn.errors import DataError, TrainingDivergedError
from fastnn.model import MLP, EpochRecord
from fastnn.model_files import save_checkpoint
from fastnn.params import Params

#: Version of the CLI's ``train_config`` layout inside a checkpoint.
CONFIG_VERSION = 1


def best_path(checkpoint: Path) -> Path:
    """Where the best epoch's weights go next to ``checkpoint`` (``c.npz`` -> ``c.best.npz``)."""
    return checkpoint.with_name(f"{checkpoint.stem}.best{checkpoint.suffix or '.npz'}")


class StopRequests:
    """The SIGINT handler of a run, from the start of training until its files are written.

    While training: the first Ctrl-C asks to stop after the current epoch; a second
    raises KeyboardInterrupt (deferred while a checkpoint is being written, which
    then finishes and training stops). Afterwards (evaluating, saving): Ctrl-C raises
    KeyboardInterrupt, unless the user already asked to stop, in which case the run
    is only writing its files and stopping, and further presses are ignored (rather
    than cutting a save short, or surfacing at exit as a death by SIGINT).
    """

    def __init__(self) -> None:
        self.requested = False
        self.training = False
        self._deferring = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested and self.training:
            self.requested = True
            try:  # a handler may run in the middle of another write to stderr
                sys.stderr.write("\nfastnn: Ctrl-C: stopping after this epoch (Ctrl-C again to stop now)\n")
                sys.stderr.flush()
            except (RuntimeError, OSError, ValueError):
                pass
        elif not self._deferring and (self.training or not self.requested):
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread; plain KeyboardInterrupt elsewhere
            return
        old = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A block a second Ctrl-C does not interrupt (training stops right after it)."""
        outer, self._deferring = self._deferring, True
        try:
            yield
        finally:
            self._deferring = outer


class Session:
    """One training run: the fit callback, checkpoints, and the outcome."""

    def __init__(
        self,
        model: MLP,
        args: argparse.Namespace,
        report: Reporter,
        base_config: dict[str, Any],
        elapsed: float = 0.0,
    ) -> None:
        self.model, self.args, self.report = model, args, report
        # fit applies it; the best weights are put back by restore_best, when the run ends well.
        self.early: EarlyStopping | None = (
            EarlyStopping(args.early_stopping, args.monitor, args.tol, restore_best=False)
            if args.early_stopping
            else None
        )
        self.base_config = base_config
        self.elapsed = elapsed
        self.elapsed0, self.start = elapsed, time.perf_counter()
        self.first_epoch = model.epochs_trained + 1
        self.stop = StopRequests()
        self.checkpoint: Path | None = args.checkpoint
        self.written_epoch: int | None = None  # epoch of the checkpoint on disk
        self.best_written: int | None = None  # epoch of the weights in best_path(checkpoint)
        self.resumed_from: Path | None = None
        self.resumed_at: int | None = None
        self.write_error: str | None = None  # why the checkpoint could not be written
        self.print_every = args.print_every or auto_print_every(args.epochs)
        self.show_lr = args.lr_schedule != "constant"

    def config(self) -> dict[str, Any]:
        """The checkpoint's ``train_config``: options, data fingerprint, progress."""
        return {
            "version": CONFIG_VERSION,
            "options": stored_options(self.args),
            **self.base_config,
            "early_stopping_state": self.early.state() if self.early else None,
            "elapsed_seconds": self.elapsed,
        }

    def write_checkpoint(self) -> None:
        """Write the checkpoint of the current epoch (and the best weights first, if needed).

        Only a fully recorded epoch is written: a second Ctrl-C that lands after an
        epoch's updates but before its record (while it is being evaluated) leaves the
        previous epoch's checkpoint on disk, which is consistent.
        """
        model = self.model
        recorded = model.history[-1].epoch if model.history else 0
        if (
            self.checkpoint is None
            or self.written_epoch == model.epochs_trained
            or recorded != model.epochs_trained
            or self.write_error is not None
        ):
            return
        try:
            self._write_checkpoint()
        except (OSError, DataError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.write_error = f"fastnn: error: --checkpoint {self.checkpoint}: could not write it ({reason}); training stopped"

    def _write_checkpoint(self) -> None:
        model = self.model
        assert self.checkpoint is not None
        with self.stop.deferred():
            early = self.early
            if (
                early is not None
                and early.best_params is not None
                and early.best_epoch < model.epochs_trained
                and self.best_written != early.best_epoch
            ):
                best = copy.copy(model)
                best.params = Params(model.layer_sizes, early.best_params)
                best.epochs_trained = early.best_epoch
                best.save(best_path(self.checkpoint))
                self.best_written = early.best_epoch
            save_checkpoint(model, self.checkpoint, self.config())
            self.written_epoch = model.epochs_trained

    def on_epoch(self, r: EpochRecord) -> bool:
        """fit's callback (early stopping already updated): True stops training."""
        with self.stop.deferred():
            self.elapsed = self.elapsed0 + time.perf_counter() - self.start
            self.write_checkpoint()
            stop = self.early is not None and self.early.stopped
            shown = stop or self.stop.requested or r.epoch in (self.first_epoch, self.args.epochs)
            self.report.epoch(
                r,
                self.args.epochs,
                self.elapsed,
                print_every=self.print_every,
                show_lr=self.show_lr,
                force=shown,
            )
        return self.stop.requested or self.write_error is not None

    def train(self, split: dict[str, np.ndarray]) -> tuple[str, str | None]:
        """Train to ``args.epochs`` in total; returns (status, message for stderr or None).

        Status: completed, early_stopped, interrupted or diverged. The checkpoint
        (if any) ends up holding the last completed epoch, whatever happened.
        """
        args, model = self.args, self.model
        status, message = "completed", None
        self.elapsed0, self.start = self.elapsed, time.perf_counter()
        self.first_epoch = model.epochs_trained + 1
        # The run's own early stopping, so that its state goes into checkpoints.
        config = dataclasses.replace(
            fit_config(args),
            epochs=args.epochs - model.epochs_trained,
            total_epochs=args.epochs,
            early_stopping=self.early,
        )
        self.stop.training = True
        try:
            with self.report.progress(model.epochs_trained, args.epochs):
                model.fit(
                    split["x"],
                    split["y"],
                    config=config,
                    validation=(split["x_val"], split["y_val"]) if len(split["x_val"]) else None,
                    callback=self.on_epoch,
                )
        except TrainingDivergedError as exc:
            status, message = "diverged", f"fastnn: error: {exc}"
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            self.stop.training = False
        self.write_checkpoint()
        if self.write_error is not None:
            status, message = "write_failed", self.write_error
        elif status == "completed" and self.early is not None and self.early.stopped:
            status = "early_stopped"
        elif status == "completed" and model.epochs_trained < args.epochs:
            status = "interrupted"  # the first Ctrl-C stopped it between epochs
        if status == "interrupted" and self.checkpoint is None:
            message = (
                f"interrupted after epoch {model.epochs_trained}; pass --checkpoint PATH to be "
                "able to resume an interrupted run"
            )
        elif status == "interrupted" and self.written_epoch is None:
            message = f"interrupted before a checkpoint was written to {self.checkpoint}"
        elif status == "interrupted":
            where = f"after epoch {self.written_epoch}" if self.written_epoch else "in epoch 1"
            message = (
                f"interrupted {where}; resume with: "
                f"python -m fastnn.train --resume {shlex.quote(str(self.checkpoint))}"
            )
        elif status == "diverged" and self.checkpoint is not None:
            held = f"epoch {self.written_epoch}" if self.written_epoch else "the initial weights"
            message = f"{message}\nthe checkpoint {self.checkpoint} holds {held}"
        return status, message

    def restore_best(self) -> str | None:
        """Put the best epoch's weights back (as ``fit`` does); say which, if not the last."""
        early = self.early
        if early is None or not early.restore(self.model):
            return None
        monitor, best = early.monitor, early.best
        value = f"{best:.2%}" if monitor == "val_accuracy" else f"{best:.4f}"
        what = (
            f"early stopping: no {monitor} improvement > {early.tol:g} in "
            f"{early.patience} epochs; stopped after epoch {self.model.epochs_trained}, "
            if early.stopped
            else ""
        )
        if not what and early.best_epoch == self.model.epochs_trained:
            return None
        return f"{what}restored the weights of epoch {early.best_epoch} (best {monitor} {value})"
