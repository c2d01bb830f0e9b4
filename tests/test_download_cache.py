"""The MNIST download cache: concurrent, killed and interrupted downloads, corrupt files.

Two processes downloading into one cache at once, a killed download's ``.part`` file,
a corrupt cached file or a mismatching raw sibling, an interrupt, progress output and
bad arguments; then the default cache dir, ``load_dataset`` downloading MNIST and the
``fastnn download`` command. Against the loopback server of ``mnist_server.py``: no
test contacts any other address.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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

import fastnn.data.download as dl
from fastnn.cli.download import main as download_main
from fastnn.data import EMBEDDED_SOURCE, load_dataset
from fastnn.data.download import MnistFile, cached_mnist_dir, default_cache_dir, download_mnist
from fastnn.data.progress import Progress
from fastnn.errors import DataError, InvalidParameterError

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
