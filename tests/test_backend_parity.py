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
each path on data with inputs idle for whole batches and epochs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastnn import MLP
from fastnn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.backends.numpy_backend import NumpyBackend
from fastnn.errors import InvalidParameterError
from fastnn.optim import OPTIMIZERS, OptimizerConfig, OptimizerState
from fastnn.params import Params, init_params

LAYERS = (12, 7, 5, 3)
#: Max |numba - numpy| / max |numpy| after several steps (issue 3).
TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
#: Stable learning rates for tiny_data (see the module docstring).
LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.005}
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


def regression_targets(X: np.ndarray) -> np.ndarray:
    """Smooth float targets for tiny_data, one column per output unit: each 4-feature
    block's sum (what the labels take the argmax of), centred."""
    sums = X.reshape(len(X), LAYERS[-1], -1).sum(axis=2)
    return sums - sums.mean(axis=0)


def _outputs(model: MLP, X: np.ndarray) -> np.ndarray:
    return model.predict(X) if model.is_regressor else model.predict_proba(X)


def _rel_err(actual, desired) -> float:
    """max |actual - desired| / max |desired| in float64 (the absolute max if desired is 0)."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    diff = float(np.max(np.abs(actual - desired), initial=0.0))
    scale = float(np.max(np.abs(desired), initial=0.0))
    return diff / scale if scale > 0 else diff


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


# ------------------------------------------------------------------ bad input
def _bad_input_case():
    """Valid float64 arguments for NumbaBackend.train_epoch, to be spoiled one at a time."""
    gen = np.random.default_rng(0)
    X = gen.random((9, LAYERS[0]))
    y = gen.integers(0, LAYERS[-1], 9)
    params = init_params(LAYERS, ("relu", "relu", "softmax"), gen, np.dtype(np.float64))
    return dict(
        params=params,
        activations=("relu", "relu", "softmax"),
        X=X,
        y=y,
        order=np.arange(9),
        batch_size=1,
        cfg=OptimizerConfig("adam", 0.01),
        state=OptimizerState.zeros("adam", params.data.size, params.dtype),
    )


def _float16_params(kw):
    data = kw["params"].data.astype(np.float16)
    return dict(
        params=Params(LAYERS, data),
        X=kw["X"].astype(np.float16),
        state=OptimizerState.zeros("adam", data.size, data.dtype),
    )


#: spoil(kwargs) -> overrides, and the message the adapter's check must give.
BAD_INPUTS = [
    pytest.param(
        lambda kw: dict(y=np.where(kw["y"] == 0, LAYERS[-1], kw["y"])), "labels in", id="label-too-large"
    ),
    pytest.param(lambda kw: dict(y=kw["y"] - 1), "labels in", id="label-negative"),
    pytest.param(lambda kw: dict(y=kw["y"][:-1]), "one label per sample", id="labels-wrong-length"),
    pytest.param(lambda kw: dict(y=kw["y"][:, None]), "shape", id="labels-2d"),
    pytest.param(lambda kw: dict(X=kw["X"].astype(np.float32)), "dtype float64", id="X-float32"),
    pytest.param(lambda kw: dict(X=(kw["X"] > 0.5).astype(np.int64)), "dtype float64", id="X-int"),
    pytest.param(lambda kw: dict(X=kw["X"][:, :-1]), "columns", id="X-wrong-width"),
    pytest.param(lambda kw: dict(X=kw["X"][0]), "2-D", id="X-1d"),
    pytest.param(lambda kw: dict(X=kw["X"].tolist()), "2-D", id="X-list"),
    pytest.param(
        lambda kw: dict(state=OptimizerState.zeros("adam", kw["params"].data.size, np.dtype(np.float32))),
        "state",
        id="state-float32",
    ),
    pytest.param(
        lambda kw: dict(state=OptimizerState.zeros("adam", 5, np.dtype(np.float64))),
        "state",
        id="state-short",
    ),
    pytest.param(lambda kw: dict(order=kw["order"] + 1), "order", id="order-out-of-range"),
    pytest.param(lambda kw: dict(order=kw["order"] - 1), "order", id="order-negative"),
    pytest.param(
        lambda kw: dict(activations=("relu", "softmax")), "activations", id="wrong-number-of-activations"
    ),
    pytest.param(lambda kw: dict(y=kw["y"] + 0.5), "y", id="labels-float-fractional"),
    pytest.param(lambda kw: dict(order=kw["order"] + 0.5), "order", id="order-float"),
    pytest.param(_float16_params, "dtype", id="params-float16"),
    pytest.param(lambda kw: dict(activations=("softmax", "relu", "softmax")), "output", id="softmax-hidden"),
    pytest.param(lambda kw: dict(batch_size=0), "batch_size", id="batch-size-zero"),
    pytest.param(lambda kw: dict(batch_size=2.5), "batch_size", id="batch-size-float"),
]


@pytest.mark.parametrize(("spoil", "match"), BAD_INPUTS)
def test_numba_train_epoch_rejects_bad_input(spoil, match):
    kw = _bad_input_case()
    kw.update(spoil(kw))
    before = kw["params"].data.copy()
    with pytest.raises(InvalidParameterError, match=match):
        NumbaBackend().train_epoch(
            kw["params"],
            kw["activations"],
            kw["X"],
            kw["y"],
            kw["order"],
            kw["batch_size"],
            kw["cfg"],
            kw["state"],
        )
    assert_array_equal(kw["params"].data, before, err_msg="a rejected call changed the weights")


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_numba_backend_rejects_a_skip_zeros_that_is_not_none_or_bool(value):
    with pytest.raises(InvalidParameterError, match="'skip_zeros' parameter must be None, True or False"):
        NumbaBackend(skip_zeros=value)


def test_numba_loss_and_gradient_rejects_labels_out_of_range():
    kw = _bad_input_case()
    y = kw["y"].copy()
    y[3] = LAYERS[-1]
    with pytest.raises(InvalidParameterError, match="labels in"):
        NumbaBackend().loss_and_gradient(
            kw["params"], kw["activations"], kw["X"], y, kw["params"].zeros_like()
        )


def test_reference_also_trains_on_the_bad_input_base_case():
    """The base case of the bad-input tests is valid: both backends train on it alike."""
    results = []
    for backend in (NumpyBackend(), NumbaBackend()):
        kw = _bad_input_case()
        result = backend.train_epoch(
            kw["params"],
            kw["activations"],
            kw["X"],
            kw["y"],
            kw["order"],
            kw["batch_size"],
            kw["cfg"],
            kw["state"],
        )
        results.append((result, kw["params"].data))
    assert results[0][0].loss == pytest.approx(results[1][0].loss, rel=1e-12)
    assert results[0][0].accuracy == results[1][0].accuracy
    assert _rel_err(results[1][1], results[0][1]) <= TOL[np.dtype(np.float64)]


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


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda Y: Y[:, :-1], id="too-few-columns"),
        pytest.param(lambda Y: Y[:-1], id="too-few-rows"),
        pytest.param(lambda Y: Y.astype(np.float32), id="wrong-dtype"),
        pytest.param(lambda Y: np.zeros(len(Y), dtype=np.int64), id="labels-for-a-regressor"),
    ],
)
def test_numba_train_epoch_rejects_bad_regression_targets(spoil, tiny_data):
    """An identity output takes (n, n_outputs) float targets of the parameters' dtype,
    checked before any kernel runs (Numba does not bounds-check)."""
    X, _ = tiny_data
    acts = ("relu", "relu", "identity")
    params = init_params(LAYERS, acts, np.random.default_rng(0), np.dtype(np.float64))
    before = params.data.copy()
    state = OptimizerState.zeros("sgd", params.data.size, params.dtype)
    with pytest.raises(InvalidParameterError, match="identity"):
        NumbaBackend().train_epoch(
            params, acts, X, spoil(regression_targets(X)), np.arange(len(X)), 8, OptimizerConfig(), state
        )
    assert_array_equal(params.data, before)
