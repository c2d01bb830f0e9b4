"""Fashion-MNIST and KMNIST in the commands: class names in every output, presets run.

A model file keeps its data set and class names (hostile names are refused); train,
evaluate, predict and plots say the class names; a model of another data set is
flagged; every preset runs on the synthetic Fashion-MNIST of ``dataset_files.py`` in
its cache, and the preset benchmark writes a table per data set. No network.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from dataset_files import FASHION, NAMES, PAYLOADS, install, synthetic
from dataset_files import fashion_cache as fashion_cache  # the synthetic files in the cache
from dataset_files import no_proxies as no_proxies  # autouse: no proxies

from fastnn import MLP
from fastnn.cli.presets import PRESETS
from fastnn.errors import DataError
from fastnn.model_files import ClassLabels, save_model
from fastnn.model_loading import load_model_and_labels

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
