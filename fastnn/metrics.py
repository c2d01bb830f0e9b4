"""Classification metrics: loss and accuracy from probabilities; confusion matrix,
precision, recall, F1 from labels (NumPy only).

Conventions are scikit-learn's, so numbers can be checked against it: the confusion
matrix has true classes as rows and predicted classes as columns; precision of class
``k`` is ``cm[k, k] / cm[:, k].sum()``, recall ``cm[k, k] / cm[k, :].sum()``, F1 their
harmonic mean, and a ratio whose denominator is 0 is reported as 0.0
(``zero_division=0``). Macro averages weight every class equally, weighted averages
by support (the number of true samples of the class).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastnn.errors import InvalidParameterError
from fastnn.mnist_format import N_CLASSES
from fastnn.validation import check_y, choice_error

__all__ = [
    "ClassReport",
    "classification_report",
    "confusion_matrix",
    "format_confusion_matrix",
    "format_report",
]


def loss_and_accuracy(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of predicted probabilities ``proba`` (n, classes)
    for valid labels ``y``. A probability that underflowed to 0 is clipped to the
    dtype's smallest normal number for the loss only, so it reads large, not inf."""
    tiny = np.finfo(proba.dtype).tiny
    p_true = np.maximum(proba[np.arange(len(y)), y].astype(np.float64), tiny)
    return float(-np.mean(np.log(p_true))), float(np.mean(proba.argmax(axis=1) == y))


def loss_and_accuracy_from_logits(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy from the output layer's pre-activations ``logits``.

    The loss is ``logsumexp(z) - z[y]`` per sample in float64, as training computes it:
    exact however confident a wrong answer is, where ``-log(max(p, tiny))`` from the
    probabilities would cap each sample at 87.3 (float32) or 708.4 (float64).
    """
    z = logits.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        z_max = z.max(axis=1, keepdims=True)
        lse = z_max[:, 0] + np.log(np.exp(z - z_max).sum(axis=1))
        loss = float(np.mean(lse - z[np.arange(len(y)), y]))
    return loss, float(np.mean(logits.argmax(axis=1) == y))


def squared_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean over samples of ``0.5 * sum_j (outputs_j - targets_j)**2``: the loss an identity
    (regression) output is trained with, as ``MLP.fit`` reports it (float64)."""
    diff = outputs.astype(np.float64) - targets
    return float(0.5 * np.sum(diff * diff) / max(len(diff), 1))


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int = N_CLASSES) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Returns
    -------
    numpy.ndarray
        int64, shape (n_classes, n_classes): ``cm[i, j]`` is the number of samples of
        true class ``i`` predicted as ``j``. Rows sum to the class supports, the whole
        matrix to the number of samples, the diagonal to the number correct.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise InvalidParameterError(f"the 'n_classes' parameter must be a positive int; got {n_classes!r}")
    t = check_y(y_true, None, n_classes, "y_true")
    p = check_y(y_pred, None, n_classes, "y_pred")
    if t.shape != p.shape:
        raise InvalidParameterError(f"y_true and y_pred must have the same length; got {t.size} and {p.size}")
    counts = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class ClassReport:
    """Per-class and averaged metrics of a confusion matrix (see the module docstring)."""

    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.confusion.sum())

    @property
    def n_correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n_samples if self.n_samples else 0.0

    def average(self, kind: str) -> dict[str, float]:
        """``macro`` (classes equally) or ``weighted`` (by support) precision, recall, F1."""
        if kind == "macro":
            w = np.full(len(self.support), 1.0 / len(self.support))
        elif kind == "weighted":
            w = self.support / self.support.sum() if self.support.sum() else np.zeros(len(self.support))
        else:
            raise choice_error("kind", ["macro", "weighted"], kind)
        return {
            "precision": float(w @ self.precision),
            "recall": float(w @ self.recall),
            "f1": float(w @ self.f1),
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: per-class rows, both averages and the matrix as nested lists."""
        return {
            "accuracy": self.accuracy,
            "n_samples": self.n_samples,
            "n_correct": self.n_correct,
            "per_class": [
                {
                    "class": k,
                    "precision": float(self.precision[k]),
                    "recall": float(self.recall[k]),
                    "f1": float(self.f1[k]),
                    "support": int(self.support[k]),
                }
                for k in range(len(self.support))
            ],
            "macro_avg": self.average("macro"),
            "weighted_avg": self.average("weighted"),
            "confusion_matrix": self.confusion.tolist(),
        }


def classification_report(confusion: npt.ArrayLike) -> ClassReport:
    """Precision, recall, F1 and support for each class of a square confusion matrix."""
    cm = np.asarray(confusion)
    square = cm.ndim == 2 and cm.shape[0] == cm.shape[1]
    if not square or not np.issubdtype(cm.dtype, np.integer) or (cm < 0).any():
        raise InvalidParameterError(
            "the 'confusion' parameter must be a square matrix of non-negative "
            f"counts; got {cm.dtype} {cm.shape}"
        )
    cm = cm.astype(np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return ClassReport(cm, precision, recall, f1, support)


def class_labels(n_classes: int, class_names: Sequence[str] | None = None) -> list[str]:
    """Row labels: ``"7"``, or ``"7 Sneaker"`` when the classes have names."""
    if class_names is None:
        return [str(k) for k in range(n_classes)]
    return [f"{k} {name}" for k, name in enumerate(class_names)]


def format_report(report: ClassReport, class_names: Sequence[str] | None = None) -> str:
    """Aligned table: one row per class (named when ``class_names`` are given), then averages."""
    w = max(7, len(f"{int(report.support.sum()):,}"))
    labels = class_labels(len(report.support), class_names)
    lw = max(12, *(len(s) for s in labels))
    lines = [f"{'class':>{lw}}  precision  recall      f1  {'support':>{w}}"]
    for k, label in enumerate(labels):
        lines.append(
            f"{label:>{lw}}  {report.precision[k]:9.4f}  {report.recall[k]:6.4f}  {report.f1[k]:6.4f}  "
            f"{int(report.support[k]):>{w},}"
        )
    for kind in ("macro", "weighted"):
        avg = report.average(kind)
        lines.append(
            f"{kind + ' avg':>{lw}}  {avg['precision']:9.4f}  {avg['recall']:6.4f}  {avg['f1']:6.4f}  "
            f"{int(report.support.sum()):>{w},}"
        )
    return "\n".join(lines)


def format_confusion_matrix(confusion: np.ndarray, class_names: Sequence[str] | None = None) -> str:
    """Aligned matrix with row and column labels and row/column totals.

    With ``class_names`` each row is labelled ``"7 Sneaker"``; columns keep the
    class numbers, so the matrix stays narrow.
    """
    cm = np.asarray(confusion)
    n = cm.shape[0]
    w = max(4, len(str(int(cm.sum()))) + 1)
    labels = class_labels(n, class_names)
    lw = max(9, *(len(s) for s in labels))
    head = (
        f"{'true' + chr(92) + 'pred':>{lw}}" + "".join(f"{j:>{w}}" for j in range(n)) + f"{'total':>{w + 2}}"
    )
    lines = [head]
    for i in range(n):
        lines.append(
            f"{labels[i]:>{lw}}" + "".join(f"{int(c):>{w}}" for c in cm[i]) + f"{int(cm[i].sum()):>{w + 2}}"
        )
    lines.append(
        f"{'total':>{lw}}" + "".join(f"{int(c):>{w}}" for c in cm.sum(axis=0)) + f"{int(cm.sum()):>{w + 2}}"
    )
    return "\n".join(lines)
