"""MNIST loading: every source to a :class:`~fastnn.data.mnist_data.MnistData` (NumPy + stdlib only).

Sources, all returned as :class:`MnistData` (uint8 pixels, int64 labels):

- the embedded default: 5,000 digits packaged in ``fastnn/data/embedded/mnist_5k.npz``,
  split into 4,000 training and 1,000 test digits (:func:`load_embedded`);
- a directory with the four standard IDX files, gzipped or raw (:func:`load_idx_dir`);
- a Kaggle-style CSV, gzipped or plain (:func:`load_csv`; parsing in ``fastnn/data/tabular.py``);
- a Keras-style ``.npz`` (:func:`load_npz`; parsing in ``fastnn/data/tabular.py``).

:func:`load_dataset` picks one from a path, ``"embedded"``, ``"mnist"`` (the full
70,000 digits, downloaded once into a verified cache by :mod:`fastnn.data.download`),
``"fashion-mnist"`` or ``"kmnist"`` (the other MNIST-format data sets, likewise; see
:mod:`fastnn.data.datasets`, which also holds their class names) or
None (then the ``FASTNN_DATA`` directory if it holds the four IDX files, else full
MNIST if an earlier download left it verified in the cache, else the embedded
digits). Only the named data sets ever touch the network. ``FASTNN_DATA`` is one directory
for both: downloads go there and the default load reads from there.
Every problem with a data file raises DataError naming the file and the problem.

``python -m fastnn.data download [--dir DIR]`` downloads full MNIST from a shell and
prints where it is (see :mod:`fastnn.cli.download`).
"""

from __future__ import annotations

import importlib.resources
import io
import os
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from fastnn.data.cache import ENV_DATA_DIR, default_cache_dir
from fastnn.data.datasets import DATASETS, download_dataset, get_dataset
from fastnn.data.download import cached_mnist_dir, download_mnist
from fastnn.data.idx import read_idx
from fastnn.data.mnist_data import MnistData
from fastnn.data.mnist_format import IDX_FILES, IMAGE_SIDE, N_CLASSES, N_PIXELS
from fastnn.data.tabular import read_csv_arrays, read_npz_arrays
from fastnn.errors import DataError
from fastnn.paths import check_input_file
from fastnn.validation import check_y

EMBEDDED_SOURCE = "embedded MNIST subset (5,000 digits)"
EMBEDDED_TEST_PER_CLASS = 100


def _find_idx_files(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The IDX file for each field (raw preferred over .gz: faster) and the missing names."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, base in IDX_FILES.items():
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{base}[.gz]")
    return found, missing


def load_idx_dir(directory: str | os.PathLike[str]) -> MnistData:
    """Load the four standard MNIST IDX files from ``directory``.

    Each of ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` may be raw or end in
    ``.gz``; when both exist the raw file is used.

    Returns
    -------
    MnistData
        For real MNIST: 60,000 training and 10,000 test digits.

    Raises
    ------
    DataError
        A missing directory or file, a malformed file (see :func:`read_idx`), images
        that are not 28x28, image/label count mismatch, or a label above 9.
    """
    path = Path(directory)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory")
    files, missing = _find_idx_files(path)
    if missing:
        raise DataError(
            f"{path}: missing MNIST IDX file(s) {', '.join(missing)}; looked for "
            + ", ".join(f"{base}[.gz]" for base in IDX_FILES.values())
        )
    arrays: dict[str, np.ndarray] = {}
    for part in ("train", "test"):
        x_path, y_path = files[f"x_{part}"], files[f"y_{part}"]
        images, labels = read_idx(x_path, ndim=3), read_idx(y_path, ndim=1)
        if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(f"{x_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
        if len(images) != len(labels):
            raise DataError(f"{x_path} has {len(images):,} images but {y_path} has {len(labels):,} labels")
        arrays[f"x_{part}"] = images.reshape(len(images), N_PIXELS)
        arrays[f"y_{part}"] = check_y(labels, None, N_CLASSES, "", in_file=str(y_path))
    return MnistData(
        arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=str(path)
    )


def load_csv(path: str | os.PathLike[str]) -> MnistData:
    """Load a Kaggle-style MNIST CSV (``train.csv``), gzipped or plain.

    Line 1 is a header with a ``label`` column, first or last, and 784 pixel
    columns; every other line is one digit: integers, pixels 0..255, label 0..9.
    A CSV has no test split: ``x_test``/``y_test`` are empty, shapes (0, 784)/(0,).

    Raises
    ------
    DataError
        A missing header or ``label`` column, a row of the wrong width, a cell that
        is not an integer, a pixel or label out of range (with the line number), or
        an unreadable file.
    """
    x, y = read_csv_arrays(path)
    return MnistData(x, y, np.empty((0, N_PIXELS), np.uint8), np.empty(0, np.int64), source=os.fspath(path))


def load_npz(path: str | os.PathLike[str]) -> MnistData:
    """Load a Keras-style ``mnist.npz``: arrays ``x_train, y_train, x_test, y_test``.

    Images may be (n, 28, 28) or (n, 784), uint8 (or another integer type) with
    values 0..255, or float in [0, 1] or [0, 255] (the range is judged from both
    image arrays together; floats are rounded to the nearest gray level). Nothing is
    ever unpickled: object arrays are refused before any data is read.

    Raises
    ------
    DataError
        Not a zip/npz archive, a missing key, an object (pickled) array, a wrong
        shape or dtype, values out of range, or an image/label count mismatch.
    """
    a = read_npz_arrays(path)
    return MnistData(a["x_train"], a["y_train"], a["x_test"], a["y_test"], source=os.fspath(path))


def _interleave(per_class: list[np.ndarray]) -> np.ndarray:
    """Indices taken one per class in turn (0, 1, ..., 9, 0, 1, ...)."""
    ranks = np.concatenate([np.arange(len(ix)) for ix in per_class])
    classes = np.concatenate([np.full(len(ix), c) for c, ix in enumerate(per_class)])
    return np.concatenate(per_class)[np.lexsort((classes, ranks))]


def load_embedded() -> MnistData:
    """The packaged 5,000 MNIST digits, split into 4,000 training and 1,000 test digits.

    The test set is the last 100 digits of each class in file order; the training
    set is the other 400 of each. The file is sorted by class, so both sets are
    interleaved one digit per class in turn: any prefix is nearly class-balanced,
    which keeps :func:`split_validation` (first ``n_val`` samples) meaningful.
    """
    resource = importlib.resources.files("fastnn.data.embedded").joinpath("mnist_5k.npz")
    where = "embedded dataset fastnn/data/embedded/mnist_5k.npz"
    try:
        with np.load(io.BytesIO(resource.read_bytes()), allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, EOFError, KeyError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{where}: cannot load ({exc}); rebuild it with python -m fastnn.data.embedded.rebuild"
        ) from None
    if images.dtype != np.uint8 or images.shape != (5000, N_PIXELS) or labels.shape != (5000,):
        raise DataError(
            f"{where}: unexpected arrays images {images.dtype} {images.shape}, labels {labels.shape}"
        )
    y = check_y(labels, None, N_CLASSES, "'labels'", in_file=where)
    per_class = [np.flatnonzero(y == c) for c in range(N_CLASSES)]
    test = _interleave([ix[-EMBEDDED_TEST_PER_CLASS:] for ix in per_class])
    train = _interleave([ix[:-EMBEDDED_TEST_PER_CLASS] for ix in per_class])
    return MnistData(images[train], y[train], images[test], y[test], source=EMBEDDED_SOURCE)


def load_mnist(download: bool = False, cache_dir: str | os.PathLike[str] | None = None) -> MnistData:
    """The full 70,000-digit MNIST from the verified cache.

    With ``download=True`` the files missing from the cache (``cache_dir``, else
    ``$FASTNN_DATA``, else the user cache folder) are fetched and SHA-256 checked first;
    without it, a cache that lacks them is a DataError saying how to get them. Never
    touches the network unless ``download`` is True.
    """
    if download:
        return load_idx_dir(download_mnist(cache_dir))
    directory = Path(cache_dir) if cache_dir is not None else cached_mnist_dir()
    if directory is None or not all(
        (Path(directory) / name).exists() or (Path(directory) / f"{name}.gz").exists()
        for name in IDX_FILES.values()
    ):
        raise DataError(
            f"full MNIST is not in the cache ({directory or default_cache_dir()}); call "
            "load_mnist(download=True), run `python -m fastnn.data download`, or pass a directory "
            "holding the four IDX files to load_idx_dir"
        )
    return load_idx_dir(directory)


def load_named(name: str, cache_dir: str | os.PathLike[str] | None = None) -> MnistData:
    """A named data set (``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``) from its verified cache.

    Files missing from the cache are downloaded and verified first (see
    :func:`fastnn.data.datasets.download_dataset`). The result carries the data set's
    name and class names.
    """
    ds = get_dataset(name)
    directory = download_mnist(cache_dir) if ds.name == "mnist" else download_dataset(ds.name, cache_dir)
    data = load_idx_dir(directory)
    return replace(data, dataset=ds.name, class_names=ds.class_names)


def load_dataset(source: str | os.PathLike[str] | None = None) -> MnistData:
    """Load MNIST (or Fashion-MNIST, KMNIST) from wherever ``source`` says.

    Parameters
    ----------
    source : str, os.PathLike or None
        - None: the directory in the ``FASTNN_DATA`` environment variable if it
          holds the four IDX files (read as they are); else the full MNIST if it is
          already in the download cache and verifies (:func:`cached_mnist_dir`);
          else the embedded digits. Never touches the network;
        - ``"embedded"``: the embedded 5,000 digits (:func:`load_embedded`);
        - ``"mnist"``: the full 70,000 digits, downloaded into the cache first if
          they are not there yet, SHA-256 verified (:func:`download_mnist`);
        - ``"fashion-mnist"``, ``"kmnist"``: those data sets, downloaded into their
          own caches likewise and verified by their published MD5 and size
          (:func:`load_named`); they carry their class names;
        - a directory: the four MNIST IDX files (:func:`load_idx_dir`);
        - a ``.csv`` or ``.csv.gz`` file: Kaggle layout (:func:`load_csv`);
        - a ``.npz`` file: Keras layout (:func:`load_npz`).
        Any other string is taken as a path; ``~`` is expanded. A directory named
        ``mnist``, ``kmnist`` or ``embedded`` is given as ``./mnist``.

    Returns
    -------
    MnistData

    Raises
    ------
    DataError
        The path does not exist, is not a recognised kind, or the file is malformed;
        for ``"mnist"``, the download failed on every mirror (the message says how
        to get the files by hand).
    """
    if source is None:
        env = os.environ.get(ENV_DATA_DIR, "")
        if env and Path(env).expanduser().is_dir() and not _find_idx_files(Path(env).expanduser())[1]:
            return load_idx_dir(Path(env).expanduser())
        cached = cached_mnist_dir()
        return load_idx_dir(cached) if cached is not None else load_embedded()
    if isinstance(source, str) and source.strip().lower() == "embedded":
        return load_embedded()
    if isinstance(source, str) and source.strip().lower() in DATASETS:
        return load_named(source)
    if not os.fspath(source):
        raise DataError(
            "empty data source; give a directory of MNIST IDX files, a .csv, a .npz or 'embedded'"
        )
    path = Path(source).expanduser()
    if path.is_dir():
        return load_idx_dir(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    check_input_file(path, "data file")  # a FIFO would block forever, a device never end
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return load_csv(path)
    if name.endswith(".npz"):
        return load_npz(path)
    raise DataError(
        f"{path}: unrecognised data source; expected a directory of MNIST IDX files, "
        "a .csv or .csv.gz file (Kaggle layout), a .npz file (Keras layout), "
        f"{', '.join(repr(n) for n in DATASETS)} or 'embedded'"
    )
