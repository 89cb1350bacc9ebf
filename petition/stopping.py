"""Stopping cleanly: live streams end when the server is told to stop, not when it gives up.

A server stopping lets the responses in progress finish, for a grace period, and then cancels
them; live streams never finish by themselves, so each would be cut off, its client shown a
broken response and the log a traceback. When the signal to stop arrives, they are ended first
(with the end a client expects, after which it reconnects to a server still running), and the
server's own handler runs as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def on_exit_signal(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` in the event loop as soon as SIGTERM or SIGINT arrives, while inside.

    Only where the server handles these signals in Python (uvicorn does), from the main thread;
    elsewhere nothing changes. The server's handlers are put back on leaving.
    """
    previous: dict[int, Handler] = {}
    for sig in EXIT_SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
    if (
        len(previous) < len(EXIT_SIGNALS)
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    loop = asyncio.get_running_loop()

    def chained(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(action)
        previous[sig](sig, frame)

    for sig in EXIT_SIGNALS:
        signal.signal(sig, chained)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is chained:
                signal.signal(number, handler)
