"""scikit-learn's MLPClassifier and fastnn's drop-in on the same data and settings.

Usage::

    python -m benchmarks.sklearn_switch [--data embedded|mnist|PATH] [--max-iter 10] [--repeat 3]

Trains ``sklearn.neural_network.MLPClassifier`` and ``fastnn.sklearn.MLPClassifier``
(numba backend, float64 and float32) with the same parameters on the same pixels
(scaled to [0, 1]) and prints each one's test accuracy and its best fit time over
``--repeat`` runs, with the ratio to scikit-learn's from this one run. fastnn's kernels
are compiled (or loaded from the cache) before any timing. Needs ``fastnn[sklearn]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

from fastnn.cli.common import int_list, positive_int
from fastnn.threads import available_threads


def _best_fit(make: Any, X: Any, y: Any, repeat: int) -> tuple[Any, float]:
    best = float("inf")
    model = None
    for _ in range(repeat):
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return model, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sklearn_switch", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", default="embedded", help="embedded (default), mnist, or a folder of IDX files"
    )
    parser.add_argument("--hidden", type=int_list, default=[64], help="hidden_layer_sizes, e.g. 128,64")
    parser.add_argument("--max-iter", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=200)
    parser.add_argument(
        "--repeat", type=positive_int, default=3, help="fits per estimator; the best time is shown"
    )
    args = parser.parse_args(argv)

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from fastnn.backends import get_backend
    from fastnn.data import load_dataset
    from fastnn.sklearn import MLPClassifier as FastnnMLP

    data = load_dataset(args.data)
    X, Xt = data.x_train / 255.0, data.x_test / 255.0
    settings = dict(
        hidden_layer_sizes=tuple(args.hidden),
        solver="adam",
        batch_size=args.batch_size,
        max_iter=args.max_iter,
        random_state=0,
    )
    for dtype in ("float64", "float32"):
        get_backend("numba").warmup(dtype, "batch")
    candidates = [
        ("sklearn.neural_network.MLPClassifier", lambda: SklearnMLP(**settings)),
        ("fastnn.sklearn.MLPClassifier (float64)", lambda: FastnnMLP(**settings)),
        ("fastnn.sklearn.MLPClassifier (float32)", lambda: FastnnMLP(**settings, dtype="float32")),
    ]
    print(
        f"data: {data.source}, {len(X):,} train / {len(Xt):,} test; hidden {tuple(args.hidden)}, adam, "
        f"batch {args.batch_size}, {args.max_iter} epochs; best of {args.repeat}; "
        f"{available_threads()} threads"
    )
    baseline = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, make in candidates:
            model, seconds = _best_fit(make, X, data.y_train, args.repeat)
            baseline = baseline or seconds
            print(
                f"{name:40s} test accuracy {model.score(Xt, data.y_test):.4f}  "
                f"fit {seconds:6.2f} s  ({baseline / seconds:.2f}x sklearn's speed)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
