"""Heartbeats for sync activities whose service cannot report progress itself.

A heartbeat lets the server notice a dead worker within `heartbeat_timeout` instead of waiting for the
whole start-to-close timeout. The keepalive thread runs in a copy of the activity's context, so
`activity.heartbeat` works from it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def keepalive(interval: float = 5.0, detail: str = "working") -> Iterator[None]:
    stop = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(interval):
            activity.heartbeat(detail)

    thread = threading.Thread(target=context.run, args=(beat,), daemon=True, name="sma-keepalive")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval)
