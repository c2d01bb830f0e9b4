"""Prepared data: what ``Backend.prepare`` makes for a run, made once per fit.

The zero-skipping lists for per-sample and mini-batch runs on sparse data, X
transposed for full batches, nothing for dense data unless asked; ``MLP.fit`` prepares
once for its batch size and every epoch reuses it. The full batch's transposed path
matches the plain one and reads the copy only for its own array.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from parity_helpers import LAYERS, LR, TOL, _rel_err

from fastnn import MLP
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import init_params


@pytest.mark.parametrize("batch_size", [1, 8], ids=["per-sample", "mini-batch"])
def test_fit_lists_non_zero_pixels_once_not_every_epoch(tiny_data, monkeypatch, batch_size):
    """The zero-skipping lists cost about as much as a narrow epoch: MLP.fit must make
    them once (Backend.prepare) and every epoch must reuse them."""
    from fastnn.backends import numba_data

    X, y = tiny_data
    made = []
    original = numba_data.NonzeroRows.__init__

    def counting(self, array, pool=None):
        made.append(array.shape)
        original(self, array, pool)

    monkeypatch.setattr(numba_data.NonzeroRows, "__init__", counting)
    model = MLP([X.shape[1], 5, 3], "relu", backend="numba", seed=0)
    model.fit(X, y, epochs=3, batch_size=batch_size)
    assert made == [X.shape]
    assert len(model.history) == 3


# ------------------------------------------------------------- prepared data
def test_prepare_makes_what_the_batch_size_needs(tiny_data, monkeypatch):
    """Per-sample and mini-batch runs on sparse data get the non-zero lists, full
    batches X transposed; an unknown batch size gets the lists (the per-sample default).
    Dense data gets nothing unless the backend is told to skip zeros."""
    from fastnn.backends import numba_data

    X, _ = tiny_data
    assert numba_data.zero_fraction(X) >= numba_data.BATCH_SPARSE_THRESHOLD, "tiny_data is sparse"
    nb = NumbaBackend()
    sample, unknown, full, mini = nb.prepare(X, 1), nb.prepare(X), nb.prepare(X, len(X)), nb.prepare(X, 8)
    assert sample.nonzero is not None and sample.transposed is None
    assert unknown.nonzero is not None and unknown.transposed is None
    assert full.nonzero is None and full.transposed.flags.c_contiguous
    assert_array_equal(full.transposed, X.T)
    assert mini.nonzero is not None and mini.transposed is None
    dense = np.ones_like(X)
    assert nb.prepare(dense, 1) is None, "dense inputs take no zero-skipping lists"
    assert nb.prepare(dense, 8) is None, "dense inputs take no zero-skipping lists"
    assert NumbaBackend(skip_zeros=True).prepare(dense, 8).nonzero is not None, "forced on"
    assert NumbaBackend(skip_zeros=False).prepare(X, 8) is None, "forced off"
    assert NumbaBackend(skip_zeros=True).prepare(X, len(X)).nonzero is None, "full batch never skips"
    monkeypatch.setattr(numba_data, "TRANSPOSE_MAX_BYTES", X.nbytes - 1)
    assert nb.prepare(X, len(X)) is None, "a copy above TRANSPOSE_MAX_BYTES is not made"


def test_large_batches_skip_zeros_only_for_a_wide_first_layer():
    """Measured: a narrow first layer loses to BLAS at large batches (see numba_data)."""
    from fastnn.backends.numba_data import NARROW_MAX_BATCH, WIDE_FIRST_LAYER

    X = np.zeros((4 * NARROW_MAX_BATCH, 30))
    X[:, :6] = 1.0  # 80% zeros
    nb = NumbaBackend()
    large = 2 * NARROW_MAX_BATCH
    assert nb.prepare(X, large, WIDE_FIRST_LAYER - 1) is None, "narrow layer, large batch: dense"
    assert nb.prepare(X, large, WIDE_FIRST_LAYER).nonzero is not None, "wide layer: sparse"
    assert nb.prepare(X, NARROW_MAX_BATCH, 8).nonzero is not None, "small batch: sparse"
    assert nb.prepare(X, large).nonzero is not None, "width unknown: the density decides"
    assert NumbaBackend(skip_zeros=True).prepare(X, large, 8).nonzero is not None, "forced on"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=str)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_full_batch_with_x_transposed_matches_the_plain_path(tiny_data, dtype, optimizer):
    """The transposed copy changes only how BLAS reads X: same steps as without it."""
    X, y = tiny_data
    X = X.astype(dtype)
    acts = ("tanh", "relu", "softmax")
    nb = NumbaBackend()
    results = []
    for prepared in (None, nb.prepare(X, len(X))):
        params = init_params(LAYERS, acts, np.random.default_rng(3), np.dtype(dtype))
        state = OptimizerState.zeros(optimizer, params.data.size, params.dtype)
        cfg = OptimizerConfig(optimizer, LR[optimizer])
        order = np.arange(len(X))
        losses = [
            nb.train_epoch(params, acts, X, y, order, len(X), cfg, state, prepared=prepared).loss
            for _ in range(3)
        ]
        results.append((losses, params.data))
    for losses, weights in results[1:]:
        assert losses == pytest.approx(results[0][0], rel=TOL[np.dtype(dtype)])
        assert _rel_err(weights, results[0][1]) <= TOL[np.dtype(dtype)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=str)
def test_full_batch_reads_the_transposed_copy_only_for_its_own_array(tiny_data, dtype):
    """A wrong copy (zeros) freezes the first layer, so the kernel does read it; the same
    wrong copy made for another array (X's copy) is ignored: the plain step is taken."""
    from fastnn.backends.numba_data import Prepared

    X, y = tiny_data
    X = X.astype(dtype)
    acts = ("tanh", "relu", "softmax")

    def one_step(prepared):
        params = init_params(LAYERS, acts, np.random.default_rng(3), np.dtype(dtype))
        state = OptimizerState.zeros("sgd", params.data.size, params.dtype)
        NumbaBackend().train_epoch(
            params,
            acts,
            X,
            y,
            np.arange(len(X)),
            len(X),
            OptimizerConfig("sgd", 0.5),
            state,
            prepared=prepared,
        )
        return params

    fresh = init_params(LAYERS, acts, np.random.default_rng(3), np.dtype(dtype))
    zeros_t = np.zeros_like(X.T, order="C")
    wrong = one_step(Prepared(X, None, zeros_t))
    assert_array_equal(wrong.W(0), fresh.W(0))
    assert not np.array_equal(wrong.W(1), fresh.W(1))
    assert_array_equal(one_step(Prepared(X.copy(), None, zeros_t)).data, one_step(None).data)


def test_fit_prepares_once_for_its_batch_size(tiny_data, monkeypatch):
    X, y = tiny_data
    seen = []
    original = NumbaBackend.prepare

    def spying(self, array, batch_size=None, first_units=None):
        seen.append((batch_size, first_units))
        return original(self, array, batch_size, first_units)

    monkeypatch.setattr(NumbaBackend, "prepare", spying)
    for bs in (None, 8, 1):
        MLP([X.shape[1], 5, 3], "relu", backend="numba", seed=0).fit(X, y, epochs=2, batch_size=bs)
    assert seen == [(len(X), 5), (8, 5), (1, 5)]
