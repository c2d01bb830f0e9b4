"""Network parameters as one flat buffer plus offsets (sklearn ``_pack``/``_coef_indptr``).

Layer ``l`` has weights ``W[l]`` of shape ``(n_in, n_out)`` stored row-major at
``data[offsets[2l]:offsets[2l+1]]`` and biases ``b[l]`` of shape ``(n_out,)`` at
``data[offsets[2l+1]:offsets[2l+2]]``. The NumPy backend works on reshaped views; the
Numba kernels take ``data`` and ``offsets`` directly, so their signatures stay fixed
whatever the depth, and optimiser state (velocity, Adam moments) is simply another
buffer of the same layout.

The checks of what a buffer is drawn for live here too, each in one place: the
network's sizes and activations (:func:`check_network`) and the initialisation scheme
(:func:`check_init`, called by :func:`init_params`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fastnn.activations import HIDDEN_ACTIVATIONS, OUTPUT_LOSSES, get_activation
from fastnn.errors import InvalidParameterError
from fastnn.validation import check_positive_int, choice_error

INIT_SCHEMES: tuple[str, ...] = ("auto", "he", "glorot", "lecun", "fan_out")


def layer_offsets(layer_sizes: tuple[int, ...]) -> np.ndarray:
    """Start of each W and b block, and the total size as the last entry (int64)."""
    offs = [0]
    for n_in, n_out in itertools.pairwise(layer_sizes):
        offs.append(offs[-1] + n_in * n_out)
        offs.append(offs[-1] + n_out)
    return np.asarray(offs, dtype=np.int64)


@dataclass
class Params:
    """All weights and biases of an MLP in one contiguous buffer."""

    layer_sizes: tuple[int, ...]
    data: np.ndarray
    offsets: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.layer_sizes = tuple(int(n) for n in self.layer_sizes)
        self.offsets = layer_offsets(self.layer_sizes)
        if self.data.ndim != 1 or self.data.shape[0] != self.offsets[-1]:
            raise InvalidParameterError(
                f"parameter buffer must have {int(self.offsets[-1])} entries for layers "
                f"{self.layer_sizes}; got shape {self.data.shape}"
            )

    @property
    def n_layers(self) -> int:
        """Number of weight layers (one less than the number of layer sizes)."""
        return len(self.layer_sizes) - 1

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def W(self, layer: int) -> np.ndarray:
        """View of layer ``layer``'s weights, shape (n_in, n_out); writes go to ``data``."""
        n_in, n_out = self.layer_sizes[layer], self.layer_sizes[layer + 1]
        start, stop = self.offsets[2 * layer], self.offsets[2 * layer + 1]
        return self.data[start:stop].reshape(n_in, n_out)

    def b(self, layer: int) -> np.ndarray:
        """View of layer ``layer``'s biases, shape (n_out,)."""
        return self.data[self.offsets[2 * layer + 1] : self.offsets[2 * layer + 2]]

    def views_of(self, buffer: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(W list, b list) views of another buffer with this layout (a gradient, a velocity)."""
        Ws, bs = [], []
        for i in range(self.n_layers):
            o = self.offsets
            Ws.append(buffer[o[2 * i] : o[2 * i + 1]].reshape(self.layer_sizes[i], self.layer_sizes[i + 1]))
            bs.append(buffer[o[2 * i + 1] : o[2 * i + 2]])
        return Ws, bs

    def weights(self) -> list[np.ndarray]:
        return [self.W(i) for i in range(self.n_layers)]

    def biases(self) -> list[np.ndarray]:
        return [self.b(i) for i in range(self.n_layers)]

    def weight_mask(self) -> np.ndarray:
        """1 where the flat buffer holds a weight, 0 for a bias (weight decay skips biases)."""
        mask = np.zeros(self.data.shape[0], dtype=self.data.dtype)
        for i in range(self.n_layers):
            mask[self.offsets[2 * i] : self.offsets[2 * i + 1]] = 1
        return mask

    def copy(self) -> Params:
        return Params(self.layer_sizes, self.data.copy())

    def zeros_like(self) -> np.ndarray:
        return np.zeros_like(self.data)


def check_network(
    layer_sizes: Sequence[int], activations: Sequence[str] | str
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(layer sizes, one activation name per weight layer) of a network ``MLP`` can build.

    One activation name means every hidden layer uses it and the output is softmax.
    InvalidParameterError naming ``layer_sizes`` or ``activations`` otherwise.
    """
    if isinstance(layer_sizes, np.ndarray) and layer_sizes.ndim == 1:
        layer_sizes = layer_sizes.tolist()
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise InvalidParameterError(
            f"the 'layer_sizes' parameter must be a list of ints like [784, 128, 10]; got {layer_sizes!r}"
        )
    sizes = tuple(check_positive_int("layer_sizes", n) for n in layer_sizes)
    if len(sizes) < 2:
        raise InvalidParameterError(
            f"the 'layer_sizes' parameter needs an input and an output size; got {list(layer_sizes)}"
        )
    n_layers = len(sizes) - 1
    if not isinstance(activations, (str, Sequence)) or not all(
        isinstance(a, str) for a in ([activations] if isinstance(activations, str) else activations)
    ):
        raise InvalidParameterError(
            f"the 'activations' parameter must be an activation name or a list of names; got {activations!r}"
        )
    if isinstance(activations, str):
        # One name: every hidden layer uses it, the output is softmax.
        acts = [activations] * (n_layers - 1) + ["softmax"]
    else:
        acts = list(activations)
    if len(acts) != n_layers:
        raise InvalidParameterError(
            f"the 'activations' parameter needs one name per weight layer ({n_layers} for "
            f"layer_sizes {list(sizes)}); got {len(acts)}: {acts}"
        )
    names = tuple(get_activation(a).name for a in acts)
    for i, name in enumerate(names[:-1]):
        if get_activation(name).output_only:
            raise InvalidParameterError(
                f"activation {i} is {name!r}, which is only valid as the output layer; "
                f"hidden layers take one of {list(HIDDEN_ACTIVATIONS)}"
            )
    if names[-1] not in OUTPUT_LOSSES:
        raise InvalidParameterError(
            f"the output activation must be 'softmax' (softmax cross-entropy, classification) or "
            f"'identity' (squared error, regression); got {names[-1]!r}"
        )
    if names[-1] == "softmax" and sizes[-1] < 2:
        raise InvalidParameterError(
            f"the output layer needs at least 2 classes for softmax; got layer_sizes {list(sizes)}"
        )
    return sizes, names


def check_init(init: object) -> str:
    """``init`` if it names an initialisation scheme; InvalidParameterError otherwise."""
    if not isinstance(init, str) or init not in INIT_SCHEMES:
        raise choice_error("init", sorted(INIT_SCHEMES), init)
    return init


def init_params(
    layer_sizes: tuple[int, ...],
    activations: tuple[str, ...],
    rng: np.random.Generator,
    dtype: np.dtype,
    init: str = "auto",
) -> Params:
    """Draw initial weights; biases start at zero.

    ``auto`` picks per layer from its activation: He normal (std ``sqrt(2/n_in)``) for
    relu/leaky_relu, LeCun normal (std ``sqrt(1/n_in)``) for selu, which keeps SELU
    self-normalising, and Glorot uniform (bound ``sqrt(6/(n_in+n_out))``) otherwise,
    as in Glorot & Bengio (2010) and sklearn's ``_init_coef``. ``fan_out`` draws
    N(0, 1/n_out), as the classic from-scratch sigmoid script does. Draws are made in
    float64 and cast, so float32 and float64 networks start from the same numbers.
    """
    check_init(init)
    params = Params(layer_sizes, np.zeros(int(layer_offsets(layer_sizes)[-1]), dtype=dtype))
    for i, act in enumerate(activations):
        n_in, n_out = layer_sizes[i], layer_sizes[i + 1]
        scheme = get_activation(act).init if init == "auto" else init
        if scheme == "he":
            w = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))
        elif scheme == "lecun":
            w = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_in, n_out))
        elif scheme == "fan_out":
            # N(0, 1/n_out): what the classic per-sample sigmoid script draws (larger
            # than LeCun's on a wide input layer, which suits sigmoid with a small lr).
            w = rng.normal(0.0, np.sqrt(1.0 / n_out), size=(n_in, n_out))
        else:
            bound = np.sqrt(6.0 / (n_in + n_out))
            w = rng.uniform(-bound, bound, size=(n_in, n_out))
        params.W(i)[...] = w
    return params
