"""The compiled kernels as such: dtypes, signatures, warmup, ``.py_func``, bounds checks.

- float32 in, float32 out at every entry point, and the compiled signatures (no
  float64 except the documented ``hp`` array and summed losses);
- warmup calls every entry kernel its mode runs, so no compile lands in an epoch;
- the ``.py_func`` (pure Python) body of every entry kernel against its compiled self
  (coverage without ``NUMBA_DISABLE_JIT``, emg3d PR #88);
- one subprocess run with ``NUMBA_BOUNDSCHECK=1`` and no cache, so an out-of-bounds
  index raises instead of silently reading other memory;
- every kernel function has a qualified name of its own (the on-disk cache's key).

Arguments come from ``TinyNet`` in ``kernel_helpers.py``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from kernel_helpers import (
    DTYPES,
    NUMBA,
    NUMPY,
    ONE_STEP,
    TinyNet,
    _assert_close,
    _tiny_net,
    requires_jit,
)
from numba.core import types
from numpy.testing import assert_array_equal

from fastnn.backends import EpochResult
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.errors import InvalidParameterError
from fastnn.kernels import activations as k_act
from fastnn.kernels import batch as k_batch
from fastnn.kernels import dense as k_dense
from fastnn.kernels import inference as k_inference
from fastnn.kernels import sgd as k_sgd
from fastnn.kernels import sparse as k_sparse
from fastnn.kernels.warmup import MODES as WARMUP_MODES
from fastnn.kernels.warmup import warmup


# ------------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("backend", [NUMPY, NUMBA], ids=["numpy", "numba"])
def test_float32_in_float32_out_for_every_entry_point(backend):
    net = _tiny_net(np.float32)
    p, acts, X, f32 = net.params, net.activations, net.X, np.dtype(np.float32)
    assert backend.dense_forward(X, p.W(0), p.b(0), "tanh").dtype == f32
    assert backend.activation_derivative(X, "relu").dtype == f32
    assert [a.dtype for a in backend.forward(p, acts, X)] == [f32] * (p.n_layers + 1)
    assert backend.predict_proba(p, acts, X).dtype == f32
    grad = p.zeros_like()
    assert isinstance(backend.loss_and_gradient(p, acts, X, net.y, grad), float)
    assert grad.dtype == f32
    backend.apply_update(p, grad, net.cfg, net.state)
    for bs in (1, 3, net.X.shape[0]):
        result = backend.train_epoch(p, acts, X, net.y, net.order, bs, net.cfg, net.state)
        assert isinstance(result, EpochResult), f"train_epoch batch_size={bs}: {type(result)}"
        assert isinstance(result.loss, float) and isinstance(result.accuracy, float)
    assert p.data.dtype == f32 and net.state.m.dtype == f32 and net.state.s.dtype == f32


def test_float32_kernel_outputs_are_float32():
    net = _tiny_net(np.float32)
    W, b = net.params.W(0), net.params.b(0)
    for skip in (True, False):
        args = net.dense_forward_sample_args(net.X[1], W, b, "relu", skip)
        assert k_dense.dense_forward_sample(*args).dtype == np.float32
    assert k_dense.dense_forward_batch(*net.dense_forward_batch_args(net.X, W, b, "relu")).dtype == np.float32
    assert k_act.activation_derivative(*net.activation_derivative_args(net.X, "tanh")).dtype == np.float32


#: Entry kernels and what they may return for float32 data: the summed loss is float64
#: (with the int64 count of right predictions); the non-zero lists are written in place.
ENTRY_KERNELS = {
    "train_epoch_sample": (k_sgd, types.Tuple((types.float64, types.int64))),
    "train_epoch_batch": (k_batch, types.Tuple((types.float64, types.int64))),
    "count_nonzeros": (k_sparse, types.none),
    "list_nonzeros": (k_sparse, types.none),
    **{kernel.__name__: (k_inference, types.none) for kernel in k_inference.BY_CODE.values()},
}


def _leaves(a):
    """The scalar and array types in a (possibly nested tuple) Numba type."""
    if isinstance(a, types.BaseTuple):
        return [leaf for t in a.types for leaf in _leaves(t)]
    return [a]


#: The inference passes, one entry per activation code (``kernels/inference.py``).
INFERENCE = {kernel.__name__ for kernel in k_inference.BY_CODE.values()}

#: The entry kernels each warmup mode must compile: what a run of that kind calls.
WARMUP_NEEDS = {
    "sample": {"count_nonzeros", "list_nonzeros", "train_epoch_sample", *INFERENCE},
    "batch": {"count_nonzeros", "list_nonzeros", "train_epoch_batch", *INFERENCE},
    "predict": set(INFERENCE),
    "all": {"count_nonzeros", "list_nonzeros", "train_epoch_sample", "train_epoch_batch", *INFERENCE},
}


def _spy_on_inference(monkeypatch, called):
    """Record in ``called`` the name of each inference pass that runs."""
    for code, kernel in k_inference.BY_CODE.items():

        def spy_pass(*args, kernel=kernel):
            called.add(kernel.__name__)
            return kernel(*args)

        monkeypatch.setitem(k_inference.BY_CODE, code, spy_pass)


@pytest.mark.parametrize("mode", WARMUP_MODES)
def test_warmup_calls_every_entry_kernel_its_mode_runs(mode, monkeypatch):
    """Each entry kernel is really called (with today's signature), so its compile
    stays out of the first epoch; the non-zero lists are made in prepare, inside fit's time."""
    called = set()
    kernels = {"count_nonzeros": k_sparse, "list_nonzeros": k_sparse, "train_epoch_sample": k_sgd}
    kernels["train_epoch_batch"] = k_batch
    for name, module in kernels.items():
        kernel = getattr(module, name)

        def spy(*args, kernel=kernel, name=name):
            called.add(name)
            return kernel(*args)

        monkeypatch.setattr(module, name, spy)
    _spy_on_inference(monkeypatch, called)
    warmup("float64", mode)
    assert called == WARMUP_NEEDS[mode]


@pytest.mark.parametrize("mode", WARMUP_MODES)
def test_warmup_compiles_only_the_inference_passes_of_the_given_activations(mode, monkeypatch):
    called = set()
    _spy_on_inference(monkeypatch, called)
    warmup("float64", mode, [k_act.SIGMOID, k_act.SOFTMAX, k_act.SIGMOID])
    assert called == {"sigmoid_rows", "softmax_output_rows"}


@pytest.mark.parametrize("split", [False, True])
def test_batch_warmup_compiles_the_first_layer_as_the_backend_runs_it(split, monkeypatch):
    """Unsplit: 1-D gradient scratch; NumbaBackend(parallel_first_layer=True): 2-D, the
    signature its fits call, so the split's compile stays out of the first epoch."""
    scratch = []
    real = k_batch.train_epoch_batch

    def spy(*args):
        scratch.append(args[-2][3].ndim)
        return real(*args)

    monkeypatch.setattr(k_batch, "train_epoch_batch", spy)
    NumbaBackend(parallel_first_layer=split).warmup("float64", "batch", ("relu", "softmax"))
    assert scratch == [2 if split else 1]


def test_backend_warmup_takes_activation_names_and_adds_the_identity_pass(monkeypatch):
    """Validation loss comes from logits (the identity pass), so a training run's warm-up
    compiles it beside the network's own passes; a bad name is a clean fastnn error."""
    called: set[str] = set()
    _spy_on_inference(monkeypatch, called)
    NUMBA.warmup("float64", "predict", ("tanh", "relu", "softmax"))
    assert called == {"tanh_rows", "relu_rows", "softmax_output_rows", "identity_rows"}
    with pytest.raises(InvalidParameterError, match="sigmoidd"):
        NUMBA.warmup("float64", "predict", ("sigmoidd", "softmax"))


@requires_jit
@pytest.mark.parametrize("name", sorted(ENTRY_KERNELS))
def test_float32_signatures_have_no_float64_but_hp(name):
    warmup("float32")
    module, allowed_return = ENTRY_KERNELS[name]
    kernel = getattr(module, name)
    pnames = list(inspect.signature(kernel.py_func).parameters)
    sigs = [
        s
        for s in kernel.nopython_signatures
        if any(getattr(leaf, "dtype", leaf) == types.float32 for a in s.args for leaf in _leaves(a))
    ]
    assert sigs, f"warmup('float32') compiled no float32 signature of {name}"
    for sig in sigs:
        bad = [
            f"{p}: {a}"
            for p, a in zip(pnames, sig.args, strict=True)
            if any(getattr(leaf, "dtype", leaf) == types.float64 for leaf in _leaves(a)) and p != "hp"
        ]
        assert not bad, f"{name} float32 specialisation has float64 arguments: {bad}"
        assert sig.return_type == allowed_return, f"{name} returns {sig.return_type}"


@requires_jit
# ------------------------------------------------------------------- .py_func bodies
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_py_func_of_single_step_kernels_matches_jit(dtype):
    net = _tiny_net(dtype)
    W, b, tol = net.params.W(0), net.params.b(0), ONE_STEP[net.dtype]
    for act in ("relu", "selu", "softmax"):
        for skip in (True, False):
            args = net.dense_forward_sample_args(net.X[2], W, b, act, skip)
            _assert_close(
                k_dense.dense_forward_sample.py_func(*args),
                k_dense.dense_forward_sample(*args),
                tol,
                f"dense_forward_sample.py_func {act}",
            )
        args = net.dense_forward_batch_args(net.X, W, b, act)
        _assert_close(
            k_dense.dense_forward_batch.py_func(*args),
            k_dense.dense_forward_batch(*args),
            tol,
            f"dense_forward_batch.py_func {act}",
        )
    a = np.tanh(net.X - net.dtype.type(0.5))
    for act in ("sigmoid", "tanh", "selu"):
        args = net.activation_derivative_args(a, act)
        _assert_close(
            k_act.activation_derivative.py_func(*args),
            k_act.activation_derivative(*args),
            tol,
            f"activation_derivative.py_func {act}",
        )


@requires_jit
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "mode",
    [
        "sample-skip",
        "sample-dense",
        "batch-3",
        "batch-3-skip",
        "batch-3-split-skip",
        "full-batch",
        "full-batch-xt",
    ],
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_py_func_of_training_kernels_matches_jit(optimizer, mode, dtype):
    wd = 0.0 if optimizer == "sgd" else 1e-3  # the plain-SGD fast path and the general one
    jit_net, py_net = (_tiny_net(dtype, optimizer=optimizer, weight_decay=wd) for _ in range(2))
    n = jit_net.X.shape[0]
    bs = 3 if mode.startswith("batch-3") else n if mode.startswith("full-batch") else 1

    def args(net: TinyNet) -> tuple:
        if bs == 1:
            return net.train_epoch_sample_args(skip_zeros=mode == "sample-skip")
        return net.train_epoch_batch_args(
            bs,
            transposed=mode == "full-batch-xt",
            skip_zeros=mode.endswith("skip"),
            parts=2 if "split" in mode else None,
        )

    kernel = k_sgd.train_epoch_sample if bs == 1 else k_batch.train_epoch_batch
    loss_jit, correct_jit = kernel(*args(jit_net))
    loss_py, correct_py = kernel.py_func(*args(py_net))
    tol = ONE_STEP[jit_net.dtype]
    assert loss_py == pytest.approx(loss_jit, rel=tol)
    assert correct_py == correct_jit, (
        f"{kernel.__name__}.py_func counts {correct_py} right, jit {correct_jit}"
    )
    _assert_close(py_net.params.data, jit_net.params.data, tol, f"{kernel.__name__}.py_func weights")
    _assert_close(py_net.state.m, jit_net.state.m, tol, "state m")
    assert_array_equal(py_net.state.t, jit_net.state.t)


# ----------------------------------------------------------------- bounds checking
#: Runs in a fresh interpreter with NUMBA_BOUNDSCHECK=1 and the disk cache off, so every
#: kernel is compiled with bounds checks (an out-of-range index raises IndexError) and
#: nothing compiled this way lands in the shared cache. With the cache off, the helpers'
#: compiled signatures are also visible, so it reports float64 leaking into float32 code.
BOUNDSCHECK_SCRIPT = r"""
import inspect, json
import numpy as np
from numba import config
from numba.core import types
from numba.core.dispatcher import Dispatcher
from fastnn import MLP
from fastnn.backends import numba_backend
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.kernels import _jit
from fastnn.kernels import activations as k_act, batch as k_batch, dense as k_dense, sgd as k_sgd
from fastnn.kernels import inference as k_inference, sparse as k_sparse
from fastnn.optim import OptimizerConfig, OptimizerState

assert config.BOUNDSCHECK, "NUMBA_BOUNDSCHECK=1 is not in effect"
assert not _jit.CACHE, "FASTNN_NUMBA_CACHE=0 is not in effect"
numba_backend.PREDICT_CHUNK = 4  # predict_proba in several chunks and a short last one
gen = np.random.default_rng(0)
X = gen.random((21, 9))
X[gen.random(X.shape) < 0.7] = 0.0
X[0] = 0.0
y = gen.integers(0, 3, 21)
dt, tol = "float32", 1e-4

def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

for sizes, act in (([9, 6, 4, 3], "relu"), ([9, 5, 3], "sigmoid"), ([9, 3], "tanh")):
    for bs in (1, 8, None):
        for opt in ("sgd", "adam"):
            models = {be: MLP(sizes, act, backend=be, dtype=dt, seed=1) for be in ("numpy", "numba")}
            for m in models.values():
                m.fit(X, y, epochs=2, lr=0.05, batch_size=bs, optimizer=opt, weight_decay=1e-3)
            a, b, combo = models["numba"], models["numpy"], (sizes, act, bs, opt)
            assert rel(a.params.data, b.params.data) <= tol, ("weights", combo)
            assert rel(a.predict_proba(X), b.predict_proba(X)) <= tol, ("predict_proba", combo)
            if bs == 1:  # the dense first layer (the data above takes the zero-skipping one)
                st = OptimizerState.zeros(opt, a.params.data.size, a.params.dtype)
                NumbaBackend().train_epoch(a.params, a.activations, X.astype(dt), y, np.arange(21), 1,
                                           OptimizerConfig(opt, 0.05), st, skip_zeros=False)
nb, m = NumbaBackend(), models["numba"]
grad = m.params.zeros_like()
nb.loss_and_gradient(m.params, m.activations, X.astype(dt), y, grad)
nb.apply_update(m.params, grad, OptimizerConfig("adam", 0.01, weight_decay=1e-3),
                OptimizerState.zeros("adam", m.params.data.size, m.params.dtype))
nb.activation_derivative(m.params.W(0), "relu")
leaks = []
for mod in (k_act, k_dense, k_sgd, k_batch, k_sparse, k_inference):
    for name, obj in sorted(vars(mod).items()):
        if not isinstance(obj, Dispatcher) or obj.py_func.__module__ != mod.__name__:
            continue
        pnames = list(inspect.signature(obj.py_func).parameters)
        for sig in obj.nopython_signatures:
            kinds = [getattr(a, "dtype", a) for a in sig.args]
            if types.float32 in kinds:
                leaks += [f"{name}({p}: {a})" for p, k, a in zip(pnames, kinds, sig.args)
                          if k == types.float64 and p != "hp"]
print(json.dumps({"float64_in_float32_code": sorted(set(leaks))}))
"""


@pytest.fixture(scope="module")
def boundscheck_run() -> subprocess.CompletedProcess:
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", FASTNN_NUMBA_CACHE="0")
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", BOUNDSCHECK_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow  # ~20 s (18-24 s measured): a cold compile of every kernel with bounds checks
def test_training_under_boundscheck_matches_reference(boundscheck_run):
    """Per-sample (sparse and dense first layer), mini-batch and full batch, three
    depths, two optimisers, predict_proba in short chunks: no IndexError, same numbers."""
    assert boundscheck_run.returncode == 0, boundscheck_run.stderr[-4000:]


@pytest.mark.slow  # shares the bounds-checked subprocess run above
def test_no_float64_arguments_in_float32_helpers(boundscheck_run):
    assert boundscheck_run.returncode == 0, boundscheck_run.stderr[-4000:]
    report = json.loads(boundscheck_run.stdout.strip().splitlines()[-1])
    assert report["float64_in_float32_code"] == []


# ------------------------------------------------------------- the on-disk cache
@requires_jit
def test_every_kernel_function_has_a_qualified_name_of_its_own():
    """Numba names compiled code by module, qualified name, a per-process counter and
    the argument types. Two functions sharing a qualified name (closures made by one
    factory) can then get the same symbol in cache entries written by different
    processes, and loading both makes one entry point run the other's code."""
    owners: dict[tuple[str, str], set[int]] = {}
    for mod in (k_act, k_dense, k_sgd, k_batch, k_sparse, k_inference):
        for obj in vars(mod).values():
            if isinstance(obj, numba.core.dispatcher.Dispatcher) and obj.py_func.__module__ == mod.__name__:
                owners.setdefault((mod.__name__, obj.py_func.__qualname__), set()).add(id(obj))
    shared = sorted(name for name, objs in owners.items() if len(objs) > 1)
    assert not shared, f"kernel functions sharing a qualified name: {shared}"
    assert ("fastnn.kernels.activations", "relu_bias_apply_rows") in owners
