"""Early stopping: the one rule that ``MLP.fit`` applies and the command line checkpoints.

:class:`EarlyStopping` watches one figure of every epoch (``monitor``) and asks to stop
after ``patience`` epochs without an improvement larger than ``tol``. It keeps the best
epoch's weights in memory, so they can be put back when training ends (Keras'
``restore_best_weights``).

Its progress is a small JSON-able dict (:meth:`EarlyStopping.state`) that a checkpoint
stores, and :meth:`EarlyStopping.from_state` continues from one: a run resumed from a
checkpoint stops at the same epoch, with the same best weights, as a run that never
stopped. The weights are not in the state (they are as large as the model): the state
names them by their SHA-256, and whoever resumes hands them back (the command line keeps
them in a file beside its checkpoint). A state may come from a file, so every field is
checked by type and range, as :mod:`fastnn.meta_schema` checks model metadata.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
import reprlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.errors import DataError, InvalidParameterError
from fastnn.meta_schema import is_int, is_real
from fastnn.validation import check_real, choice_error

if TYPE_CHECKING:  # for annotations only: the model imports this module
    from fastnn.model import MLP

#: What early stopping can watch: validation accuracy or loss, or the training loss.
MONITORS: tuple[str, ...] = ("val_accuracy", "val_loss", "loss")
#: The largest epoch number a state may hold (as in model metadata).
MAX_EPOCH = 2**53
_SHA256 = re.compile(r"[0-9a-f]{64}")


def params_sha256(data: np.ndarray) -> str:
    """SHA-256 of a parameter buffer's bytes: how a state names its best weights."""
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


def default_monitor(has_validation: bool, regression: bool = False) -> str:
    """What early stopping watches unless told: the validation accuracy (loss, for a
    regression output) when there is a validation set, else the training loss, as
    scikit-learn does."""
    if not has_validation:
        return "loss"
    return "val_loss" if regression else "val_accuracy"


def check_patience(patience: object) -> int:
    """A patience in epochs (an int >= 1); the error names fit's ``early_stopping``."""
    if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or int(patience) < 1:
        raise InvalidParameterError(
            f"the 'early_stopping' parameter must be a positive int (patience in epochs); got {patience!r}"
        )
    return int(patience)


def check_monitor(monitor: object, none_allowed: bool = False) -> str:
    """One of :data:`MONITORS` (``none_allowed``: the message says None is allowed too,
    as where fit picks the default)."""
    if not isinstance(monitor, str) or monitor not in MONITORS:
        raise choice_error("monitor", sorted(MONITORS), monitor, none_allowed=none_allowed)
    return monitor


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``tol`` for ``patience`` epochs.

    With ``monitor="loss"`` and no validation set this is scikit-learn's
    ``n_iter_no_change``/``tol`` rule on the training loss. Pass one to
    ``MLP.fit(early_stopping=...)`` to keep its state across calls or to checkpoint it;
    ``restore_best=False`` leaves the last epoch's weights in the model when fit ends
    (call :meth:`restore` to put the best ones back later).
    """

    def __init__(
        self, patience: int, monitor: str = "val_accuracy", tol: float = 0.0, *, restore_best: bool = True
    ):
        self.patience = check_patience(patience)
        self.monitor = check_monitor(monitor)
        self.tol = check_real("tol", tol, low=0.0)
        self.restore_best = bool(restore_best)
        self.best = math.nan  # NaN until an epoch is recorded
        self.best_epoch = 0
        self.best_params: np.ndarray | None = None
        self.waited = 0
        self.stopped = False
        self._sha256: str | None = None  # of best_params, computed when a state first needs it

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, tol={self.tol:g}; "
            f"best epoch {self.best_epoch}, waited {self.waited}{', stopped' if self.stopped else ''})"
        )

    def monitored(self, loss: float, val_loss: float | None, val_accuracy: float | None) -> float:
        """The figure this rule watches among an epoch's (``fit`` checked it exists)."""
        value = {"val_accuracy": val_accuracy, "val_loss": val_loss, "loss": loss}[self.monitor]
        assert value is not None, f"no {self.monitor} to monitor"
        return value

    def update(self, value: float, epoch: int, params: np.ndarray) -> bool:
        """Record epoch ``epoch``'s value (``params``: the weights after it); True: stop now."""
        sign = 1.0 if self.monitor == "val_accuracy" else -1.0  # larger is better after the sign
        if math.isnan(self.best) or sign * value > sign * self.best + self.tol:
            kept = params.copy()  # first, so an interrupt cannot leave a best epoch without weights
            self.best_params, self._sha256, self.best, self.best_epoch, self.waited = (
                kept,
                None,
                value,
                epoch,
                0,
            )
        else:
            self.waited += 1
        self.stopped = self.waited >= self.patience
        return self.stopped

    def restore(self, model: MLP) -> bool:
        """Put the best epoch's weights into ``model`` and set its ``best_epoch``;
        False (and nothing changed) when no epoch was recorded."""
        if self.best_params is None:
            return False
        model.params.data[...] = self.best_params
        model.best_epoch = self.best_epoch
        return True

    def best_sha256(self) -> str | None:
        """The best weights' SHA-256 (None before the first epoch), hashed once per best epoch."""
        if self.best_params is not None and self._sha256 is None:
            self._sha256 = params_sha256(self.best_params)
        return self._sha256

    def state(self) -> dict[str, Any]:
        """The rule and its progress, JSON-able; :meth:`from_state` continues from it."""
        return {
            "patience": self.patience,
            "monitor": self.monitor,
            "tol": self.tol,
            "best": None if math.isnan(self.best) else self.best,
            "best_epoch": self.best_epoch,
            "waited": self.waited,
            "stopped": self.stopped,
            "best_sha256": self.best_sha256(),
        }

    @classmethod
    def from_state(
        cls,
        state: Any,
        best_params: np.ndarray | Callable[[int], np.ndarray] | None = None,
        *,
        where: str = "early-stopping state",
        restore_best: bool = True,
    ) -> EarlyStopping:
        """The rule ``state`` (from :meth:`state`, maybe read from a file) describes, continued.

        ``best_params``: the best epoch's weights, or a function that returns them given
        that epoch (called only when the state has recorded one); they must match the
        state's SHA-256. DataError naming ``where`` for any field of the wrong type or out
        of range, missing weights, or weights that are not the state's.
        """
        if not isinstance(state, dict):
            raise DataError(f"{where}: invalid early-stopping state {reprlib.repr(state)}: not a dict")
        for key in ("patience", "monitor", "tol"):
            if key not in state:
                raise DataError(f"{where}: invalid early-stopping state: no {key!r}")
        try:
            rule = cls(state["patience"], state["monitor"], state["tol"], restore_best=restore_best)
        except InvalidParameterError as exc:
            raise DataError(f"{where}: invalid early-stopping state: {exc}") from None
        best, epoch, waited, stopped, sha = _progress(where, state, rule.patience)
        if epoch:
            weights = best_params(epoch) if callable(best_params) else best_params
            if weights is None:
                raise DataError(
                    f"{where}: the weights of the best epoch {epoch} for early stopping are missing"
                )
            if params_sha256(weights) != sha:
                raise DataError(
                    f"{where}: the weights of the best epoch {epoch} do not match the checkpoint "
                    "(their SHA-256 is not the early-stopping state's)"
                )
            rule.best_params, rule._sha256 = np.array(weights, copy=True), sha
        rule.best = math.nan if best is None else best
        rule.best_epoch, rule.waited, rule.stopped = epoch, waited, stopped
        return rule


def _progress(
    where: str, state: dict[str, Any], patience: int
) -> tuple[float | None, int, int, bool, str | None]:
    """(best value, best epoch, epochs waited, stopped, best weights' SHA-256), each checked."""

    def invalid(field: str, expected: str) -> DataError:
        return DataError(
            f"{where}: invalid early-stopping state: the {field!r} field is "
            f"{reprlib.repr(state.get(field))}; expected {expected}"
        )

    best: Any = state.get("best")
    if best is not None and not (is_real(best) and not math.isnan(best)):
        raise invalid("best", "a number or null")
    epoch: Any = state.get("best_epoch")
    waited: Any = state.get("waited")
    if not (is_int(epoch) and 0 <= epoch <= MAX_EPOCH):
        raise invalid("best_epoch", f"an int in [0, {MAX_EPOCH}]")
    if not (is_int(waited) and 0 <= waited <= patience):
        raise invalid("waited", f"an int in [0, {patience}] (the patience)")
    stopped: Any = state.get("stopped")
    if stopped is not (waited >= patience):  # a bool, and the one update() would have set
        raise invalid(
            "stopped", f"{waited >= patience} (after {waited} of {patience} epochs without improvement)"
        )
    sha: Any = state.get("best_sha256")
    if not (sha is None if epoch == 0 else isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise invalid("best_sha256", "null" if epoch == 0 else "64 hex digits (the best epoch's weights)")
    if best is not None and epoch == 0:
        raise invalid("best_epoch", "an epoch >= 1 (the state records a best value)")
    return None if best is None else float(best), int(epoch), int(waited), bool(stopped), sha
