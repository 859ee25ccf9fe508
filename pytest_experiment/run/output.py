"""Where the live run writes (the plugin's terminal output implements ``Output``), and
the lines other threads leave for the item thread to write."""

from __future__ import annotations

import threading
from collections.abc import Sequence


class Output:
    """Whole lines, and one status line redrawn in place; by default lines are printed."""

    def line(self, text: str) -> None:
        print(text)

    def status(self, text: str) -> None:
        """Progress; only a terminal shows it, redrawn in place."""

    def clear(self) -> None:
        """Remove the status line before anything else is written."""

    def held(self) -> Sequence[str]:
        """Lines kept back to be shown at the end of the session (none by default)."""
        return ()


class Lines:
    """Lines said from any thread, written to ``out`` by the item thread: at once when
    said on it, else at its next ``flush()``."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._pending: list[str] = []
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)
        if threading.current_thread() is threading.main_thread():
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
        if lines:
            self.out.clear()
        for text in lines:
            self.out.line(text)


__all__ = ["Lines", "Output"]
