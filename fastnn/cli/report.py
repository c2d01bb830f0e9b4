"""What ``python -m fastnn.train`` prints and writes: epoch lines, progress bar, metrics JSON.

Three levels: ``--quiet`` prints only the final accuracy line; the default prints the
setup, one line per epoch (every Nth for long runs) and the result; ``--verbose``
adds the exact configuration, versions, and each epoch's learning rate and seconds.
On a terminal, a tqdm progress bar over the epochs runs under the lines when tqdm
is installed (it is optional: without it, or when stdout is a file or a pipe, the
lines alone are printed, flushed as each epoch ends so ``| tee`` shows progress).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.cli import common as cli
from fastnn.data import EMBEDDED_SOURCE, MnistData
from fastnn.model import MLP, EpochRecord

#: Above this many epochs, only about this many epoch lines are printed by default.
MAX_EPOCH_LINES = 50


def format_duration(seconds: float) -> str:
    """``0.42s``, ``12m05s`` or ``2h03m``: short, and readable at a glance."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def epochs_text(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def auto_print_every(total: int) -> int:
    """1 up to :data:`MAX_EPOCH_LINES` epochs, else the smallest of 1, 2, 5, 10, 20, 50, ...
    that keeps the number of lines at most that."""
    step, factors = 1, (2, 2.5, 2)  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 -> 100 ...
    i = 0
    while total > step * MAX_EPOCH_LINES:
        step = round(step * factors[i % 3])
        i += 1
    return step


def epoch_line(
    r: EpochRecord,
    total: int,
    *,
    elapsed: float | None = None,
    show_lr: bool = False,
    show_seconds: bool = False,
) -> str:
    """One finished epoch, fixed width so columns line up."""
    w = len(str(total))
    train = f"{r.train_accuracy:7.2%}" if r.train_accuracy is not None else "      -"
    val = f"{r.val_accuracy:7.2%}" if r.val_accuracy is not None else "      -"
    # The training loss and accuracy are running figures: each batch measured by the
    # epoch's own forward pass, before its update (as Keras reports them), not a
    # second pass over the training set after the epoch.
    parts = [f"epoch {r.epoch:>{w}}/{total}", f"loss {r.loss:.4f}", f"running train {train}", f"val {val}"]
    if show_lr and r.lr is not None:
        parts.append(f"lr {r.lr:.2e}")
    parts.append(f"{r.samples_per_second:>9,.0f} samples/s")
    if show_seconds:
        parts.append(f"{r.seconds:6.2f} s/epoch")
    if elapsed is not None:
        parts.append(f"elapsed {format_duration(elapsed):>6}")
    return "  ".join(parts)


def _tqdm_on(stream: Any) -> Any:
    """tqdm's class when ``stream`` is a terminal and tqdm is installed, else None."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError, OSError):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Reporter:
    """Prints at the run's level (0 quiet, 1 normal, 2 verbose); owns the progress bar."""

    def __init__(self, level: int, stream: Any = None) -> None:
        self.level = level
        self.stream = stream if stream is not None else sys.stdout
        self._bar: Any = None

    def say(self, text: str) -> None:
        """A normal-level line (also under a running progress bar)."""
        if self.level >= 1:
            self._write(text)

    def detail(self, text: str) -> None:
        """A verbose-level line."""
        if self.level >= 2:
            self._write(text)

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def progress(self, done: int, total: int) -> Iterator[None]:
        """A tqdm bar over the epochs while training, when the output is a terminal."""
        tqdm = _tqdm_on(self.stream) if self.level >= 1 else None
        if tqdm is not None:
            self._bar = tqdm(
                total=total,
                initial=done,
                unit="epoch",
                desc="training",
                leave=False,
                file=self.stream,
                dynamic_ncols=True,
            )
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def epoch(
        self, r: EpochRecord, total: int, elapsed: float, *, print_every: int, show_lr: bool, force: bool
    ) -> None:
        """Report a finished epoch: advance the bar; print its line if due or ``force``d."""
        if self._bar is not None:
            self._bar.update(1)
            post = {"loss": f"{r.loss:.4f}"}
            if r.val_accuracy is not None:
                post["val"] = f"{r.val_accuracy:.2%}"
            self._bar.set_postfix(post, refresh=False)
        if force or r.epoch % print_every == 0:
            self.say(
                epoch_line(
                    r,
                    total,
                    elapsed=elapsed,
                    show_lr=show_lr or self.level >= 2,
                    show_seconds=self.level >= 2,
                )
            )


def network_text(model: MLP) -> str:
    """``784-128(relu)-10(softmax)``."""
    pairs = zip(model.layer_sizes[1:], model.activations, strict=True)
    return "-".join([str(model.layer_sizes[0])] + [f"{n}({a})" for n, a in pairs])


def versions_text() -> str:
    return ", ".join(f"{k} {v}" for k, v in cli.versions().items() if v is not None)


def write_metrics(
    path: Path,
    args: argparse.Namespace,
    model: MLP,
    data: MnistData,
    split: dict[str, np.ndarray],
    compile_seconds: float,
    status: str,
    test: dict[str, float] | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Everything needed to compare runs later, written atomically (never half a file).

    ``extra`` adds top-level entries (preset, early stopping, checkpoint, elapsed time).
    """
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "explicit"}
    config.update(
        layers=list(model.layer_sizes),
        activations=list(model.activations),
        batch_size="full" if args.batch_size is None else args.batch_size,
    )
    metrics: dict[str, Any] = {
        "status": status,
        "config": config,
        "versions": cli.versions(),
        "data": {
            "source": data.source,
            "embedded": data.source == EMBEDDED_SOURCE,
            "n_train": len(split["x"]),
            "n_val": len(split["x_val"]),
            "n_test": len(split["x_test"]),
        },
        "compile_seconds": compile_seconds,
        "history": [r.as_dict() for r in model.history],
        "final": {
            "epochs_trained": model.epochs_trained,
            "test_loss": test["loss"] if test else None,
            "test_accuracy": test["accuracy"] if test else None,
        },
        **(extra or {}),
    }
    with atomic_write(path, "w") as fh:
        json.dump(cli.json_safe(metrics), fh, indent=2, allow_nan=False)
        fh.write("\n")
