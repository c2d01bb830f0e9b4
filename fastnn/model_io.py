"""Model files: ``.npz`` with ``allow_pickle=False``, so loading can never run code.

Layout: arrays ``W0, b0, W1, b1, ...`` plus ``fastnn_meta``, a JSON string with the
format name and version, layer sizes, activations, dtype, seed and epochs trained.
Loading checks every field and every array's shape and dtype against the metadata
and raises DataError naming the file and the problem.

Optional fields (a compatible extension: files without them load as before, and an
older fastnn ignores them): ``dataset``, the name of a known data set the model was
trained on (``"fashion-mnist"``), and ``class_names``, one name per output unit. Both
are checked as hostile input (bounded, printable strings; see
:func:`fastnn.validation.check_class_names`) and returned by :func:`load_model_and_labels`.
"""

from __future__ import annotations

import itertools
import json
import reprlib
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.backends import DEFAULT_BACKEND
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.validation import MAX_CLASS_NAME_CHARS, check_class_names

if TYPE_CHECKING:
    from fastnn.backends import Backend
    from fastnn.model import MLP

FORMAT_NAME = "fastnn-mlp"
FORMAT_VERSION = 1
META_KEY = "fastnn_meta"


def model_metadata(model: MLP) -> dict[str, Any]:
    from fastnn import __version__

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


def read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata and arrays of a model file, checked for format and version only."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    try:
        # Open the file ourselves so it is closed whatever np.load makes of it.
        with open(path, "rb") as fh:
            if not zipfile.is_zipfile(fh):
                raise DataError(
                    f"{path}: not a fastnn model file (an .npz archive without pickles): not a zip archive"
                )
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        zlib.error,
        # zipfile's answers to a corrupted flag or method field: "File ... is encrypted,
        # password required" and "That compression method is not supported".
        RuntimeError,
        NotImplementedError,
    ) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a fastnn model file (an .npz archive without pickles): {exc}") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise DataError(f"{path}: entry {key!r} is not a NumPy array")
    if META_KEY not in arrays:
        raise DataError(f"{path}: not a fastnn model file (no '{META_KEY}' entry)")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"{path}: model metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise DataError(f"{path}: not a fastnn model file (format is not {FORMAT_NAME!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise DataError(
            f"{path}: written by a newer fastnn (format version {version}; this one reads up to "
            f"{FORMAT_VERSION}); upgrade fastnn to load it"
        )
    return meta, arrays


def load_model(path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None) -> MLP:
    """Rebuild a model from ``path``; DataError for anything malformed."""
    return load_model_and_labels(path, backend, threads)[0]


def load_model_and_labels(
    path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None
) -> tuple[MLP, ClassLabels]:
    """The model in ``path`` and its class labels (empty for files that record none)."""
    from fastnn.model import MLP

    meta, arrays = read_model_file(path)
    sizes = meta.get("layer_sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes)
    ):
        raise DataError(f"{path}: invalid layer_sizes {sizes!r} in the metadata")
    # Check the stored arrays against the metadata before allocating anything from it,
    # so a file that lies about its sizes cannot make us allocate a huge network.
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        for name, shape in ((f"W{i}", (n_in, n_out)), (f"b{i}", (n_out,))):
            if name not in arrays:
                raise DataError(f"{path}: missing array {name!r}")
            if arrays[name].shape != shape:
                raise DataError(
                    f"{path}: array {name!r} has shape {arrays[name].shape}; the metadata needs {shape}"
                )
    try:
        model = MLP(
            meta["layer_sizes"],
            meta["activations"],
            backend=backend,
            dtype=meta["dtype"],
            seed=meta.get("seed", 0),
            init=meta.get("init", "auto"),
            threads=threads,
        )
    except KeyError as exc:
        raise DataError(f"{path}: model metadata lacks {exc.args[0]!r}") from None
    except (FastnnError, TypeError) as exc:
        raise DataError(f"{path}: invalid model metadata: {exc}") from None
    for i in range(model.params.n_layers):
        for name, view in ((f"W{i}", model.params.W(i)), (f"b{i}", model.params.b(i))):
            if name not in arrays:
                raise DataError(f"{path}: missing array {name!r}")
            arr = arrays[name]
            if arr.shape != view.shape or arr.dtype != view.dtype:
                raise DataError(
                    f"{path}: array {name!r} has shape {arr.shape} and dtype {arr.dtype}; "
                    f"the metadata needs {view.shape} {view.dtype}"
                )
            if not np.isfinite(arr).all():
                raise DataError(f"{path}: array {name!r} holds NaN or infinite values")
            view[...] = arr
    epochs = meta.get("epochs_trained", 0)
    model.epochs_trained = epochs if isinstance(epochs, int) and epochs >= 0 else 0
    return model, check_labels_meta(meta, model.n_classes, path)
