"""``MLPClassifier`` and ``MLPRegressor``: sklearn's estimators, trained by fastnn.

Parameters mean what they mean in ``sklearn.neural_network`` (see ``_base`` for how
the solver is reproduced), plus ``backend`` (``"numba"`` or ``"numpy"``) and ``dtype``
(``"float64"``, sklearn's precision, or ``"float32"``, faster).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from fastnn.sklearn._base import BaseMLP


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier (softmax output, cross-entropy loss).

    A drop-in for ``sklearn.neural_network.MLPClassifier`` with solver ``adam`` or
    ``sgd``. Labels may be any sortable values (strings, non-contiguous integers);
    binary problems use a 2-unit softmax, which gives the same probabilities as
    sklearn's single logistic unit would for the same logit difference. Multi-label
    targets are not supported.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_iter_, t_, loss_, loss_curve_, best_loss_, n_features_in_, feature_names_in_,
    n_outputs_, coefs_, intercepts_, n_layers_, out_activation_,
    validation_scores_, best_validation_score_
        As in sklearn; ``coefs_``/``intercepts_`` are views of the network's parameters.
    """

    _output = "softmax"

    def _encode_targets(self, y: Any, first: bool, classes: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            found = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if found.shape[0] < 2:
                raise ValueError(
                    f"MLPClassifier needs samples of at least 2 classes to learn from; got 1 class: {found}"
                )
            self.classes_ = found
        pos = np.searchsorted(self.classes_, y)
        pos = np.minimum(pos, len(self.classes_) - 1)
        unknown = self.classes_[pos] != y
        if unknown.any():
            raise ValueError(
                f"y contains labels not seen in classes_ {list(self.classes_)}: {sorted(set(y[unknown]))}"
            )
        return pos.astype(np.int64)

    def _n_outputs(self, Y: np.ndarray) -> int:
        return len(self.classes_)

    def _validation_score(self, X: np.ndarray, Y: np.ndarray) -> float:
        return float(np.mean(self._model._outputs(X).argmax(axis=1) == Y))

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch on ``(X, y)`` from the current state (optimiser state included).
        ``classes`` (every label that will ever be seen) is required on the first call."""
        first_call = not hasattr(self, "_model")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first_call and classes is not None and not np.array_equal(self.classes_, np.unique(classes)):
            raise ValueError(
                f"`classes={list(np.unique(classes))}` is not the same as on the first call to "
                f"partial_fit, which was {list(self.classes_)}"
            )
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return self._forward(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, from ``classes_``."""
        best = self._forward(X).argmax(axis=1)  # checks first that the model is fitted
        return self.classes_[best]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        tags.classifier_tags.multi_label = False
        tags.input_tags.sparse = False
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor (identity output, squared-error loss).

    A drop-in for ``sklearn.neural_network.MLPRegressor`` with solver ``adam`` or
    ``sgd``; ``y`` may be 1-D or 2-D (several outputs). ``loss_curve_`` is in sklearn's
    units, ``0.5 * mean over samples and outputs of (y - y_hat)**2`` plus the L2 term.

    Its fitted attributes are ``MLPClassifier``'s without ``classes_``.
    """

    _output = "identity"

    def _encode_targets(self, y: Any, first: bool, classes: Any) -> np.ndarray:
        Y = np.asarray(y, dtype=np.float64)
        return Y[:, None] if Y.ndim == 1 else Y

    def _n_outputs(self, Y: np.ndarray) -> int:
        return Y.shape[1]

    def _report_loss(self, data_loss: float) -> float:
        return data_loss / self.n_outputs_

    def _validation_score(self, X: np.ndarray, Y: np.ndarray) -> float:
        return float(r2_score(Y, self._model._outputs(X)))

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch on ``(X, y)`` from the current state (optimiser state included)."""
        return self._fit(X, y, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = False
        return tags


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """The scikit-learn estimator checks that ``estimator`` is expected to fail, each with
    the reason: pass it as ``expected_failed_checks`` to ``parametrize_with_checks`` or
    ``check_estimator`` (scikit-learn >= 1.6 has no estimator tag for this any more)."""
    failed: dict[str, str] = {}
    if isinstance(estimator, MLPRegressor) and np.dtype(estimator.dtype) == np.float32:
        failed["check_regressor_multioutput"] = (
            "with dtype='float32' the network computes and predicts in float32, and this "
            "check requires float64 predictions for multi-output regression"
        )
    return failed
