"""exp and expm1 as plain arithmetic, so LLVM can vectorise the loops that use them.

Inside Numba, ``np.exp`` on a scalar is a call into libm: one element at a time, with
no SIMD (there is no SVML in the llvmlite wheels). That made sigmoid-heavy batched
work slower than NumPy, whose own exp is vectorised. These versions use the classic
range reduction ``x = n ln2 + r`` (Cody-Waite, ln2 split in two), a polynomial for
``exp(r)`` on ``|r| <= ln2/2`` and ``2**n`` built directly in the exponent bits, all
operations a vector unit has, so a loop over them runs 4-16 lanes at a time.

Accuracy (tests/test_fastexp.py): exp within 1 ulp (float64: degree-13 Taylor
polynomial, truncation below 2e-16; float32: the Cephes ``expf`` minimax polynomial);
expm1 within 1 ulp on the x <= 0 the kernels use, about 2 ulp above ln2/2. Inputs below the
smallest normal result return 0 (the true value is a denormal under 1e-38 / 1e-307),
above the largest finite result +inf; NaN propagates. Callers here only pass
``x <= 0`` (softmax shifts by the row max, sigmoid and tanh use ``-|z|``), so the
upper clamp is a guard, never a result. ``exp_arith``/``expm1_arith`` have NumPy
fallbacks for Python code (``.py_func`` runs, ``NUMBA_DISABLE_JIT``).
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_FACT = tuple(1.0 / np.prod(np.arange(1, k + 1, dtype=np.float64)) for k in range(14))


def exp_arith(x):
    """exp(x) (NumPy's, when called from Python)."""
    return np.exp(x)


def expm1_arith(x):
    """exp(x) - 1 without cancellation near 0 (NumPy's, when called from Python)."""
    return np.expm1(x)


def expm1_reduced(x):
    """exp(x) - 1 for x <= ln2/2, the range tanh and SELU need (NumPy's from Python)."""
    return np.expm1(x)


@overload(exp_arith)
def _exp_arith_overload(x):
    if x == types.float32:

        def impl32(x):
            lo = np.float32(-87.33654)
            hi = np.float32(88.72283)
            xc = lo if x < lo else (hi if x > hi else x)
            n = np.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
            r = xc - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
            p = np.float32(1.9875691500e-4)
            p = p * r + np.float32(1.3981999507e-3)
            p = p * r + np.float32(8.3334519073e-3)
            p = p * r + np.float32(4.1665795894e-2)
            p = p * r + np.float32(1.6666665459e-1)
            p = p * r + np.float32(5.0000001201e-1)
            p = p * r * r + r + np.float32(1.0)
            # 2**n in the exponent bits; n = 128 (x near the top) is built as 2**127 * 2.
            top = np.int32(1) if n > np.float32(0.0) else np.int32(0)
            scale = np.int32((np.int32(n) - top + np.int32(127)) << np.int32(23)).view(np.float32)
            y = p * scale * np.float32(1 + top)
            return np.float32(0.0) if x < lo else (np.float32(np.inf) if x > hi else y)

        return impl32
    if x == types.float64:
        c = _INV_FACT

        def impl64(x):
            lo = -708.3964185322641
            hi = 709.782712893384
            xc = lo if x < lo else (hi if x > hi else x)
            n = np.floor(xc * _LOG2E + 0.5)
            r = xc - n * _LN2_HI - n * _LN2_LO
            p = c[13]
            p = p * r + c[12]
            p = p * r + c[11]
            p = p * r + c[10]
            p = p * r + c[9]
            p = p * r + c[8]
            p = p * r + c[7]
            p = p * r + c[6]
            p = p * r + c[5]
            p = p * r + c[4]
            p = p * r + c[3]
            p = p * r + c[2]
            p = p * r + c[1]
            p = p * r + 1.0
            top = np.int64(1) if n > 0.0 else np.int64(0)
            scale = np.int64((np.int64(n) - top + np.int64(1023)) << np.int64(52)).view(np.float64)
            y = p * scale * (1.0 + top)
            return 0.0 if x < lo else (np.inf if x > hi else y)

        return impl64
    return None


@overload(expm1_reduced, inline="always")
def _expm1_reduced_overload(x):
    """expm1 as 2**n * expm1(r) + (2**n - 1), for x <= ln2/2 (x is clamped to [lo, ln2/2]:
    below lo the result is -1 to within rounding, as the true value is).

    With n = 0 (|x| <= ln2/2) that is the polynomial for expm1(r) itself, which has
    no constant term, so there is no cancellation near 0; for n < 0 both parts are
    computed exactly or nearly so. Above ln2/2, exp(x) - 1 loses at most a bit.
    Both sides are computed and one selected (no early return), so loops vectorise.
    """
    if x == types.float32:

        def impl32(x):
            lo = np.float32(-87.0)
            top = np.float32(0.34657359)
            xc = lo if x < lo else (top if x > top else x)
            n = np.floor(xc * np.float32(1.44269504088896341) + np.float32(0.5))
            r = xc - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
            # Taylor to r**8 / 8!: truncation < 2e-8 relative for |r| <= ln2/2.
            q = np.float32(1.0 / 40320.0)
            q = q * r + np.float32(1.0 / 5040.0)
            q = q * r + np.float32(1.0 / 720.0)
            q = q * r + np.float32(1.0 / 120.0)
            q = q * r + np.float32(1.0 / 24.0)
            q = q * r + np.float32(1.0 / 6.0)
            q = q * r + np.float32(0.5)
            pm1 = q * r * r + r
            scale = np.int32((np.int32(n) + np.int32(127)) << np.int32(23)).view(np.float32)
            return scale * pm1 + (scale - np.float32(1.0))

        return impl32
    if x == types.float64:
        c = _INV_FACT

        def impl64(x):
            lo = -700.0
            top = 0.34657359027997264
            xc = lo if x < lo else (top if x > top else x)
            n = np.floor(xc * _LOG2E + 0.5)
            r = xc - n * _LN2_HI - n * _LN2_LO
            q = c[13]
            q = q * r + c[12]
            q = q * r + c[11]
            q = q * r + c[10]
            q = q * r + c[9]
            q = q * r + c[8]
            q = q * r + c[7]
            q = q * r + c[6]
            q = q * r + c[5]
            q = q * r + c[4]
            q = q * r + c[3]
            q = q * r + c[2]
            pm1 = q * r * r + r
            scale = np.int64((np.int64(n) + np.int64(1023)) << np.int64(52)).view(np.float64)
            return scale * pm1 + (scale - 1.0)

        return impl64
    return None


@overload(expm1_arith, inline="always")
def _expm1_arith_overload(x):
    """expm1 everywhere: the reduced form up to ln2/2, exp(x) - 1 above (a bit lost there).
    Both sides are computed and one selected, so a loop over it still vectorises."""
    if x == types.float32:

        def impl32(x):
            return expm1_reduced(x) if x <= np.float32(0.34657359) else exp_arith(x) - np.float32(1.0)

        return impl32
    if x == types.float64:

        def impl64(x):
            return expm1_reduced(x) if x <= 0.34657359027997264 else exp_arith(x) - 1.0

        return impl64
    return None
