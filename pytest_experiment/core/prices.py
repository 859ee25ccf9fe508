"""The price table cost estimates are made with: on-demand USD per node-hour by machine type.

The table shipped with the plugin (``data/gce-prices.json``) holds the rates the lab's
experiment operator prices a run's ``costEstimate`` with: Google Cloud's on-demand
prices for us-central1. It is an assumption, and names itself as one; a user with
other prices (another region, committed-use discounts) gives a file of the same
shape with ``--experiment-price-table``, which replaces the shipped table whole.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).parents[1] / "data" / "gce-prices.json"
PREEMPTIBLE_FACTOR = 0.2
"""The operator prices a preemptible (spot) node at a fifth of its on-demand rate."""
UNSET_HOURLY = 0.10
"""What the operator charges a target without ``machineType`` (its fallback rate)."""
_KEYS = ("source", "hourlyUSD", "preemptibleFactor", "unsetMachineTypeHourlyUSD")


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    source: str
    """Where the prices come from, shown beside every estimate made with them."""
    hourly: Mapping[str, float] = field(default_factory=dict)
    """On-demand USD per node-hour, by machine type."""
    preemptible_factor: float = PREEMPTIBLE_FACTOR
    unset_hourly: float = UNSET_HOURLY
    """The rate of a target whose ``machineType`` is not written (GKE then creates its
    default machine type; the operator prices it at this fallback)."""
    path: Path | None = None
    """The file it was read from."""


def usd(amount: float) -> str:
    """Dollars as a scorecard writes them: cents from a dollar up, up to four places below
    (runs on small machines cost fractions of a cent)."""
    if amount >= 1:
        return f"${amount:,.2f}"
    text = f"{amount:.4f}".rstrip("0")
    return f"${text}{'0' * (4 - len(text))}"


@functools.cache
def shipped_prices() -> PriceTable:
    return read_price_table(SHIPPED)


def read_price_table(path: Path) -> PriceTable:
    """The table in ``path``; ``ValueError`` naming the file (and line or key) when it is
    not one."""
    # Imported here: the options table names PriceTable, and every pytest start reads it.
    from pytest_experiment.core.limits import json_problem, parse_json

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror})") from err
    try:
        data = parse_json(raw)
    except ValueError as err:  # JSON, UTF-8 and limit errors alike
        message, line = json_problem(err)
        raise ValueError(f"{path}:{line}: {message}" if line else f"{path}: {message}") from err
    try:
        return _table(data, path)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _table(data: Any, path: Path) -> PriceTable:
    from pytest_experiment.core.limits import json_type_name

    if not isinstance(data, dict):
        raise ValueError(f"holds {json_type_name(data)}, not an object with hourlyUSD")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (the keys are {', '.join(_KEYS)})")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("source: say where the prices come from (a non-empty string)")
    hourly = data.get("hourlyUSD")
    if not isinstance(hourly, dict):
        raise ValueError(
            f"hourlyUSD: expected an object of machine type to USD per node-hour, "
            f"found {json_type_name(hourly)}"
        )
    rates = {str(name): _rate(f"hourlyUSD.{name}", value) for name, value in hourly.items()}
    factor = _rate("preemptibleFactor", data.get("preemptibleFactor", PREEMPTIBLE_FACTOR))
    if factor > 1:
        raise ValueError(f"preemptibleFactor: {factor} is more than 1 (a discount, like 0.2)")
    return PriceTable(
        source=" ".join(source.split()),
        hourly=rates,
        preemptible_factor=factor,
        unset_hourly=_rate(
            "unsetMachineTypeHourlyUSD", data.get("unsetMachineTypeHourlyUSD", UNSET_HOURLY)
        ),
        path=path,
    )


def _rate(key: str, value: Any) -> float:
    from pytest_experiment.core.limits import json_type_name

    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key}: expected a number, found {json_type_name(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key}: {value} is not a non-negative number")
    return float(value)


__all__ = ["SHIPPED", "PriceTable", "read_price_table", "shipped_prices", "usd"]
