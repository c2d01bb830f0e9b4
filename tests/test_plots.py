"""``fastnn.plots``: the PNG files exist and are images, from the API and from the command.

Skipped without matplotlib; the image checks use Pillow when it is there and the
PNG signature and header otherwise.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn import MLP
from fastnn.cli.plots import main
from fastnn.cli.plotting import PLOT_FILES, write_plots
from fastnn.data import MnistData, load_embedded, scale_pixels
from fastnn.data.images import MissingDependencyError

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, checked with Pillow when installed, else from its IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    size = struct.unpack(">II", head[16:24])
    try:
        from PIL import Image
    except ImportError:
        return size
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.load()
        assert im.size == size
    return size


@pytest.fixture(scope="module")
def data() -> MnistData:
    return load_embedded()


@pytest.fixture(scope="module")
def trained(data: MnistData) -> MLP:
    x, y = scale_pixels(data.x_train[:1500]), data.y_train[:1500]
    x_val, y_val = scale_pixels(data.x_train[3000:3300]), data.y_train[3000:3300]
    return MLP([784, 20, 10], seed=1).fit(
        x, y, epochs=3, lr=0.05, batch_size=32, optimizer="momentum", validation=(x_val, y_val)
    )


def test_write_plots_writes_four_pngs(tmp_path, data, trained):
    out = tmp_path / "plots" / "run1"  # created, parents too
    written = write_plots(out, trained, trained.history, data.x_test, data.y_test)
    assert written == [out / name for name in PLOT_FILES.values()]
    for path in written:
        width, height = png_size(path)
        assert width >= 300 and height >= 200, path


def test_history_from_metrics_json_dicts_and_float_images(tmp_path, data, trained):
    history = json.loads(json.dumps([r.as_dict() for r in trained.history]))
    history[1]["val_loss"] = None  # a missing value is skipped, not plotted as 0
    written = write_plots(tmp_path, trained, history, scale_pixels(data.x_test[:200]), data.y_test[:200])
    assert len(written) == 4 and all(png_size(p) for p in written)


def test_no_history_and_no_test_split_write_only_the_weights(tmp_path, trained):
    written = write_plots(tmp_path, trained, [], np.empty((0, 784), np.uint8), np.empty(0, np.int64))
    assert written == [tmp_path / PLOT_FILES["weights"]]
    assert png_size(written[0])


def test_confusion_title_names_the_split_it_counts(tmp_path, data, trained, monkeypatch):
    """A data set without a test split is plotted on its validation split: say so."""
    from fastnn.cli import plotting

    titles = []
    real_save = plotting._save

    def recording(fig, path):
        titles.extend(ax.get_title() for ax in fig.axes)
        return real_save(fig, path)

    monkeypatch.setattr(plotting, "_save", recording)
    write_plots(tmp_path, trained, [], data.x_test[:100], data.y_test[:100], "validation")
    assert any(t.startswith("confusion matrix") and t.endswith("of 100 validation digits") for t in titles), (
        titles
    )
    titles.clear()
    write_plots(tmp_path, trained, [], data.x_test[:100], data.y_test[:100])
    assert any(t.endswith("of 100 test digits") for t in titles), titles


def test_a_perfect_model_still_gets_a_misclassified_file(tmp_path, data, trained):
    x = data.x_test[:50]
    labels = trained.predict(scale_pixels(x))  # every prediction "correct"
    write_plots(tmp_path, trained, [], x, labels)
    assert png_size(tmp_path / PLOT_FILES["misclassified"])


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch, data, trained, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'fastnn\[plots\]'"):
        write_plots(tmp_path, trained, trained.history, data.x_test, data.y_test)
    assert not any(tmp_path.iterdir())
    path = trained.save(tmp_path / "m.npz")
    assert main(["--model", str(path), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: writing plots needs matplotlib") and "fastnn[plots]" in err


# --------------------------------------------------------------------- CLI
def test_command_makes_the_plots_of_a_train_run_without_retraining(tmp_path, capsys):
    from fastnn.cli.train import main as train_main

    model, metrics = tmp_path / "m.npz", tmp_path / "m.json"
    assert (
        train_main(
            [
                "--train-size",
                "500",
                "--val-size",
                "200",
                "--epochs",
                "2",
                "--layers",
                "784,16,10",
                "--save",
                str(model),
                "--metrics-json",
                str(metrics),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    out_dir = tmp_path / "plots"
    assert main(["--model", str(model), "--metrics-json", str(metrics), "--out", str(out_dir)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [f"wrote {out_dir / name}" for name in PLOT_FILES.values()]
    for name in PLOT_FILES.values():
        assert png_size(out_dir / name)


def test_command_without_metrics_skips_the_curves(tmp_path, capsys, trained, monkeypatch):
    from fastnn.cli import plots

    names = []
    real = plots.write_plots
    monkeypatch.setattr(plots, "write_plots", lambda *a: names.append(a[5]) or real(*a))
    path = trained.save(tmp_path / "m.npz")
    argv = ["--model", str(path), "--out", str(tmp_path / "p"), "--split", "val", "--val-size", "300"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "curves.png" not in out and out.count("wrote ") == 3
    assert names == ["validation"], "the confusion matrix must be titled with the split plotted"


def test_a_history_that_does_not_match_the_model_is_a_warning(tmp_path, capsys, trained):
    path = trained.save(tmp_path / "m.npz")
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"history": [r.as_dict() for r in trained.history[:2]]}))
    assert main(["--model", str(path), "--metrics-json", str(metrics), "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("fastnn: warning: ") and "trained for 3 epochs" in err and "records 2" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not a metrics JSON file"),
        ('{"history": 3}', "no 'history' list"),
    ],
)
def test_bad_metrics_json(tmp_path, capsys, trained, content, expected):
    path = trained.save(tmp_path / "m.npz")
    metrics = tmp_path / "m.json"
    if content is not None:
        metrics.write_text(content)
    assert main(["--model", str(path), "--metrics-json", str(metrics), "--out", str(tmp_path / "p")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("fastnn: error: --metrics-json") and expected in err


def test_missing_model(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none.npz"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: --model") and "none.npz" in err


def test_out_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--model", "m.npz"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err
