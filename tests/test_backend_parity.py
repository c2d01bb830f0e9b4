"""Numba vs NumPy through the public API: from the same seed, the same numbers (issue 3).

For every hidden activation x output (softmax + cross-entropy on labels, identity +
squared error on float targets) x training mode (per-sample, mini-batch with a short last
batch, full batch) x optimiser x weight decay x dtype, two models that differ only in
``backend`` are compared stage by stage, and a failure names the first stage that
diverged and the combination:

1. ``init``: the initial weights (exactly equal: drawn by the model, not the backend);
2. ``forward``: every layer's output and ``predict_proba`` before training;
3. ``few steps``: one epoch over the first 10 samples in order (10, 2 or 1 steps); on a
   mismatch the run is replayed one batch at a time to name the first diverging step;
4. ``epoch e``: two shuffled epochs over all 60 samples: the epoch's loss, the weights
   and the optimiser state after it, then the predictions.

Tolerance: max |numba - numpy| / max |numpy| <= 1e-10 (float64) or 1e-4 (float32), per
buffer (weights, m, s); probabilities, in [0, 1], are compared absolutely. Learning rates
are chosen so that training is stable: a diverging run amplifies rounding differences
(float32, per-sample momentum at lr=0.05 drifts by 4% in two epochs with no bug).

The data (``tiny_data``) is about 70% zeros with an all-zero row, so the numba
backend's per-sample and mini-batch paths take their zero-skipping first layer; the
dense path is checked against it separately (and ``test_sparse_parity.py`` forces
each path on data with inputs idle for whole batches and epochs). The adapter's refusal
of bad input is ``test_backend_bad_input.py``; what ``prepare`` makes, ``test_backend_prepare.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from parity_helpers import LAYERS, LR, TOL, _rel_err, regression_targets

from fastnn import MLP
from fastnn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.optim import OPTIMIZERS, OptimizerConfig, OptimizerState
from fastnn.params import Params, init_params

#: Mode name -> batch_size: per-sample, 8 (60 = 7 x 8 + 4; 10 = 8 + 2), full batch.
MODES = {"per-sample": 1, "mini-batch-8": 8, "full-batch": None}
N_FEW = 10
BACKENDS = ("numpy", "numba")


@dataclass(frozen=True)
class Combo:
    """One point of the parity grid; ``str`` is what failure messages show."""

    act: str
    batch_size: int | None
    optimizer: str
    weight_decay: float
    dtype: str
    output: str = "softmax"

    def __str__(self) -> str:
        return (
            f"[{self.act}, {self.output} output, batch_size={self.batch_size}, {self.optimizer}, "
            f"weight_decay={self.weight_decay}, {self.dtype}]"
        )

    @property
    def tol(self) -> float:
        return TOL[np.dtype(self.dtype)]

    def models(self) -> dict[str, MLP]:
        acts = [self.act] * (len(LAYERS) - 2) + [self.output]
        return {b: MLP(LAYERS, acts, backend=b, dtype=self.dtype, seed=11) for b in BACKENDS}

    def targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The labels for a softmax output; for an identity output, float targets."""
        return y if self.output == "softmax" else regression_targets(X)

    def fit(
        self, model: MLP, X, y, *, epochs: int = 1, shuffle: bool = True, batch_size="combo", callback=None
    ) -> None:
        model.fit(
            X,
            y,
            epochs=epochs,
            lr=LR[self.optimizer],
            optimizer=self.optimizer,
            batch_size=self.batch_size if batch_size == "combo" else batch_size,
            weight_decay=self.weight_decay,
            shuffle=shuffle,
            train_accuracy=False,
            callback=callback,
        )


def _outputs(model: MLP, X: np.ndarray) -> np.ndarray:
    return model.predict(X) if model.is_regressor else model.predict_proba(X)


def _fail(combo: Combo, stage: str, detail: str) -> None:
    pytest.fail(f"{combo}: numba and numpy diverge at stage '{stage}': {detail}", pytrace=False)


def _check_weights(combo: Combo, stage: str, got: np.ndarray, want: np.ndarray, extra: str = "") -> None:
    err = _rel_err(got, want)
    if err > combo.tol:
        ref, nb = Params(LAYERS, want), Params(LAYERS, got)
        per_layer = ", ".join(
            f"W{i} {_rel_err(nb.W(i), ref.W(i)):.1e} b{i} {_rel_err(nb.b(i), ref.b(i)):.1e}"
            for i in range(ref.n_layers)
        )
        _fail(combo, f"weights {stage}", f"rel err {err:.2e} > {combo.tol:.0e} ({per_layer}){extra}")


def _check_state(combo: Combo, stage: str, got: OptimizerState, want: OptimizerState) -> None:
    for name in ("m", "s"):
        err = _rel_err(getattr(got, name), getattr(want, name))
        if err > combo.tol:
            _fail(combo, f"optimizer state {stage}", f"'{name}' rel err {err:.2e} > {combo.tol:.0e}")
    if not np.array_equal(got.t, want.t):
        _fail(combo, f"optimizer state {stage}", f"step count t {got.t} != {want.t}")


def _check_proba(combo: Combo, stage: str, models: dict[str, MLP], X: np.ndarray) -> None:
    got, want = _outputs(models["numba"], X), _outputs(models["numpy"], X)
    if got.dtype != want.dtype:
        _fail(combo, stage, f"predict_proba dtype {got.dtype} != {want.dtype}")
    # Probabilities, in [0, 1], compare absolutely; regression outputs relative to their scale.
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    if combo.output != "softmax":
        err = _rel_err(got, want)
    if err > combo.tol:
        _fail(
            combo,
            stage,
            f"{'predict_proba' if combo.output == 'softmax' else 'predict'} diff {err:.2e} > {combo.tol:.0e}",
        )


def _divergence(nb: MLP, ref: MLP) -> dict[str, float]:
    """Relative errors of the weights and the optimiser buffers of two models."""
    return {
        "weights": _rel_err(nb.params.data, ref.params.data),
        "m": _rel_err(nb.optimizer_state.m, ref.optimizer_state.m),
        "s": _rel_err(nb.optimizer_state.s, ref.optimizer_state.s),
    }


def _replay_few_steps(combo: Combo, X: np.ndarray, y: np.ndarray) -> str:
    """Redo the few-steps stage one batch at a time (warm-start fits) and name the first
    step after which the weights or the optimiser state differ."""
    models = combo.models()
    bs = combo.batch_size or len(y)
    for k, start in enumerate(range(0, len(y), bs), start=1):
        rows = slice(start, min(start + bs, len(y)))
        for m in models.values():
            combo.fit(m, X[rows], y[rows], shuffle=False, batch_size=None)
        bad = {
            k_: f"{v:.2e}" for k_, v in _divergence(models["numba"], models["numpy"]).items() if v > combo.tol
        }
        if bad:
            return (
                f"; replayed one batch at a time, it first diverges after step {k} "
                f"(samples {rows.start}..{rows.stop - 1}): {bad}"
            )
    return "; replayed one batch at a time it agrees, so the epoch kernel differs from stepping"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("output", OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_numba_matches_numpy(act, output, mode, optimizer, weight_decay, dtype, tiny_data):
    combo = Combo(act, MODES[mode], optimizer, weight_decay, dtype, output)
    X, y = tiny_data
    y = combo.targets(X, y)

    # 1-2. Same initial weights, same forward pass.
    models = combo.models()
    nb, ref = models["numba"], models["numpy"]
    assert_array_equal(nb.params.data, ref.params.data, err_msg=f"{combo}: stage 'init'")
    Xc = X.astype(dtype)
    outs_nb = nb.backend.forward(nb.params, nb.activations, Xc)
    outs_np = ref.backend.forward(ref.params, ref.activations, Xc)
    for i, (got, want) in enumerate(zip(outs_nb, outs_np, strict=True)):
        if got.dtype != want.dtype:
            _fail(combo, "forward", f"layer {i} output dtype {got.dtype} != {want.dtype}")
        if _rel_err(got, want) > combo.tol:
            _fail(combo, "forward", f"layer {i} output rel err {_rel_err(got, want):.2e} > {combo.tol:.0e}")
    _check_proba(combo, "forward (predict_proba before training)", models, X)

    # 3. A few steps: one epoch over the first N_FEW samples, in order.
    for m in models.values():
        combo.fit(m, X[:N_FEW], y[:N_FEW], shuffle=False)
    n_steps = math.ceil(N_FEW / (combo.batch_size or N_FEW))
    stage = f"after {n_steps} step(s) on {N_FEW} samples"
    loss_nb, loss_np = nb.history[-1].loss, ref.history[-1].loss
    if abs(loss_nb - loss_np) > combo.tol * abs(loss_np):
        _fail(combo, f"mean loss {stage}", f"{loss_nb!r} vs {loss_np!r}")
    if max(_divergence(nb, ref).values()) > combo.tol:
        replay = _replay_few_steps(combo, X[:N_FEW], y[:N_FEW])
        _check_weights(combo, stage, nb.params.data, ref.params.data, replay)
        errs = {k: f"{v:.2e}" for k, v in _divergence(nb, ref).items()}
        _fail(combo, f"optimizer state {stage}", f"rel errs {errs} > {combo.tol:.0e}{replay}")
    _check_state(combo, stage, nb.optimizer_state, ref.optimizer_state)

    # 4. Two shuffled epochs over all samples, from fresh models.
    models = combo.models()
    snapshots: dict[str, list] = {b: [] for b in BACKENDS}
    for name, m in models.items():

        def snap(record, m=m, name=name):
            snapshots[name].append((m.params.data.copy(), m.optimizer_state.copy()))

        combo.fit(m, X, y, epochs=2, callback=snap)
    for e in range(2):
        stage = f"epoch {e + 1} of 2 on {len(y)} samples"
        loss_nb, loss_np = (models[b].history[e].loss for b in ("numba", "numpy"))
        if abs(loss_nb - loss_np) > combo.tol * abs(loss_np):
            _fail(combo, f"loss of {stage}", f"{loss_nb!r} vs {loss_np!r}")
        (w_nb, st_nb), (w_np, st_np) = snapshots["numba"][e], snapshots["numpy"][e]
        _check_weights(combo, f"after {stage}", w_nb, w_np)
        _check_state(combo, f"after {stage}", st_nb, st_np)
    _check_proba(combo, "predictions after training", models, X)


# ------------------------------------------------------------------ warm starts
@pytest.mark.parametrize("output", OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
def test_warm_start_matches_numpy(mode, dtype, output, tiny_data):
    """fit twice with Adam (state and step count carry over), then switch optimiser
    (fresh state); and hand a numpy-trained model to numba mid-training."""
    X, y = tiny_data
    combo = Combo("tanh", MODES[mode], "adam", 1e-3, dtype, output)
    y = combo.targets(X, y)
    models = combo.models()
    for m in models.values():
        combo.fit(m, X, y)
        combo.fit(m, X, y)
    _check_weights(
        combo, "after fit twice (warm start)", models["numba"].params.data, models["numpy"].params.data
    )
    _check_state(
        combo,
        "after fit twice (warm start)",
        models["numba"].optimizer_state,
        models["numpy"].optimizer_state,
    )
    momentum = Combo("tanh", MODES[mode], "momentum", 0.0, dtype, output)
    for m in models.values():
        momentum.fit(m, X, y)
    _check_weights(
        momentum, "after switching to momentum", models["numba"].params.data, models["numpy"].params.data
    )
    _check_proba(momentum, "predictions after warm starts", models, X)

    handed = models["numpy"].with_backend("numba")
    for m in (handed, models["numpy"]):
        momentum.fit(m, X, y)
    _check_weights(
        momentum,
        "after numpy -> with_backend('numba') -> fit",
        handed.params.data,
        models["numpy"].params.data,
    )


# ------------------------------------------------------------- zero skipping
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("output", OUTPUT_ACTIVATIONS)
@pytest.mark.parametrize("act", HIDDEN_ACTIVATIONS)
def test_skip_zeros_is_exact(act, output, optimizer, weight_decay, dtype, tiny_data):
    """The zero-skipping first layer and the dense one give identical results."""
    X, y = tiny_data
    acts = (act, act, output)
    if output == "identity":
        y = regression_targets(X).astype(dtype)
    cfg = OptimizerConfig(optimizer, LR[optimizer], weight_decay=weight_decay)
    order = np.random.default_rng(5).permutation(len(y))
    results = {}
    for skip in (True, False):
        params = init_params(LAYERS, acts, np.random.default_rng(3), np.dtype(dtype))
        state = OptimizerState.zeros(optimizer, params.data.size, params.dtype)
        result = NumbaBackend().train_epoch(
            params, acts, X.astype(dtype), y, order, 1, cfg, state, skip_zeros=skip
        )
        results[skip] = (result, params.data, state.m, state.s)
    for what, a, b in zip(
        ("loss and accuracy", "weights", "m", "s"), results[True], results[False], strict=True
    ):
        assert_array_equal(
            a,
            b,
            err_msg=f"skip_zeros=True vs False differ in {what} "
            f"[{act}, {output} output, {optimizer}, weight_decay={weight_decay}, {dtype}]",
        )


def test_an_order_that_repeats_its_fullest_row_fits_the_batch_scratch():
    """The zero-skipping scratch for a batch's non-zeros is sized from the batches of the
    order actually given. An order that repeats X's fullest row (the API allows any
    in-range order) once overflowed scratch sized for the fullest *distinct* rows: with
    NUMBA_DISABLE_JIT that was an IndexError, compiled a silent heap overflow."""
    gen = np.random.default_rng(11)
    X = np.where(gen.random((6, LAYERS[0])) < 0.8, 0.0, gen.uniform(0.1, 1.0, (6, LAYERS[0])))
    X[0] = gen.uniform(0.1, 1.0, LAYERS[0])  # the one dense row
    y = gen.integers(0, LAYERS[-1], 6)
    order = np.array([0, 0, 0, 0, 1, 2], dtype=np.int64)
    acts = ("relu", "relu", "softmax")
    cfg = OptimizerConfig("momentum", LR["momentum"])
    out = {}
    for backend in (NumpyBackend(), NumbaBackend(skip_zeros=True)):
        params = init_params(LAYERS, acts, np.random.default_rng(3), np.dtype(np.float64))
        state = OptimizerState.zeros("momentum", params.data.size, params.dtype)
        result = backend.train_epoch(params, acts, X, y, order, 2, cfg, state)
        out[backend.name] = (result.loss, params.data)
    assert math.isclose(out["numba"][0], out["numpy"][0], rel_tol=1e-12)
    assert np.allclose(out["numba"][1], out["numpy"][1], rtol=1e-10, atol=1e-12)
