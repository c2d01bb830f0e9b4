"""Model and checkpoint files: ``.npz`` with ``allow_pickle=False``, so loading can never run code.

This module knows the file format only: it writes a model's arrays and metadata and
reads and checks them back, but never imports the model class (``fastnn.model``
imports this module; :mod:`fastnn.model_loading` turns what it reads into models).

Layout: arrays ``W0, b0, W1, b1, ...`` plus ``fastnn_meta``, a JSON string with the
format name and version, layer sizes, activations, dtype, seed and epochs trained.
Loading checks every field and every array's shape and dtype against the metadata
and raises DataError naming the file and the problem.

Optional fields (a compatible extension: files without them load as before, and an
older fastnn ignores them): ``dataset``, the name of a known data set the model was
trained on (``"fashion-mnist"``), and ``class_names``, one name per output unit. Both
are checked as hostile input (bounded, printable strings; see
:func:`fastnn.validation.check_class_names`) and returned by :func:`fastnn.model_loading.load_model_and_labels`.

Checkpoints: everything needed to continue training exactly where it stopped. A
checkpoint is a model file with three more things: the optimiser state (``opt_m``,
``opt_s``, ``opt_t`` arrays and the optimiser's name), the shuffle RNG's state and the
epoch count (JSON in the metadata), plus the per-epoch history and the caller's
training configuration. Restoring them all is what makes a run interrupted after
epoch k and resumed end with the same weights as a run that never stopped.
"""

from __future__ import annotations

import itertools
import json
import re
import reprlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.errors import DataError, InvalidParameterError
from fastnn.meta_schema import check_checkpoint_meta, check_model_meta, parse_json
from fastnn.npz import NPZ_READ_ERRORS, read_npy_member
from fastnn.optim import OptimizerState
from fastnn.paths import check_input_file, check_path_argument
from fastnn.validation import MAX_CLASS_NAME_CHARS, check_class_names

if TYPE_CHECKING:  # for annotations only: at run time this module never imports the model
    from fastnn.model import MLP

FORMAT_NAME = "fastnn-mlp"
FORMAT_VERSION = 1
META_KEY = "fastnn_meta"


def model_metadata(model: MLP) -> dict[str, Any]:
    from fastnn._version import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastnn_version": __version__,
        "layer_sizes": list(model.layer_sizes),
        "activations": list(model.activations),
        "dtype": model.dtype.name,
        "seed": model.seed,
        "init": model.init,
        "epochs_trained": model.epochs_trained,
    }


@dataclass(frozen=True)
class ClassLabels:
    """What a model file says its classes are: the data set's name and one name per class."""

    dataset: str | None = None
    class_names: tuple[str, ...] | None = None

    def as_meta(self) -> dict[str, Any]:
        """The metadata fields to save (none for unknown labels)."""
        meta: dict[str, Any] = {}
        if self.dataset is not None:
            meta["dataset"] = self.dataset
        if self.class_names is not None:
            meta["class_names"] = list(self.class_names)
        return meta


def check_labels_meta(meta: dict[str, Any], n_classes: int, path: str | Path) -> ClassLabels:
    """The optional ``dataset`` and ``class_names`` fields of ``meta``, validated (DataError)."""
    dataset = meta.get("dataset")
    if dataset is not None and not (
        isinstance(dataset, str) and 0 < len(dataset) <= MAX_CLASS_NAME_CHARS and dataset.isprintable()
    ):
        raise DataError(
            f"{path}: invalid dataset {reprlib.repr(dataset)} in the metadata (a printable string of "
            f"at most {MAX_CLASS_NAME_CHARS} characters)"
        )
    names = meta.get("class_names")
    if names is not None:
        try:
            names = tuple(check_class_names(names, n_classes, "class_names"))
        except InvalidParameterError as exc:
            raise DataError(f"{path}: invalid model metadata: {exc}") from None
    return ClassLabels(dataset, names)


def model_arrays(model: MLP) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for i in range(model.params.n_layers):
        arrays[f"W{i}"] = model.params.W(i)
        arrays[f"b{i}"] = model.params.b(i)
    return arrays


def save_model(
    model: MLP,
    path: str | Path,
    extra: dict[str, np.ndarray] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` atomically; returns the path written."""
    path = Path(path)
    meta = model_metadata(model)
    if extra_meta:
        meta.update(extra_meta)
    arrays = model_arrays(model)
    arrays.update(extra or {})
    arrays[META_KEY] = np.array(json.dumps(meta))
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path


#: Members a model or checkpoint file may hold; anything else is refused unread.
_MEMBER = re.compile(r"(fastnn_meta|[Wb](?:0|[1-9][0-9]{0,3})|opt_[mst])\.npy")
#: The metadata string is small (a long run's history is a few MB); more is not ours.
MAX_META_BYTES = 64 << 20


def _expected_arrays(meta: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every array the metadata says the file holds: name -> (shape, dtype)."""
    dtype = np.dtype(meta["dtype"])
    sizes = meta["layer_sizes"]
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        out[f"W{i}"], out[f"b{i}"] = ((n_in, n_out), dtype), ((n_out,), dtype)
    if meta.get("kind") == "checkpoint" and meta.get("optimizer") is not None:
        size = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
        out["opt_m"] = out["opt_s"] = ((size,), dtype)
        out["opt_t"] = ((1,), np.dtype(np.int64))
    return out


def _read_meta(where: str, zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(f"{META_KEY}.npy")
    except KeyError:
        raise DataError(f"{where}: not a fastnn model file (no '{META_KEY}' entry)") from None

    def text_scalar(shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        return (
            None
            if shape == () and dtype.kind == "U"
            else f"is {dtype} {shape}: model metadata is not valid JSON text"
        )

    raw = read_npy_member(where, zf, info, META_KEY, text_scalar, MAX_META_BYTES)
    meta = parse_json(where, str(raw))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise DataError(f"{where}: not a fastnn model file (format is not {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataError(f"{where}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise DataError(
            f"{where}: written by a newer fastnn (format version {version}; this one reads up to "
            f"{FORMAT_VERSION}); upgrade fastnn to load it"
        )
    meta = check_model_meta(where, meta)
    if meta.get("kind") is not None:
        if meta["kind"] != "checkpoint":
            raise DataError(f"{where}: unknown kind {meta['kind']!r} in the metadata")
        meta = check_checkpoint_meta(where, meta)
    return meta


def read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata (checked against the schema) and arrays of a model or checkpoint file.

    Only the members the format has are read, each after its ``.npy`` header was
    checked against the shape and dtype the metadata gives it; an unknown member, a
    missing one, or one whose header disagrees is a DataError before any array is
    allocated, so a small file cannot make us inflate or allocate a large one.
    """
    path = check_input_file(check_path_argument("path", path), "model file")
    where = str(path)
    try:
        # Open the file ourselves so it is closed whatever zipfile makes of it.
        with open(path, "rb") as fh:
            if not zipfile.is_zipfile(fh):
                raise DataError(
                    f"{path}: not a fastnn model file (an .npz archive without pickles): not a zip archive"
                )
            fh.seek(0)
            with zipfile.ZipFile(fh) as zf:
                names = zf.namelist()
                unknown = [n for n in names if not _MEMBER.fullmatch(n)]
                if unknown:
                    raise DataError(f"{path}: unknown member {unknown[0]!r}; not a fastnn model file")
                if len(set(names)) != len(names):
                    raise DataError(f"{path}: a member appears twice; not a fastnn model file")
                meta = _read_meta(where, zf)
                expected = _expected_arrays(meta)
                extra = sorted(set(n.removesuffix(".npy") for n in names) - set(expected) - {META_KEY})
                if extra:
                    raise DataError(
                        f"{path}: unexpected array {extra[0]!r}; the metadata has no place for it"
                    )
                arrays = {}
                for key, (shape, dtype) in expected.items():
                    if f"{key}.npy" not in names:
                        raise DataError(f"{path}: missing array {key!r}")

                    def matches(
                        s: tuple[int, ...],
                        d: np.dtype,
                        want: tuple[tuple[int, ...], np.dtype] = (shape, dtype),
                    ) -> str | None:
                        if s != want[0]:
                            return f"has shape {s}; the metadata needs {want[0]}"
                        if d != want[1]:
                            return f"has shape {s} and dtype {d}; the metadata needs {want[0]} {want[1]}"
                        return None

                    arrays[key] = read_npy_member(where, zf, zf.getinfo(f"{key}.npy"), key, matches)
    except DataError:
        raise
    except RecursionError:
        raise DataError(f"{path}: not a fastnn model file (nested too deeply)") from None
    except NPZ_READ_ERRORS as exc:
        raise DataError(f"{path}: not a fastnn model file (an .npz archive without pickles): {exc}") from None
    return meta, arrays


# ---------------------------------------------------------------------------- checkpoints

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


def checkpoint_optimizer_state(
    path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> OptimizerState | None:
    """The optimiser state a checkpoint read by :func:`read_model_file` holds (None: none yet).

    DataError for a plain model file, non-finite moments or a step count out of range.
    """
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DataError(f"{path}: a model file, not a checkpoint (no optimiser or RNG state to resume from)")
    opt = meta["optimizer"]  # the schema checked it; the arrays' shapes and dtypes too
    if opt is None:
        return None
    if not (np.isfinite(arrays["opt_m"]).all() and np.isfinite(arrays["opt_s"]).all()):
        raise DataError(f"{path}: optimizer state holds NaN or infinite values")
    step = int(arrays["opt_t"][0])
    if not 0 <= step <= MAX_STEPS:
        raise DataError(f"{path}: optimizer step count {step} out of range 0..{MAX_STEPS}")
    return OptimizerState(opt, arrays["opt_m"].copy(), arrays["opt_s"].copy(), arrays["opt_t"].copy())
