"""The named MNIST-format data sets: ``mnist``, ``fashion-mnist`` and ``kmnist``.

Each entry says where its four IDX gz files come from, how they are verified and
what its ten classes are called. :func:`download_dataset` fetches one into its own
verified cache (the machinery of :mod:`fastnn.data.fetch`: mirrors tried in order, a
file is given its final name only once verified, offline errors say how to get the
files by hand); ``fastnn.data.load_dataset(NAME)`` / ``--data NAME`` calls it.

Checksums and sizes
    **MNIST**: SHA-256 of each gz file and of its payload (see :mod:`fastnn.data.download`).

    **Fashion-MNIST**: its authors publish MD5 checksums only (the table in
    zalandoresearch/fashion-mnist's README; torchvision's ``FashionMNIST`` pins the
    same four), so each file is verified by that MD5 *and* its exact size:
    26,421,880, 29,515, 4,422,102 and 5,148 bytes, the sizes served by the
    authors' S3 bucket and by Keras' mirror (download logs of torchvision and Keras
    agree; the README rounds them to 26 MB, 29 KB, 4.3 MB, 5.1 KB).

    **KMNIST** (Kuzushiji-MNIST): rois-codh/kmnist publishes no checksum at all; the
    MD5s pinned here are the ones torchvision's ``KMNIST`` (and every other loader we
    found) pins, and the sizes 18,165,135, 29,497, 3,041,136 and 5,120 bytes are the
    Content-Length the authors' server (codh.rois.ac.jp) reports in torchvision's
    download logs. Verified by MD5 and exact size as Fashion-MNIST.

    No SHA-256 is published by either project, so none is pinned (a value computed
    by a third party is not the authors'). MD5 is broken against a *crafted*
    collision, which the exact size narrows but does not rule out; it is sound
    against corruption and truncation. Neither project publishes payload hashes, so
    a mirror that re-compressed a file is refused rather than trusted.

Class names
    Fashion-MNIST's from its README's label table; KMNIST's are the romanised names
    of the ten hiragana in rois-codh's ``kmnist_classmap.csv`` (お U+304A, き, す, つ,
    な, は, ま, や, れ, を U+3092: o, ki, su, tsu, na, ha, ma, ya, re, wo), as
    torchvision names them. The romanised names are what fastnn prints and plots:
    matplotlib's default font has no hiragana, and a plot with missing glyphs is
    worse than one with romaji; :attr:`Dataset.characters` keeps the hiragana.

Caches
    MNIST keeps its cache (``$FASTNN_DATA``, else the user cache dir + ``fastnn/mnist``).
    Every other data set has the same file names, so it gets a folder of its own:
    ``$FASTNN_DATA/NAME`` if that is set, else the user cache dir + ``fastnn/NAME``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import fastnn.data.download as dl
from fastnn.data.cache import ENV_DATA_DIR, default_cache_dir
from fastnn.data.fetch import DEFAULT_TIMEOUT, check_files, check_mirrors, download_verified
from fastnn.data.mnist_format import IDX_FILES, IDX_SIZES
from fastnn.data.verify import MnistFile, verified_dir
from fastnn.validation import choice_error

__all__ = [
    "DATASETS",
    "Dataset",
    "cached_dataset_dir",
    "dataset_cache_dir",
    "download_dataset",
    "get_dataset",
]


def _md5_files(md5s: tuple[str, str, str, str], sizes: tuple[int, int, int, int]) -> tuple[MnistFile, ...]:
    """The four standard files, pinned by published MD5 and exact size (no SHA-256 published)."""
    return tuple(
        MnistFile(f"{IDX_FILES[field]}.gz", None, None, IDX_SIZES[field], size, md5)
        for field, md5, size in zip(IDX_FILES, md5s, sizes, strict=True)
    )


@dataclass(frozen=True)
class Dataset:
    """A named MNIST-format data set: files, mirrors and class names."""

    name: str
    title: str
    files: tuple[MnistFile, ...]
    mirrors: tuple[str, ...]
    env_mirrors: str
    #: One name per label 0..9 (None: the labels are their own names, the digits).
    class_names: tuple[str, ...] | None
    #: The characters the classes stand for, where they are not the names (KMNIST).
    characters: tuple[str, ...] | None = None


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("mnist", "MNIST", dl.MNIST_FILES, dl.MIRRORS, dl.ENV_MIRRORS, None),
        Dataset(
            "fashion-mnist",
            "Fashion-MNIST",
            _md5_files(
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
                (26_421_880, 29_515, 4_422_102, 5_148),
            ),
            (
                # The authors' bucket over HTTPS, Keras' copy, then the README's HTTP links.
                "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            ),
            "FASTNN_FASHION_MNIST_MIRRORS",
            (
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
        ),
        Dataset(
            "kmnist",
            "KMNIST",
            _md5_files(
                (
                    "bdb82020997e1d708af4cf47b453dcf7",
                    "e144d726b3acfaa3e44228e80efcd344",
                    "5c965bf0a639b31b8f53240b1b52f4d7",
                    "7320c461ea6c1c855c0b718fb2a4b134",
                ),
                (18_165_135, 29_497, 3_041_136, 5_120),
            ),
            (
                "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            ),
            "FASTNN_KMNIST_MIRRORS",
            ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
            characters=("お", "き", "す", "つ", "な", "は", "ま", "や", "れ", "を"),
        ),
    )
}


def get_dataset(name: str) -> Dataset:
    """The registry entry for ``name`` (case and surrounding spaces ignored)."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise choice_error("dataset", sorted(DATASETS), name)
    return DATASETS[key]


def dataset_cache_dir(name: str) -> Path:
    """Where ``name`` is cached (see the module docstring); nothing is created."""
    ds = get_dataset(name)
    if ds.name == "mnist":
        return default_cache_dir()
    env = os.environ.get(ENV_DATA_DIR, "")
    base = Path(env).expanduser() if env else default_cache_dir().parent
    return base / ds.name


def cached_dataset_dir(name: str) -> Path | None:
    """The cache of ``name`` if it holds all four files, verified; never touches the network."""
    ds = get_dataset(name)
    if ds.name == "mnist":
        return dl.cached_mnist_dir()
    return verified_dir(dataset_cache_dir(ds.name), ds.files)


def download_dataset(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: list[str] | tuple[str, ...] | None = None,
    files: tuple[MnistFile, ...] | list[MnistFile] | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> Path:
    """Make sure data set ``name`` is in its cache, verified; download what is missing.

    Parameters and errors are those of :func:`fastnn.data.download.download_mnist`; the
    defaults come from ``name``'s entry (its files, its mirrors or
    ``$FASTNN_<NAME>_MIRRORS``, its cache directory). Returns the cache directory.
    """
    ds = get_dataset(name)
    if ds.name == "mnist":  # its own function, which reads MNIST_FILES and MIRRORS when called
        return dl.download_mnist(cache_dir, mirrors, files, timeout, progress)
    specs = check_files(files, ds.files)
    urls = check_mirrors(mirrors, ds.mirrors, ds.env_mirrors)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else dataset_cache_dir(ds.name)
    return download_verified(directory, specs, urls, ds.title, ds.env_mirrors, timeout, progress)
