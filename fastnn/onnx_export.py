"""ONNX export of a trained MLP: standard operators only, checked, written atomically.

The graph is ``input (batch, n_in) -> [MatMul, Add, activation] * n_layers ->
output``: every hidden activation maps to the standard ONNX operator with fastnn's
own constants (:data:`HIDDEN_OPS`), the output layer maps through
:data:`OUTPUT_OPS` (``softmax`` -> ``Softmax(axis=-1)``; a new output activation
such as an identity for regression is one more line there), and ``logits=True``
drops the output operator so the graph returns the pre-activations.

Opset: :data:`OPSET` (17: ``Softmax`` with the per-row ``axis=-1`` semantics of
opset 13+, and supported by every onnxruntime since 1.11). The batch dimension is
symbolic (``"batch"``), so one file serves any number of rows.

dtypes: float32 and float64, as the model was trained. Two things stop the native
operators from serving float64 models exactly, so for float64 these activations are
composed from operators with double kernels and double constants:

- onnxruntime's CPU provider has no float64 kernel for ``Selu``
  (:data:`NO_DOUBLE_KERNEL`): ``gamma * (Max(z, 0) + alpha * (Exp(Min(z, 0)) - 1))``;
- ONNX float attributes are float32, so ``LeakyRelu(alpha=0.01)`` and ``Selu``'s
  alpha/gamma would be rounded to float32 (a 2e-9 relative error, far above
  float64's): ``Max(z, 0) + slope * Min(z, 0)``, exact in every branch.

float32 models keep the native ``Selu`` and ``LeakyRelu``. The tests run every
activation in both dtypes through onnxruntime.

``onnx`` is imported only when exporting (the ``onnx`` extra), never when fastnn is
imported; without it :class:`MissingOnnxError` names the extra to install.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fastnn.activations import LEAKY_SLOPE, SELU_ALPHA, SELU_LAMBDA
from fastnn.atomic import atomic_write
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.validation import check_class_names

if TYPE_CHECKING:
    from fastnn.model import MLP

__all__ = [
    "HIDDEN_OPS",
    "INPUT_NAME",
    "OPSET",
    "OUTPUT_OPS",
    "MissingOnnxError",
    "build_onnx_model",
    "export_onnx",
]

#: The ONNX opset the exported graph declares.
OPSET = 17
INPUT_NAME = "input"
#: Output name by mode.
OUTPUT_NAMES = {False: "probabilities", True: "logits"}
#: Operators without a float64 kernel in onnxruntime's CPU provider (composed instead).
NO_DOUBLE_KERNEL = frozenset({"Selu"})


class MissingOnnxError(FastnnError, ImportError):
    """``onnx`` is not installed; the message names the extra that installs it."""


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingOnnxError(
            "ONNX export needs the 'onnx' package: pip install 'fastnn[onnx]' (installs onnx and onnxruntime)"
        ) from None
    return onnx


class _GraphBuilder:
    """Collects nodes and initializers with unique names; knows the element type."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: Any) -> str:
        arr = np.asarray(value, dtype=self.dtype)
        name = self.name(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: Sequence[str], stem: str, **attrs: Any) -> str:
        out = self.name(stem)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out


def _leaky_relu(b: _GraphBuilder, z: str) -> str:
    if b.dtype == np.float32:
        return b.node("LeakyRelu", [z], "leaky_relu", alpha=LEAKY_SLOPE)
    # A float32 attribute would round the slope; a float64 constant keeps it exact.
    zero = b.constant("zero", 0.0)
    negative = b.node(
        "Mul", [b.node("Min", [z, zero], "leaky_neg"), b.constant("slope", LEAKY_SLOPE)], "leaky_neg"
    )
    return b.node("Add", [b.node("Max", [z, zero], "leaky_pos"), negative], "leaky_relu")


def _selu(b: _GraphBuilder, z: str) -> str:
    if b.dtype == np.float32:
        return b.node("Selu", [z], "selu", alpha=SELU_ALPHA, gamma=SELU_LAMBDA)
    # No float64 Selu kernel in onnxruntime, and float32 attributes: the same formula
    # from supported operators with float64 constants.
    zero, one = b.constant("zero", 0.0), b.constant("one", 1.0)
    positive = b.node("Max", [z, zero], "selu_pos")
    e = b.node("Exp", [b.node("Min", [z, zero], "selu_neg")], "selu_exp")
    scaled = b.node("Mul", [b.node("Sub", [e, one], "selu_em1"), b.constant("alpha", SELU_ALPHA)], "selu_neg")
    return b.node(
        "Mul", [b.node("Add", [positive, scaled], "selu_sum"), b.constant("gamma", SELU_LAMBDA)], "selu"
    )


#: Hidden activation (registry name) -> the operators that compute it from z.
HIDDEN_OPS: dict[str, Callable[[_GraphBuilder, str], str]] = {
    "identity": lambda b, z: b.node("Identity", [z], "identity"),
    "relu": lambda b, z: b.node("Relu", [z], "relu"),
    "leaky_relu": _leaky_relu,
    "sigmoid": lambda b, z: b.node("Sigmoid", [z], "sigmoid"),
    "tanh": lambda b, z: b.node("Tanh", [z], "tanh"),
    "selu": _selu,
}

#: Output activation -> the operator applied to the logits (skipped with logits=True).
OUTPUT_OPS: dict[str, Callable[[_GraphBuilder, str], str]] = {
    "softmax": lambda b, z: b.node("Softmax", [z], "softmax", axis=-1),
}


def build_onnx_model(
    model: MLP,
    *,
    logits: bool = False,
    class_names: Sequence[str] | None = None,
    dataset: str | None = None,
) -> Any:
    """The ``onnx.ModelProto`` of ``model``, checked with ``onnx.checker`` (full_check)."""
    onnx = _import_onnx()
    from fastnn._version import __version__

    if not isinstance(logits, bool):
        raise InvalidParameterError(f"the 'logits' parameter must be True or False; got {logits!r}")
    names = None if class_names is None else check_class_names(class_names, model.n_classes, "class_names")
    b = _GraphBuilder(onnx, model.dtype)
    a = INPUT_NAME
    last = model.params.n_layers - 1
    for i, act in enumerate(model.activations):
        W = b.constant(f"W{i}", model.params.W(i))
        bias = b.constant(f"b{i}", model.params.b(i))
        z = b.node("Add", [b.node("MatMul", [a, W], f"matmul{i}"), bias], f"z{i}")
        if i < last:
            a = HIDDEN_OPS[act](b, z)
        else:
            a = z if logits else OUTPUT_OPS[act](b, z)
    out_name = OUTPUT_NAMES[logits]
    b.nodes.append(onnx.helper.make_node("Identity", [a], [out_name], name=out_name))
    sizes = model.layer_sizes
    graph = onnx.helper.make_graph(
        b.nodes,
        "fastnn_mlp",
        [onnx.helper.make_tensor_value_info(INPUT_NAME, b.elem_type, ["batch", sizes[0]])],
        [onnx.helper.make_tensor_value_info(out_name, b.elem_type, ["batch", sizes[-1]])],
        initializer=b.initializers,
    )
    proto = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="fastnn",
        producer_version=__version__,
        doc_string=(
            f"fastnn MLP {list(sizes)} ({', '.join(model.activations)}), {model.dtype.name}; "
            f"input: pixels scaled to [0, 1]; output: {out_name}"
        ),
    )
    meta = {
        "fastnn_version": __version__,
        "layer_sizes": json.dumps(list(sizes)),
        "activations": json.dumps(list(model.activations)),
        "dtype": model.dtype.name,
        "output": out_name,
        "input_scaling": "gray levels / 255",
    }
    if names is not None:
        meta["class_names"] = json.dumps(names, ensure_ascii=False)
    if dataset is not None:
        meta["dataset"] = str(dataset)
    onnx.helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(
    model: MLP,
    path: str | os.PathLike[str],
    *,
    logits: bool = False,
    class_names: Sequence[str] | None = None,
    dataset: str | None = None,
) -> Path:
    """Write ``model`` as an ONNX file at ``path`` atomically; returns the path.

    Raises MissingOnnxError without the ``onnx`` extra, DataError when ``path`` is a
    directory or its directory does not exist, InvalidParameterError for bad options.
    """
    target = Path(path)
    if target.is_dir():
        raise DataError(f"{target}: is a directory; give the path of the .onnx file to write")
    proto = build_onnx_model(model, logits=logits, class_names=class_names, dataset=dataset)
    data = proto.SerializeToString()
    with atomic_write(target) as fh:
        fh.write(data)
    return target
