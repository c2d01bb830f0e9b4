"""``python -m benchmarks.first_layer_split``: the three set-ups it compares really differ
in what they ask the numba backend for, and it prints a median and ratio for each."""

from __future__ import annotations

import re

import pytest

from benchmarks import first_layer_split


def test_it_times_each_setup_and_prints_medians_and_ratios(monkeypatch, capsys):
    asked = []
    real = first_layer_split.NumbaBackend

    def spy(*args, **kwargs):
        asked.append(kwargs["parallel_first_layer"])
        return real(*args, **kwargs)

    monkeypatch.setattr(first_layer_split, "NumbaBackend", spy)
    assert first_layer_split.main(["--data", "embedded", "--repeats", "1"]) == 0
    assert asked == [split for _, _, split in first_layer_split.SETUPS] == [False, False, True]
    out = capsys.readouterr().out
    for label, _, _ in first_layer_split.SETUPS:
        assert re.search(rf"{re.escape(label)}\s+\d+\.\d{{3}} s   1-thread time / this: \d+\.\d\dx", out), out
    assert "1-thread time / this: 1.00x" in out.splitlines()[1]


def test_repeats_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        first_layer_split.main(["--repeats", "0"])
    assert "--repeats must be at least 1" in capsys.readouterr().err
