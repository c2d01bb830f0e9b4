"""Fashion-MNIST and KMNIST: the registry, verified downloads and caches.

The published checksums, sizes and class names are pinned; each download test serves
the synthetic files of ``dataset_files.py`` (MD5 and size pinned into the registry)
from the loopback server of ``mnist_server.py``, or puts them in the data set's cache.
A bad MD5 or size falls through to the next mirror, a corrupt cached file is fetched
again. No other address is contacted. Class names in the commands are
``test_dataset_commands.py``.
"""

from __future__ import annotations

import dataclasses
import gzip
import unicodedata

import pytest
from dataset_files import FASHION, GZ, NAMES, PAYLOADS, inject, md5_specs
from dataset_files import fashion_cache as fashion_cache  # the synthetic files in the cache
from dataset_files import no_proxies as no_proxies  # autouse: no proxies
from mnist_server import closed_port_url
from mnist_server import server as server  # the loopback server fixture

from fastnn.cli.download import main as download_main
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
