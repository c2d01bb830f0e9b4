"""scikit-learn estimators trained by fastnn: ``MLPClassifier`` and ``MLPRegressor``.

The one-line switch from scikit-learn::

    from fastnn.sklearn import MLPClassifier   # instead of sklearn.neural_network

Needs the ``sklearn`` extra (``pip install "fastnn[sklearn]"``); importing this module
without scikit-learn raises ImportError saying so.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test that hides sklearn
    raise ImportError(
        'fastnn.sklearn needs scikit-learn, which is not installed: pip install "fastnn[sklearn]"'
    ) from exc

from fastnn.sklearn._estimators import MLPClassifier, MLPRegressor, expected_failed_checks

__all__ = ["MLPClassifier", "MLPRegressor", "expected_failed_checks"]
