"""fastnn.sklearn: scikit-learn's own estimator checks, and the sklearn behaviour we promise.

The checks run on four instances: classifier and regressor, each with the numba backend
in float64 and the numpy backend in float32. Every check runs; the expected failures
are the ones ``expected_failed_checks`` lists, each with its reason.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn.errors import InvalidParameterError
from fastnn.sklearn import MLPClassifier, MLPRegressor, expected_failed_checks

#: Most fits here stop at a small max_iter on purpose; tests that expect the warning say so.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: Small and quick: the checks fit dozens of times on up to a few hundred samples.
CHECKED = [
    MLPClassifier((10,), max_iter=30, learning_rate_init=0.01, random_state=0),
    MLPRegressor((10,), max_iter=30, learning_rate_init=0.01, random_state=0),
    MLPClassifier(
        (10,), max_iter=30, learning_rate_init=0.01, random_state=0, backend="numpy", dtype="float32"
    ),
    MLPRegressor(
        (10,), max_iter=30, learning_rate_init=0.01, random_state=0, backend="numpy", dtype="float32"
    ),
]


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is kept small on purpose
        check(estimator)


def test_import_without_sklearn_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "fastnn.sklearn" or m.startswith("fastnn.sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r"fastnn\[sklearn\]"):
        importlib.import_module("fastnn.sklearn")


def _blobs(n: int = 150, n_classes: int = 3, seed: int = 0):
    gen = np.random.default_rng(seed)
    centres = gen.normal(scale=4.0, size=(n_classes, 5))
    y = np.arange(n) % n_classes
    return centres[y] + gen.normal(size=(n, 5)), y


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(np.array(["cat", "dog", "emu"]), id="strings"),
        pytest.param(np.array([-7, 3, 100]), id="non-contiguous-ints"),
        pytest.param(np.array(["no", "yes"]), id="binary"),
        pytest.param(np.arange(12) * 5, id="12-classes"),
    ],
)
def test_any_labels(labels):
    X, y = _blobs(240, len(labels))
    clf = MLPClassifier((16,), max_iter=60, random_state=0, learning_rate_init=0.01).fit(X, labels[y])
    assert_array_equal(clf.classes_, np.sort(labels))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(labels))
    assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, labels[y]) > 0.9
    assert clf.n_iter_ >= 1 and len(clf.loss_curve_) == clf.n_iter_


def test_partial_fit_needs_classes_first_and_then_learns():
    X, y = _blobs()
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier((16,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, labels)
    clf.partial_fit(X[:20], labels[:20], classes=["c", "b", "a"])
    assert_array_equal(clf.classes_, ["a", "b", "c"])
    first = clf.score(X, labels)
    for _ in range(30):
        clf.partial_fit(X, labels)
    assert clf.score(X, labels) > max(first, 0.9)
    with pytest.raises(ValueError, match="not seen in classes_"):
        clf.partial_fit(X[:3], ["a", "b", "zebra"])
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, labels, classes=["a", "b"])


def test_partial_fit_keeps_the_optimizer_state_and_fit_starts_afresh():
    X, y = _blobs()
    clf = MLPClassifier((8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y)
    assert clf._model.optimizer_state.t[0] == 2  # one full batch per call, Adam steps carry on
    clf.set_params(warm_start=True, max_iter=1)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf._model.optimizer_state.t[0] == 1  # fit makes a new optimiser, as sklearn does


def test_pipeline_and_grid_search():
    X, y = _blobs(120)
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((8,), max_iter=80, random_state=0, learning_rate_init=0.02)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert pipe.fit(X, y).score(X, y) > 0.9
        grid = GridSearchCV(
            MLPRegressor(max_iter=40, random_state=0, learning_rate_init=0.01),
            {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1e-1]},
            cv=2,
        ).fit(X, X[:, 0] - X[:, 1])
    assert set(grid.best_params_) == {"hidden_layer_sizes", "alpha"}
    assert grid.best_estimator_.n_features_in_ == 5


def test_get_set_params_and_clone():
    clf = MLPClassifier((5, 3), activation="tanh", backend="numpy", dtype="float32", alpha=0.5)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (5, 3) and params["backend"] == "numpy"
    copy = clone(clf.set_params(max_iter=7))
    assert copy.get_params() == clf.get_params() and copy is not clf
    X, y = _blobs(60)
    with pytest.warns(ConvergenceWarning):
        copy.fit(X, y)
    assert [W.shape for W in copy.coefs_] == [(5, 5), (5, 3), (3, 3)]
    assert all(W.dtype == np.float32 for W in copy.coefs_ + copy.intercepts_)


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("solver", "lbfgs", "no 'lbfgs'"),
        ("activation", "softmax", "activation"),
        ("hidden_layer_sizes", (4, 0), "hidden_layer_sizes"),
        ("batch_size", 0, "batch_size"),
        ("alpha", -1.0, "alpha"),
        ("backend", "torch", "backend"),
        ("dtype", "float16", "dtype"),
        ("validation_fraction", 1.0, "validation_fraction"),
    ],
)
def test_bad_parameters_are_named(param, value, match):
    X, y = _blobs(30)
    with pytest.raises(InvalidParameterError, match=match):
        MLPClassifier(**{param: value}).fit(X, y)


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = _blobs(200)
    clf = MLPClassifier(
        (8,), early_stopping=True, n_iter_no_change=3, max_iter=200, random_state=0, learning_rate_init=0.05
    ).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    with pytest.raises(ValueError, match="early_stopping"):
        clf.partial_fit(X, y)


def test_verbose_prints_sklearns_lines(capsys):
    X, y = _blobs(40)
    with pytest.warns(ConvergenceWarning):
        MLPRegressor((4,), max_iter=2, verbose=True, random_state=0).fit(X, y.astype(float))
    assert capsys.readouterr().out.splitlines()[0].startswith("Iteration 1, loss = ")


# ----------------------------------------------------- the same maths as sklearn
SOLVERS = [
    dict(solver="sgd", momentum=0.0),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="adam"),
]


def _one_epoch_each(ours, theirs, X, y, start_from):
    """Fit both once (to build them), give both the same weights, fit one more epoch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
        for W, b, W0, b0 in zip(ours.coefs_, ours.intercepts_, *start_from, strict=True):
            W[...], b[...] = W0, b0
        theirs.coefs_ = [W.copy() for W in start_from[0]]
        theirs.intercepts_ = [b.copy() for b in start_from[1]]
        ours.set_params(warm_start=True).fit(X, y)
        theirs.set_params(warm_start=True).fit(X, y)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: "-".join(map(str, s.values())))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_one_epoch_equals_sklearns(kind, solver, backend):
    """From the same weights, with the batches in the same order (shuffle=False) and a
    short last batch (50 = 3 x 16 + 2), one epoch gives sklearn's weights and loss:
    alpha maps exactly onto fastnn's weight decay, each solver onto its optimiser."""
    gen = np.random.default_rng(1)
    X = gen.normal(size=(50, 4))
    common = dict(hidden_layer_sizes=(6, 5), activation="tanh", batch_size=16, max_iter=1, shuffle=False)
    common.update(solver, alpha=0.3, learning_rate_init=0.05, random_state=0)
    if kind == "classifier":
        y = gen.integers(0, 3, size=50)
        ours, theirs = MLPClassifier(**common, backend=backend), SkMLPClassifier(**common)
    else:
        y = np.c_[X[:, 0] - X[:, 1], X[:, 2] * X[:, 3]]  # two outputs
        ours, theirs = MLPRegressor(**common, backend=backend), SkMLPRegressor(**common)
    sizes = [4, 6, 5, 3 if kind == "classifier" else 2]
    start = (
        [gen.normal(scale=0.5, size=(a, b)) for a, b in itertools.pairwise(sizes)],
        [gen.normal(scale=0.1, size=b) for b in sizes[1:]],
    )
    _one_epoch_each(ours, theirs, X, y, start)
    for i, (W, W_sk) in enumerate(
        zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True)
    ):
        assert_allclose(W, W_sk, rtol=1e-10, atol=1e-12, err_msg=f"parameter {i}")
    # Only the L2 term's weights differ (ours: after the epoch; sklearn's: before each batch).
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.02)
    assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)


def test_loss_without_alpha_is_sklearns_exactly():
    gen = np.random.default_rng(2)
    X = gen.normal(size=(50, 4))
    y = np.c_[X[:, 0], X[:, 1] - X[:, 2], X[:, 3]]
    common = dict(hidden_layer_sizes=(6,), batch_size=16, max_iter=1, shuffle=False, alpha=0.0, solver="sgd")
    ours, theirs = MLPRegressor(**common), SkMLPRegressor(**common)
    start = ([gen.normal(size=(4, 6)), gen.normal(size=(6, 3))], [np.zeros(6), np.zeros(3)])
    _one_epoch_each(ours, theirs, X, y, start)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)


def test_feature_names_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _blobs(60)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    reg = MLPRegressor((4,), max_iter=3).fit(frame, y.astype(float))
    assert_array_equal(reg.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        reg.predict(X)


#: How far fastnn's test accuracy may be from scikit-learn's (percentage points):
#: the networks start from different random weights and see the batches in a
#: different order, so they agree in distribution, not digit for digit.
ACCURACY_POINTS = 1.5


@pytest.mark.slow
def test_same_test_accuracy_as_sklearn_on_embedded_mnist():
    """The same settings on the same 4,000/1,000 embedded MNIST digits: fastnn's
    MLPClassifier reaches scikit-learn's test accuracy within ACCURACY_POINTS."""
    from fastnn.data import load_embedded

    data = load_embedded()
    X, Xt = data.x_train / 255.0, data.x_test / 255.0
    settings = dict(hidden_layer_sizes=(64,), solver="adam", batch_size=200, max_iter=10, random_state=0)
    theirs = SkMLPClassifier(**settings).fit(X, data.y_train).score(Xt, data.y_test)
    ours = MLPClassifier(**settings).fit(X, data.y_train).score(Xt, data.y_test)
    assert theirs > 0.88, f"sklearn itself reached only {theirs:.3f}: the settings are too weak to compare"
    assert abs(ours - theirs) * 100 <= ACCURACY_POINTS, f"fastnn {ours:.4f} vs sklearn {theirs:.4f}"
