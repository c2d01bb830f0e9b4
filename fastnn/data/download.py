"""Download the full MNIST (70,000 digits) into a local cache, verified by SHA-256 (stdlib only).

:func:`download_mnist` fetches the four standard IDX gz files into
:func:`default_cache_dir` (``$FASTNN_DATA`` if set, else the platform's user cache
dir + ``fastnn/mnist``) and returns that directory, ready for
:func:`fastnn.data.load_idx_dir`. ``fastnn.data.load_dataset("mnist")`` (``--data
mnist``) calls it; nothing else in fastnn touches the network. From a shell:
``python -m fastnn.data download [--dir DIR]`` (:mod:`fastnn.cli.download`).
The download machinery is :mod:`fastnn.data.fetch`; the cache location, verification,
HTTP and progress live in :mod:`fastnn.data.cache`, :mod:`fastnn.data.verify`,
:mod:`fastnn.data.http` and :mod:`fastnn.data.progress`.

Checksums (:data:`MNIST_FILES`)
    The SHA-256 of each gz file is the official distribution's published value
    (yann.lecun.com/exdb/mnist, served unchanged by the PyTorch and Google CVDF
    mirrors), cross-checked against several independent public loaders that pin
    the same four values. The SHA-256 of each decompressed payload is pinned too,
    because mirrors sometimes re-compress: a download whose gz hash differs is
    still accepted when its payload (decompressed with a bound: never more than
    the expected payload size + 1 byte) has the pinned hash and size. The payload
    hashes and sizes also come from public loaders that pin them (several agree on
    each); those of the two label files and the test images were re-verified
    locally against the original bytes (``../shared/mnist``, whose gz wrappers were
    re-compressed: they exercise the payload path). The gz sizes are the official
    ones listed by the original site (9,912,422, 28,881, 1,648,877 and 4,542
    bytes); they only size the progress bar, since a re-compressed file may differ.

    Local copies such as ``../shared/mnist`` (whose training images were rebuilt,
    so they do not match these checksums) are loaded with ``--data DIR``, which
    reads the IDX files as they are, without hashing; they never go through this
    verified cache.

The cache
    ``$FASTNN_DATA`` is one directory for both directions: downloads go there and
    ``fastnn.data.load_dataset()`` with no source reads the four IDX files from it.
    Without it, the cache is ``$XDG_CACHE_HOME`` (or ``~/.cache``) on Linux,
    ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows, + ``fastnn/mnist``.

    Only verified files are ever given their final name: each download streams into
    a part file and replaces its target only once the checksum matched (see
    :mod:`fastnn.data.fetch`, which writes through :func:`fastnn.atomic.atomic_part`);
    two processes can download into the same cache at once.

    Files already in the cache are re-hashed every time they are used (no
    "verified" marker file). Hashing the four gz files (11.6 MB) takes ~10-20 ms,
    noise next to decompressing them for loading (~0.3 s), and unlike a marker
    recording size and mtime it cannot be fooled by an edit or corruption that keeps
    both, or by a coarse mtime clock, and there is no second file to go stale. A
    file a mirror had re-compressed needs its payload re-hashed (~0.3 s more); it
    is rare. A cached file that fails verification is downloaded again. If an
    uncompressed sibling (``train-images-idx3-ubyte`` next to the ``.gz``) is
    present it must match the payload hash too, because
    :func:`fastnn.data.load_idx_dir` reads the raw file in preference to the gz.

Other data sets
    :mod:`fastnn.data.datasets` reuses this machinery
    (:func:`fastnn.data.fetch.download_verified`) for Fashion-MNIST and KMNIST,
    whose authors publish MD5 checksums only: a
    :class:`MnistFile` may pin an MD5 instead of a SHA-256, and is then verified by
    that MD5 and its exact published size; without a published payload hash, a
    re-compressed copy is refused.

Mirrors (:data:`MIRRORS`)
    Tried in order for each file, falling through to the next on any network error
    (DNS, refused, reset, timeout, HTTP 403/404/5xx, a response shorter than its
    Content-Length) or checksum mismatch. A mirror that delivered a file is tried
    first for the remaining files, so a dead first mirror costs one timeout, not
    four. ``FASTNN_MNIST_MIRRORS`` (comma-separated base URLs) replaces the list:
    an escape hatch for users behind an internal mirror or proxy cache, and how
    the command-line tests point the downloader at 127.0.0.1. ``http_proxy`` /
    ``https_proxy`` / ``no_proxy`` are honoured (urllib's defaults).

Timeouts
    ``(connect, read)`` seconds, default (10, 30): connect bounds the TCP/TLS
    connection, read bounds each wait for data (the response headers included).
    Name resolution is not bounded by either (the stdlib resolver has no timeout).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fastnn.data.cache import ENV_DATA_DIR, default_cache_dir
from fastnn.data.fetch import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, check_files, check_mirrors, download_verified
from fastnn.data.mnist_format import IDX_FILES, IDX_SIZES
from fastnn.data.verify import MnistFile, verified_dir

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_DATA_DIR",
    "ENV_MIRRORS",
    "MIRRORS",
    "MNIST_FILES",
    "MnistFile",
    "cached_mnist_dir",
    "default_cache_dir",
    "download_mnist",
    "verified_dir",
]


def _official(field: str, sha256: str, raw_sha256: str, size: int) -> MnistFile:
    """The gz file of ``field`` (``IDX_FILES``), its two published SHA-256 and its size."""
    return MnistFile(f"{IDX_FILES[field]}.gz", sha256, raw_sha256, IDX_SIZES[field], size)


#: The four official MNIST files (see the module docstring for where the values come from):
#: field, SHA-256 of the gz file, SHA-256 of its payload, size of the gz file.
MNIST_FILES: tuple[MnistFile, ...] = (
    _official(
        "x_train",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        9_912_422,
    ),
    _official(
        "y_train",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        28_881,
    ),
    _official(
        "x_test",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        1_648_877,
    ),
    _official(
        "y_test",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        4_542,
    ),
)

#: Base URLs, tried in order: PyTorch's S3 mirror, Google's CVDF mirror, then the
#: original site (which answers 403 these days, kept last in case it comes back).
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

ENV_MIRRORS = "FASTNN_MNIST_MIRRORS"


def cached_mnist_dir() -> Path | None:
    """:func:`default_cache_dir` if it holds the full, verified MNIST, else None.

    Never touches the network and never raises; it re-hashes the cached files
    (~10-20 ms for the official gz files).
    """
    return verified_dir(default_cache_dir(), MNIST_FILES)


def download_mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    files: Sequence[MnistFile] | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    progress: bool | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> Path:
    """Make sure the full MNIST is in ``cache_dir``, verified; download what is missing.

    Parameters
    ----------
    cache_dir : str, os.PathLike or None
        Where the files go; created if needed. None: :func:`default_cache_dir`.
    mirrors : sequence of str or None
        Base URLs (``http://`` or ``https://``), tried in order; ``base + name`` is
        fetched. None: ``$FASTNN_MNIST_MIRRORS`` (comma-separated) if set, else
        :data:`MIRRORS`.
    files : sequence of MnistFile or None
        What to fetch and the checksums to verify it with. None: :data:`MNIST_FILES`.
        Tests inject small files here.
    timeout : float or (float, float), default (10, 30)
        ``(connect, read)`` seconds; one number sets both. Read bounds each wait for
        data, not the whole download.
    progress : bool or None
        None: a progress bar on stderr if it is a terminal, else one log line per
        downloaded file; True: always the bar; False: silent. Mirror failures are
        logged unless False.
    deadline : float, default 900
        Most seconds one file's download from one mirror may take in all; a mirror
        that delivers too slowly is abandoned for the next one.

    Returns
    -------
    pathlib.Path
        The cache directory, holding every file of ``files`` verified (files that
        were already there and verified are not downloaded again).

    Raises
    ------
    DataError
        No mirror delivered a verified copy of a file (the message names the file,
        each URL tried and why it failed, and how to get the files by hand); the
        cache directory cannot be created or written; or an uncompressed copy next
        to a gz file does not match (it would be loaded instead of the gz).
    InvalidParameterError
        A bad ``mirrors``, ``files`` or ``timeout`` (or ``$FASTNN_MNIST_MIRRORS``).
    """
    specs = check_files(files, MNIST_FILES)
    urls = check_mirrors(mirrors, MIRRORS, ENV_MIRRORS)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return download_verified(directory, specs, urls, "MNIST", ENV_MIRRORS, timeout, progress, deadline)
