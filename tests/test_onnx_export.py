"""ONNX export: the exported graph, run by onnxruntime, gives predict_proba's numbers.

Tolerances. float32: 1e-5 relative, with an absolute floor of 1e-9 for probabilities
that underflow towards 0 (there a relative error says nothing: 1e-30 vs 2e-30 are
both "impossible"; every probability above ~1e-4 is held to the relative bound alone).
float64: 1e-12 relative, absolute floor 1e-15. The logits get the same relative
bounds, with an absolute floor of that bound times the largest logit: a logit near 0
is a difference of larger terms, so its error scales with the logits, not itself.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnn import MLP
from fastnn.activations import HIDDEN_ACTIVATIONS, LEAKY_SLOPE, SELU_ALPHA, SELU_LAMBDA
from fastnn.cli.export import main as export_main
from fastnn.errors import DataError, FastnnError, InvalidParameterError
from fastnn.onnx_export import HIDDEN_OPS, NO_DOUBLE_KERNEL, OPSET, OUTPUT_OPS, build_onnx_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOLERANCES = {"float32": (1e-5, 1e-9), "float64": (1e-12, 1e-15)}


def _trained(activation: str, dtype: str, tiny_data) -> MLP:
    X, y = tiny_data
    model = MLP([12, 9, 7, 3], activation, backend="numpy", dtype=dtype, seed=3)
    model.fit(X, y, epochs=3, lr=0.05, batch_size=8)
    return model


def _inputs(tiny_data, dtype: str) -> np.ndarray:
    X, _ = tiny_data
    # The training rows plus large and negative inputs, so every activation's
    # negative, positive and saturated branches are reached.
    wide = np.random.default_rng(7).normal(0.0, 4.0, size=(40, X.shape[1]))
    return np.vstack([X, wide]).astype(dtype)


def _run(path, X: np.ndarray) -> tuple[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.get_outputs()
    return out.name, session.run(None, {session.get_inputs()[0].name: X})[0]


def test_every_hidden_activation_has_an_onnx_mapping():
    assert set(HIDDEN_OPS) == set(HIDDEN_ACTIVATIONS)
    assert set(OUTPUT_OPS) == {"softmax"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_probabilities_match_predict_proba(activation, dtype, tiny_data, tmp_path):
    model = _trained(activation, dtype, tiny_data)
    X = _inputs(tiny_data, dtype)
    path = model.to_onnx(tmp_path / "m.onnx")
    name, got = _run(path, X)
    assert name == "probabilities"
    assert got.dtype == np.dtype(dtype) and got.shape == (len(X), 3)
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(got, model.predict_proba(X), rtol=rtol, atol=atol, err_msg=activation)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_logits_match_the_output_pre_activation(activation, dtype, tiny_data, tmp_path):
    model = _trained(activation, dtype, tiny_data)
    X = _inputs(tiny_data, dtype)
    name, got = _run(model.to_onnx(tmp_path / "m.onnx", logits=True), X)
    assert name == "logits"
    z = model.backend.forward(model.params, (*model.activations[:-1], "identity"), X)[-1]
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(got, z, rtol=rtol, atol=rtol * float(np.abs(z).max()))
    # Softmax of the exported logits is the model's probabilities.
    e = np.exp(got - got.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), model.predict_proba(X), rtol=rtol, atol=atol)


def test_float64_selu_is_composed_from_ops_with_double_kernels(tiny_data):
    assert "Selu" in NO_DOUBLE_KERNEL
    ops64 = {n.op_type for n in build_onnx_model(_trained("selu", "float64", tiny_data)).graph.node}
    ops32 = {n.op_type for n in build_onnx_model(_trained("selu", "float32", tiny_data)).graph.node}
    assert "Selu" not in ops64 and {"Exp", "Min", "Max"} <= ops64
    assert "Selu" in ops32


def test_float64_leaky_relu_keeps_the_exact_slope(tiny_data):
    """ONNX float attributes are float32: LeakyRelu(alpha) would round 0.01 in float64 models."""
    ops64 = {n.op_type for n in build_onnx_model(_trained("leaky_relu", "float64", tiny_data)).graph.node}
    ops32 = {n.op_type for n in build_onnx_model(_trained("leaky_relu", "float32", tiny_data)).graph.node}
    assert "LeakyRelu" not in ops64 and "LeakyRelu" in ops32


def test_native_selu_really_lacks_a_double_kernel():
    """The reason for the composition above; if onnxruntime adds the kernel, this says so."""
    from onnx import TensorProto, helper

    node = helper.make_node("Selu", ["x"], ["y"], alpha=SELU_ALPHA, gamma=SELU_LAMBDA)
    vi = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["n"]) for n in ("x", "y")]
    graph = helper.make_graph([node], "g", [vi[0]], [vi[1]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    with pytest.raises(Exception, match=r"(?i)implementation|not implemented"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_constants_are_fastnn_own(tiny_data):
    def attrs(activation):
        proto = build_onnx_model(_trained(activation, "float32", tiny_data))
        node = next(n for n in proto.graph.node if n.op_type in ("Selu", "LeakyRelu"))
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    assert attrs("leaky_relu") == {"alpha": pytest.approx(LEAKY_SLOPE, rel=1e-7)}
    selu = attrs("selu")
    assert selu["alpha"] == pytest.approx(SELU_ALPHA, rel=1e-7)
    assert selu["gamma"] == pytest.approx(SELU_LAMBDA, rel=1e-7)


def test_graph_opset_batch_dimension_and_metadata(tiny_data, tmp_path):
    model = _trained("relu", "float32", tiny_data)
    names = ["cat", "dog", "bird"]
    proto = onnx.load(str(model.to_onnx(tmp_path / "m.onnx", class_names=names, dataset="pets")))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain == ""] == [OPSET]
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 12
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["layer_sizes"]) == [12, 9, 7, 3]
    assert json.loads(meta["class_names"]) == names
    assert meta["dataset"] == "pets" and meta["dtype"] == "float32" and meta["output"] == "probabilities"
    assert meta["fastnn_version"] == proto.producer_version
    # Any batch size runs, including one row.
    for n in (1, 17):
        assert _run(tmp_path / "m.onnx", _inputs(tiny_data, "float32")[:n])[1].shape == (n, 3)


def test_bad_class_names_are_refused(tiny_data, tmp_path):
    model = _trained("relu", "float32", tiny_data)
    for bad in (["a", "b"], ["a", "b", 3], ["a", "b", "x" * 101], ["a", "b", "\x1b[2J"], "abc"):
        with pytest.raises(InvalidParameterError, match="class_names"):
            model.to_onnx(tmp_path / "m.onnx", class_names=bad)
    assert not (tmp_path / "m.onnx").exists()


def test_a_directory_or_missing_parent_is_refused(tiny_data, tmp_path):
    model = _trained("relu", "float32", tiny_data)
    with pytest.raises(DataError, match="is a directory"):
        model.to_onnx(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        model.to_onnx(tmp_path / "nope" / "m.onnx")


def test_cli_exports_a_saved_model_with_its_class_names(tiny_data, tmp_path, capsys):
    from fastnn.model_files import ClassLabels, save_model

    model = _trained("tanh", "float64", tiny_data)
    npz = tmp_path / "m.npz"
    save_model(model, npz, extra_meta=ClassLabels("pets", ("cat", "dog", "bird")).as_meta())
    assert export_main([str(npz), str(tmp_path / "p.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert export_main([str(npz), str(tmp_path / "l.onnx"), "--logits"]) == 0
    X = _inputs(tiny_data, "float64")
    np.testing.assert_allclose(
        _run(tmp_path / "p.onnx", X)[1], model.predict_proba(X), rtol=1e-12, atol=1e-15
    )
    assert _run(tmp_path / "l.onnx", X)[0] == "logits"
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "p.onnx")).metadata_props}
    assert json.loads(meta["class_names"]) == ["cat", "dog", "bird"] and meta["dataset"] == "pets"


def test_cli_refuses_to_overwrite_its_input_and_reports_bad_files(tiny_data, tmp_path, capsys):
    model = _trained("relu", "float32", tiny_data)
    npz = model.save(tmp_path / "m.npz")
    before = npz.read_bytes()
    assert export_main([str(npz), str(npz)]) == 2
    assert "is the input model file" in capsys.readouterr().err
    assert npz.read_bytes() == before
    assert export_main([str(npz), str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert export_main([str(tmp_path / "missing.npz"), str(tmp_path / "x.onnx")]) == 2
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert export_main([str(tmp_path / "junk.npz"), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: MODEL:") and "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_without_onnx_the_error_names_the_extra(tiny_data, tmp_path, monkeypatch, capsys):
    import sys

    model = _trained("relu", "float32", tiny_data)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(FastnnError, match=r"fastnn\[onnx\]"):
        model.to_onnx(tmp_path / "m.onnx")
    npz = model.save(tmp_path / "m.npz")
    assert export_main([str(npz), str(tmp_path / "m.onnx")]) == 2
    assert "fastnn[onnx]" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_importing_fastnn_does_not_import_onnx():
    import subprocess
    import sys

    code = "import sys, fastnn, fastnn.export; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
