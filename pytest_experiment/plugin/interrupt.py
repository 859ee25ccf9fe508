"""Interrupts: SIGTERM (a CI job cancelled) takes the Ctrl-C path, so the cleanup policy
still runs; an xdist worker takes one interrupt, so nothing cuts its cleanup short."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside, SIGTERM raises ``KeyboardInterrupt``; the previous handler is restored
    after. Only the main thread may set a handler: elsewhere (pytest run from a thread)
    the signal keeps its handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Once:
    """Raises ``KeyboardInterrupt`` for the first signal and lets every later one pass."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.fired:
            return
        self.fired = True
        raise KeyboardInterrupt(f"signal {signum}")


def interrupted_once() -> Callable[[], None]:
    """From now on SIGINT and SIGTERM interrupt this process once; further ones are
    ignored. Returns what restores the previous handlers.

    For an xdist worker: a Ctrl-C at a terminal reaches it as well as its controller,
    which passes the interrupt on to every worker (a SIGTERM, or a signal sent to the
    controller alone, reaches only the controller). Taken twice, the second would land
    in the cleanup the first started, and leave the worker's instances unaccounted for.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    handler = _Once()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, handler)

    def restore() -> None:
        for signum, old in previous.items():
            if old is not None:  # None: a handler not set from Python, which cannot be
                signal.signal(signum, old)

    return restore
