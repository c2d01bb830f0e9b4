"""Dask for sweeps: an optional extra, a loopback-only local cluster, data sent once.

By default a ``distributed.LocalCluster`` on 127.0.0.1 (scheduler, its HTTP
server, nannies and workers listen there only), one single-threaded worker process per
core: a trial is one sequential training run, so processes, not threads, give it a
core of its own without the GIL. ``--scheduler tcp://HOST:PORT`` uses a running
cluster instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from fastnn.data import MnistData
from fastnn.data.images import optional_import
from fastnn.errors import InvalidParameterError
from fastnn.threads import available_threads

#: Loopback only: nothing a sweep starts is reachable from another machine.
LOCAL_HOST = "127.0.0.1"
#: Seconds to wait for a --scheduler to answer.
CONNECT_TIMEOUT = 30


def import_distributed() -> ModuleType:
    """``distributed``, or MissingDependencyError naming the extra that installs it."""
    return optional_import("distributed", "sweep", "python -m fastnn.sweep", "dask[distributed]")


@contextmanager
def connect(
    scheduler: str | None = None, workers: int | None = None, timeout: float = CONNECT_TIMEOUT
) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler``, or on a new local cluster closed afterwards."""
    distributed = import_distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InvalidParameterError(
                f"--scheduler {scheduler}: no Dask scheduler answered within {timeout:g} s "
                f"({type(exc).__name__}: {exc}); expected tcp://HOST:PORT of a running scheduler"
            ) from None
        with client:
            yield client
        return
    with _environ_restored():
        yield from _local_client(distributed, workers)


@contextmanager
def _environ_restored() -> Iterator[None]:
    """Put back the variables Dask's nannies set in *this* process before spawning workers
    (``distributed.nanny.pre-spawn-environ``: OMP_NUM_THREADS=1, MKL_NUM_THREADS=1,
    OPENBLAS_NUM_THREADS=1, and PYTHONHASHSEED) and never undo: every later child of the
    caller's process (a training run, a test) would otherwise be single-threaded and sum
    in another order. Only those names are touched; other changes to the environment stand."""
    import dask

    names = {*dask.config.get("distributed.nanny.pre-spawn-environ", default={}), "PYTHONHASHSEED"}
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _local_client(distributed: ModuleType, workers: int | None) -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=workers or available_threads(),
        threads_per_worker=1,
        processes=True,
        host=LOCAL_HOST,
        # The scheduler serves HTTP (metrics, and the dashboard if bokeh is installed)
        # even with no dashboard asked for, on port 8787 by default: here on loopback, on
        # a free port, so that a second sweep (or a user's own cluster) causes no clash.
        dashboard_address=f"{LOCAL_HOST}:0",
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            from fastnn.cli.sweep.worker_plugin import IgnoreInterrupts

            client.register_plugin(IgnoreInterrupts())  # restarted workers get it too
            yield client
    finally:
        cluster.close()


def send_data(client: Any, data: MnistData) -> Any:
    """Put ``data`` on every worker once; trials take the returned future, not the arrays.

    One future for the whole ``MnistData`` (a dict or list would be scattered item
    by item); ``broadcast=True`` copies it to each worker now rather than on demand.
    """
    return client.scatter(data, broadcast=True, hash=False)


def worker_addresses(client: Any) -> list[str]:
    return sorted(client.scheduler_info(n_workers=-1)["workers"])
