"""What the backend parity tests share: the network, tolerances, learning rates, targets.

The learning rates keep training stable on ``tiny_data``: a diverging run amplifies
rounding differences (see ``test_backend_parity.py``). Imported by the parity tests
(``test_backend_parity.py`` re-exports ``LR``, ``TOL`` and ``_rel_err`` to
``test_sparse_parity.py``), the bad-input and the prepared-data tests.
"""

from __future__ import annotations

import numpy as np

LAYERS = (12, 7, 5, 3)
#: Max |numba - numpy| / max |numpy| after several steps (issue 3).
TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
#: Stable learning rates for tiny_data (see the module docstring).
LR = {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.005}


def regression_targets(X: np.ndarray) -> np.ndarray:
    """Smooth float targets for tiny_data, one column per output unit: each 4-feature
    block's sum (what the labels take the argmax of), centred."""
    sums = X.reshape(len(X), LAYERS[-1], -1).sum(axis=2)
    return sums - sums.mean(axis=0)


def _rel_err(actual, desired) -> float:
    """max |actual - desired| / max |desired| in float64 (the absolute max if desired is 0)."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    diff = float(np.max(np.abs(actual - desired), initial=0.0))
    scale = float(np.max(np.abs(desired), initial=0.0))
    return diff / scale if scale > 0 else diff
