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
from fastnn.model_io import load_model, read_model_file, save_model
from fastnn.optim import OPTIMIZERS, OptimizerState

if TYPE_CHECKING:
    from fastnn.backends import Backend
    from fastnn.model import MLP

CHECKPOINT_KIND = "checkpoint"


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

    model = load_model(path, backend=backend, threads=threads)
    meta, arrays = read_model_file(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DataError(f"{path}: a model file, not a checkpoint (no optimiser or RNG state to resume from)")
    opt = meta.get("optimizer")
    if opt is not None:
        if opt not in OPTIMIZERS:
            raise DataError(f"{path}: unknown optimizer {opt!r} in the checkpoint")
        size = model.params.data.shape[0]
        for key, shape, dtype in (
            ("opt_m", (size,), model.dtype),
            ("opt_s", (size,), model.dtype),
            ("opt_t", (1,), np.dtype(np.int64)),
        ):
            arr = arrays.get(key)
            if arr is None or arr.shape != shape or arr.dtype != dtype:
                raise DataError(f"{path}: optimizer state {key!r} is missing or has the wrong shape/dtype")
        if not (np.isfinite(arrays["opt_m"]).all() and np.isfinite(arrays["opt_s"]).all()):
            raise DataError(f"{path}: optimizer state holds NaN or infinite values")
        model.optimizer_state = OptimizerState(
            opt, arrays["opt_m"].copy(), arrays["opt_s"].copy(), arrays["opt_t"].copy()
        )
    try:
        model.shuffle_rng.bit_generator.state = meta["rng_state"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: invalid RNG state in the checkpoint: {exc}") from None
    try:
        model.history = [EpochRecord(**r) for r in meta.get("history", [])]
    except TypeError as exc:
        raise DataError(f"{path}: invalid history in the checkpoint: {exc}") from None
    config = meta.get("train_config", {})
    if not isinstance(config, dict):
        raise DataError(f"{path}: invalid train_config in the checkpoint")
    return model, config
