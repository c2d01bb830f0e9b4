"""Verified downloads of a set of files: mirrors tried in order, each file given its
final name only once its published checksum matched (stdlib only).

:func:`download_verified` is the machinery behind :func:`fastnn.data.download.download_mnist`
and :func:`fastnn.data.datasets.download_dataset`; what makes a file trusted is in
:mod:`fastnn.data.verify`, the HTTP timeouts in :mod:`fastnn.data.http`, the progress
bar in :mod:`fastnn.data.progress`.

Each download streams into a part file beside its target through
:func:`fastnn.atomic.atomic_part` while being hashed, and replaces the target only
once the checksum matched; any failure or Ctrl-C deletes it. A killed process leaves
only a part file, which no loader reads and which a later write of that file deletes
once its process is gone. Part names are unique, so two processes can download into
the same cache at once (a sweep of runs started together on a fresh machine) without
one renaming the other's half-written file into place.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import numbers
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from fastnn.atomic import atomic_part, remove_stale_parts
from fastnn.data.cache import ENV_DATA_DIR
from fastnn.data.http import MirrorError, build_opener, describe_error
from fastnn.data.progress import Progress
from fastnn.data.verify import CHUNK, MnistFile, file_matches, max_download, payload_matches, stray_raw_files
from fastnn.errors import DataError, InvalidParameterError
from fastnn.paths import PART_SUFFIX

#: (connect, read) timeouts in seconds.
DEFAULT_TIMEOUT = (10.0, 30.0)
#: Most seconds one file's download may take, however the mirror trickles its bytes
#: (a read timeout alone never fires on a mirror that sends a byte a second). 15
#: minutes: the largest file (9.9 MB) at 11 kB/s.
DEFAULT_DEADLINE = 900.0
#: Part files named as fastnn's downloads named them before they wrote through
#: fastnn.atomic (``NAME.part``, ``NAME.RANDOM.part``, no PID) are stale once
#: nobody has written to them for this long (a live download writes at least once per
#: read timeout).
STALE_PART_SECONDS = 3600
_USER_AGENT = "fastnn-mnist-downloader (Python urllib)"


def _old_part_names(name: str) -> re.Pattern[str]:
    """``NAME.part`` and ``NAME.*.part``: the part files of downloads by earlier versions."""
    return re.compile(rf"{re.escape(name)}(?:\..*)?{re.escape(PART_SUFFIX)}")


def check_timeout(timeout: Any) -> tuple[float, float]:
    """``(connect, read)`` seconds from one positive number or a pair of them."""
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


def check_mirrors(mirrors: Sequence[str] | str | None, default: Sequence[str], env_name: str) -> list[str]:
    """Base URLs to try: ``mirrors``, else ``$env_name``, else ``default``."""
    where = "the 'mirrors' parameter"
    if mirrors is None:
        env = os.environ.get(env_name, "")
        if not env.strip():
            return list(default)
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


def check_files(files: Sequence[MnistFile] | None, default: tuple[MnistFile, ...]) -> tuple[MnistFile, ...]:
    """``files`` checked (plain names, a checksum each), else ``default``."""
    if files is None:
        return default
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


def _open(opener: urllib.request.OpenerDirector, url: str, connect_timeout: float) -> Any:
    """The HTTP response for ``url``; MirrorError for anything that went wrong."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return opener.open(request, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise MirrorError(describe_error(exc)) from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        raise MirrorError(describe_error(exc)) from None


def _receive(
    response: Any, out: IO[bytes], spec: MnistFile, total: int | None, progress: Progress, deadline: float
) -> tuple[int, str, str]:
    """Copy the body into ``out``, bounded in size and time; (bytes, SHA-256, MD5)."""
    give_up = time.monotonic() + deadline
    limit = max_download(spec)
    h, m = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    n = 0
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
    progress.update(spec.name, n, total, force=True)
    return n, h.hexdigest(), m.hexdigest()


def _verdict(part: Path, spec: MnistFile, n: int, sha256: str, md5: str) -> str:
    """How the downloaded ``part`` was verified; MirrorError if it was not."""
    if spec.published_match(sha256, md5, n):
        return "SHA-256 verified" if spec.sha256 is not None else "MD5 and size verified"
    if payload_matches(part, spec):
        return "re-compressed by the mirror, payload SHA-256 verified"
    expected = (
        f"SHA-256 {sha256}, expected {spec.sha256}"
        if spec.sha256 is not None and sha256 != spec.sha256
        else f"MD5 {md5}, expected {spec.md5}"
        if spec.md5 is not None and md5 != spec.md5
        else f"size {n:,} bytes, expected {spec.size:,}"
    )
    either = ", and the decompressed payload does not match either" if spec.raw_sha256 is not None else ""
    raise MirrorError(f"checksum mismatch: {expected}{either}")


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
    with _open(opener, url, connect_timeout) as response:
        try:
            length: int | None = int(response.headers.get("Content-Length", ""))
        except ValueError:
            length = None
        if length is not None and length > max_download(spec):
            raise MirrorError(
                f"Content-Length {length:,} bytes is more than any gzip of "
                f"{spec.name}'s {spec.raw_size:,}-byte payload can be"
            )
        try:
            with atomic_part(directory / spec.name) as part:
                n, sha256, md5 = _receive(
                    response, part.file, spec, length if length is not None else spec.size, progress, deadline
                )
                # http.client silently returns a short body when the server closes early.
                if length is not None and n != length:
                    raise MirrorError(f"truncated response: {n:,} of {length:,} bytes (Content-Length)")
                part.file.flush()  # so that the payload check can read it back
                how = _verdict(part.path, spec, n, sha256, md5)
        except BaseException:
            progress.end_line()
            raise
    return n, how


def _manual_hint(directory: Path, files: Sequence[MnistFile], title: str, env_name: str) -> str:
    names = ", ".join(spec.name for spec in files)
    sums = "SHA-256" if all(spec.sha256 for spec in files) else "published checksums"
    return (
        f"To get {title} by hand, download {names} from one of the mirrors above (or any copy you "
        f"trust) into a directory DIR and pass --data DIR (read as is, not verified), or put them "
        f"in {directory} to have them checked against the official {sums}. Behind a proxy or "
        f"internal mirror, set https_proxy, or {env_name}=URL[,URL...]."
    )


def download_verified(
    directory: Path,
    specs: Sequence[MnistFile],
    urls: Sequence[str],
    title: str,
    env_mirrors: str,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    progress: bool | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> Path:
    """Make sure ``directory`` holds every file of ``specs`` (checked), verified, downloading
    what is missing from ``urls`` (checked); ``title`` names the data set and ``env_mirrors``
    the variable that replaces its mirrors, in messages. Parameters and errors are
    those of :func:`fastnn.data.download.download_mnist`."""
    connect_timeout, read_timeout = check_timeout(timeout)
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
        remove_stale_parts(
            directory, spec.name, older_naming=_old_part_names(spec.name), older_after=STALE_PART_SECONDS
        )
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
