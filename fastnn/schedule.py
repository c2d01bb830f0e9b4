"""Learning-rate schedules and early stopping: what ``MLP.fit`` decides between epochs.

Both are functions of the epoch count of the whole run, not of one ``fit`` call, so
a run resumed from a checkpoint follows the same schedule as one that never stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fastnn.errors import InvalidParameterError

LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")
MONITORS: tuple[str, ...] = ("val_accuracy", "val_loss", "loss")


def lr_at(
    epoch: int,
    total_epochs: int,
    lr: float,
    schedule: str = "constant",
    step_size: int = 10,
    gamma: float = 0.1,
    lr_min: float = 0.0,
) -> float:
    """Learning rate for 0-based ``epoch`` of a ``total_epochs`` run.

    - ``constant``: ``lr``
    - ``step``: ``lr * gamma ** (epoch // step_size)``
    - ``cosine``: ``lr_min + (lr - lr_min) * (1 + cos(pi * epoch / total_epochs)) / 2``
    """
    if schedule == "constant":
        return lr
    if schedule == "step":
        return lr * gamma ** (epoch // step_size)
    if schedule == "cosine":
        return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(total_epochs, 1)))
    raise InvalidParameterError(
        f"the 'lr_schedule' parameter must be one of {sorted(LR_SCHEDULES)}; got {schedule!r}"
    )


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``monitor="loss"`` and no validation set this is scikit-learn's
    ``n_iter_no_change``/``tol`` rule on the training loss. The best parameters seen
    are kept so the model can be restored to them when training stops.
    """

    patience: int
    monitor: str = "val_accuracy"
    min_delta: float = 0.0
    best: float = field(default=math.nan, init=False)
    best_epoch: int = field(default=0, init=False)
    best_params: np.ndarray | None = field(default=None, init=False)
    waited: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise InvalidParameterError(
                f"the 'monitor' parameter must be one of {sorted(MONITORS)}; got {self.monitor!r}"
            )
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise InvalidParameterError(
                f"the 'early_stopping' parameter must be a positive int (patience in epochs); got {self.patience!r}"
            )
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise InvalidParameterError(f"the 'tol' parameter must be a float >= 0; got {self.min_delta!r}")

    def update(self, value: float, epoch: int, params: np.ndarray) -> bool:
        """Record this epoch's value; True when training should stop."""
        sign = 1.0 if self.monitor == "val_accuracy" else -1.0  # larger is better after the sign
        score = sign * value
        if math.isnan(self.best) or score > sign * self.best + self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            self.best_params = params.copy()
            return False
        self.waited += 1
        return self.waited >= self.patience
