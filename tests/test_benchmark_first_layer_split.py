"""``python -m benchmarks.first_layer_split``: the three set-ups it compares really differ
in what they ask the numba backend for, and it prints a median and ratio for each."""

from __future__ import annotations

import re

import numba
import pytest

import fastnn
from benchmarks import first_layer_split
from fastnn.threads import available_threads


@pytest.mark.skipif(
    min(available_threads(), numba.config.NUMBA_NUM_THREADS) < 2, reason="needs two CPUs and Numba threads"
)
def test_it_times_each_setup_and_prints_medians_and_ratios(monkeypatch, capsys):
    asked = []
    real = first_layer_split.NumbaBackend

    def spy(*args, **kwargs):
        asked.append(kwargs["parallel_first_layer"])
        return real(*args, **kwargs)

    fits = []
    real_fit = fastnn.MLP.fit

    def counting_fit(model, *args, **kwargs):
        fits.append(model.threads)
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(first_layer_split, "NumbaBackend", spy)
    monkeypatch.setattr(fastnn.MLP, "fit", counting_fit)
    assert first_layer_split.main(["--data", "embedded", "--repeats", "2"]) == 0
    assert asked == [split for _, _, split in first_layer_split.SETUPS] == [False, False, True]
    # Interleaved: a compiling round (not timed), then two timed rounds, each set-up in turn.
    assert fits == [1, 2, 2] * 3
    out = capsys.readouterr().out
    for label, _, _ in first_layer_split.SETUPS:
        assert re.search(rf"{re.escape(label)}\s+\d+\.\d{{3}} s   1-thread time / this: \d+\.\d\dx", out), out
    assert "1-thread time / this: 1.00x" in out.splitlines()[1]
    assert "median of 2 fit(epochs=1) calls" in out


def test_repeats_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        first_layer_split.main(["--repeats", "0"])
    assert "--repeats must be at least 1" in capsys.readouterr().err
