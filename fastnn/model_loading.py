"""Model and checkpoint files read back into :class:`fastnn.model.MLP` objects.

:mod:`fastnn.model_files` owns the file format and never imports the model class;
this module is the one place that joins the two (and the model imports neither it nor
anything that imports it), so there is no import cycle between model and files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastnn.backends import DEFAULT_BACKEND, Backend
from fastnn.model import MLP, EpochRecord
from fastnn.model_files import ClassLabels, check_labels_meta, checkpoint_optimizer_state, read_model_file


def load_model(path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None) -> MLP:
    """Rebuild a model from ``path``; DataError for anything malformed."""
    return load_model_and_labels(path, backend, threads)[0]


def load_model_and_labels(
    path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None
) -> tuple[MLP, ClassLabels]:
    """The model in ``path`` and its class labels (empty for files that record none)."""
    meta, arrays = read_model_file(path)  # every array's shape and dtype already checked
    model = MLP.from_file_parts(path, meta, arrays, backend, threads)
    return model, check_labels_meta(meta, model.n_classes, path)


def load_checkpoint(
    path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None
) -> tuple[MLP, dict[str, Any]]:
    """Rebuild the model with its optimiser and RNG state; returns it and the train config."""
    meta, arrays = read_model_file(path)  # read once: what is checked is what is used
    state = checkpoint_optimizer_state(path, meta, arrays)
    model = MLP.from_file_parts(path, meta, arrays, backend=backend, threads=threads)
    model.optimizer_state = state
    model.shuffle_rng.bit_generator.state = meta["rng_state"]
    model.history = [EpochRecord(**r) for r in meta["history"]]
    return model, meta["train_config"]
