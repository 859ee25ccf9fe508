"""Where the live run writes: the plugin's terminal output implements this."""

from __future__ import annotations

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


__all__ = ["Output"]
