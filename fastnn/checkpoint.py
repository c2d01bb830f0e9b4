"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint is a model file (``fastnn.model_io``: ``.npz``, no pickle, written
atomically) with three more things: the optimiser state (``opt_m``, ``opt_s``,
``opt_t`` arrays and the optimiser's name), the shuffle RNG's state and the epoch
count (JSON in the metadata), plus the per-epoch history and the caller's training
configuration. Restoring them all is what makes a run interrupted after epoch k and
resumed end with the same weights as a run that never stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.backends import DEFAULT_BACKEND
from fastnn.errors import DataError
from fastnn.model_io import model_from_parts, read_model_file, save_model
from fastnn.optim import OptimizerState

if TYPE_CHECKING:
    from fastnn.backends import Backend
    from fastnn.model import MLP

CHECKPOINT_KIND = "checkpoint"
#: Most optimiser steps a checkpoint can record (Adam divides by 1 - beta**step).
MAX_STEPS = 2**53


def save_checkpoint(model: MLP, path: str | Path, train_config: dict[str, Any] | None = None) -> Path:
    """Write model, optimiser state, RNG state, epoch and history to ``path`` atomically."""
    extra: dict[str, np.ndarray] = {}
    opt_name = None
    if model.optimizer_state is not None:
        opt_name = model.optimizer_state.name
        extra = {
            "opt_m": model.optimizer_state.m,
            "opt_s": model.optimizer_state.s,
            "opt_t": model.optimizer_state.t,
        }
    meta = {
        "kind": CHECKPOINT_KIND,
        "optimizer": opt_name,
        "rng_state": model.shuffle_rng.bit_generator.state,
        "history": [r.as_dict() for r in model.history],
        "train_config": train_config or {},
    }
    return save_model(model, path, extra=extra, extra_meta=meta)


def load_checkpoint(
    path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None
) -> tuple[MLP, dict[str, Any]]:
    """Rebuild the model with its optimiser and RNG state; returns it and the train config."""
    from fastnn.model import EpochRecord

    meta, arrays = read_model_file(path)  # read once: what is checked is what is used
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DataError(f"{path}: a model file, not a checkpoint (no optimiser or RNG state to resume from)")
    model = model_from_parts(path, meta, arrays, backend=backend, threads=threads)
    opt = meta["optimizer"]  # the schema checked it; the arrays' shapes and dtypes too
    if opt is not None:
        if not (np.isfinite(arrays["opt_m"]).all() and np.isfinite(arrays["opt_s"]).all()):
            raise DataError(f"{path}: optimizer state holds NaN or infinite values")
        step = int(arrays["opt_t"][0])
        if not 0 <= step <= MAX_STEPS:
            raise DataError(f"{path}: optimizer step count {step} out of range 0..{MAX_STEPS}")
        model.optimizer_state = OptimizerState(
            opt, arrays["opt_m"].copy(), arrays["opt_s"].copy(), arrays["opt_t"].copy()
        )
    model.shuffle_rng.bit_generator.state = meta["rng_state"]
    model.history = [EpochRecord(**r) for r in meta["history"]]
    config = meta["train_config"]
    return model, config
