"""What makes a downloaded file trusted: its published checksums, checked in bounded reads.

A file matches when its own SHA-256 (or MD5 and exact size) is the published one, or
when it gunzips (never past the expected payload size + 1 byte) to the pinned payload.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Bytes per read while hashing or inflating.
CHUNK = 1 << 16


@dataclass(frozen=True)
class MnistFile:
    """One file to download and the checksums that make it trusted.

    Attributes
    ----------
    name : str
        File name, on the mirrors and in the cache (a plain name, no directory).
    sha256 : str or None
        SHA-256 (lower-case hex) of the file as published (None: not published).
    raw_sha256 : str or None
        SHA-256 of its decompressed payload (accepted when a mirror re-compressed it;
        None: not published, so only the published file itself is accepted).
    raw_size : int
        Size in bytes of the decompressed payload; decompression never goes past it + 1.
    size : int or None
        Size of the published file (None: unknown). With a SHA-256 it only sizes the
        progress bar; for a file pinned by MD5 alone it must match exactly too.
    md5 : str or None
        MD5 (lower-case hex) of the file as published, for data sets whose authors
        publish only MD5. Checked in addition to the SHA-256 when both are given.
    """

    name: str
    sha256: str | None
    raw_sha256: str | None
    raw_size: int
    size: int | None = None
    md5: str | None = None

    def published_match(self, sha256: str, md5: str, size: int) -> bool:
        """Whether a file with these digests and size is the published one."""
        if self.sha256 is None and self.md5 is None:
            return False  # nothing pinned: never trusted
        if self.sha256 is not None and sha256 != self.sha256:
            return False
        if self.md5 is not None and md5 != self.md5:
            return False
        # MD5 alone is weak against a crafted file; the exact published size narrows it.
        return self.sha256 is not None or self.size is None or size == self.size


def verified_dir(directory: Path, files: Sequence[MnistFile]) -> Path | None:
    """``directory`` if it holds every file of ``files``, verified (and no stray raw copy), else None."""
    try:
        if not directory.is_dir():
            return None
        ok = all(file_matches(directory / spec.name, spec) for spec in files)
        return directory if ok and not stray_raw_files(directory, files) else None
    except OSError:
        return None


def sha256_file(path: Path) -> str:
    return digest_file(path)[0]


def digest_file(path: Path) -> tuple[str, str, int]:
    """SHA-256 and MD5 (hex) and size of ``path``, in one pass."""
    h, m, n = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            m.update(chunk)
            n += len(chunk)
    return h.hexdigest(), m.hexdigest(), n


def max_download(spec: MnistFile) -> int:
    """The largest gzip that can hold ``spec``'s payload (stored blocks cost 5 bytes per 64 KiB)."""
    return spec.raw_size + spec.raw_size // 1000 + (1 << 16)


def payload_matches(path: Path, spec: MnistFile) -> bool:
    """Whether ``path`` gunzips to exactly ``spec``'s payload; at most raw_size + 1 bytes inflated."""
    return spec.raw_sha256 is not None and payload_sha256(path, spec) == spec.raw_sha256


def payload_sha256(path: Path, spec: MnistFile) -> str | None:
    """SHA-256 of what ``path`` gunzips to if that is ``spec.raw_size`` bytes, else None."""
    h = hashlib.sha256()
    n = 0
    try:
        with gzip.open(path, "rb") as fh:
            while n <= spec.raw_size:
                chunk = fh.read(min(CHUNK, spec.raw_size + 1 - n))
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        return None
    return h.hexdigest() if n == spec.raw_size else None


def file_matches(path: Path, spec: MnistFile) -> bool:
    """Whether ``path`` is a regular file with ``spec``'s gz hash, or a re-compression of its payload."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_download(spec):
            return False
        return spec.published_match(*digest_file(path)) or payload_matches(path, spec)
    except OSError:
        return False


def stray_raw_files(directory: Path, files: Sequence[MnistFile]) -> list[Path]:
    """Uncompressed siblings of the gz files that do not hold the verified payload.

    ``load_idx_dir`` prefers ``NAME`` over ``NAME.gz``, so such a file would be loaded
    instead of the verified download.
    """
    stray = []
    for spec in files:
        if not spec.name.endswith(".gz"):
            continue
        raw = directory / spec.name[:-3]
        if not os.path.lexists(raw):
            continue
        try:
            # Without a published payload hash, the payload of the gz is the reference,
            # and only once the gz itself verifies (else a bad pair would vouch for itself).
            gz = directory / spec.name
            expected = spec.raw_sha256 or (
                payload_sha256(gz, spec) if spec.published_match(*digest_file(gz)) else None
            )
            ok = raw.stat().st_size == spec.raw_size and sha256_file(raw) == expected
        except OSError:
            ok = False
        if not ok:
            stray.append(raw)
    return stray
