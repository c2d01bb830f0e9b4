"""Presets: the classic "from scratch" MNIST networks, as ``--preset NAME``.

Each preset is the settings of one well-known tutorial network, run properly (stable
softmax, correct bias gradients, gradients averaged over the right count, a real
accuracy on held-out test images). Any CLI flag still overrides a preset's value.
``reference_accuracy`` is what the original script reaches on the 10,000 MNIST test
images when run as written (None where there is no single published figure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastnn.errors import InvalidParameterError


@dataclass(frozen=True)
class Preset:
    """A named set of training settings (keys are ``fastnn.train`` option names)."""

    name: str
    reproduces: str
    settings: dict[str, Any] = field(default_factory=dict)
    reference_accuracy: float | None = None
    notes: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tutorial",
            "the classic Kaggle/YouTube NumPy walk-through: 784-10-10, ReLU then softmax, "
            "full-batch gradient descent, lr 0.10, 500 iterations, first 1,000 images as dev set",
            {
                "layers": [784, 10, 10],
                "activations": ["relu", "softmax"],
                "batch_size": None,
                "optimizer": "sgd",
                "lr": 0.1,
                "epochs": 500,
                "val_size": 1000,
            },
            reference_accuracy=0.84,
            notes="the original initialises uniformly in [-0.5, 0.5]; He initialisation here",
        ),
        Preset(
            "two-hidden",
            "the two-hidden-layer variant of the walk-through: 784-10-10-10, ReLU, ReLU, softmax, "
            "full-batch gradient descent with early stopping on dev accuracy, parameters saved",
            {
                "layers": [784, 10, 10, 10],
                "activations": ["relu", "relu", "softmax"],
                "batch_size": None,
                "optimizer": "sgd",
                "lr": 0.1,
                "epochs": 1000,
                "val_size": 1000,
                "early_stopping": 50,
                "monitor": "val_accuracy",
                "save": "two-hidden.npz",
            },
        ),
        Preset(
            "sigmoid-sgd",
            "the per-sample SGD script: 784-128-64-10, sigmoid, sigmoid, softmax, lr 0.001, "
            "10 epochs, printing epoch, elapsed time and accuracy (the original has no biases)",
            {
                "layers": [784, 128, 64, 10],
                "activations": ["sigmoid", "sigmoid", "softmax"],
                "batch_size": 1,
                "optimizer": "sgd",
                "lr": 0.001,
                "epochs": 10,
                "init": "fan_out",
                "val_size": 0,
            },
            reference_accuracy=0.936,
            notes="initialised as the original, N(0, 1/n_out) per layer (--init fan_out); with biases",
        ),
        Preset(
            "mixed",
            "one of each activation: 784-32-32-64-64-10 with ReLU, sigmoid, SELU, tanh, softmax, "
            "500 full-batch Adam steps at lr 0.001 (the original: 89.1% with gradient descent, "
            "95.8% with Adam)",
            {
                "layers": [784, 32, 32, 64, 64, 10],
                "activations": ["relu", "sigmoid", "selu", "tanh", "softmax"],
                "batch_size": None,
                "optimizer": "adam",
                "lr": 0.001,
                "epochs": 500,
                "val_size": 0,
            },
            reference_accuracy=0.958,
        ),
        Preset(
            "fast",
            "fastnn's own: the best accuracy per second on a 2-core CPU: 784-256-10 ReLU, "
            "mini-batches of 100 with Nesterov momentum and a cosine learning-rate decay over 3 epochs",
            {
                "layers": [784, 256, 10],
                "activations": ["relu", "softmax"],
                "batch_size": 100,
                "optimizer": "nesterov",
                "momentum": 0.9,
                "lr": 0.15,
                "lr_schedule": "cosine",
                "epochs": 3,
                "val_size": 0,
            },
            notes="3 cosine epochs reach 98.1-98.2% on MNIST (seeds 0 and 1), as the 784-256-128-10 "
            "network this preset used before did at batch 64, with about half the arithmetic per epoch "
            "(the first layer's 256 units over ~150 non-zero pixels, without 256x128 behind it)",
        ),
    )
}


def get_preset(name: str) -> Preset:
    """Look a preset up by name, with an error listing the choices."""
    if name not in PRESETS:
        raise InvalidParameterError(f"the '--preset' option must be one of {sorted(PRESETS)}; got {name!r}")
    return PRESETS[name]
