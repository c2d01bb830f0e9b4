"""The race's results file: what a run measured and where, as JSON (``--save-json``), and
reading it back (``--json``) with every field checked before the report trusts it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from benchmarks.machine import blas_info
from benchmarks.machine import machine as machine_info
from benchmarks.race.entrants import ENTRANTS
from benchmarks.race.recipes import RECIPES

FORMAT = "fastnn-race/1"
#: A results file is a few kilobytes per record; refuse anything absurdly large unread.
MAX_BYTES = 16 * 1024 * 1024


def machine() -> dict[str, Any]:
    """The machine (CPU, platform) and NumPy's BLAS, from the process that runs the race."""
    return machine_info() | {"blas": blas_info()}


#: Environment variables that change what the entrants compute or how fast (prefixes).
ENV_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "NUMBA_", "XLA_", "JAX_", "TORCH_", "FASTNN_")


def environment() -> dict[str, str]:
    """The variables the race was started with that can change its numbers."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def document(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "meta": meta, "records": records}


def _fail(where: str, what: str) -> SystemExit:
    return SystemExit(f"{where}: not a race results file written by --save-json ({what})")


def _number_list(value: Any, where: str, field: str, low: float, high: float) -> list[float]:
    if not isinstance(value, list) or len(value) > 100_000:
        raise _fail(where, f"'{field}' must be a list of numbers")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (low <= v <= high):
            raise _fail(where, f"'{field}' holds {v!r}; expected numbers in [{low:g}, {high:g}]")
    return [float(v) for v in value]


def check_record(record: Any, where: str) -> dict[str, Any]:
    """The fields the report reads, by type and range; a message naming the field otherwise."""
    if not isinstance(record, dict):
        raise _fail(where, "a record is not an object")
    if record.get("entrant") not in ENTRANTS:
        raise _fail(where, f"unknown entrant {record.get('entrant')!r}; expected one of {sorted(ENTRANTS)}")
    if record.get("recipe") not in RECIPES:
        raise _fail(where, f"unknown recipe {record.get('recipe')!r}; expected one of {sorted(RECIPES)}")
    threads = record.get("threads")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 4096:
        raise _fail(where, f"'threads' must be an int from 1 to 4096; got {threads!r}")
    seconds = _number_list(record.get("epoch_seconds"), where, "epoch_seconds", 0.0, math.inf)
    accuracy = _number_list(record.get("test_accuracy"), where, "test_accuracy", 0.0, 1.0)
    if len(seconds) != len(accuracy):
        raise _fail(where, "'epoch_seconds' and 'test_accuracy' differ in length")
    for key in ("skipped", "stopped"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise _fail(where, f"'{key}' must be a string or null")
    versions = record.get("versions", {})
    if not isinstance(versions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
    ):
        raise _fail(where, "'versions' must map names to version strings")
    return record


def check_document(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(where, f"no 'format': {FORMAT!r}")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise _fail(where, "'meta' must be an object")
    for key in ("machine", "config", "environment"):
        if not isinstance(meta.get(key, {}), dict):
            raise _fail(where, f"'meta.{key}' must be an object")
    env = meta.get("environment", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise _fail(where, "'meta.environment' must map names to strings")
    target = meta.get("target", 0.98)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise _fail(where, f"'meta.target' must be a number in (0, 1]; got {target!r}")
    records = data.get("records")
    if not isinstance(records, list):
        raise _fail(where, "'records' must be a list")
    for record in records:
        check_record(record, where)
    return data


def load(path: Path) -> dict[str, Any]:
    """Read and check a results file; bad files end the command with a message naming them."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise _fail(str(path), f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(path), f"not JSON: {exc}") from None
    return check_document(data, str(path))
