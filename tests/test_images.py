"""Pixel polarity (``fastnn.data.polarity``) and MNIST-style preprocessing (``fastnn.data.images``).

The preprocessing is checked by what MNIST's own digits satisfy: 28x28, values in
[0, 1], a black background, the longer side of the ink 20 pixels, the centre of mass
within half a pixel of (14, 14). Real MNIST digits are (almost all) fixed points.
Drawn digits are made with Pillow in both polarities, at several sizes and off-centre.
"""

from __future__ import annotations

import itertools
import sys
import warnings

import numpy as np
import pytest

from fastnn.data import MnistData, load_embedded
from fastnn.data.images import (
    BOX,
    CENTRE,
    SIDE,
    MissingDependencyError,
    ink_levels,
    load_digit,
    load_image,
    preprocess_digit,
    resize,
)
from fastnn.data.polarity import PolarityWarning, check_polarity, detect_inverted, light_background
from fastnn.errors import DataError, InvalidParameterError


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    total = img.sum()
    return (
        float(img.sum(axis=1) @ np.arange(img.shape[0]) / total),
        float(img.sum(axis=0) @ np.arange(img.shape[1]) / total),
    )


def ink_box(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def assert_mnist_like(out: np.ndarray) -> None:
    assert out.shape == (SIDE, SIDE) and out.dtype == np.float64
    assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)
    border = np.concatenate([out[0], out[-1], out[1:-1, 0], out[1:-1, -1]])
    # A dark background; a digit may touch the edge, as MNIST's do (a 7's mass is high up).
    assert np.count_nonzero(border) <= 0.1 * border.size, "background not 0"
    assert max(ink_box(out)) == BOX
    cy, cx = centre_of_mass(out)
    assert abs(cy - CENTRE) <= 0.5 + 1e-9 and abs(cx - CENTRE) <= 0.5 + 1e-9, (cy, cx)


def stroke_digit(
    width: int, height: int, *, pen: float, offset: tuple[int, int] = (0, 0), dark_on_light: bool = False
) -> np.ndarray:
    """A '7' drawn with an anti-aliased pen ``pen`` px wide, as a uint8 (height, width) image."""
    s = min(width, height) / 100
    dx, dy = offset
    points = [(20 * s + dx, 15 * s + dy), (60 * s + dx, 15 * s + dy), (35 * s + dx, 85 * s + dy)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    dist = np.full((height, width), np.inf)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        vx, vy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * vx + (yy - y0) * vy) / (vx * vx + vy * vy), 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(xx - (x0 + t * vx), yy - (y0 + t * vy)))
    arr = np.rint(255 * np.clip(pen / 2 + 0.5 - dist, 0.0, 1.0)).astype(np.uint8)
    return 255 - arr if dark_on_light else arr


@pytest.fixture(scope="module")
def mnist() -> MnistData:
    return load_embedded()


# ------------------------------------------------------------------ polarity
def test_mnist_is_not_inverted_and_its_negative_is(mnist):
    assert not detect_inverted(mnist.x_test)
    assert detect_inverted(255 - mnist.x_test)
    assert not light_background(mnist.x_train).any()
    assert light_background(255 - mnist.x_train).all()


def test_one_image_a_batch_and_flat_rows_give_the_same_answer(mnist):
    flat = mnist.x_test[:50]
    batch = flat.reshape(-1, 28, 28)
    np.testing.assert_array_equal(light_background(flat), light_background(batch))
    assert [detect_inverted(img) for img in 255 - batch] == [True] * 50
    assert light_background(batch[0]).shape == (1,)


def test_polarity_is_judged_against_the_image_not_a_fixed_gray_level():
    pencil = np.full((60, 60), 110, np.uint8)  # gray paper, darker pencil: a light background
    pencil[20:40, 28:32] = 40
    chalk = np.full((60, 60), 60, np.uint8)  # dark board, lighter chalk: a dark background
    chalk[20:40, 28:32] = 200
    assert detect_inverted(pencil) and not detect_inverted(chalk)
    assert detect_inverted(pencil / 255.0) and not detect_inverted(chalk / 255.0)


def test_a_majority_decides_a_batch(mnist):
    x = mnist.x_test[:10].copy()
    x[:4] = 255 - x[:4]
    assert not detect_inverted(x)
    x[4] = 255 - x[4]
    x[5] = 255 - x[5]
    assert detect_inverted(x)


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 3), bool), np.zeros(5, np.uint8), np.array([["a"]]), np.zeros((0, 4), np.uint8)]
)
def test_detect_inverted_rejects_what_is_not_an_image(bad):
    with pytest.raises(InvalidParameterError, match="'images' parameter"):
        detect_inverted(bad)


def test_check_polarity_passes_normal_data_through(mnist):
    assert check_polarity(mnist) is mnist
    assert check_polarity(mnist, fix=True) is mnist


def test_check_polarity_refuses_white_background_naming_source_and_fix(mnist):
    inverted = MnistData(255 - mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test, source="scans.npz")
    with pytest.raises(DataError) as info:
        check_polarity(inverted)
    message = str(info.value)
    assert message.startswith("scans.npz: ") and "train (4,000 of 4,000 images)" in message
    assert "test (" not in message  # the test split is fine
    assert "--fix-polarity" in message and "fix=True" in message


def test_check_polarity_fix_inverts_only_the_inverted_split_with_a_warning(mnist):
    inverted = MnistData(mnist.x_train, mnist.y_train, 255 - mnist.x_test, mnist.y_test, source="s")
    with pytest.warns(PolarityWarning, match="inverted the test"):
        fixed = check_polarity(inverted, fix=True)
    np.testing.assert_array_equal(fixed.x_test, mnist.x_test)
    assert fixed.x_train is mnist.x_train and fixed.source == "s"
    assert fixed.x_test.dtype == np.uint8 and fixed.x_test.flags.c_contiguous


# ------------------------------------------------------------- preprocessing
def test_mnist_digits_are_almost_all_fixed_points(mnist):
    """MNIST was made this way, so re-preprocessing a digit should change (almost) nothing;
    the few that change lose an isolated speck of ink."""
    images = mnist.x_test[:300].reshape(-1, 28, 28)
    unchanged = 0
    for img in images:
        out = preprocess_digit(img)
        unchanged += np.array_equal(out, img / 255.0)
        assert out.shape == (28, 28) and out.min() >= 0.0 and out.max() <= 1.0
    assert unchanged >= 0.85 * len(images), unchanged


@pytest.mark.parametrize("dark_on_light", [False, True], ids=["light-ink", "dark-ink"])
@pytest.mark.parametrize(
    ("width", "height", "pen", "offset"),
    [
        (100, 100, 12, (0, 0)),  # centred, square
        (400, 250, 30, (170, -40)),  # big, wide canvas, far off-centre
        (60, 90, 6, (-10, 25)),  # small, tall canvas, off-centre the other way
        (28, 28, 3, (2, 3)),  # already MNIST-sized
    ],
)
def test_drawn_digits_come_out_like_mnist(width, height, pen, offset, dark_on_light):
    img = stroke_digit(width, height, pen=pen, offset=offset, dark_on_light=dark_on_light)
    assert detect_inverted(img) == dark_on_light
    out = preprocess_digit(img)
    assert_mnist_like(out)
    # Polarity is undone exactly: both versions give the same input (to rounding).
    np.testing.assert_allclose(out, preprocess_digit(255 - img), rtol=0, atol=1e-12)


def test_size_and_position_do_not_change_the_result_much():
    small = preprocess_digit(stroke_digit(100, 100, pen=10))
    big = preprocess_digit(stroke_digit(500, 500, pen=50, offset=(60, 90)))
    assert np.abs(small - big).mean() < 0.03


@pytest.mark.parametrize(("shape", "box"), [((200, 100), (20, 3)), ((100, 200), (3, 20))])
def test_aspect_ratio_is_kept(shape, box):
    img = np.zeros(shape, np.uint8)
    h, w = shape
    if h > w:  # a tall bar, 150 x 20
        img[25:175, 40:60] = 255
    else:  # a wide bar, 20 x 150
        img[40:60, 25:175] = 255
    out = preprocess_digit(img)
    assert ink_box(out) == box
    assert_mnist_like(out)


def test_noise_and_specks_do_not_stretch_the_crop(rng):
    clean = stroke_digit(300, 300, pen=24, offset=(40, 20))
    paper = np.clip(200 + rng.normal(0, 8, clean.shape), 0, 255)
    photo = paper * (1 - clean / 255) + 30 * (clean / 255)
    photo[5:8, 290:293] = 20  # a speck of dirt in a corner, as dark as the ink
    out = preprocess_digit(np.clip(np.rint(photo), 0, 255).astype(np.uint8))
    assert_mnist_like(out)
    assert np.abs(out - preprocess_digit(clean)).mean() < 0.03


def test_invert_can_be_forced():
    img = stroke_digit(80, 80, pen=8)
    np.testing.assert_array_equal(preprocess_digit(img, invert=False), preprocess_digit(img))
    with pytest.raises(DataError):  # inverted, the border is all ink: nothing stands out
        preprocess_digit(np.zeros((30, 30), np.uint8), invert=True)


@pytest.mark.parametrize("level", [0, 128, 255])
def test_a_blank_image_is_a_data_error(level):
    with pytest.raises(DataError, match="no digit found"):
        preprocess_digit(np.full((40, 30), level, np.uint8))


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((0, 5)), np.full((5, 5), np.nan)])
def test_preprocess_rejects_what_is_not_one_image(bad):
    with pytest.raises(InvalidParameterError):
        ink_levels(bad)


def test_float_images_in_0_1_work_like_uint8():
    img = stroke_digit(90, 90, pen=9)
    np.testing.assert_allclose(preprocess_digit(img / 255.0), preprocess_digit(img), atol=1e-12)


@pytest.mark.parametrize(("n_in", "n_out"), [(100, 20), (7, 20), (20, 20), (333, 17)])
def test_resize_keeps_constants_and_the_mean(rng, n_in, n_out):
    np.testing.assert_allclose(resize(np.ones((n_in, n_in)), (n_out, n_out)), 1.0)
    x = rng.random((n_in, n_in))
    assert abs(resize(x, (n_out, n_out)).mean() - x.mean()) < 0.05
    if n_in == n_out:
        np.testing.assert_allclose(resize(x, (n_out, n_out)), x)


# ------------------------------------------------------------------- files
@pytest.fixture
def Image():
    return pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("kind", ["L", "RGB", "RGBA-black-ink", "RGBA-white-ink", "I;16", "JPEG", "P"])
def test_image_files_of_every_common_kind_give_the_same_digit(tmp_path, Image, kind):
    ink = stroke_digit(120, 120, pen=12, offset=(10, 5))
    expected = preprocess_digit(ink)
    path = tmp_path / f"digit-{kind}.png"
    if kind == "L":
        Image.fromarray(255 - ink).save(path)
    elif kind == "RGB":
        paper = np.full_like(ink, 255)
        Image.fromarray(np.stack([255 - ink, 255 - ink, paper], axis=-1)).save(path)  # blue ink
    elif kind.startswith("RGBA"):
        rgba = np.zeros((*ink.shape, 4), np.uint8)
        rgba[..., :3] = 0 if kind == "RGBA-black-ink" else 255
        rgba[..., 3] = ink  # strokes on a transparent layer
        Image.fromarray(rgba).save(path)
    elif kind == "I;16":
        Image.fromarray(ink.astype(np.uint16) * 257).save(path)
    elif kind == "JPEG":
        path = path.with_suffix(".jpg")
        Image.fromarray(255 - ink).save(path, quality=90)
    else:
        Image.fromarray(255 - ink).convert("P").save(path)
    out = load_digit(path)
    assert_mnist_like(out)
    # JPEG ringing next to the strokes stands out from a noiseless white border, so it
    # counts as ink and widens the crop by a few pixels: close, not equal.
    tol = 0.06 if kind == "JPEG" else 0.01
    assert np.abs(out - expected).mean() < tol, kind


def test_exif_orientation_is_applied(tmp_path, Image):
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a portrait phone photo stored landscape
    Image.fromarray(np.full((20, 40), 255, np.uint8)).save(path, exif=exif)
    assert load_image(path).shape == (40, 20)


def test_huge_images_are_shrunk_on_load(tmp_path, Image):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 3000), np.uint8)).save(path)
    assert load_image(path).shape == (34, 1000)


def test_unreadable_files_are_data_errors_naming_the_file(tmp_path, Image):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(DataError, match=r"notes\.png: not an image file"):
        load_image(text)
    with pytest.raises(DataError, match=r"nope\.png: no such image file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(DataError, match="a directory, not an image file"):
        load_image(tmp_path)
    good = tmp_path / "good.png"
    Image.fromarray(stroke_digit(64, 64, pen=6)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataError, match=r"truncated\.png"):
        load_image(truncated)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(blank)
    with pytest.raises(DataError, match=r"blank\.png: no digit found"):
        load_digit(blank)


def test_missing_pillow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'fastnn\[images\]'") as info:
        load_image(tmp_path / "x.png")
    assert isinstance(info.value, ImportError)


def test_preprocessing_issues_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preprocess_digit(stroke_digit(50, 70, pen=5))
