"""fastnn.data.download: verified MNIST downloads, against a real HTTP server on 127.0.0.1.

Each test starts a ThreadingHTTPServer on 127.0.0.1 (port 0) in a thread, serving tiny
but valid IDX gz files that the test makes; their checksums are injected through
``files`` (or by patching ``MNIST_FILES``) and the server's URLs through ``mirrors`` (or
``FASTNN_MNIST_MIRRORS``). No test contacts any other address: proxies are disabled
and the default mirrors are never used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import fastnn.data.download as dl
from fastnn.cli.download import main as download_main
from fastnn.data import EMBEDDED_SOURCE, load_dataset, load_idx_dir
from fastnn.data.download import MnistFile, cached_mnist_dir, default_cache_dir, download_mnist
from fastnn.data.progress import Progress
from fastnn.errors import DataError, InvalidParameterError

HANG_SECONDS = 5.0  # how long a "hang" route stalls at most (released at teardown)


# ---------------------------------------------------------------------------- helpers


def idx(arr: np.ndarray) -> bytes:
    header = (0x0800 + arr.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def make_payloads() -> dict[str, bytes]:
    """The four MNIST file names -> uncompressed IDX bytes (3 training, 2 test digits)."""
    rng = np.random.default_rng(7)
    return {
        "train-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (3, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx(np.array([0, 1, 2])),
        "t10k-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (2, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx(np.array([3, 9])),
    }


PAYLOADS = make_payloads()
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in PAYLOADS.items()}
SPECS = tuple(
    MnistFile(
        name, hashlib.sha256(GZ[name]).hexdigest(), hashlib.sha256(raw).hexdigest(), len(raw), len(GZ[name])
    )
    for name, raw in PAYLOADS.items()
)
NAMES = [spec.name for spec in SPECS]
TRAIN = NAMES[0]


class Server(ThreadingHTTPServer):
    """Routes: URL path -> bytes (200), an int (that status), ("truncate", body),
    ("hang", None) (no response), ("hang_body", body) (half the body, then nothing) or
    ("slow", body) (half the body, the rest half a second later)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, object] = {}
        self.log: list[str] = []
        self.release = threading.Event()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{prefix}/"

    def serve(self, prefix: str, content: dict[str, object] | None = None) -> str:
        """Serve ``content`` (default: the good gz files) under /prefix/; return the mirror URL."""
        for name, action in (content if content is not None else GZ).items():
            self.routes[f"/{prefix}/{name}"] = action
        return self.url(prefix)

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up on a stalled or truncated response is the point of those tests


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.log.append(self.path)
        action = self.server.routes.get(self.path, 404)
        if isinstance(action, int):
            self.send_error(action)
            return
        kind, body = action if isinstance(action, tuple) else ("ok", action)
        if kind == "hang":
            self.server.release.wait(HANG_SECONDS)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "ok":
            self.wfile.write(body)
            return
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if kind == "slow":  # the rest a moment later: downloads started together overlap
            time.sleep(0.5)
            self.wfile.write(body[len(body) // 2 :])
            return
        if kind == "hang_body":
            self.server.release.wait(HANG_SECONDS)
        self.close_connection = True  # "truncate": close before Content-Length bytes


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(HANG_SECONDS)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No proxies, no FASTNN_* variables, and a private user cache dir."""
    for var in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "FASTNN_DATA",
        "FASTNN_MNIST_MIRRORS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def fetch(cache: Path, mirrors: list[str], **kwargs) -> Path:
    kwargs.setdefault("progress", False)
    return download_mnist(cache, mirrors=mirrors, files=SPECS, **kwargs)


def assert_verified_cache(cache: Path, content: dict[str, bytes] | None = None) -> None:
    content = GZ if content is None else content
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)  # no .part left behind
    for name in NAMES:
        assert (cache / name).read_bytes() == content[name]
    data = load_idx_dir(cache)
    assert (len(data.x_train), len(data.x_test)) == (3, 2)
    np.testing.assert_array_equal(data.y_test, [3, 9])


def corrupt(data: bytes) -> bytes:
    """Same length, one payload byte flipped (gz hash and CRC both fail)."""
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


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


_DOWNLOADER = """
import json, sys
from fastnn.data.download import MnistFile, download_mnist
specs = [MnistFile(*spec) for spec in json.loads(sys.argv[3])]
download_mnist(sys.argv[1], mirrors=[sys.argv[2]], files=specs, progress=False)
"""


def start_download(cache: Path, mirror: str, specs=SPECS) -> subprocess.Popen:
    """``download_mnist`` in a process of its own (no proxies: the server is on 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("FASTNN_")}
    env["no_proxy"] = env["NO_PROXY"] = "*"
    args = json.dumps([[s.name, s.sha256, s.raw_sha256, s.raw_size, s.size] for s in specs])
    return subprocess.Popen([sys.executable, "-c", _DOWNLOADER, str(cache), mirror, args], env=env)


def test_a_killed_download_leaves_a_part_the_next_download_removes(server, tmp_path):
    cache = tmp_path / "c"
    cache.mkdir()
    proc = start_download(cache, server.serve("stuck", {TRAIN: ("hang_body", GZ[TRAIN])}), SPECS[:1])
    give_up = time.monotonic() + 30
    while not list(cache.glob("*.part")) and time.monotonic() < give_up and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()  # kill -9 in the middle of the file: nothing of ours runs to clean up
    proc.wait()
    (part,) = cache.glob("*.part")
    assert part.name.startswith(f".{TRAIN}.{proc.pid}.")  # fastnn.atomic's naming: it has the PID
    live = cache / f".{TRAIN}.{os.getpid()}.abcd1234.part"  # a download this process is running
    live.write_bytes(b"x")
    minutes_ago = time.time() - 120
    for stale in (part, live):
        os.utime(stale, (minutes_ago, minutes_ago))
    fetch(cache, [server.serve("a")])
    assert not part.exists()  # its process is gone and nobody wrote to it for a while
    assert live.exists()
    live.unlink()
    assert_verified_cache(cache)


def test_two_processes_download_into_one_cache_at_once(server, tmp_path):
    cache = tmp_path / "c"
    mirror = server.serve("slow", {name: ("slow", body) for name, body in GZ.items()})
    procs = [start_download(cache, mirror) for _ in range(2)]
    assert [proc.wait(60) for proc in procs] == [0, 0]
    assert_verified_cache(cache)  # every file whole and verified, no part file left


def test_corrupt_cached_file_is_detected_and_downloaded_again(server, tmp_path):
    cache = tmp_path / "c"
    mirror = server.serve("a")
    fetch(cache, [mirror])
    (cache / TRAIN).write_bytes(corrupt(GZ[TRAIN]))
    fetch(cache, [mirror])
    assert server.log[4:] == [f"/a/{TRAIN}"]
    assert_verified_cache(cache)


def test_mismatching_raw_sibling_is_refused_without_network(server, tmp_path):
    cache = tmp_path / "c"
    mirror = server.serve("a")
    fetch(cache, [mirror])
    raw = cache / TRAIN.removesuffix(".gz")
    raw.write_bytes(PAYLOADS[TRAIN])  # the right payload: fine (and what load_idx_dir reads)
    fetch(cache, [mirror])
    raw.write_bytes(corrupt(PAYLOADS[TRAIN]))
    with pytest.raises(DataError, match="would load it instead of the verified"):
        fetch(cache, [mirror])
    assert len(server.log) == 4


def test_interrupt_leaves_no_file(server, tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fetch(tmp_path / "c", [server.serve("a")])
    assert list((tmp_path / "c").iterdir()) == []


def test_progress_bar_and_silence(server, tmp_path, capsys):
    mirror = server.serve("a")
    fetch(tmp_path / "bar", [mirror], progress=True)
    err = capsys.readouterr().err
    assert f"\r{TRAIN}" in err and "100%" in err and err.endswith("\n")
    fetch(tmp_path / "quiet", [server.serve("b", {**GZ, TRAIN: 404}), mirror], progress=False)
    assert capsys.readouterr().err == ""


def test_bad_arguments(tmp_path, monkeypatch):
    with pytest.raises(InvalidParameterError, match="the 'mirrors' parameter must hold http"):
        download_mnist(tmp_path, mirrors=["ftp://example.invalid/"], files=SPECS)
    with pytest.raises(InvalidParameterError, match="at least one"):
        download_mnist(tmp_path, mirrors=[" "], files=SPECS)
    with pytest.raises(InvalidParameterError, match="the 'timeout' parameter"):
        download_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], files=SPECS, timeout=(1, 0))
    with pytest.raises(InvalidParameterError, match="the 'files' parameter"):
        download_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], files=[MnistFile("../x", "", "", 1)])
    monkeypatch.setenv("FASTNN_MNIST_MIRRORS", "127.0.0.1/mnist")
    with pytest.raises(InvalidParameterError, match="FASTNN_MNIST_MIRRORS environment variable"):
        download_mnist(tmp_path, files=SPECS)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DataError, match="cannot create the MNIST cache directory"):
        download_mnist(tmp_path / "file" / "sub", mirrors=["http://127.0.0.1:9/"], files=SPECS)


# ---------------------------------------------------------------------------- cache dir and load_dataset


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    assert default_cache_dir() == tmp_path / "data"
    monkeypatch.delenv("FASTNN_DATA")
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "fastnn" / "mnist"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec says: ignore
        assert default_cache_dir() == Path.home() / ".cache" / "fastnn" / "mnist"
    assert not (tmp_path / "xdg").exists()  # nothing created


@pytest.fixture
def tiny_mnist(monkeypatch, server):
    """MNIST_FILES replaced by the tiny files, FASTNN_MNIST_MIRRORS set to the test server."""
    monkeypatch.setattr(dl, "MNIST_FILES", SPECS)
    monkeypatch.setenv("FASTNN_MNIST_MIRRORS", f"{closed_port_url()} , {server.serve('a')}")
    return server


def test_load_dataset_mnist_downloads_and_default_uses_cache(tiny_mnist, tmp_path):
    cache = tmp_path / "xdg" / "fastnn" / "mnist"
    assert cached_mnist_dir() is None
    assert load_dataset().source == EMBEDDED_SOURCE
    assert tiny_mnist.log == []  # the default never touches the network
    data = load_dataset(" MNIST ")
    assert (data.source, len(data.x_train), len(data.x_test)) == (str(cache), 3, 2)
    assert len(tiny_mnist.log) == 4
    assert cached_mnist_dir() == cache
    assert load_dataset().source == str(cache)  # default: the verified cache
    assert load_dataset("mnist").source == str(cache)
    assert len(tiny_mnist.log) == 4
    (cache / NAMES[3]).write_bytes(corrupt(GZ[NAMES[3]]))
    assert cached_mnist_dir() is None
    assert load_dataset().source == EMBEDDED_SOURCE  # not verified: not used by default


def test_fastnn_data_is_the_download_dir_and_the_default_source(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "shared"))
    assert load_dataset().source == EMBEDDED_SOURCE
    assert load_dataset("mnist").source == str(tmp_path / "shared")
    assert load_dataset().source == str(tmp_path / "shared")
    assert cached_mnist_dir() == tmp_path / "shared"


# ---------------------------------------------------------------------------- command line


def test_cli_download_prints_directory(tiny_mnist, tmp_path, capsys):
    assert download_main(["download", "--dir", str(tmp_path / "x")]) == 0
    out, err = capsys.readouterr()
    assert out == f"{tmp_path / 'x'}\n"
    assert "--data " in err
    assert_verified_cache(tmp_path / "x")


def test_cli_download_without_reachable_mirror_exits_1_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("FASTNN_")}
    env["FASTNN_MNIST_MIRRORS"] = f"{closed_port_url()},{closed_port_url()}"
    proc = subprocess.run(
        [sys.executable, "-m", "fastnn.data", "download", "--dir", str(tmp_path / "x")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("fastnn: error: could not download train-images-idx3-ubyte.gz") == 1
    for url in env["FASTNN_MNIST_MIRRORS"].split(","):
        assert url in proc.stderr
    assert "--data DIR" in proc.stderr and "Traceback" not in proc.stderr
    assert list((tmp_path / "x").iterdir()) == []
