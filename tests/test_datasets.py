"""Fashion-MNIST and KMNIST: verified downloads, caches, class names in every command.

The real files cannot be fetched here, so each test makes small synthetic IDX gz files
(dark background, one bright square whose position is the class, so a network can
learn them), pins *their* MD5 and size into the registry entry (monkeypatched), and
either serves them from a ThreadingHTTPServer on 127.0.0.1 (the ``server`` fixture
of test_download) or puts them in the data set's cache. No other address is contacted.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from test_download import closed_port_url, idx
from test_download import server as server  # the loopback server fixture

from fastnn import MLP
from fastnn.cli.download import main as download_main
from fastnn.cli.presets import PRESETS
from fastnn.data import load_dataset
from fastnn.data.datasets import (
    DATASETS,
    cached_dataset_dir,
    dataset_cache_dir,
    download_dataset,
    get_dataset,
)
from fastnn.data.download import MnistFile
from fastnn.errors import DataError, InvalidParameterError
from fastnn.model_files import ClassLabels, save_model
from fastnn.model_loading import load_model_and_labels

NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def synthetic(n_train: int = 400, n_test: int = 100, seed: int = 5) -> dict[str, bytes]:
    """The four IDX payloads: class k is a bright 6x6 square at a position set by k, plus noise."""
    rng = np.random.default_rng(seed)

    def images(labels: np.ndarray) -> np.ndarray:
        x = rng.integers(0, 30, (len(labels), 28, 28))
        for i, k in enumerate(labels):
            r, c = 3 + 6 * (k // 4), 2 + 6 * (k % 4)
            x[i, r : r + 6, c : c + 6] = rng.integers(180, 256, (6, 6))
        return x

    y_train, y_test = np.arange(n_train) % 10, rng.permutation(np.arange(n_test) % 10)
    return dict(
        zip(NAMES, (idx(images(y_train)), idx(y_train), idx(images(y_test)), idx(y_test)), strict=True)
    )


PAYLOADS = synthetic()
GZ = {name: gzip.compress(raw, mtime=0) for name, raw in PAYLOADS.items()}


def md5_specs(gz: dict[str, bytes] = GZ, payloads: dict[str, bytes] = PAYLOADS) -> tuple[MnistFile, ...]:
    """Specs pinned like the real Fashion-MNIST/KMNIST entries: MD5 and size, no SHA-256."""
    return tuple(
        MnistFile(name, None, None, len(payloads[name]), len(gz[name]), hashlib.md5(gz[name]).hexdigest())
        for name in NAMES
    )


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def inject(monkeypatch, name: str, specs: tuple[MnistFile, ...] | None = None) -> None:
    """Pin the synthetic files' checksums into ``name``'s registry entry."""
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], files=specs or md5_specs()))


def install(monkeypatch, tmp_path, payloads: dict[str, bytes]) -> Path:
    """``$FASTNN_DATA/fashion-mnist`` holding ``payloads`` gzipped, pinned in the registry."""
    gz = {name: gzip.compress(raw, mtime=0) for name, raw in payloads.items()}
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    inject(monkeypatch, "fashion-mnist", md5_specs(gz, payloads))
    directory = dataset_cache_dir("fashion-mnist")
    directory.mkdir(parents=True)
    for name, body in gz.items():
        (directory / name).write_bytes(body)
    return directory


@pytest.fixture
def fashion_cache(monkeypatch, tmp_path) -> Path:
    """``$FASTNN_DATA/fashion-mnist`` holding the synthetic files, pinned in the registry."""
    return install(monkeypatch, tmp_path, PAYLOADS)


# ---------------------------------------------------------------------------- the registry


def test_published_checksums_and_sizes_are_pinned():
    fashion, kmnist = DATASETS["fashion-mnist"], DATASETS["kmnist"]
    # zalandoresearch/fashion-mnist README (MD5) and the served sizes.
    assert [(f.name, f.md5, f.size) for f in fashion.files] == [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29_515),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
    ]
    assert [(f.md5, f.size) for f in kmnist.files] == [
        ("bdb82020997e1d708af4cf47b453dcf7", 18_165_135),
        ("e144d726b3acfaa3e44228e80efcd344", 29_497),
        ("5c965bf0a639b31b8f53240b1b52f4d7", 3_041_136),
        ("7320c461ea6c1c855c0b718fb2a4b134", 5_120),
    ]
    for ds in (fashion, kmnist):
        assert [f.raw_size for f in ds.files] == [47_040_016, 60_008, 7_840_016, 10_008]
        assert all(f.sha256 is None and f.raw_sha256 is None for f in ds.files)  # none published


def test_class_names():
    assert list(DATASETS["fashion-mnist"].class_names or ()) == FASHION
    kmnist = DATASETS["kmnist"]
    assert kmnist.class_names == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    assert [f"U+{ord(c):04X}" for c in kmnist.characters or ()] == [
        "U+304A", "U+304D", "U+3059", "U+3064", "U+306A", "U+306F", "U+307E", "U+3084", "U+308C", "U+3092",
    ]  # fmt: skip
    for char, roman in zip(kmnist.characters or (), kmnist.class_names, strict=True):
        # Unicode names follow Kunrei-shiki romanisation (TU), torchvision Hepburn (tsu).
        assert unicodedata.name(char) == f"HIRAGANA LETTER {roman.upper().replace('TSU', 'TU')}"
    assert DATASETS["mnist"].class_names is None


def test_unknown_name_lists_the_choices():
    with pytest.raises(InvalidParameterError, match=r"\['fashion-mnist', 'kmnist', 'mnist'\]; got 'emnist'"):
        get_dataset("emnist")
    assert get_dataset(" Fashion-MNIST ").name == "fashion-mnist"


def test_cache_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dataset_cache_dir("kmnist") == tmp_path / "xdg" / "fastnn" / "kmnist"
    assert dataset_cache_dir("mnist") == tmp_path / "xdg" / "fastnn" / "mnist"
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "d"))
    assert dataset_cache_dir("fashion-mnist") == tmp_path / "d" / "fashion-mnist"
    assert dataset_cache_dir("mnist") == tmp_path / "d"  # unchanged: MNIST's files live there
    assert cached_dataset_dir("fashion-mnist") is None


# ---------------------------------------------------------------------------- downloads


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist"])
def test_download_verifies_md5_and_size_then_loads_with_class_names(name, server, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    inject(monkeypatch, name)
    env = DATASETS[name].env_mirrors
    monkeypatch.setenv(env, server.serve("m", GZ))
    data = load_dataset(name)
    assert server.log == [f"/m/{n}" for n in NAMES]
    assert data.dataset == name and data.class_names == DATASETS[name].class_names
    assert (len(data.x_train), len(data.x_test)) == (400, 100)
    assert data.source == str(tmp_path / "data" / name)
    assert cached_dataset_dir(name) == tmp_path / "data" / name
    load_dataset(name)
    assert len(server.log) == 4  # cached and verified: no request at all


def test_bad_md5_or_size_falls_through_to_the_next_mirror(server, tmp_path, capsys):
    train = NAMES[0]
    body = GZ[train]
    bad = server.serve("a", {**GZ, train: body[:-1] + bytes([body[-1] ^ 1])})
    good = server.serve("b", GZ)
    where = download_dataset("fashion-mnist", tmp_path / "c", [bad, good], md5_specs())
    assert (where / train).read_bytes() == body
    err = capsys.readouterr().err
    assert f"{bad}{train}: checksum mismatch: MD5" in err and "MD5 and size verified" in err
    # A right MD5 at the wrong published size is refused too (MD5 alone is weak).
    wrong_size = tuple(dataclasses.replace(s, size=s.size + 1) if s.name == train else s for s in md5_specs())
    with pytest.raises(DataError, match=r"checksum mismatch: size"):
        download_dataset("fashion-mnist", tmp_path / "d", [good], wrong_size, progress=False)


def test_recompressed_file_is_refused_without_a_published_payload_hash(server, tmp_path):
    recompressed = {**GZ, NAMES[1]: gzip.compress(PAYLOADS[NAMES[1]], compresslevel=1, mtime=1)}
    with pytest.raises(DataError, match="could not download train-labels"):
        download_dataset("kmnist", tmp_path, [server.serve("a", recompressed)], md5_specs(), progress=False)


def test_offline_error_names_the_mirrors_the_variable_and_the_manual_way(tmp_path):
    url = closed_port_url()
    with pytest.raises(DataError) as info:
        download_dataset("fashion-mnist", tmp_path, [url], md5_specs(), timeout=2, progress=False)
    msg = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz from any mirror" in msg and url in msg
    assert "To get Fashion-MNIST by hand" in msg and "FASTNN_FASHION_MNIST_MIRRORS" in msg
    assert "published checksums" in msg


def test_default_mirrors_and_their_variable(monkeypatch, tmp_path):
    """The conftest points every variable at a closed port: no real mirror is ever tried."""
    with pytest.raises(DataError, match=r"127\.0\.0\.1:9/train-images"):
        download_dataset("kmnist", tmp_path, timeout=2, progress=False)
    assert DATASETS["kmnist"].mirrors[0].startswith("https://codh.rois.ac.jp/")


def test_corrupt_cached_file_is_downloaded_again(server, tmp_path, fashion_cache):
    (fashion_cache / NAMES[3]).write_bytes(b"junk")
    assert cached_dataset_dir("fashion-mnist") is None
    download_dataset("fashion-mnist", mirrors=[server.serve("a", GZ)], progress=False)
    assert server.log == [f"/a/{NAMES[3]}"]
    assert cached_dataset_dir("fashion-mnist") == fashion_cache


def test_raw_sibling_is_checked_against_the_verified_gz(fashion_cache):
    """load_idx_dir reads NAME before NAME.gz, so an uncompressed copy must hold the same payload."""
    raw = fashion_cache / NAMES[1][:-3]
    raw.write_bytes(PAYLOADS[NAMES[1]])
    assert cached_dataset_dir("fashion-mnist") == fashion_cache
    raw.write_bytes(PAYLOADS[NAMES[1]][:-1] + bytes([PAYLOADS[NAMES[1]][-1] ^ 1]))
    assert cached_dataset_dir("fashion-mnist") is None
    with pytest.raises(DataError, match="does not hold the official Fashion-MNIST payload"):
        download_dataset("fashion-mnist", mirrors=["http://127.0.0.1:9/"], progress=False)


def test_unverifiable_spec_is_refused(tmp_path):
    spec = MnistFile("x.gz", None, None, 10)
    with pytest.raises(InvalidParameterError, match="neither a SHA-256 nor an MD5"):
        download_dataset("kmnist", tmp_path, ["http://127.0.0.1:9/"], [spec])


def test_cli_download_takes_the_data_set_name(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    inject(monkeypatch, "kmnist")
    monkeypatch.setenv("FASTNN_KMNIST_MIRRORS", server.serve("k", GZ))
    assert download_main(["download", "--data", "kmnist"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "data" / "kmnist")
    assert "KMNIST verified; train on it with --data kmnist" in captured.err


# ---------------------------------------------------------------------------- model metadata


def test_model_file_keeps_dataset_and_class_names(tmp_path):
    model = MLP([784, 8, 10], backend="numpy")
    path = save_model(
        model, tmp_path / "m.npz", extra_meta=ClassLabels("fashion-mnist", tuple(FASHION)).as_meta()
    )
    loaded, labels = load_model_and_labels(path, backend="numpy")
    assert labels == ClassLabels("fashion-mnist", tuple(FASHION))
    np.testing.assert_array_equal(loaded.params.data, model.params.data)
    # A file written before the extension (no such fields) loads with no labels.
    assert load_model_and_labels(model.save(tmp_path / "old.npz"), backend="numpy")[1] == ClassLabels()


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"class_names": ["a"] * 9}, "list of 10"),
        ({"class_names": "abcdefghij"}, "list of 10"),
        ({"class_names": ["a"] * 9 + [7]}, "printable strings"),
        ({"class_names": ["a"] * 9 + ["x" * 101]}, "at most 100"),
        ({"class_names": ["a"] * 9 + ["\x1b[31mred"]}, "printable"),
        ({"class_names": ["a"] * 9 + [""]}, "non-empty"),
        ({"class_names": ["a"] * 100_000}, "list of 10"),
        ({"dataset": 3}, "invalid dataset"),
        ({"dataset": "y" * 10_000}, "invalid dataset"),
    ],
)
def test_hostile_class_names_are_refused(tmp_path, meta, message):
    path = save_model(MLP([784, 8, 10], backend="numpy"), tmp_path / "m.npz", extra_meta=meta)
    with pytest.raises(DataError, match=message) as info:
        load_model_and_labels(path, backend="numpy")
    assert str(path) in str(info.value) and len(str(info.value)) < 600


# ---------------------------------------------------------------------------- commands


def test_train_evaluate_predict_plots_say_the_class_names(fashion_cache, tmp_path, capsys, monkeypatch):
    from fastnn.cli import plots
    from fastnn.cli.evaluate import main as evaluate_main
    from fastnn.cli.predict import main as predict_main
    from fastnn.cli.train import main as train_main

    model_path = tmp_path / "f.npz"
    argv = ["--data", "fashion-mnist", "--backend", "numpy", "--layers", "784,32,10", "--epochs", "3"]
    assert (
        train_main(
            [*argv, "--val-size", "50", "--batch-size", "16", "--lr", "0.1", "--save", str(model_path)]
        )
        == 0
    )
    assert "test accuracy" in capsys.readouterr().out
    assert load_model_and_labels(model_path, backend="numpy")[1] == ClassLabels(
        "fashion-mnist", tuple(FASHION)
    )

    # evaluate on a plain directory of the same files: the names come from the model file
    assert (
        evaluate_main(["--model", str(model_path), "--data", str(fashion_cache), "--backend", "numpy"]) == 0
    )
    out = capsys.readouterr().out
    assert "7 Sneaker" in out and "9 Ankle boot" in out and "rows: true class" in out

    doc_path = tmp_path / "e.json"
    assert (
        evaluate_main(["--model", str(model_path), "--data", "fashion-mnist", "--json", str(doc_path)]) == 0
    )
    doc = json.loads(doc_path.read_text())
    assert doc["class_names"] == FASHION and doc["dataset"] == "fashion-mnist"

    assert (
        predict_main(["--model", str(model_path), "--data", "fashion-mnist", "--sample", "0", "--top", "2"])
        == 0
    )
    out = capsys.readouterr().out
    label = int(np.frombuffer(PAYLOADS[NAMES[3]][8:9], np.uint8)[0])
    assert f"true {label} {FASHION[label]}" in out

    seen = []
    from fastnn.cli import plotting

    real = plotting.plot_confusion
    monkeypatch.setattr(plotting, "plot_confusion", lambda *a: seen.append(a[3]) or real(*a))
    assert (
        plots.main(["--model", str(model_path), "--data", "fashion-mnist", "--out", str(tmp_path / "p")]) == 0
    )
    assert seen == [tuple(FASHION)]
    assert (tmp_path / "p" / "confusion_matrix.png").stat().st_size > 0


def test_a_model_of_another_data_set_is_flagged(fashion_cache, tmp_path, capsys):
    from fastnn.cli.evaluate import main as evaluate_main

    path = save_model(
        MLP([784, 8, 10], backend="numpy"),
        tmp_path / "k.npz",
        extra_meta=ClassLabels("kmnist", None).as_meta(),
    )
    assert evaluate_main(["--model", str(path), "--data", "fashion-mnist", "--backend", "numpy"]) == 0
    assert "trained on kmnist but the data are fashion-mnist" in capsys.readouterr().err


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_runs_on_fashion_mnist(preset, fashion_cache, tmp_path, capsys, monkeypatch):
    from fastnn.cli.train import main as train_main

    monkeypatch.chdir(tmp_path)  # two-hidden saves into the working directory
    argv = [
        "--preset",
        preset,
        "--data",
        "fashion-mnist",
        "--backend",
        "numpy",
        "--epochs",
        "2",
        "--val-size",
        "50",
    ]
    assert train_main(argv) == 0
    out = capsys.readouterr().out
    assert f"preset {preset}" in out and "test accuracy" in out


def test_benchmark_presets_writes_a_table_per_data_set(tmp_path, capsys, monkeypatch):
    from benchmarks.presets import main as presets_main

    fashion_cache = install(monkeypatch, tmp_path, synthetic(n_train=1100))  # the preset holds out 1,000

    readme = tmp_path / "README.md"
    mnist_table = "<!-- presets-table:start -->\nMNIST TABLE\n<!-- presets-table:end -->\n"
    readme.write_text(
        mnist_table
        + "<!-- presets-table-fashion-mnist:start -->\nold\n<!-- presets-table-fashion-mnist:end -->\n"
    )
    argv = [
        "--data",
        "fashion-mnist",
        "--presets",
        "tutorial",
        "--backends",
        "numpy",
        "--update-readme",
        str(readme),
    ]
    assert presets_main(argv) == 0
    text = readme.read_text()
    assert text.startswith(mnist_table) and "old" not in text  # MNIST's table untouched
    assert f"data: Fashion-MNIST ({fashion_cache})" in text
    row = next(line for line in text.splitlines() if line.startswith("| `tutorial`"))
    assert row.endswith("| - | - |") and " / -" in row  # numba not run: shown as "-"
