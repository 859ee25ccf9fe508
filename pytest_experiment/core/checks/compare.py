"""One series of one metric against the earlier comparable runs: AGREES, DIFFERS or
INCONCLUSIVE.

Each earlier run is one observation (its value: the instant value, or the median of a
range query's points), so the variation *between* runs is the unit of comparison; the
new run's points are never pooled with the earlier runs' (that would call every run
different). The earlier runs' values give a Student-t prediction interval: where the
value of one more run like them lands with the given confidence (95 %). Shifted by the
new run's value and divided by the earlier mean, its half-width gives the confidence
interval of the new run's relative shift. Then:

- DIFFERS when the new value lies outside the prediction interval (a test at 5 %: a run
  like the earlier ones lands outside it one time in twenty) *and* the observed shift is
  larger than the floor (the shift that matters), so a smaller shift is never DIFFERS;
- AGREES when the whole confidence interval of the shift lies within ±floor;
- INCONCLUSIVE otherwise, saying why: too few runs, noise between runs wider than the
  floor, or a shift whose interval reaches across the floor.

The t quantile comes from SciPy (``scipy.special.stdtrit``, the routine
``scipy.stats.t.ppf`` calls), imported when a comparison is made.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

AGREES = "agrees"
DIFFERS = "differs"
INCONCLUSIVE = "inconclusive"
NOT_APPLICABLE = "n-a"
CONFIDENCE = 0.95
MIN_EARLIER = 2
"""Runs needed before the variation between runs can be estimated."""


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: str
    reason: str = ""
    mean: float | None = None
    band: tuple[float, float] | None = None
    """The prediction interval of the earlier runs."""
    shift: float | None = None
    """(new − earlier mean) / |earlier mean|."""
    interval: tuple[float, float] | None = None
    """The confidence interval of ``shift``."""


def t_quantile(df: int, probability: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, probability))


def percent(value: float) -> str:
    return "±0%" if abs(value) < 0.005 else f"{value:+.0%}"


def judge(
    earlier: Sequence[float], new: float, *, floor: float, confidence: float = CONFIDENCE
) -> Judgement:
    """The verdict of the value ``new`` against the earlier runs' values."""
    n = len(earlier)
    if n < MIN_EARLIER:
        return Judgement(
            INCONCLUSIVE,
            f"{n} earlier comparable run{'s' if n != 1 else ''} ({MIN_EARLIER} needed)",
        )
    mean = statistics.fmean(earlier)
    spread = statistics.stdev(earlier)
    reference = abs(mean)
    if reference == 0:
        if spread == 0 and new == 0:
            return Judgement(AGREES, mean=0.0, band=(0.0, 0.0), shift=0.0, interval=(0.0, 0.0))
        return Judgement(
            INCONCLUSIVE, "the earlier runs average 0: a relative shift is undefined", mean=mean
        )
    half = t_quantile(n - 1, 1 - (1 - confidence) / 2) * spread * math.sqrt(1 + 1 / n)
    shift = (new - mean) / reference
    noise = half / reference
    found = Judgement(
        INCONCLUSIVE,
        mean=mean,
        band=(mean - half, mean + half),
        shift=shift,
        interval=(shift - noise, shift + noise),
    )
    outside = abs(new - mean) > half
    if outside and abs(shift) > floor:
        return replace(found, outcome=DIFFERS)
    if abs(shift) + noise <= floor:
        return replace(found, outcome=AGREES)
    if noise > floor:
        reason = (
            f"noise between runs (±{noise:.0%}) is wider than the {floor:.0%} shift that matters"
        )
    else:
        where = "beyond the earlier runs' noise but within" if outside else "within the noise, near"
        reason = (
            f"the shift {percent(shift)} is {where} the {floor:.0%} floor; its "
            f"{confidence:.0%} CI ({percent(shift - noise)} to {percent(shift + noise)}) "
            "reaches across it"
        )
    return replace(found, reason=reason)
