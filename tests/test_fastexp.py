"""The vectorisable exp/expm1 in ``fastnn.kernels.fastexp`` against NumPy's."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastnn.kernels.fastexp import exp_arith, expm1_arith


@numba.njit
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp_arith(x[i])


@numba.njit
def _apply_expm1(x, out):
    for i in range(x.shape[0]):
        out[i] = expm1_arith(x[i])


def _inputs(dtype):
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            -np.logspace(-12, 3, 20_000),
            -rng.random(20_000) * 100,
            rng.random(2_000) * 80,
            [0.0, -0.0, -1e-30, 1e-30],
        ]
    )
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("kernel", "reference", "name"), [(_apply_exp, np.exp, "exp"), (_apply_expm1, np.expm1, "expm1")]
)
def test_matches_numpy_within_a_few_ulp(kernel, reference, name, dtype):
    x = _inputs(dtype)
    got = np.empty_like(x)
    kernel(x, got)
    assert got.dtype == dtype
    want = reference(x.astype(np.float64))
    tiny, big = np.finfo(dtype).tiny, np.finfo(dtype).max
    # Compare where the true result is a normal number of this dtype; below that the
    # kernels return 0 (documented), above it inf (checked below).
    ok = (np.abs(want) > tiny) & (np.abs(want) < big)
    rel = np.abs(got[ok].astype(np.float64) - want[ok]) / np.abs(want[ok])
    # exp: within 1 ulp (2 eps of slack); expm1 above ln2/2 is exp(x) - 1, a bit more.
    ulps = 2 if name == "exp" else 3
    assert rel.max() <= ulps * np.finfo(dtype).eps, (
        f"{name} {np.dtype(dtype).name}: max rel err {rel.max():.3e}"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -1e4, 1e4], dtype=dtype)
    e = np.empty_like(x)
    _apply_exp(x, e)
    assert np.isnan(e[0])
    assert e[1] == 0 and e[2] == np.inf and e[3] == 1 and e[4] == 0 and e[5] == np.inf
    m = np.empty_like(x)
    _apply_expm1(x, m)
    assert np.isnan(m[0])
    assert m[1] == -1 and m[2] == np.inf and m[3] == 0 and m[4] == -1 and m[5] == np.inf


def test_python_fallbacks_are_numpy():
    assert exp_arith(np.float32(1.5)) == np.exp(np.float32(1.5))
    assert expm1_arith(-1e-9) == np.expm1(-1e-9)
