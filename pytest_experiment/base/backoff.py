"""Waiting between attempts: exponential, capped, optionally jittered, and bounded.

Every retry loop of the project (the cluster's requests, the watch's reconnects,
the results store, the sandbox's informer and readiness probes) takes its delays
from here, so the bounds are set in one place and tested once. The policy says
how delays grow and how many attempts there are; one ``Retries`` is one run of
a loop against that policy, with its own clock, deadline and way of waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Delays ``first``, ``first * factor``, … up to ``cap``.

    ``attempts`` bounds the tries in all, the first included (None: no bound).
    ``jitter`` takes up to that fraction off each delay at random, so clients
    that lost a server together do not all come back in the same instant.
    """

    first: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0
    attempts: int | None = None

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < self.first or self.factor < 1:
            raise ValueError(f"backoff needs 0 <= first <= cap and factor >= 1: {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter is a fraction from 0 to 1: {self.jitter}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"backoff needs at least one attempt: {self.attempts}")

    def delays(self) -> Iterator[float]:
        """The delays before each retry, without jitter; endless when ``attempts`` is None."""
        delay = self.first
        retries = 0
        while self.attempts is None or retries < self.attempts - 1:
            yield delay
            retries += 1
            delay = min(delay * self.factor, self.cap)

    def retries(
        self,
        *,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        stop: threading.Event | None = None,
        rng: Callable[[], float] = random.random,
    ) -> Retries:
        """One run of a retry loop: ``deadline`` is on ``clock``; waits use ``stop``
        (ended early when it is set) when given, else ``sleep``."""
        return Retries(self, deadline=deadline, clock=clock, sleep=sleep, stop=stop, rng=rng)


class Retries:
    """Where one loop is in its backoff: the next delay, the wait, a reset on success."""

    def __init__(
        self,
        policy: Backoff,
        *,
        deadline: float | None,
        clock: Clock,
        sleep: Sleep,
        stop: threading.Event | None,
        rng: Callable[[], float],
    ) -> None:
        self._policy = policy
        self._deadline = deadline
        self._clock = clock
        self._sleep = sleep
        self._stop = stop
        self._rng = rng
        self._delays = policy.delays()

    def reset(self) -> None:
        """The loop succeeded: the next failure starts again from the first delay."""
        self._delays = self._policy.delays()

    def next_delay(self, *, server_delay: float | None = None) -> float | None:
        """How long to wait before the next attempt; None when the attempts are spent or
        the wait would pass the deadline.

        ``server_delay`` (a ``Retry-After``) replaces the computed delay, still capped,
        and still uses up an attempt.
        """
        delay = next(self._delays, None)
        if delay is None:
            return None
        if server_delay is not None and server_delay > 0:
            delay = min(server_delay, self._policy.cap)
        elif self._policy.jitter:
            delay *= 1 - self._policy.jitter * self._rng()
        if self._deadline is not None and self._clock() + delay > self._deadline:
            return None
        return delay

    def wait(self, delay: float) -> bool:
        """Wait ``delay`` seconds; False when ``stop`` was set (before or during the wait)."""
        if self._stop is not None:
            return not self._stop.wait(delay)
        self._sleep(delay)
        return True

    def pause(self, *, server_delay: float | None = None) -> bool:
        """Wait before the next attempt; False when there is to be none (attempts or
        deadline spent, or stopped)."""
        delay = self.next_delay(server_delay=server_delay)
        return delay is not None and self.wait(delay)
