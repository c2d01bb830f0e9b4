"""Issue 15, kinds 4-6: bounded resources for any input, no raw traceback from a crafted
file or a wrong-typed argument, and messages that say what a thing really is."""

from __future__ import annotations

import gzip
import http.server
import io
import json
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
from faults import fifo
from test_hostile_outputs import train

from fastnn import MLP, DataError, InvalidParameterError, TrainingDivergedError, tabular
from fastnn import evaluate as evaluate_cli
from fastnn.checkpoint import load_checkpoint, save_checkpoint
from fastnn.data import load_dataset, scale_pixels
from fastnn.download import MnistFile, download_mnist
from fastnn.train import main as train_main

LAYERS = [12, 6, 3]


@pytest.fixture
def checkpoint_file(tiny_data, tmp_path) -> Path:
    X, y = tiny_data
    model = MLP(LAYERS, "tanh", backend="numpy", seed=1).fit(X, y, epochs=2, optimizer="adam")
    return save_checkpoint(model, tmp_path / "c.npz", {"options": {}})


def _edit(path: Path, meta_edit=None, arrays_edit=None) -> Path:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("fastnn_meta")))
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    np.savez(path, **arrays, fastnn_meta=np.array(json.dumps(meta)))
    return path


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

    _edit(checkpoint_file, arrays_edit=swap)
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
    _edit(checkpoint_file, lambda m: m.update(layer_sizes=[12, 10**15, 3]))
    with pytest.raises(DataError, match="parameters"):
        MLP.load(checkpoint_file)


def test_api_layer_widths_bounded():
    with pytest.raises(InvalidParameterError, match=r"the 'layer_sizes' parameter .* parameters"):
        MLP([784, 10**12, 10])


# ------------------------------------------------------------------ kind 5: crafted metadata
CRAFTED = [
    ("dtype-dict", lambda m: m.update(dtype={"names": "a"}), "dtype"),
    (
        "dtype-negative-offset",
        lambda m: m.update(dtype={"names": ["a"], "formats": ["f4"], "offsets": [-1]}),
        "dtype",
    ),
    ("rng-negative", lambda m: m["rng_state"]["state"].update(state=-1), "RNG state"),
    ("rng-huge", lambda m: m["rng_state"]["state"].update(inc=2**200), "RNG state"),
    ("rng-not-dict", lambda m: m.update(rng_state=[1, 2]), "RNG state"),
    ("history-text-loss", lambda m: m["history"][0].update(loss="abc"), "loss 'abc' is not a number"),
    ("history-nested", lambda m: m["history"][0].update(loss=[[1.0]]), "is not a number"),
    ("history-bool", lambda m: m["history"][0].update(epoch=True), "not an epoch number"),
    ("history-extra", lambda m: m["history"][0].update(evil=1), "unknown fields"),
    ("optimizer-dict", lambda m: m.update(optimizer={"a": 1}), "optimizer"),
    ("seed-huge", lambda m: m.update(seed=2**300), "seed"),
    ("sizes-bool", lambda m: m.update(layer_sizes=[12, True, 3]), "layer_sizes"),
]


@pytest.mark.parametrize(("edit", "match"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_metadata_is_a_data_error(checkpoint_file, edit, match):
    _edit(checkpoint_file, edit)
    with pytest.raises(DataError, match=match):
        load_checkpoint(checkpoint_file, backend="numpy")


@pytest.mark.parametrize("step", [-1, -2, 2**62])
def test_adam_step_count_out_of_range_is_a_data_error(checkpoint_file, step):
    _edit(checkpoint_file, arrays_edit=lambda a: a.update(opt_t=np.array([step], np.int64)))
    with pytest.raises(DataError, match="optimizer step count"):
        load_checkpoint(checkpoint_file, backend="numpy")


def test_deeply_nested_metadata_is_a_data_error(checkpoint_file):
    with np.load(checkpoint_file) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "fastnn_meta"}
    deep = '{"format": "fastnn-mlp", "format_version": 1, "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    np.savez(checkpoint_file, **arrays, fastnn_meta=np.array(deep))
    with pytest.raises(DataError, match="model metadata is not valid JSON"):
        MLP.load(checkpoint_file)


def test_crafted_history_reaches_no_plot(capsys, tmp_path):
    ckpt = tmp_path / "c.npz"
    train(capsys, ["--checkpoint", ckpt])
    _edit(ckpt, lambda m: m["history"][0].update(loss="abc"))
    capsys.readouterr()
    assert train_main(["--resume", str(ckpt), "--epochs", "2", "--plot", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "loss 'abc' is not a number" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "history",
    [
        [{"epoch": 1, "loss": [[1]]}],
        [{"epoch": 1, "loss": "abc"}],
        [{"epoch": {"a": 1}, "loss": 1.0}],
        [[1, 2]],
    ],
)
def test_plots_metrics_json_with_a_bad_history_is_refused(capsys, tmp_path, history):
    pytest.importorskip("matplotlib")
    from fastnn.plots import main as plots_main

    model = MLP([784, 8, 10]).save(tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps({"history": history}))
    assert (
        plots_main(
            ["--model", str(model), "--metrics-json", str(tmp_path / "m.json"), "--out", str(tmp_path / "p")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--metrics-json" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://host:99999/", "http://host:port/", "http://a b/", "http:///x"]
)
def test_malformed_mirror_urls_are_refused(tmp_path, url):
    with pytest.raises(InvalidParameterError, match="mirrors"):
        download_mnist(tmp_path, mirrors=[url])


# ------------------------------------------------------------------ kind 5: API arguments
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda X, y: MLP(LAYERS, None), "activations"),
        (lambda X, y: MLP(LAYERS, 5), "activations"),
        (lambda X, y: MLP(LAYERS, ["tanh", 5]), "activations"),
        (lambda X, y: MLP(LAYERS, dtype={"names": "a"}), "dtype"),
        (lambda X, y: MLP(LAYERS, dtype={"names": ["a"], "formats": ["f4"], "offsets": [-1]}), "dtype"),
        (lambda X, y: scale_pixels(np.zeros(3, np.uint8), {"names": "a"}), "dtype"),
        (lambda X, y: MLP(LAYERS).fit(X, y, tol="abc"), "tol"),
        (lambda X, y: MLP(LAYERS).fit(X, y, tol=float("nan")), "tol"),
        (lambda X, y: MLP(LAYERS).fit(X, y, early_stopping=2, monitor=5), "monitor"),
        (lambda X, y: MLP(LAYERS).fit(X, y, monitor="accuracy"), "monitor"),
        (lambda X, y: MLP(LAYERS).fit(X, y, lr_gamma=True), "lr_gamma"),
        (lambda X, y: MLP(LAYERS).save("."), "path"),
        (lambda X, y: MLP(LAYERS).save(5), "path"),
        (lambda X, y: MLP.load(5), "path"),
        (lambda X, y: MLP.load(b"m.npz"), "path"),
    ],
)
def test_wrong_api_arguments_are_invalid_parameter_errors_naming_them(tiny_data, call, name):
    X, y = tiny_data
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        call(X, y)


def test_a_bad_callback_is_refused_before_any_epoch(tiny_data):
    X, y = tiny_data
    model = MLP(LAYERS, backend="numpy")
    before = model.params.data.copy()
    with pytest.raises(InvalidParameterError, match="'callback'"):
        model.fit(X, y, epochs=3, callback=5)
    assert model.epochs_trained == 0 and np.array_equal(model.params.data, before)


def test_stdout_on_a_full_device_gives_a_message_not_a_traceback(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    model = MLP([784, 8, 10], seed=0).save(tmp_path / "m.npz")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "fastnn.evaluate", "--model", str(model)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "cannot write to standard output (No space left on device)" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_train_with_stdout_on_a_full_device_still_saves(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "fastnn.train",
                "--train-size",
                "100",
                "--val-size",
                "20",
                "--epochs",
                "2",
                "--backend",
                "numpy",
                "--layers",
                "784,8,10",
                "--save",
                str(tmp_path / "m.npz"),
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert MLP.load(tmp_path / "m.npz").epochs_trained == 2


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
    from fastnn.images import load_image

    pixels = np.zeros((28, 28), np.float32)
    pixels[5:20, 10:14] = 1.0
    pixels[0, 0] = np.nan
    Image.fromarray(pixels, mode="F").save(tmp_path / "d.tif")
    with pytest.raises(DataError, match=r"d\.tif: a floating-point image holding 1 NaN or infinite pixel"):
        load_image(tmp_path / "d.tif")


def test_decompression_bomb_warning_is_a_clear_refusal(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    from fastnn.images import load_image

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
    from fastnn.predict import main as predict_main

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
        "import fastnn.train\n"
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
