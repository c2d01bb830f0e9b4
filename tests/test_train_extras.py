"""``python -m fastnn.train --plot DIR`` and ``--fix-polarity``."""

from __future__ import annotations

import pytest

from fastnn.cli.train import main
from fastnn.data import load_embedded

QUICK = ["--train-size", "300", "--val-size", "100", "--epochs", "1", "--layers", "784,16,10"]


def _inverted_npz(tmp_path):
    """The embedded digits as dark ink on white paper: what a scanner gives."""
    import numpy as np

    d = load_embedded()
    path = tmp_path / "inverted.npz"
    np.savez(path, x_train=255 - d.x_train, y_train=d.y_train, x_test=255 - d.x_test, y_test=d.y_test)
    return path


def test_plot_writes_pngs(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    assert main([*QUICK, "--plot", str(out)]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 4, pngs
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote " in capsys.readouterr().out


def test_light_background_is_refused_then_fixed(capsys, tmp_path):
    path = _inverted_npz(tmp_path)
    assert main([*QUICK, "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--fix-polarity" in err and "inverted.npz" in err
    assert main([*QUICK, "--data", str(path), "--fix-polarity"]) == 0
    assert "test accuracy" in capsys.readouterr().out
