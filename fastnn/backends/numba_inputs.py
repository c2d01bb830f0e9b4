"""The numba backend's checks at its boundary: Numba does not bounds-check, so every
shape, dtype, contiguity and label range a kernel relies on is established here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fastnn.activations import OUTPUT_LOSSES, get_activation
from fastnn.errors import InvalidParameterError
from fastnn.params import Params
from fastnn.validation import check_y


def check_regression_targets(y: np.ndarray, n_samples: int, params: Params) -> np.ndarray:
    """Regression targets for an identity output: (n_samples, n_outputs) in the
    parameters' dtype, returned C-contiguous (the kernels index rows of it)."""
    shape = (n_samples, params.layer_sizes[-1])
    if not isinstance(y, np.ndarray) or y.shape != shape or y.dtype != params.dtype:
        raise InvalidParameterError(
            f"the 'y' parameter of an identity (regression) output must be a {params.dtype} array of "
            f"shape {shape}; got {getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}"
        )
    return np.ascontiguousarray(y)


def target_buffer(y: np.ndarray, rows: int) -> np.ndarray:
    """Scratch for ``rows`` gathered targets: labels (rows,) or target rows (rows, n_out)."""
    return np.empty((rows, *y.shape[1:]), dtype=y.dtype)


def check_param_dtype(dtype: np.dtype) -> None:
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidParameterError(
            f"the numba backend computes in float32 or float64; got parameters of dtype {dtype}"
        )


def check_float_array(name: str, arr: np.ndarray, dtype: np.dtype, ndim: int) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.ndim != ndim:
        raise InvalidParameterError(
            f"the '{name}' parameter must be a {ndim}-D array; got {getattr(arr, 'shape', arr)!r}"
        )
    if arr.dtype != dtype:
        raise InvalidParameterError(
            f"the '{name}' parameter must have dtype {dtype} (the parameters' dtype); got {arr.dtype}"
        )
    return np.ascontiguousarray(arr)


def check_inputs(
    params: Params, activations: Sequence[str], X: np.ndarray, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """X as a contiguous array of the parameters' dtype, y as int64 labels in range
    (an empty array when no labels are given). Everything a kernel indexes with is
    checked here: Numba does not bounds-check."""
    check_param_dtype(params.dtype)
    if len(activations) != params.n_layers:
        raise InvalidParameterError(
            f"the 'activations' parameter needs {params.n_layers} names; got {len(activations)}"
        )
    specs = [get_activation(a) for a in activations]
    if any(spec.output_only for spec in specs[:-1]) or specs[-1].name not in OUTPUT_LOSSES:
        raise InvalidParameterError(
            f"the 'activations' parameter must be hidden activations followed by the output 'softmax' "
            f"(or 'identity' for regression); got {list(activations)}"
        )
    X = check_float_array("X", X, params.dtype, 2)
    if X.shape[1] != params.layer_sizes[0]:
        raise InvalidParameterError(
            f"the 'X' parameter must have {params.layer_sizes[0]} columns; got shape {X.shape}"
        )
    if y is None:
        return X, np.empty(0, dtype=np.int64)
    if specs[-1].name == "identity":
        return X, check_regression_targets(y, X.shape[0], params)
    # The kernels index with the labels: the one label check, range before any cast.
    labels = check_y(y, X.shape[0], params.layer_sizes[-1])
    return X, np.ascontiguousarray(labels, dtype=np.int64)
