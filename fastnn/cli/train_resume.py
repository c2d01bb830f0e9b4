"""``--resume``: continue a checkpointed run exactly, or refuse with a reason.

A checkpoint written by ``python -m fastnn.train --checkpoint`` keeps, besides the
model, optimiser and RNG state (``fastnn.model_files``), the run's options, a
fingerprint of its data and its early-stopping state. Resuming takes the stored
options as defaults; flags may change how long to train (``--epochs`` is the total),
who computes and where results go, but a flag that would change the numbers
(:data:`~fastnn.cli.fit_options.MATHS_OPTIONS`) is refused, and so are data whose
fingerprint differs: the split is a prefix of the training set, so the same
``--data``/``--val-size``/``--train-size`` give the same samples, and the
fingerprint proves it.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.cli.fit_options import (
    MATHS_OPTIONS,
    OUTPUT_OPTIONS,
    RESUMED_OUTPUT_NAMES,
    STORED_OPTIONS,
    action_of,
    convert,
    flag,
    full_activations,
    option_text,
)
from fastnn.cli.report import Reporter, epochs_text, format_duration
from fastnn.cli.train_loop import Session, best_path
from fastnn.data import MnistData
from fastnn.early_stopping import EarlyStopping
from fastnn.errors import DataError, InvalidParameterError
from fastnn.model import MLP
from fastnn.model_files import CHECKPOINT_KIND, read_model_file
from fastnn.model_loading import load_model


def data_fingerprint(x_train: np.ndarray, y_train: np.ndarray, n_used: int) -> str:
    """SHA-256 of the first ``n_used`` training images and labels: the validation and
    training samples a run uses (both are prefixes, see ``split_validation``)."""
    h = hashlib.sha256(np.ascontiguousarray(x_train[:n_used]).tobytes())
    h.update(np.ascontiguousarray(y_train[:n_used], dtype="<i8").tobytes())
    return h.hexdigest()


def restore_options(parser: argparse.ArgumentParser, options: Any, where: Path) -> dict[str, Any]:
    """A checkpoint's stored options, each re-parsed by its flag's type (the file is not trusted).

    Options missing from the file (written before they existed) keep their defaults.
    """
    if not isinstance(options, dict):
        raise DataError(
            f"{where}: the checkpoint has no stored training options; was it written by "
            "python -m fastnn.train --checkpoint?"
        )
    restored: dict[str, Any] = {}
    for dest in STORED_OPTIONS:
        if dest not in options:
            continue
        value, action = options[dest], action_of(parser, dest)
        try:
            if value is None and (action.default is None or dest == "batch_size"):
                restored[dest] = None
                continue
            if isinstance(value, (dict, bool)) or value is None:
                raise argparse.ArgumentTypeError(f"unexpected {type(value).__name__}")
            text = option_text(dest, value)
            parsed = convert(action, text)
            if action.choices is not None and parsed not in action.choices:
                raise argparse.ArgumentTypeError(f"not one of {', '.join(map(str, action.choices))}")
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: invalid stored option {flag(dest)} {value!r}: {exc}") from None
        restored[dest] = parsed
    return restored


def _same(dest: str, a: Any, b: Any, layers: list[int]) -> bool:
    if dest == "activations":  # "relu" and relu,relu,softmax are the same network
        try:
            return full_activations(layers, a) == full_activations(layers, b)
        except InvalidParameterError:
            return False
    if dest == "early_stopping":  # 0 and None both mean off
        a, b = a or None, b or None
    return bool(a == b)


def _shown(dest: str, value: Any) -> str:
    return "none" if value is None and dest != "batch_size" else option_text(dest, value)


def resume_conflicts(args: argparse.Namespace, stored: dict[str, Any], where: Path) -> None:
    """Refuse flags that would make a resumed run compute something else than the checkpoint's."""
    layers = list(stored.get("layers") or [])
    conflicts = [
        f"{flag(d)} {_shown(d, getattr(args, d))} (the checkpoint has {_shown(d, stored[d])})"
        for d in MATHS_OPTIONS
        if d in args.explicit and d in stored and not _same(d, getattr(args, d), stored[d], layers)
    ]
    if conflicts:
        raise InvalidParameterError(
            f"--resume {where}: {', '.join(conflicts)} would change the training the checkpoint "
            "holds; drop the flag to continue that run, or start a new run without --resume"
        )


def read_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The train_config of the checkpoint ``--resume`` names, its options re-checked."""
    path = args.resume
    try:
        meta, _ = read_model_file(path)
    except DataError as exc:
        raise DataError(f"--resume {exc}") from None
    if meta.get("kind") != CHECKPOINT_KIND:
        raise DataError(f"--resume {path}: a model file, not a checkpoint; write one with --checkpoint PATH")
    config = meta.get("train_config")
    if not isinstance(config, dict):
        raise DataError(f"--resume {path}: invalid train_config in the checkpoint")
    try:
        options = restore_options(parser, config.get("options"), path)
    except DataError as exc:
        raise DataError(f"--resume {exc}") from None
    # Never an output path from the file: only whether the run wrote that output.
    config["outputs_before"] = [d for d in OUTPUT_OPTIONS if options.pop(d, None) is not None]
    # The network itself is what the weights say it is.
    options.update(
        layers=meta.get("layer_sizes"),
        activations=meta.get("activations"),
        dtype=meta.get("dtype"),
        seed=meta.get("seed", 0),
        init=meta.get("init", "auto"),
    )
    config["options"] = options
    elapsed = config.get("elapsed_seconds")
    config["elapsed_seconds"] = (
        float(elapsed)
        if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) and 0 <= elapsed < math.inf
        else 0.0
    )  # only ever printed
    return config


def resumed_outputs(args: argparse.Namespace, stored: dict[str, Any]) -> list[str]:
    """Set the outputs the checkpoint's run wrote and this command line does not name:
    beside the checkpoint, never where the file says. Returns what was derived, as text."""
    derived = []
    for dest in stored.get("outputs_before", []):
        if dest in args.explicit or getattr(args, dest) is not None:
            continue
        setattr(args, dest, args.resume.with_name(RESUMED_OUTPUT_NAMES[dest].format(stem=args.resume.stem)))
        derived.append(f"{flag(dest)} {getattr(args, dest)}")
    return derived


def check_resumed_data(
    args: argparse.Namespace, stored: dict[str, Any], data: MnistData, split: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The data record a checkpoint keeps; with --resume, refuse data other than the checkpoint's."""
    n_used = args.val_size + len(split["x"])
    record = {
        "source": data.source,
        "n_train": len(split["x"]),
        "n_val": len(split["x_val"]),
        "sha256": data_fingerprint(data.x_train, data.y_train, n_used),
    }
    old = stored.get("data")
    if isinstance(old, dict) and old.get("sha256") != record["sha256"]:
        raise DataError(
            f"--resume {args.resume}: the checkpoint was trained on {old.get('source')} "
            f"({old.get('n_train')} train, {old.get('n_val')} validation samples); these "
            f"data differ ({data.source}); pass the --data it was trained on"
        )
    return record


def resumed_early_stopping(args: argparse.Namespace, model: MLP, state: Any) -> EarlyStopping:
    """The checkpoint's early stopping, continued; its best weights are the checkpoint's
    own (when the best epoch is the last) or those of the sibling file ``NAME.best.npz``.

    Checkpoints written before the state held its rule (patience, monitor, tol) get it
    from the stored options, which the resumed run shares (see :func:`resume_conflicts`).
    """
    path, done = args.resume, model.epochs_trained
    sibling_used = False

    def best_weights(epoch: int) -> np.ndarray:
        nonlocal sibling_used
        if epoch > done:
            raise DataError(f"{path}: the best epoch {epoch} for early stopping is after the last ({done})")
        if epoch == done:
            return model.params.data
        try:
            saved = load_model(best_path(path), backend="numpy")  # only its numbers are needed
        except DataError as exc:
            raise DataError(
                f"{path}: the best weights (epoch {epoch}) for early stopping are missing: {exc}"
            ) from None
        sibling_used = True
        if saved.params.data.shape != model.params.data.shape or saved.dtype != model.dtype:
            raise DataError(f"{path}: the weights of the best epoch {epoch} do not match the checkpoint")
        return saved.params.data

    rule = {"patience": args.early_stopping, "monitor": args.monitor, "tol": args.tol}
    try:
        return EarlyStopping.from_state(
            {**rule, **state} if isinstance(state, dict) else state,
            best_weights,
            where=str(path),
            restore_best=False,
        )
    except DataError as exc:
        hint = f" (is {best_path(path)} from another run?)" if sibling_used else ""
        raise DataError(f"{exc}{hint}") from None


def resume(
    args: argparse.Namespace,
    model: MLP,
    session: Session,
    stored: dict[str, Any],
    report: Reporter,
) -> None:
    """Prepare ``session`` to continue the checkpoint's run; say where it stands."""
    done = model.epochs_trained
    early = session.early
    if early is not None:
        early = session.early = resumed_early_stopping(args, model, stored.get("early_stopping_state"))
        if args.checkpoint == args.resume:
            session.best_written = early.best_epoch if early.best_epoch < done else None
    if args.checkpoint == args.resume:
        session.written_epoch = done
    session.resumed_from, session.resumed_at = args.resume, done
    elapsed = f", {format_duration(session.elapsed)} elapsed" if session.elapsed else ""
    if early is not None and early.stopped:
        report.say(
            f"resumed {args.resume}: early stopping already ended this run after epoch {done}; evaluating"
        )
    elif done >= args.epochs:
        report.say(
            f"resumed {args.resume}: {epochs_text(done)} already done (--epochs {args.epochs}); "
            "nothing to train, evaluating"
        )
    else:
        report.say(
            f"resumed {args.resume}: {done} of {epochs_text(args.epochs)} done{elapsed}; "
            "training "
            + (f"epoch {args.epochs}" if done + 1 == args.epochs else f"epochs {done + 1}-{args.epochs}")
        )
        old_epochs = stored["options"].get("epochs")
        if args.lr_schedule == "cosine" and old_epochs not in (None, args.epochs):
            report.say(
                f"note: the cosine schedule decays over --epochs, which was {old_epochs} and is "
                f"now {args.epochs}: the remaining epochs get other learning rates"
            )
