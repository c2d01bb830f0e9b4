"""Learning-rate schedules: the learning rate ``MLP.fit`` uses in each epoch.

A schedule is a function of the epoch count of the whole run, not of one ``fit`` call,
so a run resumed from a checkpoint follows the same schedule as one that never stopped.
(Early stopping, the other thing decided between epochs, is :mod:`fastnn.early_stopping`.)
"""

from __future__ import annotations

import math

from fastnn.validation import choice_error

LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")


def lr_at(
    epoch: int,
    total_epochs: int,
    lr: float,
    schedule: str,
    step_size: int,
    gamma: float,
    lr_min: float = 0.0,
) -> float:
    """Learning rate for 0-based ``epoch`` of a ``total_epochs`` run.

    - ``constant``: ``lr``
    - ``step``: ``lr * gamma ** (epoch // step_size)``
    - ``cosine``: ``lr_min + (lr - lr_min) * (1 + cos(pi * epoch / total_epochs)) / 2``
    """
    check_schedule(schedule)
    if schedule == "step":
        return lr * gamma ** (epoch // step_size)
    if schedule == "cosine":
        return lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(total_epochs, 1)))
    return lr


def check_schedule(schedule: object) -> str:
    """``schedule`` if it names one of :data:`LR_SCHEDULES`; InvalidParameterError otherwise."""
    if not isinstance(schedule, str) or schedule not in LR_SCHEDULES:
        raise choice_error("lr_schedule", sorted(LR_SCHEDULES), schedule)
    return schedule
