"""Training plots as PNG files: curves, confusion matrix, mistakes, first-layer weights.

:func:`write_plots` is what ``python -m fastnn.train --plot DIR`` calls after
training; ``python -m fastnn.plots --model M --metrics-json J --out DIR``
(:mod:`fastnn.cli.plots`) makes the same files later from a saved model and the history in a metrics JSON, without
retraining. Files written:

- ``curves.png``: loss and accuracy per epoch, training and validation;
- ``confusion_matrix.png``: counts, coloured by the fraction of each true digit;
- ``misclassified.png``: up to 40 misclassified digits, predicted and true label;
- ``first_layer_weights.png``: each of up to 64 first-layer units' 784 weights as a
  28x28 image (red positive, blue negative, each unit on its own symmetric scale).

matplotlib is an optional extra (``pip install 'fastnn[plots]'``). Figures are made
with ``matplotlib.figure.Figure`` and the Agg canvas directly, never ``pyplot``: no
window opens, no display is needed and no global matplotlib state (a notebook's
backend) is touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.data import scale_pixels
from fastnn.data.images import optional_import
from fastnn.data.mnist_format import IMAGE_SIDE, N_PIXELS
from fastnn.errors import DataError, InvalidParameterError
from fastnn.metrics import confusion_matrix
from fastnn.model import MLP, EpochRecord

__all__ = ["PLOT_FILES", "write_plots"]

#: What write_plots writes, by kind.
PLOT_FILES = {
    "curves": "curves.png",
    "confusion": "confusion_matrix.png",
    "misclassified": "misclassified.png",
    "weights": "first_layer_weights.png",
}
MAX_MISCLASSIFIED, MAX_UNITS = 40, 64


def _figure(width: float, height: float) -> Any:
    optional_import("matplotlib", "plots", "writing plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")
    return path


def _field(record: EpochRecord | Mapping[str, Any], name: str) -> float | None:
    value = record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
    return None if value is None else float(value)


def plot_curves(history: Sequence[EpochRecord | Mapping[str, Any]], path: Path) -> Path:
    """Loss and accuracy (train and validation) per epoch."""
    fig = _figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [int(_field(r, "epoch") or i + 1) for i, r in enumerate(history)]
    marker = "o" if len(epochs) <= 30 else None
    panels = (
        (ax_loss, (("loss", "training (mean over the epoch)"), ("val_loss", "validation")), "loss", False),
        (ax_acc, (("train_accuracy", "training"), ("val_accuracy", "validation")), "accuracy (%)", True),
    )
    for ax, series, ylabel, pct in panels:
        for key, label in series:
            values = [_field(r, key) for r in history]
            points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, [y * 100 for y in ys] if pct else ys, marker=marker, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_loss.set_title("cross-entropy loss")
    ax_acc.set_title("accuracy")
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion(
    cm: np.ndarray, path: Path, what: str = "test", class_names: Sequence[str] | None = None
) -> Path:
    """Counts in each cell, coloured by the row fraction (recall for the diagonal).

    With ``class_names`` the axes are labelled with them ("Sneaker", not "7").
    """
    n = cm.shape[0]
    thing = "digit" if class_names is None else "class"
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = _figure(7, 6)
    ax = fig.subplots()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
    if class_names is None:
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
    else:
        ax.set_xticks(range(n), list(class_names), rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), list(class_names), fontsize=8)
    ax.set_xlabel(f"predicted {thing}")
    ax.set_ylabel(f"true {thing}")
    total = int(cm.sum())
    acc = np.trace(cm) / total if total else 0.0
    items = "digits" if class_names is None else "images"
    ax.set_title(f"confusion matrix: {acc:.2%} correct of {total:,} {what} {items}")
    fig.colorbar(im, ax=ax, label=f"fraction of the true {thing}")
    fig.tight_layout()
    return _save(fig, path)


def _mosaic(tiles: np.ndarray, cols: int, top: int = 0, gap: int = 2) -> np.ndarray:
    """(n, 28, 28) tiles on a grid, NaN between them (drawn as the background) and ``top``
    NaN rows above each (room for a label). One image draws far faster than n axes."""
    n = len(tiles)
    rows = max(1, -(-n // cols))
    cell_h, cell_w = top + IMAGE_SIDE + gap, IMAGE_SIDE + gap
    out = np.full((rows * cell_h, cols * cell_w - gap), np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        out[r * cell_h + top : r * cell_h + top + IMAGE_SIDE, c * cell_w : c * cell_w + IMAGE_SIDE] = tile
    return out


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="white")


def plot_misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: Path,
    limit: int = MAX_MISCLASSIFIED,
    class_names: Sequence[str] | None = None,
) -> Path:
    """The first ``limit`` misclassified digits, each labelled ``pred P / true T`` (or by class name)."""
    name = (lambda k: str(k)) if class_names is None else (lambda k: class_names[k])
    wrong = np.flatnonzero(y_true != y_pred)
    shown = wrong[:limit]
    cols, top = 8, 12
    rows = max(1, -(-len(shown) // cols))
    fig = _figure(cols * 1.25, rows * 1.55 + 0.5)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.99 - 0.45 / (rows * 1.55 + 0.5)))
    ax.axis("off")
    tiles = np.asarray(images, dtype=np.float64)[shown].reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    ax.imshow(_mosaic(tiles, cols, top), cmap=_cmap("gray_r"), vmin=0.0, vmax=1.0, interpolation="nearest")
    for k, i in enumerate(shown):
        r, c = divmod(k, cols)
        ax.text(
            c * 30 + 14,
            r * (top + 30) + top - 2,
            f"pred {name(y_pred[i])} / true {name(y_true[i])}"
            if class_names is None
            else f"{name(y_pred[i])}\n(true {name(y_true[i])})",
            ha="center",
            va="bottom",
            fontsize=8 if class_names is None else 5.5,
            color="tab:red",
        )
    if not len(wrong):
        title = f"no misclassified digits among {len(y_true):,}"
    else:
        more = f" (first {len(shown)} shown)" if len(wrong) > len(shown) else ""
        title = f"misclassified: {len(wrong):,} of {len(y_true):,}{more}"
    fig.suptitle(title)
    return _save(fig, path)


def plot_first_layer(W: np.ndarray, path: Path, limit: int = MAX_UNITS) -> Path:
    """Up to ``limit`` columns of ``W`` (784, n_hidden) as 28x28 images, each scaled to its max |w|."""
    units = min(W.shape[1], limit)
    cols = min(8, units)
    rows = -(-units // cols)
    w = W[:, :units].T.astype(np.float64)
    scale = np.abs(w).max(axis=1, keepdims=True)
    w = w / np.where(scale > 0, scale, 1.0)
    fig = _figure(cols * 1.1, rows * 1.1 + 0.5)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.99 - 0.45 / (rows * 1.1 + 0.5)))
    ax.axis("off")
    ax.imshow(
        _mosaic(w.reshape(-1, IMAGE_SIDE, IMAGE_SIDE), cols),
        cmap=_cmap("RdBu_r"),
        vmin=-1.0,
        vmax=1.0,
        interpolation="nearest",
    )
    shown = f"{units} of {W.shape[1]} units" if units < W.shape[1] else f"{units} units"
    fig.suptitle(f"first layer weights ({shown}; red positive, blue negative)")
    return _save(fig, path)


def write_plots(
    directory: str | os.PathLike[str],
    model: MLP,
    history: Sequence[EpochRecord | Mapping[str, Any]],
    x_test: np.ndarray,
    y_test: np.ndarray,
    split_name: str = "test",
    class_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write the training plots of ``model`` into ``directory`` (created if missing).

    Parameters
    ----------
    directory : path
    model : MLP
        Its first layer must take 784 pixels (28x28) for the weight images.
    history : sequence of EpochRecord or dict
        ``model.history``, or the ``"history"`` list of a ``--metrics-json`` file.
        Empty: no curves are drawn.
    x_test : numpy.ndarray, shape (n, 784)
        uint8 gray levels (scaled here in the model's dtype) or floats in [0, 1].
    y_test : numpy.ndarray, shape (n,)
        Labels. Empty (a data set without a test split): no confusion matrix and
        no misclassified digits.
    split_name : str
        What the images are, for the confusion matrix's title (``"validation"`` when
        a data set without a test split is evaluated on its validation split).
    class_names : sequence of str or None
        One name per class (Fashion-MNIST's "Sneaker"), used in the confusion matrix
        and the misclassified grid; None: the class numbers.

    Returns
    -------
    list of pathlib.Path
        The files written (see :data:`PLOT_FILES`).

    Raises
    ------
    fastnn.data.images.MissingDependencyError
        matplotlib is not installed (the message names ``pip install 'fastnn[plots]'``).
    DataError
        ``directory`` cannot be created or written.
    """
    optional_import("matplotlib", "plots", "writing plots")
    if model.layer_sizes[0] != N_PIXELS:
        raise InvalidParameterError(
            f"plots need a model of {IMAGE_SIDE}x{IMAGE_SIDE} = {N_PIXELS} inputs; got {model.layer_sizes[0]}"
        )
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the plot directory ({exc.strerror or exc})") from None
    x = np.asarray(x_test)
    x = scale_pixels(x, model.dtype) if x.dtype == np.uint8 else x.astype(model.dtype, copy=False)
    y = np.asarray(y_test)
    written = []
    if len(history):
        written.append(plot_curves(history, out / PLOT_FILES["curves"]))
    if len(y):
        pred = model.predict(x)
        cm = confusion_matrix(y, pred, model.n_classes)
        written.append(plot_confusion(cm, out / PLOT_FILES["confusion"], split_name, class_names))
        written.append(
            plot_misclassified(x, y, pred, out / PLOT_FILES["misclassified"], class_names=class_names)
        )
    written.append(plot_first_layer(model.params.W(0), out / PLOT_FILES["weights"]))
    return written
