"""What the model file tests share: a trained model fixture and hand-written model files.

``trained`` (a fixture, imported by the tests that use it) is a small float32 model
after two epochs; ``_parts`` and ``_save`` take a model file apart and write one by
hand, the way ``save_model`` lays it out, so a test can spoil one piece. Imported by
``test_model_io.py`` and ``test_model_io_malformed.py``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fastnn import MLP
from fastnn.model_files import META_KEY, model_arrays, model_metadata

LAYERS = [12, 8, 3]


@pytest.fixture
def trained(tiny_data) -> MLP:
    """A float32 model after two epochs (biases non-zero, epochs_trained == 2)."""
    X, y = tiny_data
    return MLP(LAYERS, ["tanh", "softmax"], seed=4).fit(X, y, epochs=2, batch_size=8, lr=0.1)


def _parts(model: MLP) -> tuple[dict, dict[str, np.ndarray]]:
    return model_metadata(model), {k: v.copy() for k, v in model_arrays(model).items()}


def _save(path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a model file by hand, the way save_model lays it out."""
    np.savez(path, **arrays, **{META_KEY: np.array(json.dumps(meta))})


def _without(arrays: dict, key: str) -> dict:
    return {k: v for k, v in arrays.items() if k != key}


def _with_nan(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    a = a.copy()
    a.flat[1] = value
    return a


def _part_files(directory) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".part")]
