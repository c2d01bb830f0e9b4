"""Does splitting the first layer between Numba's threads pay on this machine?

``python -m benchmarks.first_layer_split --data DIR`` times whole ``fit(epochs=1)``
calls of a race recipe (default ``fast-b64``: 784-256-128-10 ReLU, batch 64, Nesterov)
on MNIST in three set-ups, interleaved in one process so load affects them alike: one thread; two
threads with the zero-skipping first layer run serially (the default); two threads
with it split (``NumbaBackend(parallel_first_layer=True)``). It prints each median
and the ratios. The default of ``parallel_first_layer`` follows what this prints on
the machine the project is measured on; run it on yours before turning the split on.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numba
import numpy as np

import fastnn
from benchmarks.race.recipes import RECIPES, load_race_data
from fastnn.backends.numba_backend import NumbaBackend
from fastnn.threads import available_threads

#: (label, threads, split the first layer)
SETUPS = (
    ("1 thread", 1, False),
    ("2 threads, first layer serial", 2, False),
    ("2 threads, first layer split", 2, True),
)


def measure(data_source: str | None, recipe_name: str, repeats: int) -> dict[str, list[float]]:
    """Seconds of each ``fit(epochs=1)`` call per set-up; the first call (compiling) is dropped."""
    data = load_race_data(data_source)
    recipe = RECIPES[recipe_name]
    models = {
        label: fastnn.MLP(
            recipe.layers,
            recipe.activations,
            backend=NumbaBackend(parallel_first_layer=split),
            seed=0,
            threads=threads,
        )
        for label, threads, split in SETUPS
    }
    fit_args = {
        "epochs": 1,
        "lr": recipe.lr,
        "batch_size": recipe.batch_size,
        "optimizer": recipe.optimizer,
        "momentum": recipe.momentum,
        "train_accuracy": False,
    }
    times: dict[str, list[float]] = {label: [] for label in models}
    for rep in range(repeats + 1):
        for label, model in models.items():
            start = time.perf_counter()
            model.fit(data.x_train, data.y_train, **fit_args)
            if rep:
                times[label].append(time.perf_counter() - start)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.first_layer_split", description=__doc__.splitlines()[0]
    )
    p.add_argument("--data", help="MNIST for fastnn.data.load_dataset (a directory, 'mnist' or 'embedded')")
    p.add_argument(
        "--recipe", choices=[n for n, r in RECIPES.items() if r.batch_size > 1], default="fast-b64"
    )
    p.add_argument("--repeats", type=int, default=5, help="timed fits per set-up (default 5)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if min(available_threads(), numba.config.NUMBA_NUM_THREADS) < 2:
        p.error("needs two CPUs and NUMBA_NUM_THREADS of at least 2 to compare one thread with two")
    times = measure(args.data, args.recipe, args.repeats)
    medians = {label: float(np.median(t)) for label, t in times.items()}
    base = medians[SETUPS[0][0]]
    print(f"recipe {args.recipe}, median of {args.repeats} fit(epochs=1) calls per set-up, interleaved:")
    for label, median in medians.items():
        print(f"  {label:<32} {median:.3f} s   1-thread time / this: {base / median:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
