"""The epoch loop of ``MLP.fit``: shuffle, train an epoch, check it, record it, decide.

``MLP.fit`` checks its options (:class:`fastnn.fit_config.FitConfig`) and hands the
model and data to :func:`train`, which owns everything that happens between epochs:
the shuffle, the learning rate of the epoch, divergence, the validation figures, the
record, early stopping and the callback. The model keeps the state (weights, optimiser,
RNG, history); the backend only computes.

An epoch either completes or leaves no trace: weights, optimiser state and shuffle RNG
are saved before it and put back if it fails, diverges or is interrupted, so a resumed
run draws the same shuffle again. Nothing here touches X beyond the backend's training
passes (no second pass, no per-epoch copy): an epoch's ``seconds`` is all the wall time
fit spent on it, and summed over the epochs they are fit's wall time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.errors import InvalidParameterError, TrainingDivergedError
from fastnn.fit_config import FitConfig
from fastnn.optim import OptimizerState
from fastnn.threads import limit_threads
from fastnn.validation import check_X

if TYPE_CHECKING:  # for annotations only: the model imports this module
    from fastnn.model import MLP


@dataclass
class EpochRecord:
    """What one epoch of ``fit`` measured."""

    epoch: int
    loss: float
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    samples_per_second: float
    lr: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: ``fit``'s per-epoch hook: gets the record, returns True to stop.
Callback = Callable[[EpochRecord], "bool | None"]

#: An epoch's mean loss above this many times log(n_classes) counts as divergence.
DIVERGENCE_FACTOR = 100.0


def diverged(loss: float, n_classes: int) -> bool:
    """Whether an epoch's mean cross-entropy means training has blown up.

    Non-finite, or more than :data:`DIVERGENCE_FACTOR` times ``log(n_classes)``, the
    loss of a network that guesses uniformly, which is about where training starts
    (2.3 for 10 classes; divergence is then above 230). A mean loss that high means
    the logits differ by hundreds on average, wrongly: the weights have exploded
    (e.g. losses of 1e37 with lr 1e10), even while every number is still finite.
    """
    return not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * math.log(n_classes)


def train(
    model: MLP,
    X: Any,
    y: Any,
    config: FitConfig,
    validation: tuple[Any, Any] | None,
    callback: Callback | None,
    started: float,
) -> None:
    """Check the data against ``model``, then train it as ``config`` says (``started``:
    when ``fit`` was called, so the first epoch's time includes these checks)."""
    if callback is not None and not callable(callback):
        raise InvalidParameterError(f"the 'callback' parameter must be callable or None; got {callback!r}")
    X, y, validation = _checked_data(model, X, y, validation)
    n = X.shape[0]
    bs = config.batch_size_for(n)
    run_length = config.run_length(model.epochs_trained)
    stopper = config.stopper(validation is not None, model.is_regressor)
    if (
        stopper is not None
        and stopper.best_params is not None
        and stopper.best_params.shape != (shape := model.params.data.shape)
    ):
        raise InvalidParameterError(
            f"the 'early_stopping' object holds best weights of shape {stopper.best_params.shape}; this "
            f"model's have shape {shape} (is its state from another network?)"
        )
    model.best_epoch = None
    opt = config.optimizer_config
    if model.optimizer_state is None or model.optimizer_state.name != opt.name:
        model.optimizer_state = OptimizerState.zeros(opt.name, model.params.data.shape[0], model.dtype)

    mark = started
    with limit_threads(model.threads):
        # Once per fit, not per epoch; the first layer's width helps the numba
        # backend choose between its sparse and dense first layer.
        prepared = model.backend.prepare(X, bs, model.layer_sizes[1])
        for _ in range(config.epochs):
            if stopper is not None and stopper.stopped:
                break  # a state resumed after it stopped: the run is over
            loss, accuracy, lr = _epoch(model, X, y, bs, config, run_length, prepared)
            val_loss = val_acc = None
            if validation is not None:
                val_loss, val_acc = model._loss_and_accuracy(*validation)
            stop = stopper is not None and stopper.update(
                stopper.monitored(loss, val_loss, val_acc), model.epochs_trained, model.params.data
            )
            # An epoch's time is all the wall time fit spent on it (the first also
            # carries fit's checks and per-fit preparation), so summed over the
            # epochs it is what a stopwatch around fit sees.
            now = time.perf_counter()
            seconds, mark = now - mark, now
            record = EpochRecord(
                model.epochs_trained,
                loss,
                accuracy if config.train_accuracy and not model.is_regressor else None,
                val_loss,
                val_acc,
                seconds,
                n / seconds if seconds > 0 else math.inf,
                lr,
            )
            model.history.append(record)
            # The callback sees the epoch's record and early stopping already updated
            # (so a checkpoint it writes holds both), and the weights before any restore.
            if callback is not None and callback(record):
                stop = True
            mark = time.perf_counter()  # the callback's own time is the caller's
            if stop:
                break
    if stopper is not None and stopper.restore_best:
        stopper.restore(model)  # the best epoch's weights, as Keras' restore_best_weights


def _checked_data(
    model: MLP, X: Any, y: Any, validation: tuple[Any, Any] | None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """X, y and the validation pair as the backend needs them (C-contiguous, the model's
    dtype, labels int64), or InvalidParameterError naming the argument."""
    X = check_X(X, model.layer_sizes[0], model.dtype)
    y = model._check_targets(y, X.shape[0])
    if validation is None:
        return X, y, None
    try:
        Xv, yv = validation
    except (TypeError, ValueError):
        raise InvalidParameterError(
            "the 'validation' parameter must be a pair (X_val, y_val) or None"
        ) from None
    Xv = check_X(Xv, model.layer_sizes[0], model.dtype, name="validation X")
    return X, y, (Xv, model._check_targets(yv, Xv.shape[0], name="validation y"))


def _epoch(
    model: MLP, X: np.ndarray, y: np.ndarray, bs: int, config: FitConfig, run_length: int, prepared: Any
) -> tuple[float, float | None, float]:
    """Train one epoch; returns (mean loss, running accuracy, learning rate). On any
    failure, divergence or interrupt the model is put back as it was before the epoch."""
    # Everything an epoch changes is saved first.
    assert model.optimizer_state is not None
    good = model.params.data.copy()
    good_state = model.optimizer_state.copy()
    good_rng = model.shuffle_rng.bit_generator.state
    n = X.shape[0]
    order = (
        np.arange(n, dtype=np.int64)
        if bs >= n or not config.shuffle
        else model.shuffle_rng.permutation(n).astype(np.int64)
    )
    cfg = config.optimizer_config
    lr = config.lr_of_epoch(model.epochs_trained, run_length)
    epoch_cfg = dataclasses.replace(cfg, lr=lr) if lr != cfg.lr else cfg
    try:
        # Overflow is expected when a run diverges; it is detected just below,
        # so NumPy's warnings (errors under -W error) must not pre-empt that.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = model.backend.train_epoch(
                model.params,
                model.activations,
                X,
                y,
                order,
                bs,
                epoch_cfg,
                model.optimizer_state,
                prepared=prepared,
            )
    except BaseException:
        # Interrupted or failed mid-epoch: never leave half-updated weights.
        _restore(model, good, good_state, good_rng)
        raise
    loss = result.loss
    blown_up = not math.isfinite(loss) if model.is_regressor else diverged(loss, model.n_classes)
    if blown_up or not np.isfinite(model.params.data).all():
        _restore(model, good, good_state, good_rng)
        what = (
            f"the loss became {loss:.4g}"
            + (
                ""
                if not math.isfinite(loss)
                else f", more than {DIVERGENCE_FACTOR:g} x log({model.n_classes}) (what always "
                "guessing uniformly costs)"
            )
            if blown_up
            else "the weights overflowed to NaN or infinity"
        )
        raise TrainingDivergedError(
            f"training diverged in epoch {model.epochs_trained + 1}: {what}; the "
            f"weights from before that epoch were kept. Try a lower learning rate "
            f"than lr={cfg.lr}."
        )
    model.epochs_trained += 1
    return loss, result.accuracy, lr


def _restore(model: MLP, data: np.ndarray, state: OptimizerState, rng_state: Mapping[str, Any]) -> None:
    model.params.data[...] = data
    model.optimizer_state = state
    model.shuffle_rng.bit_generator.state = rng_state
