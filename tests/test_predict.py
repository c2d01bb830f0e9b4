"""``python -m fastnn.predict``: the user's own images and the tutorials' ``--sample N``.

A small model is trained once per module on the embedded digits and saved to a
temporary file. Image files are made from embedded test digits (scaled up, moved
off-centre, half of them inverted) so that the right answer is known: the model's
prediction for the original 28x28 digit.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn import MLP
from fastnn.backends import backend_names, get_backend
from fastnn.cli.predict import ART_LEVELS, ascii_art, main
from fastnn.data import MnistData, load_embedded, scale_pixels
from fastnn.errors import InvalidParameterError

try:
    from PIL import Image
except ImportError:  # the tests of image files are skipped; --sample and the errors still run
    Image = None

needs_pillow = pytest.mark.skipif(Image is None, reason="Pillow (the images extra) is not installed")


@pytest.fixture(scope="module")
def data() -> MnistData:
    return load_embedded()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, data: MnistData) -> Path:
    x, y = scale_pixels(data.x_train), data.y_train
    model = MLP([784, 32, 10], seed=0).fit(
        x, y, epochs=4, lr=0.05, batch_size=32, optimizer="momentum", train_accuracy=False
    )
    return model.save(tmp_path_factory.mktemp("model") / "model.npz")


@pytest.fixture(scope="module")
def model(model_file: Path) -> MLP:
    return MLP.load(model_file)


def digit_file(
    path: Path, image: np.ndarray, *, scale: int, pad: tuple[int, int, int, int], invert: bool
) -> Path:
    """Save a 28x28 uint8 digit scaled up ``scale`` times (bicubic), padded (top, bottom,
    left, right) with background, optionally as dark ink on white."""
    big = np.asarray(
        Image.fromarray(image.reshape(28, 28)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    )
    top, bottom, left, right = pad
    canvas = np.pad(big, ((top, bottom), (left, right)))
    Image.fromarray(255 - canvas if invert else canvas).save(path)
    return path


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_pillow
def test_predictions_for_rescaled_test_digits_match_the_originals(tmp_path, capsys, data, model, model_file):
    rng = np.random.default_rng(7)
    n = 30
    files = [
        digit_file(
            tmp_path / f"d{i}.png",
            data.x_test[i],
            scale=int(rng.integers(2, 5)),
            pad=tuple(int(p) for p in rng.integers(0, 60, size=4)),
            invert=bool(i % 2),
        )
        for i in range(n)
    ]
    code, out, err = run(capsys, ["--model", model_file, *files, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    predicted = np.array([r["predicted"] for r in doc["predictions"]])
    expected = model.predict(scale_pixels(data.x_test[:n]))
    assert [r["source"] for r in doc["predictions"]] == [str(f) for f in files]
    assert np.mean(predicted == expected) >= 0.9, (predicted, expected)
    for r in doc["predictions"]:
        assert len(r["probabilities"]) == 10 and sum(r["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert r["probability"] == max(r["probabilities"])


@needs_pillow
def test_text_output_shows_the_digit_and_all_ten_probabilities(tmp_path, capsys, data, model_file):
    path = digit_file(tmp_path / "seven.png", data.x_test[7], scale=3, pad=(5, 40, 30, 0), invert=True)
    code, out, err = run(capsys, ["--model", model_file, path])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"model: {model_file}: 784-32(relu)-10(softmax), float32, 4 epochs")
    match = re.fullmatch(rf"{re.escape(str(path))}: predicted (\d) \(p (0\.\d{{4}}|1\.0000)\)", lines[1])
    assert match, lines[1]
    probs = re.findall(r"(\d) (\d\.\d{4})", lines[2])
    assert lines[2].startswith("  p: ") and [int(k) for k, _ in probs] == list(range(10))
    assert max(probs, key=lambda kp: float(kp[1]))[0] == match.group(1)
    assert len(lines) == 3


@needs_pillow
def test_top_k_lists_the_most_probable_digits_in_order(tmp_path, capsys, data, model_file):
    path = digit_file(tmp_path / "d.png", data.x_test[3], scale=2, pad=(0, 0, 0, 0), invert=False)
    code, out, _ = run(capsys, ["--model", model_file, path, "--top", "3"])
    assert code == 0
    line = out.splitlines()[2]
    assert line.startswith("  top 3: ")
    pairs = re.findall(r"(\d) (\d\.\d{4})", line)
    values = [float(p) for _, p in pairs]
    assert len(pairs) == 3 and values == sorted(values, reverse=True)
    assert pairs[0][0] == re.search(r"predicted (\d)", out).group(1)


def test_sample_prints_28_lines_of_art_with_true_and_predicted_label(capsys, data, model, model_file):
    code, out, err = run(capsys, ["--model", model_file, "--sample", "7"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[1] == "data: embedded MNIST subset (5,000 digits): test split"
    pred = int(model.predict(scale_pixels(data.x_test[7:8]))[0])
    verdict = "correct" if pred == data.y_test[7] else "WRONG"
    expected = rf"test image 7: true {data.y_test[7]}, predicted {pred} \(p \d\.\d{{4}}\): {verdict}"
    assert re.fullmatch(expected, lines[2]), lines[2]
    art = [line for line in lines if line.startswith("|")]
    assert len(art) == 28 and all(len(line) == 58 and line.endswith("|") for line in art)
    assert lines[3] == lines[32] == "+" + "-" * 56 + "+"
    # The art is the digit: ink where the image has ink.
    img = data.x_test[7].reshape(28, 28)
    for row, line in zip(img, art, strict=True):
        assert [c != " " for c in line[1:-1:2]] == list(row >= 255 / 18)
    assert lines[33].startswith("  p: ")


def test_sample_json_has_label_and_correctness(capsys, data, model, model_file):
    argv = ["--model", model_file, "--sample", "0", "--sample", "12", "--json", "--top", "2"]
    code, out, _ = run(capsys, argv)
    assert code == 0
    records = json.loads(out)["predictions"]
    preds = model.predict(scale_pixels(data.x_test[[0, 12]]))
    for rec, i, pred in zip(records, (0, 12), preds, strict=True):
        assert rec["source"] == f"test[{i}]" and rec["index"] == i and rec["split"] == "test"
        assert rec["label"] == data.y_test[i] and rec["predicted"] == pred
        assert rec["correct"] == (pred == data.y_test[i]) and len(rec["top"]) == 2


@needs_pillow
def test_show_draws_what_the_network_sees(tmp_path, capsys, data, model_file):
    path = digit_file(tmp_path / "d.png", data.x_test[1], scale=4, pad=(10, 10, 50, 0), invert=True)
    code, out, _ = run(capsys, ["--model", model_file, path, "--show"])
    assert code == 0
    assert len([line for line in out.splitlines() if line.startswith("|")]) == 28


@pytest.mark.parametrize("backend", backend_names())
def test_every_backend_predicts_the_same(capsys, model_file, backend):
    try:
        get_backend(backend)
    except InvalidParameterError as exc:
        pytest.skip(str(exc))
    code, out, _ = run(capsys, ["--model", model_file, "--sample", "5", "--json", "--backend", backend])
    assert code == 0
    _, ref, _ = run(capsys, ["--model", model_file, "--sample", "5", "--json"])
    a, b = json.loads(out)["predictions"][0], json.loads(ref)["predictions"][0]
    assert a["predicted"] == b["predicted"]
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)


def test_ascii_art_levels():
    assert ascii_art(np.zeros((28, 28)))[1] == "|" + " " * 56 + "|"
    assert ascii_art(np.ones(784))[1] == "|" + ART_LEVELS[-1] * 56 + "|"
    assert ascii_art(np.full((28, 28), 255, np.uint8))[5] == "|" + ART_LEVELS[-1] * 56 + "|"


# ------------------------------------------------------------------- errors
def one_line_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("fastnn: error: ") and "Traceback" not in err
    for text in expected:
        assert text in err, f"{text!r} missing from {err!r}"


def test_missing_model_file(tmp_path, capsys):
    one_line_error(
        *run(capsys, ["--model", tmp_path / "none.npz", "--sample", "0"]),
        "--model",
        "none.npz",
        "no such model file",
    )


def test_a_file_that_is_not_a_model(tmp_path, capsys):
    bad = tmp_path / "model.npz"
    bad.write_text("hello")
    one_line_error(*run(capsys, ["--model", bad, "--sample", "0"]), "--model", "not a fastnn model file")


@needs_pillow
def test_non_image_and_missing_files_are_all_reported(tmp_path, capsys, model_file):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    code, out, err = run(capsys, ["--model", model_file, text, missing])
    assert code == 2 and out == ""
    assert err.count("fastnn: error: ") == 2 and "Traceback" not in err
    assert "notes.png: not an image file" in err and "missing.png: no such image file" in err


@needs_pillow
def test_a_blank_image_is_refused(tmp_path, capsys, model_file):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(blank)
    one_line_error(*run(capsys, ["--model", model_file, blank]), "blank.png", "no digit found")


def test_sample_out_of_range(capsys, model_file):
    one_line_error(
        *run(capsys, ["--model", model_file, "--sample", "1000"]),
        "--sample 1000",
        "has 1,000 images (0..999)",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "nothing to predict"),
        (["--sample", "-1"], "--sample"),
        (["--sample", "0", "--top", "11"], "between 1 and 10"),
        (["--sample", "0", "--backend", "tpu"], "--backend"),
        (["--sample", "0", "--split", "dev"], "--split"),
    ],
)
def test_bad_flags_are_usage_errors(capsys, model_file, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(["--model", str(model_file), *argv])
    assert info.value.code == 2
    assert expected in capsys.readouterr().err


def test_missing_pillow_is_a_clear_error_but_sample_still_works(tmp_path, capsys, monkeypatch, model_file):
    path = tmp_path / "d.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")  # never opened: Pillow is "missing"
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    one_line_error(
        *run(capsys, ["--model", model_file, path]), "needs Pillow", "pip install 'fastnn[images]'"
    )
    code, out, _ = run(capsys, ["--model", model_file, "--sample", "0"])
    assert code == 0 and "test image 0" in out


def test_inverted_data_for_sample_needs_fix_polarity(tmp_path, capsys, data, model_file):
    inverted = tmp_path / "inverted.npz"
    np.savez(
        inverted,
        x_train=255 - data.x_train[:200],
        y_train=data.y_train[:200],
        x_test=255 - data.x_test[:50],
        y_test=data.y_test[:50],
    )
    one_line_error(
        *run(capsys, ["--model", model_file, "--sample", "3", "--data", inverted]),
        "inverted.npz",
        "--fix-polarity",
    )
    code, out, err = run(
        capsys, ["--model", model_file, "--sample", "3", "--data", inverted, "--fix-polarity"]
    )
    assert code == 0 and err.startswith("fastnn: warning: ") and "inverted the train" in err
    assert f"true {data.y_test[3]}," in out


def test_help_lists_the_groups(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for text in ("model:", "input:", "output:", "--sample N", "--top K", "--json", "fastnn[images]"):
        assert text in out
