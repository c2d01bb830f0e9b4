"""``FitConfig``: every option of ``MLP.fit``, checked once, in one place.

``MLP.fit(X, y, epochs=..., lr=...)`` builds one from its keywords (or takes one as
``config=``), and the command line builds the same object from its flags, so an option
means the same and is refused with the same words wherever it comes from: an
:class:`~fastnn.errors.InvalidParameterError` naming the parameter, the valid values and
the value received. The checks that need the data or the model (a batch larger than
the data, a ``total_epochs`` shorter than the run, a monitor without a validation set)
are methods here too, called by :mod:`fastnn.training` once per ``fit``.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastnn.early_stopping import EarlyStopping, check_monitor, check_patience, default_monitor
from fastnn.errors import InvalidParameterError
from fastnn.optim import OptimizerConfig
from fastnn.schedule import check_schedule, lr_at
from fastnn.validation import check_optional_positive_int, check_positive_int, check_real


@dataclass(frozen=True)
class FitConfig:
    """How ``MLP.fit`` trains; every field is a keyword of ``fit`` with the same default.

    Parameters
    ----------
    epochs : int
        Passes over the data in this call (``fit`` continues from the current state).
    lr, optimizer, momentum, beta1, beta2, eps, weight_decay
        The update rule and its hyper-parameters (:class:`fastnn.optim.OptimizerConfig`):
        ``sgd``, ``momentum``, ``nesterov`` or ``adam``; ``weight_decay`` is an L2 penalty
        on weights. Changing ``optimizer`` between calls starts its state afresh.
    batch_size : int or None
        1 is per-sample SGD (the classic tutorials), None full-batch gradient descent,
        anything between mini-batch.
    shuffle : bool
        Draw a new sample order every epoch (from the model's seeded shuffle RNG).
    train_accuracy : bool
        Record each epoch's running training accuracy (measured by the training passes).
    lr_schedule, lr_step, lr_gamma, total_epochs
        ``constant``, ``step`` (times ``lr_gamma`` every ``lr_step`` epochs) or ``cosine``
        (to 0 over ``total_epochs``, by default the epochs trained so far plus ``epochs``);
        see :mod:`fastnn.schedule`.
    early_stopping : int, EarlyStopping or None
        A patience P: stop after P epochs without improvement of ``monitor`` by more than
        ``tol`` and restore the best weights. Or an :class:`~fastnn.early_stopping.EarlyStopping`
        whose state ``fit`` continues (and updates), e.g. one restored from a checkpoint.
    monitor : {"val_accuracy", "val_loss", "loss"} or None
        None: ``val_accuracy`` (``val_loss`` for a regression output) when there is a
        validation set, else the training ``loss``.
    tol : float
        The least change that counts as an improvement.
    """

    epochs: int = 1
    lr: float = 0.01
    batch_size: int | None = 1
    optimizer: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    shuffle: bool = True
    train_accuracy: bool = True
    lr_schedule: str = "constant"
    lr_step: int = 10
    lr_gamma: float = 0.1
    total_epochs: int | None = None
    early_stopping: int | EarlyStopping | None = None
    monitor: str | None = None
    tol: float = 0.0
    #: The update rule these options describe (derived, checked with them).
    optimizer_config: OptimizerConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = self._put
        put("epochs", check_positive_int("epochs", self.epochs))
        put("batch_size", check_optional_positive_int("batch_size", self.batch_size))
        put(
            "optimizer_config",
            OptimizerConfig(
                self.optimizer, self.lr, self.momentum, self.beta1, self.beta2, self.eps, self.weight_decay
            ),
        )
        for name in ("shuffle", "train_accuracy"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(f"the '{name}' parameter must be True or False; got {value!r}")
            put(name, bool(value))
        check_schedule(self.lr_schedule)
        put("lr_step", check_positive_int("lr_step", self.lr_step))
        gamma = self.lr_gamma
        if isinstance(gamma, bool) or not (isinstance(gamma, numbers.Real) and 0 < gamma <= 1):
            raise InvalidParameterError(f"the 'lr_gamma' parameter must be a float in (0, 1]; got {gamma!r}")
        # 0 has always meant "not given" here, like None.
        put(
            "total_epochs",
            check_positive_int("total_epochs", self.total_epochs) if self.total_epochs else None,
        )
        if self.monitor is not None:
            check_monitor(self.monitor, none_allowed=True)
        put("tol", check_real("tol", self.tol, low=0.0))
        stopper = self.early_stopping
        if isinstance(stopper, EarlyStopping):
            # The object's own rule applies; a different monitor or tol beside it is a mistake.
            if self.monitor not in (None, stopper.monitor) or self.tol not in (0.0, stopper.tol):
                raise InvalidParameterError(
                    f"the 'monitor' and 'tol' parameters ({self.monitor!r}, {self.tol:g}) differ from those of "
                    f"the 'early_stopping' object ({stopper.monitor!r}, {stopper.tol:g}); set them on the object"
                )
        elif stopper is not None:
            put("early_stopping", check_patience(stopper))

    def _put(self, name: str, value: Any) -> None:
        """Store a checked (normalised) value in this frozen instance."""
        object.__setattr__(self, name, value)

    @classmethod
    def of_fit(cls, config: Any, options: dict[str, Any]) -> FitConfig:
        """``config`` if given (then every other option must be left at its default), else
        a config of ``options`` (fit's keywords)."""
        if config is None:
            return cls(**options)
        if not isinstance(config, FitConfig):
            raise InvalidParameterError(f"the 'config' parameter must be a FitConfig or None; got {config!r}")
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.init}
        given = [
            k
            for k, v in options.items()
            if not (v is defaults[k] or (type(v) is type(defaults[k]) and v == defaults[k]))
        ]
        if given:
            raise InvalidParameterError(
                f"the 'config' parameter holds every fit option; got it together with {', '.join(given)}: "
                "set those in the FitConfig (dataclasses.replace(config, ...))"
            )
        return config

    def batch_size_for(self, n_samples: int) -> int:
        """The samples per update on ``n_samples`` (None: all of them)."""
        bs = self.batch_size
        if bs is None:
            return n_samples
        if bs > n_samples:
            raise InvalidParameterError(
                f"the 'batch_size' parameter must be at most the number of samples ({n_samples}); got {bs} "
                f"(use batch_size=None for full-batch gradient descent)"
            )
        return bs

    def run_length(self, epochs_trained: int) -> int:
        """The epochs of the whole run the schedule spans (``total_epochs``, by default
        the epochs trained before plus this call's)."""
        wanted = epochs_trained + self.epochs
        if self.total_epochs is None:
            return wanted
        if self.total_epochs < wanted:
            # A cosine schedule reaches lr 0 at total_epochs; past it the lr is invalid.
            raise InvalidParameterError(
                f"the 'total_epochs' parameter must be at least the epochs already trained plus "
                f"those requested ({epochs_trained} + {self.epochs} = {wanted}); got {self.total_epochs!r}"
            )
        return self.total_epochs

    def lr_of_epoch(self, epoch: int, run_length: int) -> float:
        """The learning rate of 0-based ``epoch`` of a run of ``run_length`` epochs."""
        return lr_at(epoch, run_length, self.lr, self.lr_schedule, self.lr_step, self.lr_gamma)

    def stopper(self, has_validation: bool, regression: bool) -> EarlyStopping | None:
        """The early stopping this fit applies (a new one, or the one given), or None."""
        stopper = self.early_stopping
        if stopper is None:
            return None
        if isinstance(stopper, EarlyStopping):
            monitor = stopper.monitor
        else:
            monitor = self.monitor or default_monitor(has_validation, regression)
        if monitor == "val_accuracy" and regression:
            raise InvalidParameterError(
                "the 'monitor' parameter cannot be 'val_accuracy' for a regression (identity) output; "
                "use 'val_loss' or 'loss'"
            )
        if monitor.startswith("val_") and not has_validation:
            raise InvalidParameterError(
                f"the 'monitor' parameter is {monitor!r} but no validation set was given"
            )
        return stopper if isinstance(stopper, EarlyStopping) else EarlyStopping(stopper, monitor, self.tol)
