"""Text from outside (an API message, a log line, an exception) made fit to print.

Whatever the cluster or a tool said ends up in terminal output, JUnit failure text
and toil titles, where a newline or a control character would break the line and a
page-long message would bury the rest.
"""

from __future__ import annotations

from typing import Any

MAX_TEXT = 300
"""How many characters of an outside value a line shows."""


def one_line(value: Any, *, limit: int = MAX_TEXT) -> str:
    """``value`` as a single printable line of at most ``limit`` characters."""
    text = " ".join(str(value).split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
