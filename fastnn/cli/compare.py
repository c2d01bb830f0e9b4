"""``python -m fastnn.compare``: the reference backend against the fast one, same run, both ways.

Takes the flags of ``python -m fastnn.train`` (its parser, extended), builds the model
once and copies it to the second backend (``MLP.with_backend``), so both start from
the same weights and the same shuffle RNG, then trains each on the same split with
the same hyper-parameters. It prints every epoch of both, the time per epoch and the
speedup (Numba's compile time measured by ``backend.warmup`` first and reported on
its own, never inside an epoch), both test accuracies, the largest weight and
``predict_proba`` differences, and exits 1 when they are beyond ``--rtol``, unless the
backends, restarted from the same weights, agree within it: then the runs drifted
apart through rounding (float32 over many sequential updates), which is reported
and is not a failure.

The tolerance is relative to the largest weight: ``max|W_numpy - W_numba| /
max|W_numpy|`` (and the probability difference, already on a 0..1 scale) must not
exceed it. The defaults follow the dtype: summation order differs between NumPy's
BLAS and the kernels, so float32 runs drift apart by rounding (about 1e-6 after a few
epochs here) while float64 ones stay near 1e-15.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.atomic import atomic_write
from fastnn.cli import common as cli
from fastnn.cli import fit_options
from fastnn.cli.fit_options import MATHS_OPTIONS, check_combinations, command_line, fill_defaults, fit_kwargs
from fastnn.cli.fit_setup import FULL_MNIST_HINT, build_model, split_data
from fastnn.cli.inputs import load_data, plan_data
from fastnn.cli.presets import PRESETS
from fastnn.cli.report import auto_print_every, epoch_line, network_text, versions_text
from fastnn.data import EMBEDDED_SOURCE
from fastnn.errors import FastnnError, TrainingDivergedError
from fastnn.model import MLP, EpochRecord
from fastnn.paths import OutputPlan

#: The two backends compared: the reference and the fast one.
REFERENCE, FAST = "numpy", "numba"

#: Default --rtol per dtype (relative to the largest weight; see the module docstring).
DEFAULT_RTOL = {"float32": 1e-3, "float64": 1e-9}

#: Training samples in the same-weights check run when the backends disagree.
CHECK_SAMPLES = 1000

#: Train flags that make no sense here (only those the train parser has are refused).
REFUSED = {
    "--backend": f"compare always trains with both {REFERENCE} and {FAST}",
    "--save": "compare trains two models; save one with python -m fastnn.train --backend NAME --save",
    "--checkpoint": "compare runs are not checkpointed",
    "--resume": "compare starts both backends from the same fresh model",
    "--plot": "plot one model with python -m fastnn.train --plot or python -m fastnn.plots",
}


def build_parser() -> argparse.ArgumentParser:
    """``fastnn.cli.fit_options.build_parser()`` with compare's description, refusals and --rtol."""
    p = fit_options.build_parser()
    p.prog = "python -m fastnn.compare"
    p.description = (
        f"Train the same network from the same seed with the {REFERENCE} (reference) and {FAST} "
        "backends, on the same data in the same order; print each epoch's time, the speedup, both "
        "test accuracies and the largest weight and probability differences. Takes the flags of "
        "python -m fastnn.train, --preset included (except those that pick, save or resume one "
        "model)."
    )
    p.epilog = (
        "Presets: see python -m fastnn.train --help.\n\n"
        "Exit status: 0 the backends agree within --rtol, 1 they disagree (or --target-acc "
        "missed, or training diverged), 2 bad flags or data, 130 interrupted."
    )
    # argparse has no public way to edit an inherited option; its actions list is stable.
    for action in p._actions:
        if any(opt in REFUSED for opt in action.option_strings):
            action.help = argparse.SUPPRESS
        elif "--metrics-json" in action.option_strings:
            action.help = "write the comparison (config, both histories, timings, differences) as JSON"
        elif "--target-acc" in action.option_strings:
            action.help = "exit 1 if either backend's final test accuracy (e.g. 0.97) is below this"
        elif "--quiet" in action.option_strings:
            action.help = "print only the verdict line"
        elif "--verbose" in action.option_strings:
            action.help = "also print the exact configuration (as a train command line) and versions"
    cmp = p.add_argument_group("comparison")
    cmp.add_argument(
        "--rtol",
        metavar="R",
        type=cli.nonnegative_float,
        default=None,
        help="largest accepted difference, relative to the largest weight (default: "
        + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_RTOL.items())
        + ")",
    )
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Train's parsing (presets, defaults, combination checks); refused flags exit 2."""
    parser = build_parser()
    args = fit_options.parse_args(argv, parser)
    for action in parser._actions:
        if action.dest in args.explicit and any(opt in REFUSED for opt in action.option_strings):
            opt = next(o for o in action.option_strings if o in REFUSED)
            parser.error(f"{opt} is not a compare flag: {REFUSED[opt]}")
    fill_defaults(args, parser)
    args.backend = REFERENCE
    return args


def weight_difference(a: MLP, b: MLP) -> dict[str, Any]:
    """Largest absolute difference, relative to max |w| of ``a``, and the layer it is in."""
    diff = np.abs(a.params.data.astype(np.float64) - b.params.data.astype(np.float64))
    scale = float(np.abs(a.params.data).max())
    at = int(diff.argmax())
    layer = int(np.searchsorted(a.params.offsets, at, side="right") - 1)
    name = f"{'Wb'[layer % 2]}{layer // 2}"
    largest = float(diff[at])
    return {
        "absolute": largest,
        "relative": largest / scale if scale > 0 else largest,
        "max_abs_weight": scale,
        "where": name,
    }


def same_weights_check(
    ref: MLP,
    p_ref: np.ndarray,
    x_eval: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    kwargs: dict[str, Any],
    n_samples: int = CHECK_SAMPLES,
) -> dict[str, Any] | None:
    """Both backends from the *same* weights (the reference's final ones): do they still agree?

    ``p_ref`` is ``ref.predict_proba(x_eval)``, already computed by the caller.
    Returns the largest ``predict_proba`` difference on ``x_eval`` and the relative
    weight difference after one pass over the first ``n_samples`` training samples at
    the run's learning rate, or None if that pass diverges. Small numbers here and a
    large difference after the full runs mean the kernels agree and the two runs
    drifted apart (see :func:`run`).
    """
    fast = ref.with_backend(FAST)
    forward = float(np.abs(p_ref.astype(np.float64) - fast.predict_proba(x_eval).astype(np.float64)).max())
    k = min(len(x), n_samples)
    keep = ("lr", "optimizer", "momentum", "weight_decay", "beta1", "beta2", "eps")
    kw = {key: kwargs[key] for key in keep if key in kwargs}
    bs = kwargs.get("batch_size", 1)
    kw["batch_size"] = None if bs is None else min(bs, k)
    a = ref.copy()
    try:
        for model in (a, fast):
            model.fit(x[:k], y[:k], epochs=1, train_accuracy=False, **kw)
    except FastnnError:
        return None
    return {"predict_proba": forward, "n_samples": k, "weights_after": weight_difference(a, fast)["relative"]}


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    args = parse_args(argv)
    return cli.command(lambda: run(args))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def run(args: argparse.Namespace) -> int:
    say = (lambda *_: None) if args.quiet else print
    rtol = args.rtol if args.rtol is not None else DEFAULT_RTOL[args.dtype]
    try:
        check_combinations(args)
        plan = OutputPlan()
        plan_data(plan, args.data)
        plan.write("--metrics-json", args.metrics_json)
        plan.check()  # before training: not the data, a file, writable
        ref = build_model(args)
        fast = ref.with_backend(FAST)  # the same weights and shuffle RNG state, another backend
        data = load_data(args)  # --data, then the pixel polarity check, as train does
        split = split_data(args, data)
        kwargs = fit_kwargs(args)
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    say(
        f"data: {data.source}: {len(split['x']):,} train, {len(split['x_val']):,} validation, "
        f"{len(split['x_test']):,} test (the same for both backends)"
    )
    if data.source == EMBEDDED_SOURCE:
        say(FULL_MNIST_HINT)
    if args.preset is not None:
        say(f"preset {args.preset}: {PRESETS[args.preset].reproduces}")
    say(
        f"network {network_text(ref)} | dtype {args.dtype} | seed {args.seed} | {args.optimizer} "
        f"lr {args.lr} batch {args.batch_size or 'full'} | threads {args.threads or 'default'}"
    )
    if args.verbose:
        say(f"config: {command_line(args, (*MATHS_OPTIONS, 'epochs', 'threads', 'data'))}")
        say(f"versions: {versions_text()}")
    validation = (split["x_val"], split["y_val"]) if len(split["x_val"]) else None
    every = args.print_every or auto_print_every(args.epochs)

    def line(name: str, r: EpochRecord) -> None:
        if r.epoch % every == 0 or r.epoch == args.epochs:
            say(f"[{name}] {epoch_line(r, args.epochs, show_seconds=True)}")

    compile_seconds = 0.0
    for model in (ref, fast):
        name = model.backend.name
        try:
            seconds = model.backend.warmup(args.dtype)
            if name != REFERENCE:
                compile_seconds = seconds
                say(f"{name} compile/cache load: {seconds:.2f} s (not counted in epoch times)")
            model.fit(
                split["x"],
                split["y"],
                validation=validation,
                callback=functools.partial(line, name),
                **kwargs,
            )
        except TrainingDivergedError as exc:
            print(f"fastnn: error: [{name}] {exc}", file=sys.stderr)
            return cli.EXIT_FAILED
        except FastnnError as exc:
            return cli.error(cli.name_flags(str(exc)))

    if len(split["x_test"]):
        x_eval, y_eval, what = split["x_test"], split["y_test"], "test"
    elif len(split["x_val"]):
        x_eval, y_eval, what = split["x_val"], split["y_val"], "validation"
    else:
        x_eval, y_eval, what = split["x"], split["y"], "training"
    p_ref, p_fast = ref.predict_proba(x_eval), fast.predict_proba(x_eval)
    acc = {
        m.backend.name: float(np.mean(p.argmax(axis=1) == y_eval)) for m, p in ((ref, p_ref), (fast, p_fast))
    }
    n_differ = int(np.count_nonzero(p_ref.argmax(axis=1) != p_fast.argmax(axis=1)))
    proba_diff = float(np.abs(p_ref.astype(np.float64) - p_fast.astype(np.float64)).max())
    wdiff = weight_difference(ref, fast)
    t_ref = [r.seconds for r in ref.history]
    t_fast = [r.seconds for r in fast.history]
    speedup = sum(t_ref) / sum(t_fast) if sum(t_fast) > 0 else float("inf")

    say(
        f"time per epoch: {REFERENCE} {_mean(t_ref):.3f} s, {FAST} {_mean(t_fast):.3f} s "
        f"(mean of {len(t_ref)}); speedup {speedup:.1f}x"
    )
    say(
        f"{what} accuracy: {REFERENCE} {acc[REFERENCE]:.2%}, {FAST} {acc[FAST]:.2%}; "
        f"{n_differ:,} of {len(y_eval):,} predictions differ"
    )
    say(
        f"largest weight difference: {wdiff['absolute']:.3g} absolute, {wdiff['relative']:.3g} relative "
        f"(to max |w| {wdiff['max_abs_weight']:.4g}; in {wdiff['where']})"
    )
    say(f"largest predict_proba difference on the {len(y_eval):,} {what} digits: {proba_diff:.3g}")

    problems = []
    if len(ref.history) != len(fast.history):
        problems.append(f"{REFERENCE} trained {len(ref.history)} epochs but {FAST} {len(fast.history)}")
    if not wdiff["relative"] <= rtol:
        problems.append(f"weight difference {wdiff['relative']:.3g} (relative) > --rtol {rtol:g}")
    if not proba_diff <= rtol:
        problems.append(f"predict_proba difference {proba_diff:.3g} > --rtol {rtol:g}")
    source = "" if args.rtol is not None else f" ({args.dtype} default)"
    verdict = (
        f"backends agree: differences <= rtol {rtol:g}{source}"
        if not problems
        else "backends DISAGREE: " + "; ".join(problems)
    )
    check = same_weights_check(ref, p_ref, x_eval, split["x"], split["y"], kwargs) if problems else None
    note = None
    drifted = False
    if check is not None:
        note = (
            f"from the same weights (numpy's final ones) the backends differ by "
            f"{check['predict_proba']:.3g} in predict_proba and by {check['weights_after']:.3g} "
            f"(relative) after {check['n_samples']:,} more training samples"
        )
        if max(check["predict_proba"], check["weights_after"]) <= rtol:
            drifted = True
            verdict = "backends agree step by step, but the two runs drifted apart: " + "; ".join(problems)
            note += (
                ": the kernels agree, the two runs drifted apart. Rounding differences of one "
                "unit in the last place grow over many sequential updates (with ReLU, a unit whose "
                "input is within rounding of 0 is on in one run and off in the other, and training "
                "does not undo that); long float32 runs can end far apart. For a tight check of the "
                "training maths use --dtype float64, or fewer samples (--train-size)"
            )

    if args.metrics_json is not None:
        config = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("backend", "explicit") and v != argparse.SUPPRESS
        }
        status = "agree" if not problems else ("drifted" if drifted else "disagree")
        doc = {
            "status": status,
            "rtol": rtol,
            "config": config,
            "versions": cli.versions(),
            "data": data.source,
            "compile_seconds": compile_seconds,
            "speedup": speedup,
            "evaluated_on": what,
            "accuracy": acc,
            "predictions_differing": n_differ,
            "weight_difference": wdiff,
            "predict_proba_difference": proba_diff,
            "same_weights_check": check,
            "history": {
                REFERENCE: [r.as_dict() for r in ref.history],
                FAST: [r.as_dict() for r in fast.history],
            },
        }
        try:
            with atomic_write(args.metrics_json, "w") as fh:
                json.dump(cli.json_safe(doc), fh, indent=2, allow_nan=False)
                fh.write("\n")
        except (FastnnError, OSError) as exc:
            return cli.error(f"--metrics-json: {exc}")
        say(f"wrote {args.metrics_json}")

    if problems and not drifted:
        print(f"fastnn: {verdict}", file=sys.stderr)
        if note is not None:
            print(f"fastnn: note: {note}", file=sys.stderr)
        return cli.EXIT_FAILED
    # Drift alone is not a disagreement of the backends: from the same weights they
    # agree within --rtol (checked above); say what happened and do not fail.
    print(verdict)
    if note is not None:
        print(f"note: {note}")
    if args.target_acc is not None and min(acc.values()) < args.target_acc:
        print(
            f"fastnn: {what} accuracy {min(acc.values()):.2%} is below --target-acc {args.target_acc:.2%}",
            file=sys.stderr,
        )
        return cli.EXIT_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
