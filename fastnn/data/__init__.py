"""Data input: loaders for MNIST-format data, IDX/CSV/NPZ parsing, verified downloads, digit images.

The public API is re-exported here (``from fastnn.data import load_dataset,
scale_pixels, split_validation``); the modules behind it each have one job:
:mod:`~fastnn.data.loaders` (sources -> :class:`MnistData`),
:mod:`~fastnn.data.mnist_data` (:class:`MnistData`, scaling, validation split, one-hot),
:mod:`~fastnn.data.idx` and :mod:`~fastnn.data.tabular` (file formats),
:mod:`~fastnn.data.download`, :mod:`~fastnn.data.fetch`,
:mod:`~fastnn.data.cache`, :mod:`~fastnn.data.verify`, :mod:`~fastnn.data.http` and
:mod:`~fastnn.data.progress` (verified downloads), :mod:`~fastnn.data.datasets`
(Fashion-MNIST, KMNIST), :mod:`~fastnn.data.images` and :mod:`~fastnn.data.polarity`
(your own digit images), ``embedded/`` (the packaged 5,000 digits).
This package never imports :mod:`fastnn.cli`.
"""

from fastnn.data.cache import ENV_DATA_DIR
from fastnn.data.download import cached_mnist_dir, download_mnist
from fastnn.data.idx import read_idx
from fastnn.data.loaders import (
    EMBEDDED_SOURCE,
    load_csv,
    load_dataset,
    load_embedded,
    load_idx_dir,
    load_mnist,
    load_named,
    load_npz,
)
from fastnn.data.mnist_data import MnistData, one_hot, scale_pixels, split_validation
from fastnn.data.mnist_format import IDX_FILES, N_CLASSES

__all__ = [
    "EMBEDDED_SOURCE",
    "ENV_DATA_DIR",
    "IDX_FILES",
    "N_CLASSES",
    "MnistData",
    "cached_mnist_dir",
    "download_mnist",
    "load_csv",
    "load_dataset",
    "load_embedded",
    "load_idx_dir",
    "load_mnist",
    "load_named",
    "load_npz",
    "one_hot",
    "read_idx",
    "scale_pixels",
    "split_validation",
]
