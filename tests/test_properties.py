"""Property tests (hypothesis): numba agrees with numpy on random small networks.

Each example draws a network (1 to 4 weight layers, widths 1 to 12, a hidden
activation per layer), a data set (1 to 24 samples, dense or ~70% zeros with an
all-zero row), a batch size (1..n or full batch), an optimiser, weight decay and a
dtype; both backends train one epoch from the same seed and must agree within the
parity tolerances of ``test_backend_parity.py``. Predictions of either backend are
finite probability rows. Kept fast: a few dozen examples, no deadline (the first
example of a dtype may load compiled kernels from disk).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import MLP
from fastnn.activations import HIDDEN_ACTIVATIONS
from fastnn.optim import OPTIMIZERS

TOL = {"float32": 1e-4, "float64": 1e-10}
#: Stable learning rates (a diverging run amplifies rounding: see test_backend_parity.py).
LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.005}


@st.composite
def problems(draw):
    n_hidden = draw(st.integers(0, 3))
    sizes = (
        [draw(st.integers(1, 12))]
        + [draw(st.integers(1, 12)) for _ in range(n_hidden)]
        + [draw(st.integers(2, 12))]
    )
    acts = [draw(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in range(n_hidden)] + ["softmax"]
    n = draw(st.integers(1, 24))
    batch_size = draw(st.one_of(st.none(), st.integers(1, n)))
    sparse = draw(st.booleans())
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = gen.uniform(-1.0, 1.0, size=(n, sizes[0]))
    if sparse:
        X[gen.random(X.shape) < 0.7] = 0.0
        X[0] = 0.0
    y = gen.integers(0, sizes[-1], size=n)
    fit = dict(
        batch_size=batch_size,
        optimizer=draw(st.sampled_from(OPTIMIZERS)),
        weight_decay=draw(st.sampled_from([0.0, 1e-3])),
    )
    fit["lr"] = LR[fit["optimizer"]]
    return dict(
        sizes=sizes,
        acts=acts,
        X=X,
        y=y,
        dtype=draw(st.sampled_from(["float32", "float64"])),
        seed=draw(st.integers(0, 1000)),
        fit=fit,
    )


def _rel_err(actual, desired) -> float:
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    diff = float(np.max(np.abs(actual - desired), initial=0.0))
    scale = float(np.max(np.abs(desired), initial=0.0))
    return diff / scale if scale > 0 else diff


@settings(max_examples=40, deadline=None)
@given(problems())
def test_one_epoch_agrees_and_predictions_are_probabilities(p):
    models = {
        b: MLP(p["sizes"], p["acts"], backend=b, dtype=p["dtype"], seed=p["seed"]) for b in ("numpy", "numba")
    }
    for m in models.values():
        m.fit(p["X"], p["y"], epochs=1, train_accuracy=False, **p["fit"])
    nb, ref = models["numba"], models["numpy"]
    tol = TOL[p["dtype"]]
    what = f"{p['sizes']} {p['acts']} {p['dtype']} {p['fit']}"
    assert abs(nb.history[0].loss - ref.history[0].loss) <= tol * abs(ref.history[0].loss), f"loss {what}"
    assert _rel_err(nb.params.data, ref.params.data) <= tol, f"weights {what}"
    assert _rel_err(nb.optimizer_state.m, ref.optimizer_state.m) <= tol, f"optimizer state m {what}"
    assert _rel_err(nb.optimizer_state.s, ref.optimizer_state.s) <= tol, f"optimizer state s {what}"
    probas = {b: m.predict_proba(p["X"]) for b, m in models.items()}
    for b, proba in probas.items():
        assert proba.dtype == np.dtype(p["dtype"]), f"{b} predict_proba dtype {proba.dtype}"
        assert np.isfinite(proba).all(), f"{b} predict_proba not finite {what}"
        assert np.all((proba >= 0) & (proba <= 1)), f"{b} predict_proba outside [0, 1] {what}"
        sum_tol = 2 * p["sizes"][-1] * np.finfo(proba.dtype).eps  # one rounding per class
        np.testing.assert_allclose(
            proba.sum(axis=1), 1.0, rtol=sum_tol, err_msg=f"{b} predict_proba rows do not sum to 1 {what}"
        )
    assert float(np.max(np.abs(probas["numba"].astype(np.float64) - probas["numpy"]))) <= tol, (
        f"predict_proba {what}"
    )
