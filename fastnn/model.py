"""The public model: an MLP with softmax cross-entropy (or, with an identity output,
squared error for regression), trained by any backend.

The model owns the parameters, the optimiser state and the shuffle RNG; a backend
only computes. That is what makes ``backend="numpy"`` and ``backend="numba"``
interchangeable: both see the same weights, the same sample order and the same
hyper-parameters, so they end with the same numbers.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.activations import OUTPUT_LOSSES
from fastnn.backends import DEFAULT_BACKEND, Backend, get_backend
from fastnn.early_stopping import EarlyStopping
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.fit_config import FitConfig
from fastnn.metrics import loss_and_accuracy_from_logits, squared_error
from fastnn.optim import OptimizerState
from fastnn.params import check_network, init_params
from fastnn.threads import limit_threads
from fastnn.training import Callback, EpochRecord, train
from fastnn.validation import (
    check_dtype,
    check_network_memory,
    check_optional_positive_int,
    check_targets,
    check_X,
    check_y,
)

#: EpochRecord lives in fastnn.training; it is imported from here too.
__all__ = ["MLP", "EpochRecord"]


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
        self.layer_sizes, self.activations = check_network(layer_sizes, activations)
        self.dtype = check_dtype(dtype)
        check_network_memory(self.layer_sizes, self.dtype)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidParameterError(f"the 'seed' parameter must be a non-negative int; got {seed!r}")
        self.seed = int(seed)
        self.threads = check_optional_positive_int("threads", threads)
        init_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        # init_params checks ``init`` (the one place); before the backend loads, so a typo fails fast.
        self.params = init_params(
            self.layer_sizes, self.activations, np.random.default_rng(init_seq), self.dtype, init
        )
        self.init: str = init
        self.backend = get_backend(backend)
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
        epochs: int = FitConfig.epochs,
        lr: float = FitConfig.lr,
        batch_size: int | None = FitConfig.batch_size,
        optimizer: str = FitConfig.optimizer,
        momentum: float = FitConfig.momentum,
        beta1: float = FitConfig.beta1,
        beta2: float = FitConfig.beta2,
        eps: float = FitConfig.eps,
        weight_decay: float = FitConfig.weight_decay,
        shuffle: bool = FitConfig.shuffle,
        validation: tuple[Any, Any] | None = None,
        train_accuracy: bool = FitConfig.train_accuracy,
        lr_schedule: str = FitConfig.lr_schedule,
        lr_step: int = FitConfig.lr_step,
        lr_gamma: float = FitConfig.lr_gamma,
        total_epochs: int | None = FitConfig.total_epochs,
        early_stopping: int | EarlyStopping | None = FitConfig.early_stopping,
        monitor: str | None = FitConfig.monitor,
        tol: float = FitConfig.tol,
        callback: Callback | None = None,
        config: FitConfig | None = None,
    ) -> MLP:
        """Train for ``epochs`` passes over ``(X, y)``, continuing from the current state.

        The options are those of :class:`fastnn.fit_config.FitConfig` (documented there),
        given as keywords or all at once as ``config=FitConfig(...)``. In short:
        ``batch_size=1`` is per-sample SGD (the classic tutorials), ``None`` is full-batch
        gradient descent, anything between is mini-batch; ``optimizer`` is one of ``sgd``,
        ``momentum``, ``nesterov``, ``adam`` (see ``fastnn.optim``); ``weight_decay`` is an
        L2 penalty on weights; ``lr_schedule`` is ``constant``, ``step`` or ``cosine`` (over
        ``total_epochs``). Calling ``fit`` again continues from the current weights and
        optimiser state (warm start); changing ``optimizer`` starts that optimiser's state
        afresh. ``early_stopping=P`` stops after P epochs without improvement of
        ``monitor`` by more than ``tol`` and restores the best weights
        (``self.best_epoch`` tells which); an :class:`fastnn.early_stopping.EarlyStopping`
        object instead is continued and updated, so its state can be checkpointed.

        ``validation=(X_val, y_val)`` is evaluated after every epoch. ``callback`` is
        called after every epoch with its record (early stopping already updated) and
        stops training by returning True; it must not modify X in place (the numba
        backend works from what it derived from X when the fit began: non-zero lists, or
        a transposed copy for full batches). Returns ``self``; per-epoch records
        accumulate in ``self.history``. A record's ``train_accuracy`` (unless
        ``train_accuracy=False``) is measured by the epoch's own forward passes, each
        batch before its update, as Keras and PyTorch Lightning report it: no second pass
        over X is made. ``seconds`` is all the wall time fit spent on that epoch (the
        first one includes fit's per-call preparation), so ``samples_per_second`` is what
        a stopwatch around ``fit`` sees.

        Raises TrainingDivergedError if the loss becomes NaN or infinite, or finite but
        far above where training starts (see :func:`fastnn.training.diverged`), or the
        weights overflow; the weights from before that epoch are restored first.
        """
        started = time.perf_counter()
        options = FitConfig.of_fit(
            config,
            {
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "optimizer": optimizer,
                "momentum": momentum,
                "beta1": beta1,
                "beta2": beta2,
                "eps": eps,
                "weight_decay": weight_decay,
                "shuffle": shuffle,
                "train_accuracy": train_accuracy,
                "lr_schedule": lr_schedule,
                "lr_step": lr_step,
                "lr_gamma": lr_gamma,
                "total_epochs": total_epochs,
                "early_stopping": early_stopping,
                "monitor": monitor,
                "tol": tol,
            },
        )
        train(self, X, y, options, validation, callback, started)
        return self

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
        """The output layer's pre-activations (n_samples, n_outputs): the network's forward
        pass with an identity output in place of the softmax (on the numba backend the
        output layer then takes the ``identity`` pass, which ``warmup`` compiles for
        every training run)."""
        as_logits = (*self.activations[:-1], "identity")
        with np.errstate(over="ignore", invalid="ignore"):
            return self.backend.predict_proba(self.params, as_logits, X)

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
