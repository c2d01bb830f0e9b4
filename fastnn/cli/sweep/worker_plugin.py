"""A Dask worker plugin for the sweep's local cluster (imported only once Dask is there)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class IgnoreInterrupts(WorkerPlugin):
    """Workers of the local cluster ignore SIGINT: Ctrl-C in a terminal reaches every
    process of the group, and workers dying of it mid-task would print tracebacks while
    the client is already stopping cleanly. The client alone handles it, closing the
    cluster (which ends the workers).
    """

    name = "fastnn-ignore-sigint"

    def setup(self, worker: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
