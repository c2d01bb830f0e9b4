"""The public model: an MLP with softmax cross-entropy (or, with an identity output,
squared error for regression), trained by any backend.

The model owns the parameters, the optimiser state and the shuffle RNG; a backend
only computes. That is what makes ``backend="numpy"`` and ``backend="numba"``
interchangeable: both see the same weights, the same sample order and the same
hyper-parameters, so they end with the same numbers.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.activations import OUTPUT_LOSSES, get_activation
from fastnn.backends import DEFAULT_BACKEND, Backend, get_backend
from fastnn.errors import DataError, FastnnError, InvalidParameterError, TrainingDivergedError
from fastnn.metrics import loss_and_accuracy_from_logits, squared_error
from fastnn.optim import OptimizerConfig, OptimizerState
from fastnn.params import check_init, init_params
from fastnn.schedule import LR_SCHEDULES, MONITORS, EarlyStopping, lr_at
from fastnn.threads import limit_threads
from fastnn.validation import (
    check_dtype,
    check_network_memory,
    check_optional_positive_int,
    check_positive_int,
    check_real,
    check_targets,
    check_X,
    check_y,
)


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


def _check_layers(
    layer_sizes: Sequence[int], activations: Sequence[str] | str
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if isinstance(layer_sizes, np.ndarray) and layer_sizes.ndim == 1:
        layer_sizes = layer_sizes.tolist()
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise InvalidParameterError(
            f"the 'layer_sizes' parameter must be a list of ints like [784, 128, 10]; got {layer_sizes!r}"
        )
    sizes = tuple(check_positive_int("layer_sizes", n) for n in layer_sizes)
    if len(sizes) < 2:
        raise InvalidParameterError(
            f"the 'layer_sizes' parameter needs an input and an output size; got {list(layer_sizes)}"
        )
    n_layers = len(sizes) - 1
    if not isinstance(activations, (str, Sequence)) or not all(
        isinstance(a, str) for a in ([activations] if isinstance(activations, str) else activations)
    ):
        raise InvalidParameterError(
            f"the 'activations' parameter must be an activation name or a list of names; got {activations!r}"
        )
    if isinstance(activations, str):
        # One name: every hidden layer uses it, the output is softmax.
        acts = [activations] * (n_layers - 1) + ["softmax"]
    else:
        acts = list(activations)
    if len(acts) != n_layers:
        raise InvalidParameterError(
            f"the 'activations' parameter needs one name per weight layer ({n_layers} for "
            f"layer_sizes {list(sizes)}); got {len(acts)}: {acts}"
        )
    names = tuple(get_activation(a).name for a in acts)
    for i, name in enumerate(names[:-1]):
        if get_activation(name).output_only:
            raise InvalidParameterError(
                f"activation {i} is {name!r}, which is only valid as the output layer; "
                f"hidden layers take one of {[k for k in _hidden_names()]}"
            )
    if names[-1] not in OUTPUT_LOSSES:
        raise InvalidParameterError(
            f"the output activation must be 'softmax' (softmax cross-entropy, classification) or "
            f"'identity' (squared error, regression); got {names[-1]!r}"
        )
    if names[-1] == "softmax" and sizes[-1] < 2:
        raise InvalidParameterError(
            f"the output layer needs at least 2 classes for softmax; got layer_sizes {list(sizes)}"
        )
    return sizes, names


def _hidden_names() -> list[str]:
    from fastnn.activations import HIDDEN_ACTIVATIONS

    return list(HIDDEN_ACTIVATIONS)


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


class MLP:
    """A fully connected network with a softmax output, trained by gradient descent.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first, e.g. ``[784, 128, 64, 10]``.
    activations : sequence of str or str
        One name per weight layer, or one hidden activation name used for every hidden
        layer (the output is then softmax). The last is the output: ``"softmax"``
        (cross-entropy on integer labels) or ``"identity"`` (regression: squared error
        ``0.5 * sum_j (a_j - y_j)**2`` per sample on float targets of shape
        (n_samples, n_outputs); ``predict`` then returns the outputs).
    backend : {"numpy", "numba"} or Backend
        Who computes. The results do not depend on it (to floating-point tolerance).
    dtype : {"float32", "float64"}
        Precision of parameters and all arithmetic.
    seed : int
        Seeds the initial weights and every epoch's shuffle.
    init : {"auto", "he", "glorot", "lecun"}
        Weight initialisation; ``auto`` picks per layer from its activation.
    threads : int or None
        Maximum BLAS and Numba threads while training or predicting (None: library default).
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activations: Sequence[str] | str = "relu",
        *,
        backend: str | Backend = DEFAULT_BACKEND,
        dtype: str = "float32",
        seed: int = 0,
        init: str = "auto",
        threads: int | None = None,
    ) -> None:
        self.layer_sizes, self.activations = _check_layers(layer_sizes, activations)
        self.dtype = check_dtype(dtype)
        check_network_memory(self.layer_sizes, self.dtype)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidParameterError(f"the 'seed' parameter must be a non-negative int; got {seed!r}")
        self.seed = int(seed)
        self.init = check_init(init)  # before the backend loads: a typo fails fast
        self.threads = check_optional_positive_int("threads", threads)
        self.backend = get_backend(backend)
        init_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        self.params = init_params(
            self.layer_sizes, self.activations, np.random.default_rng(init_seq), self.dtype, init
        )
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        self.optimizer_state: OptimizerState | None = None
        self.epochs_trained = 0
        self.history: list[EpochRecord] = []
        self.best_epoch: int | None = None

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.layer_sizes)}, activations={list(self.activations)}, "
            f"backend={self.backend.name!r}, dtype={self.dtype.name!r}, seed={self.seed})"
        )

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    @property
    def loss(self) -> str:
        """``cross_entropy`` (softmax output) or ``squared_error`` (identity output)."""
        return OUTPUT_LOSSES[self.activations[-1]]

    @property
    def is_regressor(self) -> bool:
        return self.loss == "squared_error"

    def _check_targets(self, y: Any, n_samples: int, name: str = "y") -> np.ndarray:
        """Integer labels for a classifier, float (n, n_outputs) targets for a regressor."""
        if self.is_regressor:
            return check_targets(y, n_samples, self.layer_sizes[-1], self.dtype, name=name)
        return check_y(y, n_samples, self.n_classes, name=name)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: Any,
        y: Any,
        *,
        epochs: int = 1,
        lr: float = 0.01,
        batch_size: int | None = 1,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        shuffle: bool = True,
        validation: tuple[Any, Any] | None = None,
        train_accuracy: bool = True,
        lr_schedule: str = "constant",
        lr_step: int = 10,
        lr_gamma: float = 0.1,
        total_epochs: int | None = None,
        early_stopping: int | None = None,
        monitor: str | None = None,
        tol: float = 0.0,
        callback: Callable[[EpochRecord], bool | None] | None = None,
    ) -> MLP:
        """Train for ``epochs`` passes over ``(X, y)``, continuing from the current state.

        ``batch_size=1`` is per-sample SGD (the classic tutorials), ``None`` is full-batch
        gradient descent, anything between is mini-batch. ``optimizer`` is one of
        ``sgd``, ``momentum``, ``nesterov``, ``adam`` (see ``fastnn.optim``);
        ``weight_decay`` is an L2 penalty on weights. Calling ``fit`` again continues
        from the current weights and optimiser state (warm start); changing
        ``optimizer`` starts that optimiser's state afresh. ``callback`` is called
        after every epoch with its record and stops training by returning True; it must
        not modify X in place (the numba backend works from what it derived from X when
        the fit began: non-zero lists, or a transposed copy for full batches).
        Returns ``self``; per-epoch records accumulate in ``self.history``. A record's
        ``train_accuracy`` (unless ``train_accuracy=False``) is measured by the epoch's
        own forward passes, each batch before its update, as Keras and PyTorch Lightning
        report it: no second pass over X is made. ``seconds`` is all the wall time fit
        spent on that epoch (the first one includes fit's per-call preparation), so
        ``samples_per_second`` is what a stopwatch around ``fit`` sees.

        ``lr_schedule`` is ``constant``, ``step`` (times ``lr_gamma`` every ``lr_step``
        epochs) or ``cosine`` (to 0 over ``total_epochs``, by default the epochs trained
        so far plus ``epochs``); see ``fastnn.schedule``. ``early_stopping=P`` stops
        after P epochs without improvement of ``monitor`` by more than ``tol``
        (``val_accuracy`` by default when there is a validation set, else the training
        ``loss``) and restores the best weights; ``self.best_epoch`` tells which.

        Raises TrainingDivergedError if the loss becomes NaN or infinite, or finite but
        far above where training starts (see :func:`diverged`), or the weights overflow;
        the weights from before that epoch are restored first.
        """
        mark = time.perf_counter()
        if callback is not None and not callable(callback):
            raise InvalidParameterError(
                f"the 'callback' parameter must be callable or None; got {callback!r}"
            )
        if monitor is not None and monitor not in MONITORS:
            raise InvalidParameterError(
                f"the 'monitor' parameter must be one of {sorted(MONITORS)} or None; got {monitor!r}"
            )
        tol = check_real("tol", tol, low=0.0)
        X = check_X(X, self.layer_sizes[0], self.dtype)
        y = self._check_targets(y, X.shape[0])
        n = X.shape[0]
        epochs_ = check_positive_int("epochs", epochs)
        bs = check_optional_positive_int("batch_size", batch_size)
        if bs is None:
            bs = n
        elif bs > n:
            raise InvalidParameterError(
                f"the 'batch_size' parameter must be at most the number of samples ({n}); got {bs} "
                f"(use batch_size=None for full-batch gradient descent)"
            )
        cfg = OptimizerConfig(optimizer, lr, momentum, beta1, beta2, eps, weight_decay)
        if validation is not None:
            try:
                Xv, yv = validation
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    "the 'validation' parameter must be a pair (X_val, y_val) or None"
                ) from None
            Xv = check_X(Xv, self.layer_sizes[0], self.dtype, name="validation X")
            yv = self._check_targets(yv, Xv.shape[0], name="validation y")
        if lr_schedule not in LR_SCHEDULES:
            raise InvalidParameterError(
                f"the 'lr_schedule' parameter must be one of {sorted(LR_SCHEDULES)}; got {lr_schedule!r}"
            )
        lr_step = check_positive_int("lr_step", lr_step)
        if isinstance(lr_gamma, bool) or not (isinstance(lr_gamma, (int, float)) and 0 < lr_gamma <= 1):
            raise InvalidParameterError(
                f"the 'lr_gamma' parameter must be a float in (0, 1]; got {lr_gamma!r}"
            )
        first_epoch = self.epochs_trained
        run_epochs = (
            check_positive_int("total_epochs", total_epochs) if total_epochs else first_epoch + epochs_
        )
        if run_epochs < first_epoch + epochs_:
            # A cosine schedule reaches lr 0 at total_epochs; past it the lr is invalid.
            raise InvalidParameterError(
                f"the 'total_epochs' parameter must be at least the epochs already trained plus "
                f"those requested ({first_epoch} + {epochs_} = {first_epoch + epochs_}); got {total_epochs!r}"
            )
        stopper = None
        if early_stopping is not None:
            monitor = monitor or (
                ("val_loss" if self.is_regressor else "val_accuracy") if validation is not None else "loss"
            )
            if monitor == "val_accuracy" and self.is_regressor:
                raise InvalidParameterError(
                    "the 'monitor' parameter cannot be 'val_accuracy' for a regression (identity) output; "
                    "use 'val_loss' or 'loss'"
                )
            if monitor.startswith("val_") and validation is None:
                raise InvalidParameterError(
                    f"the 'monitor' parameter is {monitor!r} but no validation set was given"
                )
            stopper = EarlyStopping(early_stopping, monitor, tol)
        self.best_epoch = None
        if self.optimizer_state is None or self.optimizer_state.name != cfg.name:
            self.optimizer_state = OptimizerState.zeros(cfg.name, self.params.data.shape[0], self.dtype)

        with limit_threads(self.threads):
            # Once per fit, not per epoch; the first layer's width helps the numba
            # backend choose between its sparse and dense first layer.
            prepared = self.backend.prepare(X, bs, self.layer_sizes[1])
            for _ in range(epochs_):
                # Everything an epoch changes is saved first, so a failed or interrupted
                # epoch leaves the model exactly as it was after the previous one (and a
                # resumed run draws the same shuffle again).
                good = self.params.data.copy()
                good_state = self.optimizer_state.copy()
                good_rng = self.shuffle_rng.bit_generator.state
                full_batch = bs >= n
                order = (
                    np.arange(n, dtype=np.int64)
                    if full_batch or not shuffle
                    else self.shuffle_rng.permutation(n).astype(np.int64)
                )
                epoch_lr = lr_at(self.epochs_trained, run_epochs, cfg.lr, lr_schedule, lr_step, lr_gamma)
                epoch_cfg = dataclasses.replace(cfg, lr=epoch_lr) if epoch_lr != cfg.lr else cfg
                try:
                    # Overflow is expected when a run diverges; it is detected just below,
                    # so NumPy's warnings (errors under -W error) must not pre-empt that.
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        result = self.backend.train_epoch(
                            self.params,
                            self.activations,
                            X,
                            y,
                            order,
                            bs,
                            epoch_cfg,
                            self.optimizer_state,
                            prepared=prepared,
                        )
                except BaseException:
                    # Interrupted or failed mid-epoch: never leave half-updated weights.
                    self._restore(good, good_state, good_rng)
                    raise
                loss = result.loss
                blown_up = not math.isfinite(loss) if self.is_regressor else diverged(loss, self.n_classes)
                if blown_up or not np.isfinite(self.params.data).all():
                    self._restore(good, good_state, good_rng)
                    what = (
                        f"the loss became {loss:.4g}"
                        + (
                            ""
                            if not math.isfinite(loss)
                            else f", more than {DIVERGENCE_FACTOR:g} x log({self.n_classes}) (what always "
                            "guessing uniformly costs)"
                        )
                        if blown_up
                        else "the weights overflowed to NaN or infinity"
                    )
                    raise TrainingDivergedError(
                        f"training diverged in epoch {self.epochs_trained + 1}: {what}; the "
                        f"weights from before that epoch were kept. Try a lower learning rate "
                        f"than lr={cfg.lr}."
                    )
                self.epochs_trained += 1
                val_loss = val_acc = None
                if validation is not None:
                    val_loss, val_acc = self._loss_and_accuracy(Xv, yv)
                # An epoch's time is all the wall time fit spent on it (the first also
                # carries fit's checks and per-fit preparation), so summed over the
                # epochs it is what a stopwatch around fit sees.
                now = time.perf_counter()
                seconds, mark = now - mark, now
                record = EpochRecord(
                    self.epochs_trained,
                    loss,
                    result.accuracy if train_accuracy and not self.is_regressor else None,
                    val_loss,
                    val_acc,
                    seconds,
                    n / seconds if seconds > 0 else math.inf,
                    epoch_lr,
                )
                self.history.append(record)
                stop = callback is not None and bool(callback(record))
                mark = time.perf_counter()  # the callback's own time is the caller's
                if stopper is not None:
                    value = {"val_accuracy": val_acc, "val_loss": val_loss, "loss": loss}[stopper.monitor]
                    assert value is not None
                    if stopper.update(value, self.epochs_trained, self.params.data):
                        stop = True
                if stop:
                    break
        if stopper is not None and stopper.best_params is not None:
            # Keep the best epoch's weights, as Keras' restore_best_weights does.
            self.params.data[...] = stopper.best_params
            self.best_epoch = stopper.best_epoch
        return self

    def _restore(self, data: np.ndarray, state: OptimizerState, rng_state: Mapping[str, Any]) -> None:
        self.params.data[...] = data
        self.optimizer_state = state
        self.shuffle_rng.bit_generator.state = rng_state

    # ---------------------------------------------------------------- inference
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes) (softmax output only)."""
        if self.is_regressor:
            raise InvalidParameterError(
                "predict_proba needs a softmax (classification) output; this model has an identity "
                "(regression) output: use predict for its outputs"
            )
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per sample, shape (n_samples,), int64; for an identity
        (regression) output, the outputs, shape (n_samples, n_outputs)."""
        if self.is_regressor:
            return self._outputs(X)
        return self.predict_proba(X).argmax(axis=1)

    def _outputs(self, X: Any) -> np.ndarray:
        X = check_X(X, self.layer_sizes[0], self.dtype)
        with limit_threads(self.threads):
            return self.backend.predict_proba(self.params, self.activations, X)

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """Mean loss and accuracy on ``(X, y)`` (only the loss for a regression output)."""
        X = check_X(X, self.layer_sizes[0], self.dtype)
        y = self._check_targets(y, X.shape[0])
        with limit_threads(self.threads):
            loss, acc = self._loss_and_accuracy(X, y)
        return {"loss": loss} if acc is None else {"loss": loss, "accuracy": acc}

    def logits(self, X: Any) -> np.ndarray:
        """The output layer's pre-activations (n_samples, n_outputs): what softmax turns into
        ``predict_proba``; the loss ``evaluate`` reports is computed from them."""
        X = check_X(X, self.layer_sizes[0], self.dtype)
        with limit_threads(self.threads):
            return self._logits(X)

    def _loss_and_accuracy(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
        """Mean loss and accuracy (None for a regression output) from one forward pass;
        a softmax output's loss comes from its logits, as in training."""
        if self.is_regressor:
            with np.errstate(over="ignore", invalid="ignore"):
                out = self.backend.predict_proba(self.params, self.activations, X)
            return squared_error(out, y), None
        return loss_and_accuracy_from_logits(self._logits(X), y)

    def _logits(self, X: np.ndarray) -> np.ndarray:
        """The output layer's pre-activations (n_samples, n_classes), in chunks, on the
        model's backend: its forward pass to the last hidden layer, then the last dense
        layer with an identity activation."""
        from fastnn.backends.numpy_backend import PREDICT_CHUNK

        last = self.params.n_layers - 1
        W, b = self.params.W(last), self.params.b(last)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, X.shape[0], PREDICT_CHUNK):
                hidden = self.backend.forward(
                    self.params, self.activations, X[start : start + PREDICT_CHUNK]
                )[-2]
                out[start : start + PREDICT_CHUNK] = self.backend.dense_forward(hidden, W, b, "identity")
        return out

    # ------------------------------------------------------------------ helpers
    def copy(self) -> MLP:
        """A deep copy (same backend) that trains independently."""
        return copy.deepcopy(self)

    def with_backend(self, backend: str | Backend) -> MLP:
        """A copy of this model, state included, that computes with another backend."""
        other = self.copy()
        other.backend = get_backend(backend)
        return other

    def save(self, path: str | Path) -> Path:
        """Write the model (weights, architecture, dtype) to an ``.npz`` file atomically."""
        from fastnn.model_files import save_model
        from fastnn.paths import check_path_argument, describe_path

        target = check_path_argument("path", path)
        kind = describe_path(target)
        if kind != "missing" and not kind.startswith("a regular file"):
            raise InvalidParameterError(
                f"the 'path' parameter {os.fspath(path)!r} is {kind}, not a file path"
            )
        return save_model(self, target)

    def to_onnx(
        self,
        path: str | Path,
        *,
        logits: bool = False,
        class_names: Sequence[str] | None = None,
        dataset: str | None = None,
    ) -> Path:
        """Export to an ONNX file (standard operators, opset 17, dynamic batch); needs ``fastnn[onnx]``.

        The graph outputs probabilities (``Softmax``), or the logits with ``logits=True``;
        ``class_names`` and ``dataset`` go into its metadata. See ``fastnn.onnx_export``.
        """
        from fastnn.onnx_export import export_onnx

        return export_onnx(self, path, logits=logits, class_names=class_names, dataset=dataset)

    @classmethod
    def load(
        cls, path: str | Path, backend: str | Backend = DEFAULT_BACKEND, threads: int | None = None
    ) -> MLP:
        """Read a model written by ``save``; malformed files raise DataError."""
        from fastnn.model_files import check_labels_meta, read_model_file
        from fastnn.paths import check_path_argument

        path = check_path_argument("path", path)
        meta, arrays = read_model_file(path)  # every array's shape and dtype already checked
        model = cls.from_file_parts(path, meta, arrays, backend=backend, threads=threads)
        check_labels_meta(meta, model.n_classes, path)  # a file with bad labels is refused here too
        return model

    @classmethod
    def from_file_parts(
        cls,
        path: str | Path,
        meta: dict[str, Any],
        arrays: dict[str, np.ndarray],
        backend: str | Backend = DEFAULT_BACKEND,
        threads: int | None = None,
    ) -> MLP:
        """The model that ``fastnn.model_files.read_model_file``'s checked metadata and arrays describe."""
        try:
            model = cls(
                meta["layer_sizes"],
                meta["activations"],
                backend=backend,
                dtype=meta["dtype"],
                seed=meta["seed"],
                init=meta["init"],
                threads=threads,
            )
        except KeyError as exc:
            raise DataError(f"{path}: model metadata lacks {exc.args[0]!r}") from None
        except (FastnnError, TypeError) as exc:
            raise DataError(f"{path}: invalid model metadata: {exc}") from None
        for i in range(model.params.n_layers):
            for name, view in ((f"W{i}", model.params.W(i)), (f"b{i}", model.params.b(i))):
                if name not in arrays:
                    raise DataError(f"{path}: missing array {name!r}")
                arr = arrays[name]
                if arr.shape != view.shape or arr.dtype != view.dtype:
                    raise DataError(
                        f"{path}: array {name!r} has shape {arr.shape} and dtype {arr.dtype}; "
                        f"the metadata needs {view.shape} {view.dtype}"
                    )
                if not np.isfinite(arr).all():
                    raise DataError(f"{path}: array {name!r} holds NaN or infinite values")
                view[...] = arr
        model.epochs_trained = meta["epochs_trained"]
        return model
