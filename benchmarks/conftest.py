"""The pytest side of the benchmark suite: options, parametrization and fixtures.

The cases are :mod:`benchmarks.cases` (built on :mod:`benchmarks.suite_data`, checked by
:mod:`benchmarks.reference`); this file turns them into tests. ``bench_backends.py`` runs
every case for every backend and thread count; ``benchmark.group = "{case}|{threads}t"``
puts the two backends on neighbouring rows. The environment knobs (``FASTNN_BENCH_N``,
``FASTNN_BENCH_TIME``, ``FASTNN_BENCH_DATA``) are described in :mod:`benchmarks.suite_data`.
"""

from __future__ import annotations

import os
import shlex

import pytest

from benchmarks.cases import CASES, REFERENCE
from benchmarks.suite_data import KNOBS_ENV
from fastnn.backends import backend_names, get_backend
from fastnn.errors import InvalidParameterError
from fastnn.threads import available_threads

THREADS: tuple[int, ...] = tuple(sorted({1, available_threads()}))
#: The reference first, so its result is computed once and reused for the others' checks.
BACKENDS: tuple[str, ...] = (REFERENCE, *(b for b in backend_names() if b != REFERENCE))


def pytest_configure(config: pytest.Config) -> None:
    """Let ``--benchmark-only`` time the suite even though addopts has ``--benchmark-disable``.

    pyproject's addopts disables benchmarking so a plain ``pytest`` runs each case once as
    a smoke test; pytest-benchmark would then reject ``--benchmark-only`` as a conflict.
    Asking for only the benchmarks means asking to time them, so it implies
    ``--benchmark-enable``. (pytest-benchmark reads the options in its own, trylast,
    ``pytest_configure``, after this one.)
    """
    if config.getoption("benchmark_only", False) and config.getoption("benchmark_disable", False):
        config.option.benchmark_enable = True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize over the table: case (outermost), then threads, then backend, so both
    backends of one case and thread count run back to back."""
    if "case" not in metafunc.fixturenames:
        return
    metafunc.parametrize(
        "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
    )
    if "threads" in metafunc.fixturenames:
        metafunc.parametrize("threads", THREADS, ids=[f"{t}t" for t in THREADS], indirect=True)
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Backend name; skipped when that backend cannot be imported (e.g. no numba)."""
    try:
        get_backend(request.param)
    except InvalidParameterError as exc:
        pytest.skip(f"backend {request.param!r} unavailable: {exc}")
    return request.param


@pytest.fixture
def threads(request: pytest.FixtureRequest) -> int:
    """BLAS and Numba thread count: 1, and every core this process may use."""
    return request.param


#: Environment variables that change what the suite measures, shown with the command.
COMMAND_ENV = (*KNOBS_ENV, "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.fixture(scope="session")
def command(request: pytest.FixtureRequest) -> str:
    """The command line of this run, recorded so the report can say how to reproduce it."""
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in COMMAND_ENV if os.environ.get(k))
    args = shlex.join(request.config.invocation_params.args)
    return f"{env} python -m pytest {args}".strip()
