"""Durations: the ones people type (``90s``, ``1h30m``), the operator's Go durations, and
the one way every report, line and scorecard writes a number of seconds.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh])")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def format_duration(seconds: Any, *, whole_minutes: bool = False, absent: str = "no limit") -> str:
    """``2.5s``, ``45s``, ``1m30s``, ``20m``, ``1h30m``, ``1h``; ``absent`` for None or
    anything else that is not a finite number (a budget of None has no limit).

    ``whole_minutes`` is the scorecard's coarser form: whole seconds under a minute, whole
    minutes above, and the minutes always written beside the hours (``38m``, ``1h00m``).
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return absent
    if not math.isfinite(seconds):
        return absent
    if seconds < 60:
        if seconds < 10 and seconds != int(seconds) and not whole_minutes:
            return f"{seconds:.1f}s"
        return f"{round(seconds)}s"
    if whole_minutes:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"


def parse_duration(text: str) -> float | None:
    """Seconds in ``90s``, ``20m``, ``1h30m`` or a number; None for ``none`` or ``0`` (no limit)."""
    value = text.strip().lower()
    if value in ("none", "off", "never", "0", "inf"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(
                f"{text!r} is not a duration (like 90s, 20m, 1h30m, or none)"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} must be positive (or none for no limit)")
    return seconds


def parse_go_duration(value: Any) -> float | None:
    """Seconds in a Go duration such as ``43m26.855137229s`` or ``20m0s``; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in parts)
