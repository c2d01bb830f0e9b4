"""Optimiser codes, hyper-parameter slots and update rules: the one copy every kernel uses.

The rules are those of ``NumpyBackend.apply_update`` (the NumPy reference; documented
in ``fastnn/optim.py``). The per-sample
kernels (``sgd.py``), the batched ones (``batch.py``) and the zero-skipping first
layer (``sparse.py``) all update parameters through ``update_row``; only the
per-sample plain-SGD paths, which fuse the step into the back-propagation read of W,
write ``sgd_step`` inline instead.

``hp`` is a float64 vector with the slots named below, built by ``pack_hyper`` and
cast once to the data's dtype by ``unpack_hyper``.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels._jit import helper, inline

SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3

#: The kernels' code for each optimiser name of ``fastnn.optim.OPTIMIZERS``.
CODES: dict[str, int] = {"sgd": SGD, "momentum": MOMENTUM, "nesterov": NESTEROV, "adam": ADAM}

# Slots of ``hp``.
LR = 0
MU = 1
BETA1 = 2
BETA2 = 3
EPS = 4
WEIGHT_DECAY = 5
N_HYPER = 6


def pack_hyper(
    lr: float, momentum: float, beta1: float, beta2: float, eps: float, weight_decay: float
) -> np.ndarray:
    """The float64 ``hp`` vector the kernels take, each value in its named slot."""
    hp = np.empty(N_HYPER, dtype=np.float64)
    hp[LR], hp[MU], hp[BETA1], hp[BETA2] = lr, momentum, beta1, beta2
    hp[EPS], hp[WEIGHT_DECAY] = eps, weight_decay
    return hp


@inline
def unpack_hyper(hp, T):
    """(lr, momentum, beta1, beta2, eps, weight_decay) in dtype ``T``."""
    return T(hp[LR]), T(hp[MU]), T(hp[BETA1]), T(hp[BETA2]), T(hp[EPS]), T(hp[WEIGHT_DECAY])


@inline
def adam_step(hp, t, consts):
    """Adam's bias-corrected step size for step t, computed in float64 (as
    ``optim.adam_step_size`` does) and cast to the data's dtype."""
    return consts.dtype.type(hp[LR] * np.sqrt(1.0 - hp[BETA2] ** t) / (1.0 - hp[BETA1] ** t))


@inline
def sgd_step(w, lr, g):
    """Plain SGD on one value: the rule the fused per-sample paths write inline."""
    return w - lr * g


@helper
def update_row(P, M, S, i, g, scale, decay, opt, lr, mu, b1, b2, eps, step, one):
    """One optimiser step on row ``i`` of the 2-D ``P`` (state rows ``M[i]``, ``S[i]``),
    with gradient ``scale * g + decay * P[i]`` (``scale`` is a layer input for a
    per-sample weight row, else one; ``decay`` is the weight decay, zero for biases).
    A 1-D range is passed as one row (``reshape((1, n))``).

    Rows are indexed in place, not sliced: a view per row costs a reference-count
    update, which per weight row per batch was measured 10-20% of a batch-64 epoch.
    The rule is chosen once, outside the loop, so each is one branch-free pass that
    LLVM vectorises; compiled once per signature and called, not inlined, to keep the
    cold compile short.
    """
    n = P.shape[1]
    if opt == SGD:
        for k in range(n):
            P[i, k] -= lr * (scale * g[k] + decay * P[i, k])
    elif opt in (MOMENTUM, NESTEROV):
        nesterov = opt == NESTEROV
        for k in range(n):
            gk = scale * g[k] + decay * P[i, k]
            vk = mu * M[i, k] - lr * gk
            M[i, k] = vk
            P[i, k] += (mu * vk - lr * gk) if nesterov else vk
    else:
        for k in range(n):
            gk = scale * g[k] + decay * P[i, k]
            mk = b1 * M[i, k] + (one - b1) * gk
            sk = b2 * S[i, k] + (one - b2) * (gk * gk)
            M[i, k] = mk
            S[i, k] = sk
            P[i, k] -= step * mk / (np.sqrt(sk) + eps)


@inline
def update_range(p, m, s, g, scale, decay, opt, lr, mu, b1, b2, eps, step, one):
    """``update_row`` on a whole 1-D array (a bias, or a layer's slice of the flat buffers)."""
    n = p.shape[0]
    update_row(
        p.reshape((1, n)),
        m.reshape((1, n)),
        s.reshape((1, n)),
        0,
        g,
        scale,
        decay,
        opt,
        lr,
        mu,
        b1,
        b2,
        eps,
        step,
        one,
    )
