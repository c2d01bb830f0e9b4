"""``python -m fastnn.train``: train an MLP on MNIST and report what happened.

This module is only the command-line surface (flags, messages, files). Training is
``MLP.fit``, whose per-epoch callback prints each line as the epoch finishes, so the
CLI and the API cannot disagree about what an epoch did. Numba's compile time is
measured by ``backend.warmup`` before training and never counted in an epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fastnn import cli_common as cli
from fastnn.activations import HIDDEN_ACTIVATIONS
from fastnn.atomic import atomic_write
from fastnn.backends import DEFAULT_BACKEND, backend_names
from fastnn.data import (
    EMBEDDED_SOURCE,
    ENV_DATA_DIR,
    IDX_FILES,
    N_CLASSES,
    MnistData,
    load_dataset,
    scale_pixels,
    split_validation,
)
from fastnn.errors import FastnnError, InvalidParameterError, TrainingDivergedError
from fastnn.model import MLP, EpochRecord
from fastnn.optim import OPTIMIZERS, OptimizerConfig
from fastnn.params import INIT_SCHEMES
from fastnn.tabular import N_PIXELS
from fastnn.threads import available_threads

FULL_MNIST_HINT = (
    f"hint: this is a small subset; for full MNIST pass --data DIR (or set {ENV_DATA_DIR}=DIR), "
    f"DIR holding {', '.join(f'{name}[.gz]' for name in IDX_FILES.values())}"
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` except where the default is None/False (the help says why)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The train flags; other commands (e.g. compare) can reuse them."""
    p = argparse.ArgumentParser(
        prog="python -m fastnn.train", formatter_class=_HelpFormatter,
        description="Train a fully connected network on MNIST with softmax cross-entropy. "
                    "With no flags: the embedded 5,000-digit subset, numpy backend, a few seconds.",
        epilog="Exit status: 0 done, 1 diverged or --target-acc missed, 2 bad flags or data, "
               "130 interrupted.")
    model = p.add_argument_group("model")
    model.add_argument("--backend", choices=backend_names(), default=DEFAULT_BACKEND,
                       help="who computes; results agree to floating-point tolerance")
    model.add_argument("--layers", metavar="SIZES", type=cli.int_list, default="784,128,64,10",
                       help=f"layer sizes from the {N_PIXELS} input pixels to the {N_CLASSES} classes")
    model.add_argument("--activations", metavar="NAMES", type=cli.activation_list, default="relu",
                       help="one name per weight layer (the last is softmax), or one hidden-layer "
                            f"name for all hidden layers; hidden: {', '.join(HIDDEN_ACTIVATIONS)}")
    model.add_argument("--init", choices=INIT_SCHEMES, default="auto",
                       help="weight initialisation; auto picks He/Glorot/LeCun from each activation")
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="precision of weights and arithmetic")
    model.add_argument("--seed", type=cli.nonnegative_int, default=0,
                       help="seeds the initial weights and every epoch's shuffle")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", metavar="N", type=cli.positive_int, default=5,
                       help="passes over the training set")
    train.add_argument("--lr", type=cli.finite_float, default=0.01, help="learning rate")
    train.add_argument("--batch-size", metavar="N|full", type=cli.batch_size, default=1,
                       help="samples per update: 1 = per-sample SGD, N = mini-batch, "
                            "'full' = full-batch gradient descent")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="update rule")
    train.add_argument("--momentum", type=cli.finite_float, default=0.9,
                       help="momentum coefficient (momentum and nesterov only)")
    train.add_argument("--weight-decay", type=cli.finite_float, default=0.0, help="L2 penalty on weights")
    train.add_argument("--threads", metavar="N", type=cli.positive_int, default=None,
                       help="maximum BLAS/Numba threads (default: the libraries' own, all CPUs)")
    data = p.add_argument_group("data")
    data.add_argument("--data", metavar="PATH", default=None,
                      help="a directory with the four MNIST IDX files, a Kaggle .csv[.gz], a Keras "
                           f".npz or 'embedded' (default: ${ENV_DATA_DIR} if set, else the embedded "
                           "5,000 digits)")
    data.add_argument("--val-size", metavar="N", type=cli.nonnegative_int, default=1000,
                      help="hold out the first N training samples as the validation set (0: none)")
    data.add_argument("--train-size", metavar="N", type=cli.positive_int, default=None,
                      help="train on only the first N samples left after the split (quick runs)")
    out = p.add_argument_group("output")
    out.add_argument("--save", metavar="PATH", type=Path, default=None, help="write the model (.npz)")
    out.add_argument("--metrics-json", metavar="PATH", type=Path, default=None,
                     help="write config, versions, per-epoch history and final metrics as JSON")
    out.add_argument("--target-acc", metavar="FRACTION", type=cli.fraction, default=None,
                     help="exit 1 if the final test accuracy (e.g. 0.97) is below this (validation "
                          "accuracy when the data has no test split)")
    out.add_argument("--quiet", action="store_true", help="print only the final accuracy line")
    return p


def check_layers(layers: list[int]) -> None:
    """MNIST fixes both ends of the network; say so, with the likely intended list."""
    got = ",".join(map(str, layers))
    if layers[0] != N_PIXELS:  # most likely the hidden sizes only, or hidden plus output
        guess = [N_PIXELS, *layers] + ([] if layers[-1] == N_CLASSES else [N_CLASSES])
        raise InvalidParameterError(f"--layers must start with the {N_PIXELS} input pixels; got "
                                    f"{got} (did you mean {','.join(map(str, guess))}?)")
    if len(layers) < 2 or layers[-1] != N_CLASSES:
        raise InvalidParameterError(f"--layers must end with the {N_CLASSES} classes, e.g. "
                                    f"784,128,64,10; got {got}")


def resolve_activations(layers: list[int], names: list[str]) -> list[str] | str:
    """One name per weight layer; one name for all hidden layers; or hidden names only."""
    n = len(layers) - 1
    if len(names) == n:
        return names
    if len(names) == 1:
        return names[0]
    if len(names) == n - 1 and "softmax" not in names:
        return [*names, "softmax"]
    raise InvalidParameterError(
        f"--activations needs one name per weight layer ({n} for --layers "
        f"{','.join(map(str, layers))}) or one hidden-layer name; got {len(names)}: {','.join(names)}")


def build_model(args: argparse.Namespace) -> MLP:
    """The model the flags describe; every library complaint names its flag."""
    check_layers(args.layers)
    acts = resolve_activations(args.layers, args.activations)
    OptimizerConfig(args.optimizer, args.lr, args.momentum, weight_decay=args.weight_decay)
    try:
        return MLP(args.layers, acts, backend=args.backend, dtype=args.dtype, seed=args.seed,
                   init=args.init, threads=args.threads)
    except InvalidParameterError as exc:
        msg = cli.name_flags(str(exc))
        raise InvalidParameterError(msg if "(--" in msg else f"--activations: {msg}") from None


def split_data(args: argparse.Namespace, data: MnistData) -> dict[str, np.ndarray]:
    """Validation split, --train-size and scaling (after slicing: less to convert)."""
    n = len(data.x_train)
    if args.val_size >= n:
        raise InvalidParameterError(f"--val-size {args.val_size} leaves no training samples; "
                                    f"{data.source} has {n:,}")
    x, y, x_val, y_val = split_validation(data.x_train, data.y_train, args.val_size)
    if args.train_size is not None:
        if args.train_size > len(x):
            raise InvalidParameterError(f"--train-size {args.train_size:,} is more than the "
                                        f"{len(x):,} training samples left after --val-size")
        x, y = x[:args.train_size], y[:args.train_size]
    if args.batch_size is not None and args.batch_size > len(x):
        raise InvalidParameterError(f"--batch-size {args.batch_size:,} is more than the {len(x):,} "
                                    "training samples; use --batch-size full for full-batch descent")
    if args.target_acc is not None and not len(data.x_test) and not len(x_val):
        raise InvalidParameterError(f"--target-acc needs a test or validation set; {data.source} "
                                    "has no test split and --val-size is 0")
    sc = lambda a: scale_pixels(a, args.dtype)  # noqa: E731
    return {"x": sc(x), "y": y, "x_val": sc(x_val), "y_val": y_val,
            "x_test": sc(data.x_test), "y_test": data.y_test}


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def epoch_line(r: EpochRecord, total: int) -> str:
    """One finished epoch, fixed width so columns line up."""
    w = len(str(total))
    train = f"{r.train_accuracy:7.2%}" if r.train_accuracy is not None else "      -"
    val = f"{r.val_accuracy:7.2%}" if r.val_accuracy is not None else "      -"
    return (f"epoch {r.epoch:>{w}}/{total}  loss {r.loss:.4f}  train {train}  val {val}  "
            f"{r.samples_per_second:>9,.0f} samples/s  {r.seconds:6.2f} s")


def write_metrics(path: Path, args: argparse.Namespace, model: MLP, data: MnistData,
                  split: dict[str, np.ndarray], compile_seconds: float, status: str,
                  test: dict[str, float] | None) -> None:
    """Everything needed to compare runs later, written atomically (never half a file)."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.update(layers=list(model.layer_sizes), activations=list(model.activations),
                  batch_size="full" if args.batch_size is None else args.batch_size)
    metrics: dict[str, Any] = {
        "status": status, "config": config, "versions": cli.versions(),
        "data": {"source": data.source, "embedded": data.source == EMBEDDED_SOURCE,
                 "n_train": len(split["x"]), "n_val": len(split["x_val"]),
                 "n_test": len(split["x_test"])},
        "compile_seconds": compile_seconds,
        "history": [r.as_dict() for r in model.history],
        "final": {"epochs_trained": model.epochs_trained,
                  "test_loss": test["loss"] if test else None,
                  "test_accuracy": test["accuracy"] if test else None},
    }
    with atomic_write(path, "w") as fh:
        json.dump(cli.json_safe(metrics), fh, indent=2, allow_nan=False)
        fh.write("\n")


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except BrokenPipeError:  # e.g. `| head`: stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return cli.EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say, printing as it goes; returns the exit status."""
    say = (lambda *_: None) if args.quiet else print
    try:
        model = build_model(args)
        for flag, path in (("--save", args.save), ("--metrics-json", args.metrics_json)):
            if path is not None and not path.parent.is_dir():  # fail now, not after training
                raise InvalidParameterError(f"{flag} {path}: directory {path.parent} does not exist")
        try:
            data = load_dataset(args.data)
        except FastnnError as exc:
            raise type(exc)(f"--data: {exc}" if args.data is not None else str(exc)) from None
        split = split_data(args, data)
        n_left = len(data.x_train) - args.val_size
        part = f" (first {len(split['x']):,} of {n_left:,})" if len(split["x"]) < n_left else ""
        say(f"data: {data.source}: {len(split['x']):,} train{part}, {len(split['x_val']):,} "
            f"validation, {len(split['x_test']):,} test")
        if data.source == EMBEDDED_SOURCE:
            say(FULL_MNIST_HINT)
        threads = args.threads or f"{available_threads()} (default)"
        net = "-".join([str(args.layers[0])] + [f"{n}({a})" for n, a in
                                                 zip(model.layer_sizes[1:], model.activations, strict=True)])
        say(f"backend {model.backend.name} | dtype {args.dtype} | threads {threads} | network {net} "
            f"| {args.optimizer} lr {args.lr} batch {args.batch_size or 'full'}")
        compile_seconds = model.backend.warmup(args.dtype)
        if model.backend.name != "numpy":
            say(f"compile/cache load: {compile_seconds:.2f} s")
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    except KeyboardInterrupt:
        print("interrupted before training started", file=sys.stderr)
        return cli.EXIT_INTERRUPTED

    status, exit_code = "completed", 0
    try:
        model.fit(split["x"], split["y"], epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                  optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
                  validation=(split["x_val"], split["y_val"]) if len(split["x_val"]) else None,
                  callback=lambda r: say(epoch_line(r, args.epochs)))
    except TrainingDivergedError as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        status, exit_code = "diverged", cli.EXIT_FAILED
    except KeyboardInterrupt:
        print(f"interrupted after epoch {model.epochs_trained}", file=sys.stderr)
        status, exit_code = "interrupted", cli.EXIT_INTERRUPTED
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))

    try:
        test = None
        if status != "interrupted":  # a user who pressed Ctrl-C wants out, not an evaluation
            if len(split["x_test"]):
                test = model.evaluate(split["x_test"], split["y_test"])
                print(f"test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}) on "
                      f"{len(split['x_test']):,} test digits after {_epochs(model.epochs_trained)}")
            else:
                last = model.history[-1].val_accuracy if model.history else None
                print(f"no test split in {data.source}; " + ("no validation set either" if last is None
                      else f"final validation accuracy {last:.2%}"))
        if args.save is not None:
            kept = "" if status == "completed" else f" (weights after epoch {model.epochs_trained})"
            say(f"saved model to {model.save(args.save)}{kept}")
        if args.metrics_json is not None:
            write_metrics(args.metrics_json, args, model, data, split, compile_seconds, status, test)
            say(f"wrote metrics to {args.metrics_json}")
    except FastnnError as exc:
        return cli.error(cli.name_flags(str(exc)))
    except KeyboardInterrupt:
        print("interrupted while finishing", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    if exit_code == 0 and args.target_acc is not None:
        achieved, what = ((test["accuracy"], "test") if test is not None
                          else (model.history[-1].val_accuracy or 0.0, "validation"))
        if achieved < args.target_acc:
            print(f"fastnn: {what} accuracy {achieved:.2%} is below --target-acc "
                  f"{args.target_acc:.2%}", file=sys.stderr)
            return cli.EXIT_FAILED
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
