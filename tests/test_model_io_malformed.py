"""Model files: refusal of malformed, corrupt or pickled files, with a DataError that says why.

Hand-written files with a missing, extra, mis-shaped or non-finite piece, bad
metadata, a file that is not a zip, a corrupt zip (without leaking its file handle),
a bare .npy, a member that is not .npy, a missing path; and pickled object arrays,
refused without ever being unpickled.
"""

from __future__ import annotations

import gc
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from model_file_helpers import _parts, _save, _with_nan, _without
from model_file_helpers import trained as trained  # the fixture
from numpy.testing import assert_array_equal

from fastnn import MLP
from fastnn.errors import DataError
from fastnn.model_files import FORMAT_VERSION, META_KEY

# ----------------------------------------------------------- malformed files
MALFORMED = [
    ("missing-meta", lambda p, m, a: np.savez(p, **a), "no 'fastnn_meta' entry"),
    (
        "wrong-format-name",
        lambda p, m, a: _save(p, {**m, "format": "keras-h5"}, a),
        "not a fastnn model file \\(format is not 'fastnn-mlp'\\)",
    ),
    ("meta-not-an-object", lambda p, m, a: _save(p, [m], a), "format is not 'fastnn-mlp'"),
    (
        "newer-format-version",
        lambda p, m, a: _save(p, {**m, "format_version": FORMAT_VERSION + 1}, a),
        "written by a newer fastnn \\(format version 2; this one reads up to 1\\); upgrade fastnn",
    ),
    ("format-version-0", lambda p, m, a: _save(p, {**m, "format_version": 0}, a), "invalid format_version 0"),
    (
        "format-version-str",
        lambda p, m, a: _save(p, {**m, "format_version": "1"}, a),
        "invalid format_version '1'",
    ),
    ("missing-array", lambda p, m, a: _save(p, m, _without(a, "b1")), "missing array 'b1'"),
    (
        "wrong-shape",
        lambda p, m, a: _save(p, m, {**a, "W0": a["W0"][:, :-1]}),
        "array 'W0' has shape \\(12, 7\\); the metadata needs \\(12, 8\\)",
    ),
    (
        "wrong-bias-shape",
        lambda p, m, a: _save(p, m, {**a, "b0": a["b0"].reshape(1, -1)}),
        "array 'b0' has shape",
    ),
    (
        "wrong-dtype",
        lambda p, m, a: _save(p, m, {**a, "W1": a["W1"].astype(np.float64)}),
        "array 'W1' has shape \\(8, 3\\) and dtype float64; the metadata needs \\(8, 3\\) float32",
    ),
    (
        "int-weights",
        lambda p, m, a: _save(p, m, {**a, "b1": a["b1"].astype(np.int32)}),
        "array 'b1' .* dtype int32",
    ),
    (
        "nan-in-weights",
        lambda p, m, a: _save(p, m, {**a, "W1": _with_nan(a["W1"])}),
        "array 'W1' holds NaN or infinite values",
    ),
    (
        "inf-in-bias",
        lambda p, m, a: _save(p, m, {**a, "b0": _with_nan(a["b0"], np.inf)}),
        "array 'b0' holds NaN or infinite values",
    ),
    (
        "invalid-json",
        lambda p, m, a: np.savez(p, **a, **{META_KEY: np.array('{"format": "fastnn-mlp",')}),
        "model metadata is not valid JSON",
    ),
    (
        "meta-as-bytes",
        lambda p, m, a: np.savez(p, **a, **{META_KEY: np.array(json.dumps(m).encode())}),
        "model metadata is not valid JSON",
    ),
    (
        "bad-activation",
        lambda p, m, a: _save(p, {**m, "activations": ["swish", "softmax"]}, a),
        "invalid model metadata: the 'activation' parameter must be one of .* got 'swish'",
    ),
    (
        "softmax-hidden",
        lambda p, m, a: _save(p, {**m, "activations": ["softmax", "softmax"]}, a),
        "invalid model metadata: activation 0 is 'softmax'",
    ),
    (
        "activations-not-a-list",
        lambda p, m, a: _save(p, {**m, "activations": 3}, a),
        "invalid model metadata",
    ),
    (
        "bad-dtype",
        lambda p, m, a: _save(p, {**m, "dtype": "float16"}, a),
        "invalid model metadata: the 'dtype'",
    ),
    (
        "bad-layer-sizes",
        lambda p, m, a: _save(p, {**m, "layer_sizes": [12, -8, 3]}, a),
        "invalid layer_sizes \\[12, -8, 3\\] in the metadata",
    ),
    (
        "layer-sizes-disagree",
        lambda p, m, a: _save(p, {**m, "layer_sizes": [12, 9, 3]}, a),
        "array 'W0' has shape \\(12, 8\\); the metadata needs \\(12, 9\\)",
    ),
    (
        "missing-layer-sizes",
        lambda p, m, a: _save(p, _without(m, "layer_sizes"), a),
        "invalid layer_sizes None in the metadata",
    ),
    (
        "missing-activations",
        lambda p, m, a: _save(p, _without(m, "activations"), a),
        "model metadata lacks 'activations'",
    ),
    ("bad-seed", lambda p, m, a: _save(p, {**m, "seed": -3}, a), "invalid model metadata: the 'seed'"),
    ("bad-init", lambda p, m, a: _save(p, {**m, "init": "zeros"}, a), "invalid model metadata: the 'init'"),
]


@pytest.mark.parametrize(("write", "match"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_file(write, match, trained, tmp_path):
    path = tmp_path / "bad.npz"
    write(path, *_parts(trained))
    with pytest.raises(DataError, match=match) as info:
        MLP.load(path)
    assert str(path) in str(info.value), "the message must name the file"


def test_hand_written_good_file_loads(trained, tmp_path, tiny_data):
    # The helper used above writes valid files, so each case fails for its one defect.
    X, _ = tiny_data
    path = tmp_path / "good.npz"
    _save(path, *_parts(trained))
    assert_array_equal(MLP.load(path).predict_proba(X), trained.predict_proba(X))


def test_negative_epochs_trained_is_reset(trained, tmp_path):
    meta, arrays = _parts(trained)
    _save(tmp_path / "m.npz", {**meta, "epochs_trained": -5}, arrays)
    assert MLP.load(tmp_path / "m.npz").epochs_trained == 0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (
            b"this is not a zip archive at all\n",
            "not a fastnn model file \\(an .npz archive without pickles\\)",
        ),
        (b"", "not a fastnn model file"),
    ],
    ids=["text", "empty"],
)
def test_not_a_zip(content, match, tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        MLP.load(path)


def _corrupt_zip(kind: str, model: MLP, directory: Path) -> Path:
    path = directory / "corrupt.npz"
    if kind == "zip-header-only":
        path.write_bytes(b"PK\x03\x04 truncated")
    else:
        data = model.save(path).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # the handle leak has its own test below
@pytest.mark.parametrize("kind", ["zip-header-only", "truncated"])
def test_corrupt_zip(kind, trained, tmp_path):
    path = _corrupt_zip(kind, trained, tmp_path)
    with pytest.raises(DataError, match=r"not a fastnn model file \(an \.npz archive without pickles\)"):
        MLP.load(path)
    gc.collect()  # release any leaked handle while the filter above is active


@pytest.mark.parametrize("kind", ["zip-header-only", "truncated"])
def test_corrupt_zip_does_not_leak_file_handle(kind, trained, tmp_path):
    path = _corrupt_zip(kind, trained, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(DataError):
            MLP.load(path)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], f"file handle left open: {leaks}"


def test_npy_file_is_refused(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((12, 8)))
    with pytest.raises(DataError, match="not a fastnn model file"):
        MLP.load(path)


def test_zip_member_that_is_not_npy_is_refused(trained, tmp_path):
    good = trained.save(tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            if name == "W0.npy":
                dst.writestr("W0", b"not an array")
            else:
                dst.writestr(name, src.read(name))
    with pytest.raises(DataError, match="W0"):
        MLP.load(bad)


@pytest.mark.parametrize(
    ("make_path", "match"),
    [(lambda d: d / "absent.npz", "no such model file"), (lambda d: d, "is a directory, not a model file")],
    ids=["missing", "directory"],
)
def test_no_such_file(make_path, match, tmp_path):
    with pytest.raises(DataError, match=match):
        MLP.load(make_path(tmp_path))


# -------------------------------------------------------------------- pickles
class _Payload:
    """Unpickling this object creates ``marker``: proof that the loader ran pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("where", ["extra-array", "meta"])
def test_pickled_object_array_is_refused_without_unpickling(where, trained, tmp_path):
    marker = tmp_path / "unpickled"
    meta, arrays = _parts(trained)
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(str(marker))
    path = tmp_path / "evil.npz"
    if where == "meta":
        np.savez(path, **arrays, **{META_KEY: evil})
    else:
        np.savez(path, **arrays, evil=evil, **{META_KEY: np.array(json.dumps(meta))})

    # An unknown member is refused unread; the metadata's header is refused before reading.
    match = (
        "unknown member 'evil.npy'"
        if where == "extra-array"
        else r"holds Python objects .*\(allow_pickle=False\)"
    )
    with pytest.raises(DataError, match=match):
        MLP.load(path)
    assert not marker.exists(), "the loader unpickled an object from the file"

    # The payload is live: loading with pickles allowed would have run it.
    with np.load(path, allow_pickle=True) as npz:
        npz[META_KEY if where == "meta" else "evil"]
    assert marker.is_dir()
