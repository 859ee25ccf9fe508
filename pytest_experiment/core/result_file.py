"""One summary.json to score: where it came from and what it holds (or why it holds nothing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One published summary.json, read from a results directory or from the live run's S3."""

    instance: str
    path: Path
    summary: Mapping[str, Any] | None
    problem: str = ""
    """Why ``summary`` is None (unreadable or not JSON)."""


__all__ = ["ResultFile"]
