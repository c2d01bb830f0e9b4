"""The numpy result every other backend's result is checked against, computed once per session."""

from __future__ import annotations

import numpy as np

from benchmarks.cases import REFERENCE, Case
from fastnn.threads import limit_threads

_REFERENCE: dict[str, dict[str, np.ndarray]] = {}


def reference_result(case: Case) -> dict[str, np.ndarray]:
    """The numpy backend's result for ``case`` on one thread, computed once per session."""
    if case.name not in _REFERENCE:
        ready = case.setup(REFERENCE)
        with limit_threads(1):
            args = ready.fresh()
            _REFERENCE[case.name] = ready.result(ready.run(*args), args)
    return _REFERENCE[case.name]


def check_against_reference(case: Case, backend: str, threads: int, result: dict[str, np.ndarray]) -> float:
    """Compare a backend's result with numpy's; the first numpy 1-thread result becomes
    the reference, so the reference run is never repeated."""
    if case.name not in _REFERENCE and backend == REFERENCE and threads == 1:
        _REFERENCE[case.name] = result
        return 0.0
    return case.check(reference_result(case), result)
