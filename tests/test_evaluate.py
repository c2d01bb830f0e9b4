"""``fastnn.metrics`` and ``python -m fastnn.evaluate``, checked against plain NumPy.

Every number the command prints or writes is recomputed here independently, from
the model's probabilities and the labels, with the textbook formulas (loops where a
loop is the obvious definition).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fastnn import MLP
from fastnn.backends import DEFAULT_BACKEND
from fastnn.cli.evaluate import main
from fastnn.data import MnistData, load_embedded, scale_pixels
from fastnn.errors import InvalidParameterError
from fastnn.metrics import classification_report, confusion_matrix, format_confusion_matrix, format_report


@pytest.fixture(scope="module")
def data() -> MnistData:
    return load_embedded()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, data: MnistData) -> Path:
    x, y = scale_pixels(data.x_train[1000:]), data.y_train[1000:]
    model = MLP([784, 24, 10], seed=3).fit(
        x, y, epochs=2, lr=0.05, batch_size=32, optimizer="momentum", train_accuracy=False
    )
    return model.save(tmp_path_factory.mktemp("model") / "model.npz")


def reference(model_file: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, loss, confusion matrix, precision, recall, F1 by hand."""
    model = MLP.load(model_file)
    proba = model.predict_proba(scale_pixels(x, model.dtype)).astype(np.float64)
    pred = proba.argmax(axis=1)
    cm = np.zeros((10, 10), np.int64)
    for t, p in zip(y, pred, strict=True):
        cm[t, p] += 1
    precision, recall, f1 = np.zeros(10), np.zeros(10), np.zeros(10)
    for k in range(10):
        tp = np.sum((pred == k) & (y == k))
        n_pred, n_true = np.sum(pred == k), np.sum(y == k)
        precision[k] = tp / n_pred if n_pred else 0.0
        recall[k] = tp / n_true if n_true else 0.0
        s = precision[k] + recall[k]
        f1[k] = 2 * precision[k] * recall[k] / s if s else 0.0
    p_true = np.maximum(proba[np.arange(len(y)), y], np.finfo(np.float32).tiny)
    return {
        "accuracy": np.mean(pred == y),
        "loss": -np.mean(np.log(p_true)),
        "cm": cm,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": np.bincount(y, minlength=10),
    }


# ------------------------------------------------------------------ metrics
def test_confusion_matrix_counts_pairs(rng):
    y = rng.integers(0, 10, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, 10, 500))
    cm = confusion_matrix(y, p)
    expected = np.zeros((10, 10), np.int64)
    np.add.at(expected, (y, p), 1)
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 500 and np.trace(cm) == np.sum(y == p)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=10))


def test_report_formulas_on_a_hand_worked_example():
    # true 0,0,0,1,1,2 ; predicted 0,0,1,1,1,1: class 2 is never predicted.
    cm = confusion_matrix([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1], n_classes=3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [0, 1, 0]])
    r = classification_report(cm)
    np.testing.assert_allclose(r.precision, [1.0, 2 / 4, 0.0])  # column sums 2, 4, 0 (0/0 -> 0)
    np.testing.assert_allclose(r.recall, [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(r.f1, [0.8, 2 / 3, 0.0])  # 2*1*(2/3)/(5/3); 2*.5*1/1.5
    np.testing.assert_array_equal(r.support, [3, 2, 1])
    assert r.accuracy == pytest.approx(4 / 6) and r.n_correct == 4 and r.n_samples == 6
    macro = r.average("macro")
    assert macro["precision"] == pytest.approx(0.5) and macro["recall"] == pytest.approx((2 / 3 + 1) / 3)
    weighted = r.average("weighted")
    assert weighted["recall"] == pytest.approx(r.accuracy)  # support-weighted recall is accuracy
    assert weighted["f1"] == pytest.approx((3 * 0.8 + 2 * 2 / 3) / 6)


def test_report_tables_are_aligned():
    r = classification_report(confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], n_classes=3))
    lines = format_report(r).splitlines()
    assert len(lines) == 1 + 3 + 2 and len({len(line) for line in lines}) == 1
    m = format_confusion_matrix(r.confusion).splitlines()
    assert len(m) == 1 + 3 + 1 and len({len(line) for line in m}) == 1
    assert m[-1].split() == ["total", "1", "1", "2", "4"]


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 10], [0, 1], "y_true"),
        ([0, 1], [0, -1], "y_pred"),
        ([0.5], [0], "y_true"),
        ([0, 1], [0], "same length"),
    ],
)
def test_bad_labels_name_the_parameter(y, p, match):
    with pytest.raises(InvalidParameterError, match=match):
        confusion_matrix(np.asarray(y), np.asarray(p))


def test_report_refuses_a_non_square_matrix():
    with pytest.raises(InvalidParameterError, match="square"):
        classification_report(np.zeros((2, 3), np.int64))


# --------------------------------------------------------------------- CLI
def test_json_numbers_equal_an_independent_computation(tmp_path, capsys, data, model_file):
    out_json = tmp_path / "eval.json"
    assert main(["--model", str(model_file), "--json", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    ref = reference(model_file, data.x_test, data.y_test)
    assert doc["split"] == "test" and doc["n_samples"] == 1000 and doc["backend"] == DEFAULT_BACKEND
    assert doc["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    assert doc["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    cm = np.array(doc["confusion_matrix"])
    np.testing.assert_array_equal(cm, ref["cm"])
    assert cm.sum() == 1000 and doc["n_correct"] == np.trace(cm)
    for k, row in enumerate(doc["per_class"]):
        assert row["class"] == k and row["support"] == ref["support"][k]
        assert row["precision"] == pytest.approx(ref["precision"][k], abs=1e-12)
        assert row["recall"] == pytest.approx(ref["recall"][k], abs=1e-12)
        assert row["f1"] == pytest.approx(ref["f1"][k], abs=1e-12)
    assert doc["macro_avg"]["recall"] == pytest.approx(ref["recall"].mean())
    assert doc["weighted_avg"]["recall"] == pytest.approx(ref["accuracy"])


def test_printed_tables(capsys, data, model_file):
    assert main(["--model", str(model_file)]) == 0
    out = capsys.readouterr().out
    ref = reference(model_file, data.x_test, data.y_test)
    lines = out.splitlines()
    assert lines[0] == (
        f"model: {model_file}: 784-24(relu)-10(softmax), float32, 2 epochs | backend {DEFAULT_BACKEND}"
    )
    assert lines[1] == "data: embedded MNIST subset (5,000 digits): test split, 1,000 digits"
    n_correct = int(np.trace(ref["cm"]))
    assert lines[2] == (
        f"accuracy {ref['accuracy']:.2%} ({n_correct:,} of 1,000)  mean loss {ref['loss']:.4f}"
    )
    for k in range(10):
        row = next(line for line in lines if re.match(rf"\s+{k}\s+\d\.\d{{4}}\s", line))
        assert row.split() == [
            str(k),
            f"{ref['precision'][k]:.4f}",
            f"{ref['recall'][k]:.4f}",
            f"{ref['f1'][k]:.4f}",
            f"{ref['support'][k]:,}",
        ]
    start = lines.index("confusion matrix (rows: true digit, columns: predicted digit)")
    matrix = [[int(v) for v in line.split()[1:11]] for line in lines[start + 2 : start + 12]]
    np.testing.assert_array_equal(matrix, ref["cm"])


def test_json_dash_prints_only_json(capsys, model_file):
    assert main(["--model", str(model_file), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["confusion_matrix"]) == 10


@pytest.mark.parametrize(("split", "rows"), [("val", slice(0, 500)), ("train", slice(500, None))])
def test_named_splits_follow_the_training_split(tmp_path, capsys, data, model_file, split, rows):
    out_json = tmp_path / "e.json"
    argv = ["--model", str(model_file), "--split", split, "--val-size", "500", "--json", str(out_json)]
    assert main(argv) == 0
    doc = json.loads(out_json.read_text())
    ref = reference(model_file, data.x_train[rows], data.y_train[rows])
    assert doc["n_samples"] == len(data.y_train[rows]) and doc["split"] == split and doc["val_size"] == 500
    np.testing.assert_array_equal(doc["confusion_matrix"], ref["cm"])


def one_line_error(capsys, argv, *expected):
    assert main([str(a) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("fastnn: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} missing from {err!r}"


def test_missing_and_malformed_model_files(tmp_path, capsys):
    one_line_error(capsys, ["--model", tmp_path / "no.npz"], "--model", "no.npz", "no such model file")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    one_line_error(capsys, ["--model", bad], "--model", "bad.npz")


def test_a_model_that_does_not_take_mnist_pixels(tmp_path, capsys):
    path = MLP([12, 5, 3]).save(tmp_path / "small.npz")
    one_line_error(capsys, ["--model", path], "takes 12 inputs", "784 pixels")


def test_missing_data_names_the_flag(tmp_path, capsys, model_file):
    one_line_error(capsys, ["--model", model_file, "--data", tmp_path / "nowhere"], "--data", "nowhere")


def test_csv_without_test_split_suggests_another_split(tmp_path, capsys, data, model_file):
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = [
        ",".join(map(str, [label, *pixels]))
        for label, pixels in zip(data.y_train[:50], data.x_train[:50], strict=True)
    ]
    csv = tmp_path / "train.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    one_line_error(capsys, ["--model", model_file, "--data", csv], "no test split", "--split val")
    assert main(["--model", str(model_file), "--data", str(csv), "--split", "val", "--val-size", "20"]) == 0
    assert "validation split (first 20 training samples), 20 digits" in capsys.readouterr().out


def test_inverted_data_is_refused_or_fixed(tmp_path, capsys, data, model_file):
    path = tmp_path / "inverted.npz"
    np.savez(
        path,
        x_train=255 - data.x_train[:100],
        y_train=data.y_train[:100],
        x_test=255 - data.x_test,
        y_test=data.y_test,
    )
    one_line_error(
        capsys, ["--model", model_file, "--data", path], "inverted.npz", "light background", "--fix-polarity"
    )
    out_json = tmp_path / "e.json"
    argv = ["--model", str(model_file), "--data", str(path), "--fix-polarity", "--json", str(out_json)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("fastnn: warning: ") and "inverted the train" in err
    ref = reference(model_file, data.x_test, data.y_test)
    np.testing.assert_array_equal(json.loads(out_json.read_text())["confusion_matrix"], ref["cm"])


def test_json_directory_is_checked_first(tmp_path, capsys, model_file):
    one_line_error(
        capsys, ["--model", model_file, "--json", tmp_path / "no" / "e.json"], "--json", "does not exist"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "--model"),
        (["--model", "m.npz", "--split", "dev"], "--split"),
        (["--model", "m.npz", "--val-size", "-3"], "--val-size"),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and expected in capsys.readouterr().err
