"""The metadata of model and checkpoint files, checked by type and range before any use.

A model file's JSON comes from whoever sent the file. Every field is checked here
against what fastnn itself writes (``fastnn.model_files``):
the type, then the range (a layer count, a width that fits in memory, an RNG state
below 2**128, an optimiser step count >= 0, a history of numbers), so nothing
later meets a dict where it expects a str or a negative count where it divides.
Each problem is a DataError naming the file and the field.
"""

from __future__ import annotations

import json
import numbers
from typing import Any

from fastnn.errors import DataError, InvalidParameterError
from fastnn.optim import OPTIMIZERS
from fastnn.params import INIT_SCHEMES
from fastnn.validation import check_network_memory

#: More layers than any network fastnn trains (each is a Python object per layer).
MAX_LAYERS = 1000
MAX_NAME_CHARS = 64
#: Epoch records kept in a checkpoint's history.
MAX_HISTORY = 10_000_000
#: PCG64's state and increment are 128-bit unsigned integers.
RNG_BITS = 128
HISTORY_FIELDS = {
    "epoch": "int",
    "loss": "real",
    "train_accuracy": "real|None",
    "val_loss": "real|None",
    "val_accuracy": "real|None",
    "seconds": "real",
    "samples_per_second": "real",
    "lr": "real|None",
}


def parse_json(where: str, text: str) -> Any:
    """JSON text, or DataError (malformed, nested too deep, numbers too long)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(f"{where}: model metadata is not valid JSON: nested too deeply") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, int too long to convert
        raise DataError(f"{where}: model metadata is not valid JSON: {exc}") from None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def invalid(where: str, field: str, value: Any, expected: str) -> DataError:
    """``FILE: invalid model metadata: the 'field' field is VALUE; expected ...``."""
    return DataError(
        f"{where}: invalid model metadata: the {field!r} field is {_short(value)}; expected {expected}"
    )


def _int_in(where: str, field: str, value: Any, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise invalid(where, field, value, f"an int in [{low}, {high}]")
    return int(value)


def _choice(where: str, field: str, value: Any, choices: Any) -> str:
    if not isinstance(value, str) or value not in choices:
        raise invalid(where, field, value, f"one of {sorted(choices)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_model_meta(where: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The fields a model file needs, checked; defaults filled for the optional ones."""
    for required in ("activations", "dtype"):
        if required not in meta:
            raise DataError(f"{where}: model metadata lacks {required!r}")
    sizes = meta.get("layer_sizes")
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_LAYERS
        or not all(is_int(n) and n > 0 for n in sizes)
    ):
        raise DataError(f"{where}: invalid layer_sizes {_short(sizes)} in the metadata")
    acts = meta.get("activations")
    if (
        not isinstance(acts, list)
        or len(acts) != len(sizes) - 1
        or not all(isinstance(a, str) and 0 < len(a) <= MAX_NAME_CHARS for a in acts)
    ):
        raise invalid(where, "activations", acts, f"a list of {len(sizes) - 1} activation names")
    dtype = _choice(where, "dtype", meta.get("dtype"), ("float32", "float64"))
    try:
        check_network_memory(sizes, dtype)  # type: ignore[arg-type]
    except InvalidParameterError as exc:
        raise DataError(
            f"{where}: {str(exc).replace('the ' + repr('layer_sizes') + ' parameter', 'layer_sizes')}"
        ) from None
    epochs = meta.get("epochs_trained", 0)
    return {
        **meta,
        "layer_sizes": sizes,
        "activations": acts,
        "dtype": dtype,
        "seed": _int_in(where, "seed", meta.get("seed", 0), 0, 2**RNG_BITS - 1),
        "init": _choice(where, "init", meta.get("init", "auto"), INIT_SCHEMES),
        # Only counted and printed: a bad value is reset rather than refused (older files).
        "epochs_trained": epochs if is_int(epochs) and 0 <= epochs <= 2**53 else 0,
    }


def check_rng_state(where: str, state: Any) -> dict[str, Any]:
    """A PCG64 ``bit_generator.state`` dict whose numbers are in range."""
    ok = (
        isinstance(state, dict)
        and state.get("bit_generator") == "PCG64"
        and isinstance(state.get("state"), dict)
        and all(
            is_int(state["state"].get(k)) and 0 <= state["state"][k] < 2**RNG_BITS for k in ("state", "inc")
        )
        and state.get("has_uint32") in (0, 1)
        and not isinstance(state.get("has_uint32"), bool)
        and is_int(state.get("uinteger"))
        and 0 <= state["uinteger"] < 2**32
    )
    if not ok:
        raise DataError(
            f"{where}: invalid RNG state in the checkpoint: {_short(state)}; expected PCG64's "
            f"state and inc below 2**{RNG_BITS}"
        )
    return state


def check_history(where: str, history: Any) -> list[dict[str, Any]]:
    """A list of epoch records (``EpochRecord.as_dict``) holding numbers only."""
    if not isinstance(history, list) or len(history) > MAX_HISTORY:
        raise DataError(f"{where}: invalid history in the checkpoint: not a list of epochs")
    for i, record in enumerate(history):
        problem = history_record_problem(record)
        if problem is not None:
            raise DataError(f"{where}: invalid history in the checkpoint: epoch record {i}: {problem}")
    return history


def history_record_problem(record: Any, json_safe: bool = False) -> str | None:
    """What is wrong with one epoch record (a dict of numbers), or None.

    ``json_safe``: a metrics JSON, where an infinite number was written as null.
    """
    if not isinstance(record, dict):
        return f"{_short(record)} is not a record"
    unknown = set(record) - set(HISTORY_FIELDS)
    if unknown:
        return f"unknown fields {sorted(map(str, unknown))}"
    for field, kind in HISTORY_FIELDS.items():
        if field not in record:
            if kind.endswith("None") or field == "lr":
                continue
            return f"missing {field!r}"
        value = record[field]
        if value is None and (kind.endswith("None") or (json_safe and kind == "real")):
            continue
        if kind == "int" and not (is_int(value) and 1 <= value <= 2**53):
            return f"{field} {_short(value)} is not an epoch number"
        if kind != "int" and not is_real(value):
            return f"{field} {_short(value)} is not a number"
    return None


def check_checkpoint_meta(where: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint fields (optimiser, RNG state, history, config), checked by type and range."""
    opt = meta.get("optimizer")
    if opt is not None:
        _choice(where, "optimizer", opt, OPTIMIZERS)
    config = meta.get("train_config", {})
    if not isinstance(config, dict):
        raise DataError(f"{where}: invalid train_config in the checkpoint")
    return {
        **meta,
        "rng_state": check_rng_state(where, meta.get("rng_state")),
        "history": check_history(where, meta.get("history", [])),
        "train_config": config,
    }
