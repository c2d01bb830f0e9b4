"""Download the full MNIST (70,000 digits) into a local cache, verified by SHA-256 (stdlib only).

:func:`download_mnist` fetches the four standard IDX gz files into
:func:`default_cache_dir` (``$FASTNN_DATA`` if set, else the platform's user cache
dir + ``fastnn/mnist``) and returns that directory, ready for
:func:`fastnn.data.load_idx_dir`. ``fastnn.data.load_dataset("mnist")`` (``--data
mnist``) calls it; nothing else in fastnn touches the network. From a shell:
``python -m fastnn.data download [--dir DIR]`` (:mod:`fastnn.cli.download`).
The cache location, verification, HTTP and progress live in :mod:`fastnn.data.cache`,
:mod:`fastnn.data.verify`, :mod:`fastnn.data.http` and :mod:`fastnn.data.progress`.

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

    Only verified files are ever given their final name. Each download streams into
    a ``NAME.<random>.part`` file in the cache directory while hashing, and is
    ``os.replace``-d into place only once its checksum matched; any failure or
    Ctrl-C deletes it. A killed process leaves only a ``.part`` file, which no
    loader reads; parts untouched for an hour are deleted by the next download of
    that file. The random part name (rather than a fixed ``NAME.part``) lets two
    processes download into the same cache at once (a sweep of runs started
    together on a fresh machine) without one renaming the other's half-written file
    into place.

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
    :mod:`fastnn.data.datasets` reuses this machinery (:func:`download_verified`) for
    Fashion-MNIST and KMNIST, whose authors publish MD5 checksums only: a
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

import contextlib
import glob
import hashlib
import http.client
import math
import numbers
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastnn.data.cache import ENV_DATA_DIR, default_cache_dir
from fastnn.data.http import MirrorError, build_opener, describe_error
from fastnn.data.progress import Progress
from fastnn.data.verify import (
    CHUNK,
    MnistFile,
    file_matches,
    max_download,
    payload_matches,
    stray_raw_files,
    verified_dir,
)
from fastnn.errors import DataError, InvalidParameterError

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


#: The four official MNIST files (see the module docstring for where the values come from).
MNIST_FILES: tuple[MnistFile, ...] = (
    MnistFile(
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        16 + 60_000 * 28 * 28,
        9_912_422,
    ),
    MnistFile(
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        8 + 60_000,
        28_881,
    ),
    MnistFile(
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        16 + 10_000 * 28 * 28,
        1_648_877,
    ),
    MnistFile(
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        8 + 10_000,
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
#: (connect, read) timeouts in seconds.
DEFAULT_TIMEOUT = (10.0, 30.0)
#: Most seconds one file's download may take, however the mirror trickles its bytes
#: (a read timeout alone never fires on a mirror that sends a byte a second). 15
#: minutes: the largest file (9.9 MB) at 11 kB/s.
DEFAULT_DEADLINE = 900.0
#: A .part file not written to for this long belongs to a dead process (a live one
#: writes at least once per read timeout) and is deleted by the next download.
STALE_PART_SECONDS = 3600
_USER_AGENT = "fastnn-mnist-downloader (Python urllib)"


def cached_mnist_dir() -> Path | None:
    """:func:`default_cache_dir` if it holds the full, verified MNIST, else None.

    Never touches the network and never raises; it re-hashes the cached files
    (~10-20 ms for the official gz files).
    """
    return verified_dir(default_cache_dir(), MNIST_FILES)


def _check_timeout(timeout: Any) -> tuple[float, float]:
    pair = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
    ok = len(pair) == 2 and all(
        isinstance(t, numbers.Real) and not isinstance(t, bool) and math.isfinite(t) and float(t) > 0
        for t in pair
    )
    if not ok:
        raise InvalidParameterError(
            "the 'timeout' parameter must be a positive number of seconds or a (connect, read) pair "
            f"of them; got {timeout!r}"
        )
    return float(pair[0]), float(pair[1])


def check_mirrors(
    mirrors: Sequence[str] | str | None,
    default: Sequence[str] | None = None,
    env_name: str = ENV_MIRRORS,
) -> list[str]:
    """Base URLs to try: ``mirrors``, else ``$env_name``, else ``default`` (None: :data:`MIRRORS`)."""
    where = "the 'mirrors' parameter"
    if mirrors is None:
        env = os.environ.get(env_name, "")
        if not env.strip():
            return list(default if default is not None else MIRRORS)
        mirrors, where = env.split(","), f"the {env_name} environment variable"
    elif isinstance(mirrors, str):
        mirrors = [mirrors]
    urls = []
    for url in mirrors:
        url = url.strip() if isinstance(url, str) else url
        if url == "":
            continue
        try:
            parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
            port_ok = parts is not None and (parts.port is None or parts.port > 0)  # .port checks the range
        except ValueError:  # "http://[::1", "http://host:99999", "http://host:port"
            parts, port_ok = None, False
        if (
            parts is None
            or not port_ok
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url)
        ):
            raise InvalidParameterError(
                f"{where} must hold http:// or https:// base URLs (comma-separated in the environment "
                f"variable); got {url!r}"
            )
        urls.append(url if url.endswith("/") else url + "/")
    if not urls:
        raise InvalidParameterError(f"{where} must hold at least one http:// or https:// base URL; got none")
    return urls


def check_files(
    files: Sequence[MnistFile] | None, default: tuple[MnistFile, ...] | None = None
) -> tuple[MnistFile, ...]:
    """``files`` checked (plain names, a checksum each), else ``default`` (None: :data:`MNIST_FILES`)."""
    if files is None:
        return default if default is not None else MNIST_FILES
    specs = tuple(files)
    for spec in specs:
        plain = (
            isinstance(spec, MnistFile)
            and spec.name not in ("", ".", "..")
            and "/" not in spec.name
            and "\\" not in spec.name
        )
        if not plain:
            raise InvalidParameterError(
                f"the 'files' parameter must hold MnistFile entries with plain file names; got {spec!r}"
            )
        if spec.sha256 is None and spec.md5 is None:
            raise InvalidParameterError(
                f"the 'files' parameter: {spec.name} pins neither a SHA-256 nor an MD5, so it could "
                "never be verified"
            )
    if not specs:
        raise InvalidParameterError("the 'files' parameter must list at least one file; got none")
    return specs


def _remove_stale_parts(directory: Path, name: str) -> None:
    """Delete ``name``'s .part files that no live download is writing (see STALE_PART_SECONDS)."""
    now = time.time()
    for pattern in (f"{glob.escape(name)}.part", f"{glob.escape(name)}.*.part"):
        for part in directory.glob(pattern):
            try:
                if now - part.stat().st_mtime > STALE_PART_SECONDS:
                    part.unlink()
            except OSError:
                pass


def _fetch(
    opener: urllib.request.OpenerDirector,
    url: str,
    spec: MnistFile,
    directory: Path,
    connect_timeout: float,
    progress: Progress,
    deadline: float = DEFAULT_DEADLINE,
) -> tuple[int, str]:
    """Download ``url`` and install it as ``directory/spec.name`` if verified.

    Returns (bytes downloaded, how it was verified). Raises MirrorError for anything
    the mirror got wrong, OSError for a local problem (disk full, permissions).
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    give_up = time.monotonic() + deadline
    try:
        response = opener.open(request, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MirrorError(describe_error(exc)) from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        raise MirrorError(describe_error(exc)) from None
    with response:
        try:
            length: int | None = int(response.headers.get("Content-Length", ""))
        except ValueError:
            length = None
        limit = max_download(spec)
        if length is not None and length > limit:
            raise MirrorError(
                f"Content-Length {length:,} bytes is more than any gzip of "
                f"{spec.name}'s {spec.raw_size:,}-byte payload can be"
            )
        total = length if length is not None else spec.size
        fd, tmp = tempfile.mkstemp(prefix=f"{spec.name}.", suffix=".part", dir=directory)
        try:
            h, m = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
            n = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    if time.monotonic() > give_up:
                        raise MirrorError(f"too slow: {n:,} bytes in the {deadline:g} s allowed for the file")
                    try:
                        # read1: what has arrived (at most CHUNK), so a trickle still
                        # returns here often enough to meet the deadline.
                        chunk = response.read1(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise MirrorError(f"{describe_error(exc)} after {n:,} bytes") from None
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > limit:
                        raise MirrorError(
                            f"response larger than any gzip of {spec.name}'s payload ({limit:,} bytes read)"
                        )
                    h.update(chunk)
                    m.update(chunk)
                    out.write(chunk)
                    progress.update(spec.name, n, total)
                out.flush()
                os.fsync(out.fileno())
            progress.update(spec.name, n, total, force=True)
            # http.client silently returns a short body when the server closes early.
            if length is not None and n != length:
                raise MirrorError(f"truncated response: {n:,} of {length:,} bytes (Content-Length)")
            got, got_md5 = h.hexdigest(), m.hexdigest()
            if spec.published_match(got, got_md5, n):
                how = "SHA-256 verified" if spec.sha256 is not None else "MD5 and size verified"
            elif payload_matches(Path(tmp), spec):
                how = "re-compressed by the mirror, payload SHA-256 verified"
            else:
                expected = (
                    f"SHA-256 {got}, expected {spec.sha256}"
                    if spec.sha256 is not None and got != spec.sha256
                    else f"MD5 {got_md5}, expected {spec.md5}"
                    if spec.md5 is not None and got_md5 != spec.md5
                    else f"size {n:,} bytes, expected {spec.size:,}"
                )
                either = (
                    ", and the decompressed payload does not match either"
                    if spec.raw_sha256 is not None
                    else ""
                )
                raise MirrorError(f"checksum mismatch: {expected}{either}")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it owner-only
            os.replace(tmp, directory / spec.name)
        except BaseException:
            progress.end_line()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return n, how


def _manual_hint(
    directory: Path, files: Sequence[MnistFile], title: str = "MNIST", env_name: str = ENV_MIRRORS
) -> str:
    names = ", ".join(spec.name for spec in files)
    sums = "SHA-256" if all(spec.sha256 for spec in files) else "published checksums"
    return (
        f"To get {title} by hand, download {names} from one of the mirrors above (or any copy you "
        f"trust) into a directory DIR and pass --data DIR (read as is, not verified), or put them "
        f"in {directory} to have them checked against the official {sums}. Behind a proxy or "
        f"internal mirror, set https_proxy, or {env_name}=URL[,URL...]."
    )


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
    specs = check_files(files)
    urls = check_mirrors(mirrors)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return download_verified(directory, specs, urls, timeout, progress, deadline=deadline)


def download_verified(
    directory: Path,
    specs: Sequence[MnistFile],
    urls: Sequence[str],
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    progress: bool | None = None,
    title: str = "MNIST",
    env_mirrors: str = ENV_MIRRORS,
    deadline: float = DEFAULT_DEADLINE,
) -> Path:
    """:func:`download_mnist` for any checked ``specs`` and ``urls``; ``title`` names the data set."""
    connect_timeout, read_timeout = _check_timeout(timeout)
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not 0 < deadline < math.inf:
        raise InvalidParameterError(
            f"the 'deadline' parameter must be a positive number of seconds; got {deadline!r}"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"{directory}: cannot create the {title} cache directory ({exc.strerror or exc}); "
            f"choose another with --dir DIR or {ENV_DATA_DIR}=DIR"
        ) from None
    stray = stray_raw_files(directory, specs)
    if stray:
        raise DataError(
            f"{stray[0]}: does not hold the official {title} payload, and fastnn would load it instead of "
            f"the verified {stray[0].name}.gz next to it; delete or move it (or use another cache directory)"
        )
    todo = [spec for spec in specs if not file_matches(directory / spec.name, spec)]
    if not todo:
        return directory
    report = Progress(progress)
    opener = build_opener(read_timeout)
    order = list(urls)
    for spec in todo:
        _remove_stale_parts(directory, spec.name)
        failures: list[str] = []
        for base in list(order):
            url = base + spec.name
            try:
                n, how = _fetch(opener, url, spec, directory, connect_timeout, report, deadline)
            except MirrorError as exc:
                failures.append(f"  {url}: {exc}")
                report.log(f"{url}: {exc}" + ("; trying the next mirror" if base != order[-1] else ""))
                continue
            except OSError as exc:
                raise DataError(
                    f"{directory}: cannot write {spec.name} ({exc.strerror or exc}); "
                    f"choose another directory with --dir DIR or {ENV_DATA_DIR}=DIR"
                ) from None
            report.finished(spec.name, n, url, how)
            order.remove(base)
            order.insert(0, base)  # it works: try it first for the remaining files
            break
        else:
            raise DataError(
                f"could not download {spec.name} from any mirror:\n"
                + "\n".join(failures)
                + "\n"
                + _manual_hint(directory, specs, title, env_mirrors)
            )
    return directory
