"""Saying once that a service stopped answering, and once that it is back.

The watch and the results store retry quietly while the API or S3 is away; a
CI log should still show each outage, as one line when it starts and one when
it ends, not a line per attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime


class OutageNotice:
    """One outage at a time of one service, announced through ``notify`` (and ``log``)."""

    def __init__(
        self,
        *,
        notify: Callable[[str], None] | None,
        log: logging.Logger | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._notify = notify
        self._log = log
        self._now = now
        self._lock = threading.Lock()
        self._since: datetime | None = None
        self.count = 0
        """Outages announced so far."""

    @property
    def down(self) -> bool:
        return self._since is not None

    def lost(self, line: Callable[[datetime], str]) -> bool:
        """Announce ``line(when)`` unless this outage was already announced; whether it was."""
        with self._lock:
            if self._since is not None:
                return False
            self._since = now = self._now()
            self.count += 1
        self._say(line(now))
        return True

    def back(self, line: Callable[[datetime, float], str]) -> bool:
        """Announce ``line(when, seconds down)`` if an outage was announced; whether it was."""
        with self._lock:
            started, self._since = self._since, None
        if started is None:
            return False
        now = self._now()
        self._say(line(now, (now - started).total_seconds()))
        return True

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log.warning("%s", line)
        if self._notify is not None:
            self._notify(line)
