"""A loopback HTTP server serving tiny MNIST files, for the download tests.

``server`` (a fixture) starts a ThreadingHTTPServer on 127.0.0.1 (port 0) in a thread,
serving tiny but valid IDX gz files (``GZ``, checksums in ``SPECS``) or misbehaving on
purpose (error statuses, truncated, hanging or slow bodies). ``isolated_env`` (an
autouse fixture where imported) removes proxies and FASTNN_* variables and gives a
private user cache dir. Imported by ``test_download.py``, ``test_download_cache.py``
and ``test_datasets.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from fastnn.data import load_idx_dir
from fastnn.data.download import MnistFile, download_mnist

HANG_SECONDS = 5.0  # how long a "hang" route stalls at most (released at teardown)


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
