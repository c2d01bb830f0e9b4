"""Issue 15, kinds 4 and 6: bounded resources for any input, and messages that say what a
thing really is (kind 5, crafted metadata and arguments: test_hostile_arguments.py)."""

from __future__ import annotations

import gzip
import http.server
import io
import signal
import socketserver
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from faults import edit_model_file, fifo

from fastnn import MLP, DataError, InvalidParameterError, TrainingDivergedError
from fastnn.cli import evaluate as evaluate_cli
from fastnn.cli.train import main as train_main
from fastnn.data import load_dataset, tabular
from fastnn.data.download import MnistFile, download_mnist
from fastnn.model_loading import load_checkpoint

LAYERS = [12, 6, 3]


# ------------------------------------------------------------------ kind 4
def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _count_reads(monkeypatch) -> list[str]:
    """Record each array np.lib.format.read_array reads (by dtype kind: U is the metadata)."""
    read: list[str] = []
    real = np.lib.format.read_array

    def counting(fh, **kwargs):
        arr = real(fh, **kwargs)
        read.append("meta" if arr.dtype.kind == "U" else "array")
        return arr

    monkeypatch.setattr(np.lib.format, "read_array", counting)
    return read


def test_a_lying_extra_member_is_refused_unread(checkpoint_file, monkeypatch):
    with zipfile.ZipFile(checkpoint_file, "a") as zf:
        zf.writestr("W7.npy", _npy_header((10**12,), "<f4") + b"\0" * 64)
    read = _count_reads(monkeypatch)
    with pytest.raises(DataError, match="unexpected array 'W7'"):
        load_checkpoint(checkpoint_file, backend="numpy")
    assert read == ["meta"]  # the metadata only: W7 was refused unread


def test_an_unknown_member_is_refused_however_small_the_file(checkpoint_file):
    big = np.zeros(2_000_000, np.uint8)  # compresses to almost nothing
    with zipfile.ZipFile(checkpoint_file, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        buf = io.BytesIO()
        np.save(buf, big)
        zf.writestr("junk.npy", buf.getvalue())
    with pytest.raises(DataError, match=r"unknown member 'junk\.npy'"):
        MLP.load(checkpoint_file)


def test_a_header_is_checked_against_the_metadata_before_reading(checkpoint_file, monkeypatch):
    def swap(arrays):
        arrays["W0"] = np.zeros((12, 7), np.float32)

    edit_model_file(checkpoint_file, arrays_edit=swap)
    read = _count_reads(monkeypatch)
    with pytest.raises(DataError, match=r"array 'W0' has shape \(12, 7\); the metadata needs \(12, 6\)"):
        MLP.load(checkpoint_file)
    assert read == ["meta"]


def _with_alarm(seconds: int):
    def timeout(*_):
        raise AssertionError("hung reading a FIFO")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    return old


@pytest.mark.parametrize("name", ["d.csv", "d.npz", "d.csv.gz"])
def test_data_fifo_is_refused_not_read(tmp_path, capsys, name):
    pipe = fifo(tmp_path / name)
    old = _with_alarm(20)
    try:
        with pytest.raises(DataError, match="is a FIFO \\(named pipe\\), not a data file"):
            load_dataset(pipe)
        assert train_main(["--data", str(pipe), "--epochs", "1"]) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert "is a FIFO" in capsys.readouterr().err


def _refused_within_memory(path: Path, match: str) -> int:
    """Peak bytes Python allocated while load_dataset refused ``path`` with ``match``."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=match):
            load_dataset(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_csv_sparse_file_is_refused_at_once_with_bounded_memory(tmp_path):
    path = tmp_path / "sparse.csv"
    with open(path, "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB of NUL bytes, no disk used
    assert _refused_within_memory(path, "line 1 is longer than") < 16 << 20


def test_csv_gzip_bomb_is_refused_with_bounded_memory(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        chunk = b"0" * (1 << 20)
        for _ in range(256):  # 256 MiB of '0' with no newline
            fh.write(chunk)
    assert _refused_within_memory(path, "line 1 is longer than") < 16 << 20


def test_csv_of_valid_rows_beyond_the_limit_is_refused_while_streaming(tmp_path, monkeypatch):
    row = "3," + ",".join(["0"] * 784) + "\n"
    path = tmp_path / "rows.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
        fh.write(row * 2000)
    monkeypatch.setattr(tabular, "MAX_CSV_BYTES", 500 * len(row))
    parsed = []
    real = tabular._parse_batch
    monkeypatch.setattr(tabular, "_parse_batch", lambda *a: parsed.append(1) or real(*a))
    monkeypatch.setattr(tabular, "CSV_BATCH_LINES", 100)
    with pytest.raises(DataError, match=f"larger than {500 * len(row):,} bytes"):
        load_dataset(path)
    assert len(parsed) <= 5  # refused as soon as the limit was crossed, not after reading it all


def test_csv_still_loads_in_several_batches(tmp_path, monkeypatch):
    rows = [f"{i % 10}," + ",".join([str(i % 256)] * 784) for i in range(250)]
    path = tmp_path / "ok.csv"
    path.write_text("label," + ",".join(f"p{i}" for i in range(784)) + "\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(tabular, "CSV_BATCH_LINES", 64)
    data = load_dataset(path)
    assert data.x_train.shape == (250, 784) and list(data.y_train[:12]) == [*range(10), 0, 1]
    assert data.x_train[249, 0] == 249
    (tmp_path / "bad.csv").write_text(
        path.read_text().replace("\n7," + ",".join(["137"] * 784) + "\n", "\n7,x\n")
    )
    with pytest.raises(DataError, match="line 139: 2 fields"):  # row 137, after the header
        load_dataset(tmp_path / "bad.csv")


@pytest.mark.parametrize("layers", ["784,10000000,10", "784,99999999999999999999,10"])
def test_layer_widths_beyond_memory_are_refused_with_the_number(capsys, layers):
    assert train_main(["--layers", layers, "--epochs", "1", "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "parameters" in err and "iB" in err and "(--layers)" in err and "Traceback" not in err


def test_layer_widths_in_a_file_are_bounded_too(checkpoint_file):
    edit_model_file(checkpoint_file, lambda m: m.update(layer_sizes=[12, 10**15, 3]))
    with pytest.raises(DataError, match="parameters"):
        MLP.load(checkpoint_file)


def test_api_layer_widths_bounded():
    with pytest.raises(InvalidParameterError, match=r"the 'layer_sizes' parameter .* parameters"):
        MLP([784, 10**12, 10])


# ------------------------------------------------------------------ kind 6
@pytest.mark.parametrize("kind", ["directory", "fifo", "link-to-dev-zero"])
def test_model_paths_are_reported_as_what_they_are(capsys, tmp_path, kind):
    path = tmp_path / "m.npz"
    if kind == "directory":
        path.mkdir()
        expected = "is a directory, not a model file"
    elif kind == "fifo":
        fifo(path)
        expected = "is a FIFO (named pipe), not a model file"
    else:
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero")
        path.symlink_to("/dev/zero")
        expected = "is a character device (a link to /dev/zero), not a model file"
    assert evaluate_cli.main(["--model", str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_float_tiff_with_nan_is_reported_as_such(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from fastnn.data.images import load_image

    pixels = np.zeros((28, 28), np.float32)
    pixels[5:20, 10:14] = 1.0
    pixels[0, 0] = np.nan
    Image.fromarray(pixels, mode="F").save(tmp_path / "d.tif")
    with pytest.raises(DataError, match=r"d\.tif: a floating-point image holding 1 NaN or infinite pixel"):
        load_image(tmp_path / "d.tif")


def test_decompression_bomb_warning_is_a_clear_refusal(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    from fastnn.data.images import load_image

    Image.new("L", (60, 60), 0).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 3,600 pixels: a warning, not Pillow's error
    with pytest.raises(DataError, match=r"big\.png: 60 x 60 pixels, more than Pillow reads"):
        load_image(tmp_path / "big.png")


def _png_with_corrupt_exif(path: Path) -> None:
    Image = pytest.importorskip("PIL.Image")
    im = Image.new("L", (28, 28), 255)
    im.paste(0, (10, 5, 16, 22))
    # A TIFF-style EXIF block that declares two entries and holds one and a bit.
    exif = (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + b"\x00\x02"
        + b"\x01\x0f\x00\x02\x00\x00\x00\x02ab\x00\x00"
        + b"\0" * 5
    )
    im.save(path, exif=b"Exif\x00\x00" + exif)


def test_corrupt_exif_is_one_fastnn_warning_line(tmp_path, capsys):
    _png_with_corrupt_exif(tmp_path / "d.png")
    from fastnn.cli.predict import main as predict_main

    model = MLP([784, 8, 10], seed=0).save(tmp_path / "m.npz")
    assert predict_main(["--model", str(model), str(tmp_path / "d.png")]) == 0
    err = capsys.readouterr().err
    assert f"fastnn: warning: {tmp_path / 'd.png'}: Corrupt EXIF data" in err
    assert "UserWarning" not in err and ".py:" not in err


def test_ctrl_c_during_start_up_is_a_clean_exit():
    code = (
        "import sys; sys.argv[0] = '-m'\n"
        "import fastnn, os, signal\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "import fastnn.cli.train\n"
        "print('not reached')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 130
    assert done.stderr == "fastnn: interrupted while starting\n" and done.stdout == ""


def test_a_library_import_keeps_pythons_ctrl_c():
    code = "import fastnn, signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout == "True\n"


def test_a_finite_explosion_is_divergence(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, "relu", backend="numpy", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"more than 100 x log\(3\)"):
        model.fit(X, y, epochs=3, lr=1e10, batch_size=8)
    assert np.isfinite(model.params.data).all()


def test_cli_reports_a_finite_explosion_as_divergence(capsys):
    got = train_main(
        [
            "--train-size",
            "200",
            "--val-size",
            "50",
            "--epochs",
            "3",
            "--backend",
            "numpy",
            "--layers",
            "784,8,10",
            "--lr",
            "1e10",
            "--batch-size",
            "16",
        ]
    )
    assert got == 1 and "diverged" in capsys.readouterr().err


class _Drip(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.25)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_a_dripping_mirror_hits_the_deadline(tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = MnistFile("f.gz", "0" * 64, "0" * 64, 1000, 1000)
    start = time.monotonic()
    try:
        with pytest.raises(DataError, match=r"too slow: .* in the 1\.5 s allowed"):
            download_mnist(
                tmp_path,
                mirrors=[f"http://127.0.0.1:{server.server_address[1]}/"],
                files=[spec],
                timeout=(2, 5),
                progress=False,
                deadline=1.5,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - start < 10
