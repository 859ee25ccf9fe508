"""Parsers of option values: each takes the raw text and the directory it was written
relative to, and returns the value or raises ``ValueError`` saying what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import urlsplit

from pytest_experiment.core.durations import parse_duration

if TYPE_CHECKING:
    from pytest_experiment.core.prices import PriceTable

Parse = Callable[[str, Path], Any]


def path(text: str, base: Path) -> Path:
    return base / Path(text).expanduser()


def output_file(text: str, base: Path) -> Path:
    """A file the session writes at its end (a report): refused now, not after the run,
    when it could not be written there."""
    found = path(text, base)
    problem = unwritable(found)
    if problem is not None:
        raise ValueError(f"cannot write {text}: {problem}")
    return found


def unwritable(target: Path, *, appended: bool = False) -> str | None:
    """Why no file can be written at ``target`` (its missing directories created on the
    way), or None. ``appended``: the file is written in place, not replaced, so an
    existing one must itself be writable."""
    if target.is_dir():
        return "it is a directory"
    if appended and target.exists() and not os.access(target, os.W_OK):
        return "it is not writable"
    parent = target.parent
    # exists() is False both for a missing directory and below a file: walk up to what is.
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable"
    return None


def boolean(text: str, base: Path) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def existing(text: str, base: Path) -> Path:
    found = path(text, base)
    if not found.exists():
        raise ValueError(f"{text!r} does not exist")
    return found


def stripped(text: str, base: Path) -> str:
    return text.strip()


def url(text: str, base: Path) -> str:
    """An http(s) URL with a host: anything else would only fail later, once per item,
    inside the S3 client."""
    value = text.strip()
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"{text!r} is not a URL (like http://127.0.0.1:8333)")
    return value


def duration(text: str, base: Path) -> float | None:
    return parse_duration(text)


def lease(text: str, base: Path) -> float:
    """A duration that must be there and above zero (``none`` would let a killed run's
    instances hold cloud clusters for ever)."""
    value = parse_duration(text)
    if value is None or value <= 0:
        raise ValueError(f"{text!r} is not a duration above zero (like 10m or 90s)")
    return value


def count(text: str, base: Path) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{text!r} must not be negative")
    return value


def percent(text: str, base: Path) -> float:
    """A fraction between 0 and 1, written as a percentage (``10%``) or a fraction (``0.1``)."""
    value = text.strip()
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a percentage (like 10%)") from None
    if not 0 < number < 1:
        raise ValueError(f"{text!r} must be above 0% and below 100%")
    return number


def dollars(text: str, base: Path) -> float:
    """An amount of US dollars, like ``5``, ``0.50`` or ``$12``."""
    value = text.strip().removeprefix("$").replace(",", "")
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an amount of dollars (like 5, 0.50 or $12)") from None
    if not amount >= 0 or amount == float("inf"):
        raise ValueError(f"{text!r} must be a non-negative amount of dollars")
    return amount


def price_table(text: str, base: Path) -> PriceTable:
    """The price table in the JSON file at ``text``, read and checked now: a bad one stops
    pytest at start-up, before any estimate is made with it."""
    from pytest_experiment.core.prices import read_price_table

    return read_price_table(existing(text, base))


class Choice:
    """One of the values of a ``Literal`` type, the type the option's field has."""

    def __init__(self, literal: Any) -> None:
        self.choices: tuple[str, ...] = get_args(literal)

    def __call__(self, text: str, base: Path) -> str:
        value = text.strip().lower()
        if value not in self.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(self.choices)}")
        return value


def instances(text: str, base: Path) -> tuple[tuple[str, str], ...]:
    """``name=instance`` pairs, separated by commas or whitespace."""
    pairs: dict[str, str] = {}
    for entry in text.replace(",", " ").split():
        name, sep, instance = entry.partition("=")
        if not sep or not name or not instance:
            raise ValueError(f"{entry!r} is not <experiment>=<instance>")
        if name in pairs and pairs[name] != instance:
            raise ValueError(f"experiment {name!r} is given two instances")
        pairs[name] = instance
    return tuple(pairs.items())
