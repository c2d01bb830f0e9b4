"""fastnn.data.download: verified MNIST downloads, against a real HTTP server on 127.0.0.1.

Each test starts the loopback server of ``mnist_server.py``, serving tiny but valid IDX
gz files that the test makes; their checksums are injected through ``files`` and the
server's URLs through ``mirrors``. A good file is verified and cached; a corrupt,
recompressed, truncated, oversized, hanging, erroring or TLS-failing mirror falls
through to the next, and none reachable lists them all. No test contacts any other
address: proxies are disabled and the default mirrors are never used.
"""

from __future__ import annotations

import gzip
import os
import time

import pytest
from mnist_server import (
    GZ,
    NAMES,
    PAYLOADS,
    SPECS,
    TRAIN,
    assert_verified_cache,
    closed_port_url,
    corrupt,
    fetch,
)
from mnist_server import isolated_env as isolated_env  # autouse: no proxies, a private cache
from mnist_server import server as server  # the loopback server fixture

from fastnn.data.download import download_mnist
from fastnn.errors import DataError

# ---------------------------------------------------------------------------- downloads


def test_download_verifies_and_second_call_makes_no_request(server, tmp_path):
    cache = tmp_path / "cache" / "nested"
    mirror = server.serve("a")
    assert fetch(cache, [mirror]) == cache
    assert_verified_cache(cache)
    assert server.log == [f"/a/{name}" for name in NAMES]
    assert fetch(cache, [mirror]) == cache
    assert len(server.log) == 4  # everything cached and verified: no request at all


def test_corrupt_file_falls_through_to_next_mirror(server, tmp_path, capsys):
    bad = server.serve("a", {**GZ, TRAIN: corrupt(GZ[TRAIN])})
    good = server.serve("b")
    download_mnist(tmp_path / "c", mirrors=[bad, good], files=SPECS)  # progress=None, stderr not a TTY
    assert_verified_cache(tmp_path / "c")
    # Mirror a failed train-images; b delivered it and is then tried first for the rest.
    assert server.log == [f"/a/{TRAIN}", f"/b/{TRAIN}"] + [f"/b/{name}" for name in NAMES[1:]]
    err = capsys.readouterr().err
    assert f"{bad}{TRAIN}: checksum mismatch" in err and "trying the next mirror" in err
    assert err.count("fastnn: downloaded ") == 4 and "SHA-256 verified" in err


def test_recompressed_gz_with_matching_payload_is_accepted(server, tmp_path):
    recompressed = {name: gzip.compress(raw, compresslevel=1, mtime=123456) for name, raw in PAYLOADS.items()}
    assert all(recompressed[name] != GZ[name] for name in NAMES)
    mirror = server.serve("a", recompressed)
    fetch(tmp_path / "c", [mirror])
    assert_verified_cache(tmp_path / "c", recompressed)
    fetch(tmp_path / "c", [mirror])  # the cached re-compressed files still verify (by payload)
    assert len(server.log) == 4


def test_gzip_of_other_payload_is_rejected(server, tmp_path):
    wrong = {**GZ, TRAIN: gzip.compress(PAYLOADS[TRAIN][:-1] + b"\x01", mtime=0)}  # valid gzip, wrong digit
    with pytest.raises(DataError, match=f"could not download {TRAIN} from any mirror") as info:
        fetch(tmp_path / "c", [server.serve("a", wrong)])
    assert "checksum mismatch" in str(info.value) and "decompressed payload does not match" in str(info.value)
    assert not (tmp_path / "c" / TRAIN).exists()
    assert not list((tmp_path / "c").glob("*.part"))


def test_truncated_response_falls_through(server, tmp_path):
    short = server.serve("a", {name: ("truncate", gz) for name, gz in GZ.items()})
    good = server.serve("b")
    fetch(tmp_path / "c", [short, good])
    assert_verified_cache(tmp_path / "c")
    assert server.log[:2] == [f"/a/{TRAIN}", f"/b/{TRAIN}"]


def test_truncated_response_message(server, tmp_path):
    short = server.serve("a", {TRAIN: ("truncate", GZ[TRAIN])})
    n = len(GZ[TRAIN])
    with pytest.raises(DataError, match=rf"truncated response: {n // 2:,} of {n:,} bytes"):
        fetch(tmp_path / "c", [short])


def test_oversized_content_length_is_refused_before_reading(server, tmp_path):
    huge = b"\0" * (SPECS[1].raw_size * 2 + (1 << 16) + 10)  # larger than any gzip of the labels payload
    mirror = server.serve("a", {NAMES[1]: huge, **{n: GZ[n] for n in NAMES if n != NAMES[1]}})
    with pytest.raises(DataError, match="more than any gzip of"):
        fetch(tmp_path / "c", [mirror])


@pytest.mark.parametrize("kind", ["hang", "hang_body"])
def test_hanging_server_times_out_and_falls_through(server, tmp_path, kind):
    stuck = server.serve("a", {TRAIN: (kind, GZ[TRAIN])})
    good = server.serve("b")
    start = time.monotonic()
    fetch(tmp_path / "c", [stuck, good], timeout=(2.0, 0.5))
    assert time.monotonic() - start < 3.0
    assert_verified_cache(tmp_path / "c")
    assert server.log[:2] == [f"/a/{TRAIN}", f"/b/{TRAIN}"]


def test_http_errors_fall_through(server, tmp_path):
    forbidden = server.serve("a", dict.fromkeys(NAMES, 403))
    missing = server.url("nothing")  # every path 404
    good = server.serve("c")
    fetch(tmp_path / "c", [forbidden, missing, good])
    assert_verified_cache(tmp_path / "c")
    assert server.log[:3] == [f"/a/{TRAIN}", f"/nothing/{TRAIN}", f"/c/{TRAIN}"]


def test_tls_failure_falls_through(server, tmp_path):
    good = server.serve("b")
    tls_to_plain_http = good.replace("http://", "https://").replace("/b/", "/a/")  # handshake fails
    fetch(tmp_path / "c", [tls_to_plain_http, good])
    assert_verified_cache(tmp_path / "c")
    assert server.log[0] == f"/b/{TRAIN}"  # the TLS attempt never made a request


def test_no_mirror_reachable_lists_every_mirror(server, tmp_path):
    urls = [closed_port_url(), server.serve("a", dict.fromkeys(NAMES, 403)), server.url("gone")]
    with pytest.raises(DataError) as info:
        fetch(tmp_path / "c", urls)
    msg = str(info.value)
    assert msg.startswith(f"could not download {TRAIN} from any mirror:")
    assert f"{urls[0]}{TRAIN}: Connection" in msg  # connection refused
    assert f"{urls[1]}{TRAIN}: HTTP 403" in msg
    assert f"{urls[2]}{TRAIN}: HTTP 404" in msg
    assert "--data DIR" in msg and all(name in msg for name in NAMES)
    assert list((tmp_path / "c").iterdir()) == []


def test_stale_part_files_are_ignored_and_old_ones_removed(server, tmp_path):
    cache = tmp_path / "c"
    cache.mkdir()
    old, recent = cache / f"{TRAIN}.part", cache / f"{TRAIN}.abc123.part"
    for part in (old, recent):
        part.write_bytes(GZ[TRAIN][:100])  # what a killed download leaves
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    fetch(cache, [server.serve("a")])
    assert (cache / TRAIN).read_bytes() == GZ[TRAIN]
    assert not old.exists()  # untouched for 2 h: a dead process's, deleted
    assert recent.exists()  # could be a live download's: left alone, never read
    recent.unlink()
    assert_verified_cache(cache)
