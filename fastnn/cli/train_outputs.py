"""What ``python -m fastnn.train`` writes: planned and checked before training, kept after it.

Before any work, :func:`plan_outputs` lists every file the run will write (from the
command line; a resumed run's defaults sit beside its checkpoint) and every file it
reads, and :class:`fastnn.paths.OutputPlan` refuses an output that is an input or
another output, is not a regular file, or cannot be written. The paths are printed
before training.

After training, a write can still fail (the disk filled meanwhile). :func:`save_or_recover`
then says so and writes the trained model to a recovery file it names, so training
time is never lost to an output problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fastnn.cli.inputs import plan_data
from fastnn.cli.plotting import PLOT_FILES
from fastnn.cli.train_loop import best_path
from fastnn.errors import FastnnError
from fastnn.model import MLP
from fastnn.model_files import save_model
from fastnn.paths import OutputPlan, recovery_path


def plan_outputs(args: argparse.Namespace) -> OutputPlan:
    """The files the run reads and writes, with their flags; checked (InvalidParameterError)."""
    plan = OutputPlan()
    plan.read("--resume", args.resume)
    plan_data(plan, args.data)
    plan.write("--save", args.save)
    plan.write("--metrics-json", args.metrics_json)
    plan.write("--checkpoint", args.checkpoint)
    if args.checkpoint is not None and args.early_stopping:
        plan.write("--checkpoint (its best epoch's weights)", best_path(args.checkpoint))
    if args.plot is not None:
        plan.write("--plot", args.plot, directory=True)
        if args.plot.is_dir():
            for name in PLOT_FILES.values():
                plan.write("--plot", args.plot / name)
    plan.check(allow_same=[("--checkpoint", "--resume")])
    return plan


def planned_text(plan: OutputPlan) -> str | None:
    """``writes: --save m.npz, --checkpoint c.npz``, or None when nothing is written."""
    lines = [line for line in plan.describe() if not line.startswith("--plot ") or line.endswith("/")]
    return "writes: " + ", ".join(lines) if lines else None


def recover(model: MLP, name: str, avoid: list[Path], extra_meta: dict[str, Any] | None = None) -> str:
    """Write ``model`` to a recovery file; returns the sentence that says where (or that it failed)."""
    where = recovery_path(name, avoid)
    if where is not None:
        try:
            save_model(model, where, extra_meta=extra_meta)
            return f"the trained model was saved to {where} instead"
        except (OSError, FastnnError) as exc:
            return f"the trained model could not be saved anywhere either ({where}: {exc})"
    return "no writable folder was found for a recovery copy of the trained model"


def save_or_recover(
    model: MLP, path: Path, flag: str, extra_meta: dict[str, Any] | None = None
) -> tuple[Path | None, str | None]:
    """Save ``model`` (with ``extra_meta``, e.g. its class names) to ``path``; if that
    fails, to a recovery file.

    Returns (the path written or None, an error message for stderr or None).
    """
    try:
        return save_model(model, path, extra_meta=extra_meta), None
    except (OSError, FastnnError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        name = path.name if path.suffix == ".npz" else path.name + ".npz"
        saved = recover(model, name, [path.parent], extra_meta)
        return None, f"fastnn: error: {flag} {path}: could not write the trained model ({reason}); {saved}"


def write_failed(flag: str, path: Path, exc: BaseException) -> None:
    """One line on stderr for an output other than the model that could not be written."""
    reason = getattr(exc, "strerror", None) or str(exc)
    print(f"fastnn: error: {flag} {path}: could not write it ({reason})", file=sys.stderr)
