"""``python -m fastnn.train``: train an MLP on MNIST and report what happened.

This module is only the command-line surface: it resolves the options
(:mod:`fastnn.cli.fit_options`: flags, presets, a resumed checkpoint's options), loads
the data, and hands the run to :mod:`fastnn.cli.train_loop` (checkpoints, early
stopping, Ctrl-C), which prints through :mod:`fastnn.cli.report`. Training is
``MLP.fit``, whose per-epoch callback prints each line as the epoch finishes, so the
CLI and the API cannot disagree about what an epoch did. Numba's compile time is
measured by ``backend.warmup`` before training and never counted in an epoch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

import numpy as np

from fastnn.cli import common as cli
from fastnn.cli.fit_options import (
    UNSET,
    build_parser,
    check_combinations,
    check_layers,
    command_line,
    fill_defaults,
    fit_kwargs,
    flag,
    parse_args,
    resolve_activations,
)
from fastnn.cli.fit_setup import FULL_MNIST_HINT, build_model, split_data
from fastnn.cli.inputs import load_data
from fastnn.cli.plotting import write_plots
from fastnn.cli.presets import PRESETS
from fastnn.cli.report import (
    Reporter,
    epoch_line,
    epochs_text,
    network_text,
    versions_text,
    write_metrics,
)
from fastnn.cli.train_loop import Session
from fastnn.cli.train_outputs import plan_outputs, planned_text, recover, save_or_recover, write_failed
from fastnn.cli.train_resume import check_resumed_data, read_resume, resume, resume_conflicts, resumed_outputs
from fastnn.data import (
    EMBEDDED_SOURCE,
    ENV_DATA_DIR,
    MnistData,
)
from fastnn.data.images import optional_import
from fastnn.errors import DataError, FastnnError
from fastnn.model import MLP
from fastnn.model_files import ClassLabels
from fastnn.model_loading import load_checkpoint
from fastnn.threads import available_threads

__all__ = [
    "build_model",
    "build_parser",
    "check_layers",
    "epoch_line",
    "fill_defaults",
    "fit_kwargs",
    "main",
    "parse_args",
    "resolve_activations",
    "run",
    "split_data",
    "write_metrics",
]


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    parser = build_parser()
    args = parse_args(argv, parser)
    return cli.command(lambda: run(args, parser))


def header(
    args: argparse.Namespace, model: MLP, data: MnistData, split: dict[str, np.ndarray], report: Reporter
) -> None:
    """The setup lines before training: data, preset, network, configuration."""
    n_left = len(data.x_train) - args.val_size
    part = f" (first {len(split['x']):,} of {n_left:,})" if len(split["x"]) < n_left else ""
    report.say(
        f"data: {data.source}: {len(split['x']):,} train{part}, {len(split['x_val']):,} "
        f"validation, {len(split['x_test']):,} test"
    )
    if data.source == EMBEDDED_SOURCE:
        report.say(FULL_MNIST_HINT)
    elif args.data_default:
        where = f"${ENV_DATA_DIR}" if os.environ.get(ENV_DATA_DIR) else "the download cache"
        report.say(f"(full MNIST found in {where}, used by default; --data embedded for the small subset)")
    if args.preset is not None:
        preset = PRESETS[args.preset]
        report.say(f"preset {preset.name}: {preset.reproduces}")
        if preset.reference_accuracy is not None:
            report.say(
                f"  the original, run as written, reaches {preset.reference_accuracy:.1%} test "
                "accuracy on full MNIST"
            )
        if preset.notes:
            report.say(f"  note: {preset.notes}")
        changed = [f"{flag(d)}" for d in preset.settings if d in args.explicit]
        if changed:
            report.say(f"  overridden on the command line: {', '.join(changed)}")
        if "save" in preset.settings and "save" not in args.explicit:
            report.say(f"  saves its parameters at the end, as the original does: {args.save}")
    threads = args.threads or f"{available_threads()} (default)"
    lr = f"lr {args.lr}" + ("" if args.lr_schedule == "constant" else f" ({args.lr_schedule} decay)")
    stop = f" | early stopping {args.early_stopping} on {args.monitor}" if args.early_stopping else ""
    report.say(
        f"backend {model.backend.name} | dtype {args.dtype} | threads {threads} | network "
        f"{network_text(model)} | {args.optimizer} {lr} batch {args.batch_size or 'full'}{stop}"
    )
    report.detail(f"config: {command_line(args)}")
    report.detail(f"versions: {versions_text()}")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Train as ``args`` say, printing as it goes; returns the exit status."""
    parser = parser or build_parser()
    if not hasattr(args, "explicit"):  # parsed without parse_args: every option is as given
        args.explicit = frozenset(vars(args))
    try:
        stored: dict[str, Any] = {}
        if args.resume not in (UNSET, None):
            stored = read_resume(args, parser)
            resume_conflicts(args, stored["options"], args.resume)
        fill_defaults(args, parser, stored.get("options"))
        check_combinations(args)
        if args.resume is not None and "checkpoint" not in args.explicit:
            args.checkpoint = args.resume  # keep updating the file resumed from
        derived = resumed_outputs(args, stored) if args.resume is not None else []
        plan = plan_outputs(args)  # before any work: refuse outputs that destroy inputs or fail
        report = Reporter(0 if args.quiet else 2 if args.verbose else 1)
        if args.resume is not None:
            try:
                model, _ = load_checkpoint(args.resume, backend=args.backend, threads=args.threads)
            except DataError as exc:
                raise DataError(f"--resume {exc}") from None
        else:
            model = build_model(args)
        if args.plot is not None:  # fail now, not after training
            optional_import("matplotlib", "plots", "--plot")
        data = load_data(args)  # --data, then the pixel polarity check (--fix-polarity)
        args.data_default = args.data is None
        if args.data is None:  # record what the default was, so a resumed run uses the same
            args.data = "embedded" if data.source == EMBEDDED_SOURCE else data.source
        split = split_data(args, data)
        data_record = check_resumed_data(args, stored, data, split)
        header(args, model, data, split, report)
        if derived:
            report.say(
                f"resumed run: the checkpoint's run wrote {', '.join(d.split()[0] for d in derived)}; "
                f"this one writes beside the checkpoint: {', '.join(derived)}"
            )
        written = planned_text(plan)
        if written:
            report.say(written)
        session = Session(
            model, args, report, {"data": data_record}, elapsed=stored.get("elapsed_seconds", 0.0)
        )
        if args.resume is not None:
            resume(args, model, session, stored, report)
        compile_seconds = model.backend.warmup(
            args.dtype, "sample" if args.batch_size == 1 else "batch", model.activations
        )
        if model.backend.name != "numpy":
            report.say(f"compile/cache load: {compile_seconds:.2f} s")
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    except KeyboardInterrupt:
        print("interrupted before training started", file=sys.stderr)
        return cli.EXIT_INTERRUPTED

    status, message = "completed", None
    with session.stop.installed():  # Ctrl-C handling, until the files are written
        try:
            early = session.early
            if model.epochs_trained < args.epochs and not (early and early.stopped):
                status, message = session.train(split)
            elif early is not None and early.stopped:
                status = "early_stopped"
        except FastnnError as exc:
            return cli.error(cli.name_flags(str(exc)))
        if message is not None:
            print(message, file=sys.stderr)
        return finish(args, model, data, split, session, compile_seconds, status)


def finish(
    args: argparse.Namespace,
    model: MLP,
    data: MnistData,
    split: dict[str, np.ndarray],
    session: Session,
    compile_seconds: float,
    status: str,
) -> int:
    """Evaluate, save and write metrics as the outcome allows; returns the exit status."""
    exit_code = {
        "diverged": cli.EXIT_FAILED,
        "interrupted": cli.EXIT_INTERRUPTED,
        "write_failed": cli.EXIT_FAILED,
    }.get(status, 0)
    report = session.report
    try:
        test = None
        if status in ("completed", "early_stopped"):
            restored = session.restore_best()
            if restored:
                report.say(restored)
        if status not in ("interrupted", "write_failed"):  # wants out / must save first, not evaluate
            if len(split["x_test"]):
                test = model.evaluate(split["x_test"], split["y_test"])
                print(
                    f"test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}) on "
                    f"{len(split['x_test']):,} test digits after {epochs_text(model.epochs_trained)}"
                )
            else:
                last = model.history[-1].val_accuracy if model.history else None
                print(
                    f"no test split in {data.source}; "
                    + (
                        "no validation set either"
                        if last is None
                        else f"final validation accuracy {last:.2%}"
                    )
                )
        if args.save is not None:
            kept = (
                ""
                if status in ("completed", "early_stopped")
                else f" (weights after epoch {model.epochs_trained})"
            )
            # The data set's name and class names go with the weights (evaluate, predict,
            # plots and the ONNX export print "Sneaker", not "7").
            labels = ClassLabels(data.dataset, data.class_names).as_meta()
            saved, problem = save_or_recover(model, args.save, "--save", labels)
            if saved is not None:
                report.say(f"saved model to {saved}{kept}")
            else:
                print(problem, file=sys.stderr)
                exit_code = exit_code or cli.EXIT_FAILED
        elif status == "write_failed":  # the checkpoint could not be written: keep the model
            print(f"fastnn: {recover(model, 'model.npz', [])}", file=sys.stderr)
        if args.metrics_json is not None:
            try:
                write_metrics(
                    args.metrics_json,
                    args,
                    model,
                    data,
                    split,
                    compile_seconds,
                    status,
                    test,
                    extra=metrics_extra(args, session),
                )
                report.say(f"wrote metrics to {args.metrics_json}")
            except (OSError, FastnnError) as exc:
                write_failed("--metrics-json", args.metrics_json, exc)
                exit_code = exit_code or cli.EXIT_FAILED
        if args.plot is not None and status not in ("interrupted", "write_failed"):
            x_plot, y_plot, split_name = (
                (split["x_test"], split["y_test"], "test")
                if len(split["y_test"])
                else (split["x_val"], split["y_val"], "validation")
            )
            try:
                for path in write_plots(
                    args.plot, model, model.history, x_plot, y_plot, split_name, data.class_names
                ):
                    report.say(f"wrote {path}")
            except (OSError, FastnnError) as exc:
                write_failed("--plot", args.plot, exc)
                exit_code = exit_code or cli.EXIT_FAILED
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    except KeyboardInterrupt:
        print("interrupted while finishing", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    if exit_code == 0 and args.target_acc is not None:
        achieved, what = (
            (test["accuracy"], "test")
            if test is not None
            else (model.history[-1].val_accuracy or 0.0, "validation")
        )
        if achieved < args.target_acc:
            print(
                f"fastnn: {what} accuracy {achieved:.2%} is below --target-acc {args.target_acc:.2%}",
                file=sys.stderr,
            )
            return cli.EXIT_FAILED
    return exit_code


def metrics_extra(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    """The metrics JSON entries beyond history and results: preset, early stopping, checkpoints."""
    early = session.early
    return {
        "preset": args.preset,
        "elapsed_seconds": session.elapsed,
        "early_stopping": None
        if early is None
        else {
            "patience": early.patience,
            "monitor": early.monitor,
            "tol": early.tol,
            "best_epoch": early.best_epoch or None,
            "best_value": early.state()["best"],
            "stopped": early.stopped,
            "stopped_after_epoch": session.model.epochs_trained if early.stopped else None,
        },
        "checkpoint": {
            "path": None if args.checkpoint is None else str(args.checkpoint),
            "resumed_from": None if session.resumed_from is None else str(session.resumed_from),
            "resumed_at_epoch": session.resumed_at,
        },
    }


def script_main() -> None:
    """``python -m fastnn.train``: run :func:`main` and exit with its status."""
    status = main()
    # A Ctrl-C pressed while the interpreter shuts down would kill it by SIGINT (Python
    # puts the default action back while finalising) and hide the status: ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(status)


if __name__ == "__main__":
    script_main()
