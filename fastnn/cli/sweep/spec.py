"""What a sweep runs: swept ``python -m fastnn.train`` options and their values, as trials.

Values come from a spec file (TOML or JSON, read as hostile input: bounded size,
known keys, checked types) or from repeated ``--grid NAME=V1,V2`` flags. Every value,
and then every trial, goes through train's own parser, preset, defaults and
combination checks (:mod:`fastnn.cli.fit_options`), so a trial means exactly what the same
flags mean to ``python -m fastnn.train`` and the option list is train's, never a copy.

A trial is identified by a key: a hash of every option that changes its numbers
plus the data's fingerprint, so rerunning a sweep recognises finished trials however
the grid was written or ordered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from fastnn.cli import common as cli
from fastnn.cli import fit_options, fit_setup
from fastnn.cli.fit_options import MATHS_OPTIONS, action_of, check_combinations, fill_defaults, flag
from fastnn.data import MnistData
from fastnn.errors import DataError, FastnnError, InvalidParameterError

#: Largest spec file read, and limits that keep a typo from asking for millions of trials.
MAX_SPEC_BYTES = 64 * 1024
MAX_VALUES = 1000
MAX_TRIALS = 10_000
MAX_TEXT = 1000

#: The keys a spec file may have, and what each holds.
SPEC_KEYS = {
    "grid": "a table of train options, each a list of values to try",
    "fixed": "a table of train options set for every trial",
    "samples": "an int: run this many trials drawn at random from the grid (default: all)",
    "sample_seed": "an int >= 0 seeding that draw (default 0)",
}

#: argparse types of the options whose one value is a comma-separated list.
LIST_TYPES = (cli.int_list, cli.activation_list)

#: Options that identify a trial's result: the maths, how long, and who computed it.
KEY_OPTIONS: tuple[str, ...] = (*MATHS_OPTIONS, "epochs", "backend")

#: Train options a trial cannot set, and why.
NOT_PER_TRIAL = {
    "resume": "every trial starts from fresh weights",
    "checkpoint": "trials are not checkpointed; finished trials are kept in the results file",
    "save": "the sweep saves its best model (--save PATH on the sweep)",
    "metrics_json": "each trial's metrics go to the results file (--results)",
    "plot": "--plot DIR on the sweep charts accuracy against each swept option",
    "target_acc": "the sweep ranks trials by validation accuracy instead",
    "print_every": "trials print no epoch lines",
    "quiet": "give --quiet to the sweep itself",
    "verbose": "give --verbose to the sweep itself",
    "help": "see python -m fastnn.train --help",
}
#: Train options set once for the whole sweep on its command line, never per trial:
#: the data are loaded once and sent to each worker once.
SWEEP_WIDE = {
    "data": "the data are loaded once and sent to each worker once: give --data on the sweep's command line",
    "fix_polarity": "the data are loaded once for the whole sweep: give --fix-polarity on its command line",
}


@dataclass(frozen=True)
class Trial:
    """One run of ``python -m fastnn.train`` in a sweep.

    ``settings``: the swept options' values as train parsed them (by argparse dest);
    ``options``: every train option, resolved (what ``fastnn.train`` would run with);
    ``key``: stable identity (see the module docstring).
    """

    key: str
    settings: dict[str, Any]
    options: dict[str, Any]

    def record_options(self) -> dict[str, Any]:
        """The options that identify the trial, JSON-ready."""
        return {d: self.options[d] for d in KEY_OPTIONS}


@dataclass
class SweepSpec:
    """Swept options (dest -> option texts, in order) and the options fixed by a spec file."""

    grid: dict[str, list[str]] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)
    samples: int | None = None
    sample_seed: int = 0
    where: dict[str, str] = field(default_factory=dict)  # dest -> where it was swept or fixed


def _raise(message: str) -> NoReturn:
    raise InvalidParameterError(message)


def train_parser() -> argparse.ArgumentParser:
    """train's parser, raising InvalidParameterError where argparse would print and exit."""
    parser = fit_options.build_parser()
    parser.error = _raise  # type: ignore[method-assign]
    return parser


def _train_dests(parser: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in parser._actions if a.dest != argparse.SUPPRESS}


def option_dest(name: str, where: str, parser: argparse.ArgumentParser) -> str:
    """``lr``, ``--lr``, ``batch-size`` or ``batch_size`` -> the train option's dest; refuses others."""
    dest = name.strip().lstrip("-").replace("-", "_")
    if dest in NOT_PER_TRIAL:
        raise InvalidParameterError(f"{where}: {flag(dest)} cannot be set per trial: {NOT_PER_TRIAL[dest]}")
    if dest not in _train_dests(parser):
        valid = sorted(_train_dests(parser) - set(NOT_PER_TRIAL) - set(SWEEP_WIDE))
        raise InvalidParameterError(
            f"{where}: {name!r} is not a python -m fastnn.train option; options: "
            + ", ".join(d.replace("_", "-") for d in valid)
        )
    return dest


def value_text(value: Any, where: str) -> str:
    """A spec file's value as it would be typed after the flag (lists joined by commas)."""
    if isinstance(value, bool) or value is None:
        raise InvalidParameterError(f"{where}: expected a number, a string or a list; got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(f"{where}: expected a finite number; got {value!r}")
        return repr(value)
    if isinstance(value, str):
        if not value or len(value) > MAX_TEXT or "\n" in value:
            raise InvalidParameterError(
                f"{where}: expected a non-empty one-line string of at most {MAX_TEXT} characters"
            )
        return value
    if isinstance(value, list) and 0 < len(value) <= 100:
        items = [value_text(v, where) for v in value if not isinstance(v, list)]
        if len(items) == len(value):
            return ",".join(items)
    raise InvalidParameterError(
        f"{where}: expected a number, a string or a list of 1 to 100 numbers or strings; got {value!r}"
    )


def check_value(parser: argparse.ArgumentParser, dest: str, text: str, where: str) -> None:
    """Parse ``--flag text`` alone with train's parser: its type and choices decide."""
    try:
        parser.parse_args([flag(dest), text])
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{where}: {exc}") from None


def add_grid_flag(spec: SweepSpec, text: str, parser: argparse.ArgumentParser) -> None:
    """``--grid NAME=V1,V2``; the values of list options (layers, activations), which hold
    commas themselves, are separated by ``;``: ``--grid 'layers=784,64,10;784,128,10'``."""
    name, sep, values = text.partition("=")
    if not sep or not values.strip():
        raise InvalidParameterError(f"--grid {text!r}: expected NAME=V1,V2 (e.g. lr=0.01,0.1)")
    dest = option_dest(name, f"--grid {text!r}", parser)
    listed = action_of(parser, dest).type in LIST_TYPES
    texts = [v.strip() for v in values.split(";" if listed or ";" in values else ",")]
    _add_swept(spec, dest, texts, f"--grid {name}", parser)


def add_grid_values(
    spec: SweepSpec, name: str, values: Any, where: str, parser: argparse.ArgumentParser
) -> None:
    """Sweep option ``name`` over ``values`` (a list of numbers, strings or lists)."""
    where = f"{where}.{name}"
    dest = option_dest(str(name), where, parser)
    if not isinstance(values, list):
        raise InvalidParameterError(f"{where}: expected a list of values; got {values!r}")
    _add_swept(spec, dest, [value_text(v, where) for v in values], where, parser)


def _add_swept(
    spec: SweepSpec, dest: str, texts: list[str], where: str, parser: argparse.ArgumentParser
) -> None:
    if dest in SWEEP_WIDE:
        raise InvalidParameterError(f"{where}: {flag(dest)} cannot be swept: {SWEEP_WIDE[dest]}")
    if dest in spec.where:
        raise InvalidParameterError(f"{where}: {flag(dest)} is also set by {spec.where[dest]}")
    if not texts or len(texts) > MAX_VALUES or any(not t for t in texts):
        raise InvalidParameterError(f"{where}: expected 1 to {MAX_VALUES} non-empty values")
    if len(set(texts)) != len(texts):
        raise InvalidParameterError(f"{where}: a value is listed twice: {', '.join(texts)}")
    for t in texts:
        check_value(parser, dest, t, where)
    spec.grid[dest] = texts
    spec.where[dest] = where


def _load_document(path: Path) -> Any:
    """The parsed TOML or JSON document, read with a size bound."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the sweep spec: {exc.strerror or exc}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise DataError(f"{path}: a sweep spec is at most {MAX_SPEC_BYTES // 1024} KiB; this file is larger")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: a sweep spec must be UTF-8 text") from None
    if path.suffix.lower() == ".toml":
        if sys.version_info < (3, 11):
            raise DataError(f"{path}: TOML spec files need Python 3.11 or newer (tomllib); use JSON")
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DataError(f"{path}: not valid TOML: {exc}") from None
    if path.suffix.lower() == ".json":

        def no_constant(name: str) -> NoReturn:
            raise DataError(f"{path}: {name} is not a valid value in a sweep spec")

        try:
            return json.loads(text, parse_constant=no_constant)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"{path}: not valid JSON: {exc}") from None
    raise DataError(f"{path}: a sweep spec must be a .toml or .json file")


def read_spec_file(path: str | Path, parser: argparse.ArgumentParser | None = None) -> SweepSpec:
    """A sweep spec file; every problem raises a fastnn error naming the file and the key."""
    path = Path(path)
    parser = parser or train_parser()
    doc = _load_document(path)
    if not isinstance(doc, dict):
        raise DataError(f"{path}: a sweep spec must be a table (TOML) or an object (JSON) at the top")
    unknown = sorted(set(doc) - set(SPEC_KEYS))
    if unknown:
        keys = "; ".join(f"{k}: {v}" for k, v in SPEC_KEYS.items())
        raise DataError(f"{path}: unknown key {unknown[0]!r}; a sweep spec has only these keys: {keys}")
    spec = SweepSpec()
    grid, fixed = doc.get("grid"), doc.get("fixed", {})
    for key, table in (("grid", grid), ("fixed", fixed)):
        if not isinstance(table, dict):
            raise DataError(f"{path}: '{key}' must be a table of train options; got {table!r}")
    assert isinstance(grid, dict) and isinstance(fixed, dict)
    try:
        for name, value in fixed.items():
            where = f"{path}: fixed.{name}"
            dest = option_dest(str(name), where, parser)
            if dest in SWEEP_WIDE:
                raise InvalidParameterError(f"{where}: {SWEEP_WIDE[dest]}")
            text = value_text(value, where)
            check_value(parser, dest, text, where)
            spec.fixed += [flag(dest), text]
            spec.where[dest] = where
        if not grid:
            raise DataError(f"{path}: 'grid' must name at least one option to sweep")
        for name, values in grid.items():
            add_grid_values(spec, name, values, f"{path}: grid", parser)
    except InvalidParameterError as exc:
        raise DataError(str(exc)) from None
    for key in ("samples", "sample_seed"):
        value = doc.get(key)
        low = 1 if key == "samples" else 0
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise DataError(f"{path}: '{key}' must be an int >= {low}; got {value!r}")
    spec.samples = doc.get("samples")
    spec.sample_seed = doc.get("sample_seed", 0)
    return spec


def _indices(sizes: list[int], samples: int | None, seed: int) -> Iterable[int]:
    total = math.prod(sizes)
    if samples is None:
        if total > MAX_TRIALS:
            raise InvalidParameterError(
                f"the grid has {total:,} trials (more than {MAX_TRIALS:,}); pass --samples N "
                "to run N of them drawn at random"
            )
        return range(total)
    if total >= 2**62:
        raise InvalidParameterError(f"the grid has {total:.3g} trials; too many even to sample from")
    n = min(samples, total, MAX_TRIALS)
    return sorted(int(i) for i in np.random.default_rng(seed).choice(total, size=n, replace=False))


def _combination(index: int, sizes: list[int]) -> list[int]:
    """Digit ``k`` of ``index`` in mixed radix ``sizes`` (the last option changes fastest)."""
    digits = []
    for size in reversed(sizes):
        index, d = divmod(index, size)
        digits.append(d)
    return digits[::-1]


def trial_key(options: dict[str, Any], data_id: str) -> str:
    """A short, stable hash of the options that decide a trial's numbers, and the data."""
    ident = {d: options[d] for d in KEY_OPTIONS} | {"data": data_id}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def resolve(argv: Sequence[str], parser: argparse.ArgumentParser) -> argparse.Namespace:
    """train's options for ``argv`` exactly as ``python -m fastnn.train`` resolves them."""
    args = fit_options.parse_args(list(argv), parser)
    fill_defaults(args, parser)
    check_combinations(args)
    if "threads" not in args.explicit:
        args.threads = 1  # one single-threaded worker per core: no BLAS or Numba pool fights
    # Checks the network (layers, activations, optimiser) the way train does; the
    # numpy backend builds it without loading Numba in the client.
    fit_setup.build_model(argparse.Namespace(**{**vars(args), "backend": "numpy"}))
    return args


def build_trials(
    spec: SweepSpec,
    base_argv: Sequence[str],
    data: MnistData,
    data_id: str,
    parser: argparse.ArgumentParser | None = None,
) -> list[Trial]:
    """Every trial of the grid (or the seeded sample), checked against train and the data.

    ``base_argv``: train flags given on the sweep's command line, fixed for every
    trial (they override the spec file's ``fixed``). Raises InvalidParameterError
    naming the trial and the flag at fault; duplicate trials (same key) run once.
    """
    parser = parser or train_parser()
    if not spec.grid:
        raise InvalidParameterError("nothing to sweep: give --grid NAME=V1,V2 or --spec FILE")
    base = fit_options.parse_args(list(base_argv), parser)
    for dest in base.explicit:
        if dest in NOT_PER_TRIAL:
            raise InvalidParameterError(f"{flag(dest)} is not a sweep option: {NOT_PER_TRIAL[dest]}")
        if dest in spec.grid:
            raise InvalidParameterError(
                f"{flag(dest)} is given on the command line and swept by {spec.where[dest]}"
            )
    dests = list(spec.grid)
    sizes = [len(spec.grid[d]) for d in dests]
    trials: dict[str, Trial] = {}
    split_checked: set[tuple[Any, ...]] = set()
    for index in _indices(sizes, spec.samples, spec.sample_seed):
        swept = [(d, spec.grid[d][k]) for d, k in zip(dests, _combination(index, sizes), strict=True)]
        argv = [*spec.fixed, *base_argv] + [w for d, t in swept for w in (flag(d), t)]
        label = " ".join(f"{flag(d)} {t}" for d, t in swept)
        try:
            args = resolve(argv, parser)
            split_key = (args.val_size, args.train_size, args.batch_size, args.dtype)
            if split_key not in split_checked:  # sizes against the data, as train checks them
                fit_setup.split_data(args, data)
                split_checked.add(split_key)
        except FastnnError as exc:
            raise InvalidParameterError(f"trial {label}: {exc}") from None
        options = {k: v for k, v in vars(args).items() if k != "explicit"}
        key = trial_key(options, data_id)
        trials.setdefault(key, Trial(key, {d: options[d] for d in dests}, options))
    return list(trials.values())
