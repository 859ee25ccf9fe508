"""The reproducibility check: does this run agree with what the same experiment measured
before?

The history is the experiment's earlier published runs (same generateName). Only runs
with the same fingerprint (``history.fingerprint``) are compared; a run unlike every
earlier one is N/A, naming what changed. Each metric's series is judged against the
comparable runs (``compare.judge``); a metric differs when one of its series does, and a
metric of several series widens each interval so that the metric as a whole keeps the
5 % false-alarm rate (Bonferroni). A hypothesis verdict that flipped against every
comparable earlier run is named too. Where the comparable history is long enough, the
runs since its last change point (``changepoints``) are the baseline, so an old step
change neither hides a new one nor makes every later run look noisy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.core.changepoints import change_points
from pytest_experiment.core.checks import history as hist
from pytest_experiment.core.checks.compare import (
    AGREES,
    CONFIDENCE,
    DIFFERS,
    INCONCLUSIVE,
    NOT_APPLICABLE,
    Judgement,
    judge,
    percent,
)
from pytest_experiment.core.checks.reading import CheckInput, shown_names
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status

TITLE = "Reproducibility"
_RANK = {DIFFERS: 0, INCONCLUSIVE: 1, AGREES: 2, NOT_APPLICABLE: 3}


def _number(value: float) -> str:
    return f"{value:.4g}"


def _runs(n: int) -> str:
    return f"{n} earlier run{'s' if n != 1 else ''}"


def _values(
    runs: Sequence[hist.Run], metric: str, fingerprint: Any, labels: str
) -> list[tuple[str, float]]:
    """(run, value) of each run whose series of this metric can be compared."""
    found = []
    for run in runs:
        read = run.metrics.get(metric)
        series = read.series.get(labels) if read and read.fingerprint == fingerprint else None
        if series is not None and not series.short:
            found.append((run.name, series.value))
    return found


def _since_change(
    earlier: list[tuple[str, float]], new: tuple[str, float]
) -> tuple[list[float], str | None]:
    """The baseline after the last change point among the earlier runs, and the run where
    the latest shift began (None: no change point)."""
    values = [v for _, v in earlier]
    points = change_points([*values, new[1]])
    if not points:
        return values, None
    usable = [p for p in points if len(values) - p >= 2]
    return (values[usable[-1] :] if usable else values), [*earlier, new][points[-1]][0]


def _shown(keys: Sequence[str]) -> dict[str, str]:
    """Each series' labels without those all the metric's series share: what tells them
    apart (``pod=alloy``), empty for a metric of one series."""
    pairs = {key: key.split(", ") if key else [] for key in keys}
    common = set.intersection(*(set(p) for p in pairs.values())) if pairs else set()
    return {key: ", ".join(p for p in found if p not in common) for key, found in pairs.items()}


def _series_figures(
    name: str, shown: str, series: hist.Series, judged: Judgement, baseline: Sequence[float]
) -> dict[str, Any]:
    return {
        "metric": name,
        "labels": shown,
        "outcome": judged.outcome,
        "value": series.value,
        "earlierLow": min(baseline) if baseline else None,
        "earlierHigh": max(baseline) if baseline else None,
        "baseline": len(baseline),
        "band": list(judged.band) if judged.band else None,
        "shift": judged.shift,
        "shiftLow": judged.interval[0] if judged.interval else None,
        "shiftHigh": judged.interval[1] if judged.interval else None,
        "reason": judged.reason,
    }


def _judge_metric(
    name: str,
    new: hist.Metric,
    *,
    runs: Sequence[hist.Run],
    comparable: Sequence[hist.Run],
    floor: float,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Every series of one metric, and the runs where a shift began. ``runs`` is the
    whole history, the new run last; ``comparable`` the earlier runs of its fingerprint."""
    run = runs[-1].name
    has_metric = [r for r in comparable if name in r.metrics]
    same_query = [r for r in has_metric if r.metrics[name].fingerprint == new.fingerprint]
    if not same_query:
        reason = (
            "its query, type or unit differs from the earlier runs'"
            if has_metric
            else "not in the earlier comparable runs"
        )
        judged = Judgement(NOT_APPLICABLE, reason)
        return [_series_figures(name, "", s, judged, ()) for s in new.series.values()][:1], []
    confidence = 1 - (1 - CONFIDENCE) / len(new.series)
    shown = _shown(list(new.series))
    rows: list[dict[str, Any]] = []
    shifts: list[dict[str, str]] = []
    for labels, series in sorted(new.series.items()):
        pairs = _values(same_query, name, new.fingerprint, labels)
        values: list[float] = []
        began = None
        if series.short:
            judged = Judgement(
                INCONCLUSIVE, f"too few points: {len(series.points)} ({hist.MIN_POINTS} needed)"
            )
        elif not pairs:
            judged = Judgement(NOT_APPLICABLE, "no earlier run has this series")
        else:
            values, began = _since_change(pairs, (run, series.value))
            judged = judge(values, series.value, floor=floor, confidence=confidence)
        row = _series_figures(name, shown[labels], series, judged, values)
        row["values"] = _values_over(runs, name, new.fingerprint, labels)
        rows.append(row)
        if began is not None:
            shifts.append({"metric": name, "labels": shown[labels], "began": began})
    return rows, shifts


def _metric_outcome(rows: Sequence[Mapping[str, Any]]) -> str:
    outcomes = {str(r["outcome"]) for r in rows}
    if outcomes == {NOT_APPLICABLE}:
        return NOT_APPLICABLE
    outcomes.discard(NOT_APPLICABLE)
    return min(outcomes, key=_RANK.__getitem__)


def _flips(new: hist.Run, comparable: Sequence[hist.Run]) -> list[str]:
    """Hypothesis verdicts that every comparable earlier run gave the other way."""
    found = []
    for label, word in new.verdicts.items():
        earlier = [r.verdicts[label] for r in comparable if label in r.verdicts]
        if earlier and all(w != word for w in earlier):
            found.append(f"{label} flipped: {earlier[-1]} in {_runs(len(earlier))} → {word}")
    return found


def _where(row: Mapping[str, Any]) -> str:
    """A metric, with the labels of its series when it has several."""
    return f"{row['metric']}{{{row['labels']}}}" if row["labels"] else str(row["metric"])


def _line(row: Mapping[str, Any]) -> str:
    where = _where(row)
    if row["outcome"] == DIFFERS:
        return (
            f"{where} differs: {_number(row['value'])} vs {_number(row['earlierLow'])}–"
            f"{_number(row['earlierHigh'])} in {_runs(row['baseline'])}, shift "
            f"{percent(row['shift'])} ({CONFIDENCE:.0%} CI {percent(row['shiftLow'])} to "
            f"{percent(row['shiftHigh'])})"
        )
    if row["outcome"] == AGREES:
        return f"{where} agrees: {_number(row['value'])}, shift {percent(row['shift'])}"
    return f"{where} {row['outcome']}: {row['reason']}"


def _timeline(new: hist.Run, earlier: Sequence[hist.Run]) -> list[dict[str, Any]]:
    """Every run, oldest first, with the fingerprint changes since the run before it."""
    runs = [*earlier, new]
    return [
        {
            "instance": run.name,
            "at": run.at.isoformat() if run.at else None,
            "comparable": run.fingerprint == new.fingerprint,
            "changes": hist.fingerprint_changes(runs[i - 1].fingerprint, run.fingerprint)
            if i
            else [],
        }
        for i, run in enumerate(runs)
    ]


def _values_over(
    runs: Sequence[hist.Run], name: str, fingerprint: Any, labels: str
) -> list[float | None]:
    values: list[float | None] = []
    for run in runs:
        read = run.metrics.get(name)
        series = read.series.get(labels) if read and read.fingerprint == fingerprint else None
        values.append(series.value if series is not None else None)
    return values


def templates(experiment: Experiment) -> dict[str, str]:
    """The experiment's declared queries by metric name: a run's query that is one of
    them after the operator's substitutions compares as the declaration."""
    return {m.name: m.query for m in experiment.metrics if m.query}


def reproducibility(inp: CheckInput) -> CheckResult:
    """Whether this run's metrics agree with the earlier comparable runs'."""
    policy = inp.reproducibility
    stem = inp.experiment.generate_name or inp.experiment.name
    if inp.history is None:
        return CheckResult(Status.NA, f"{TITLE}: no published results to compare with")
    history = (
        inp.history
        if isinstance(inp.history, hist.History)
        else hist.History(inp.history, templates=templates(inp.experiment))
    )
    new = history.read(inp.summary)
    earlier = history.earlier(new)
    figures: dict[str, Any] = {"earlier": len(earlier), "floor": policy.floor}
    if not earlier:
        return CheckResult(Status.NA, f"{TITLE}: no earlier run of {stem}", figures=figures)
    comparable = [r for r in earlier if r.fingerprint == new.fingerprint]
    figures["comparable"] = len(comparable)
    figures["history"] = _timeline(new, earlier)
    if not comparable:
        changes = hist.fingerprint_changes(earlier[-1].fingerprint, new.fingerprint)
        figures["fingerprintChanges"] = changes
        return CheckResult(
            Status.NA,
            f"{TITLE}: not comparable with the {_runs(len(earlier))}: {'; '.join(changes[:2])}"
            + (f" (+{len(changes) - 2} more)" if len(changes) > 2 else ""),
            details=tuple(changes),
            figures=figures,
        )
    rows: list[dict[str, Any]] = []
    outcomes: dict[str, str] = {}
    shifted: list[dict[str, str]] = []
    for name, metric in sorted(new.metrics.items()):
        judged, began = _judge_metric(
            name, metric, runs=[*earlier, new], comparable=comparable, floor=policy.floor
        )
        rows += judged
        outcomes[name] = _metric_outcome(judged)
        shifted += began
    flips = _flips(new, comparable)
    figures.update(
        comparisons=rows,
        outcomes=outcomes,
        flips=flips,
        changePoints=shifted,
        onDiffers="fail" if policy.fail else "warn",
    )
    return _verdict(rows, outcomes, flips, len(comparable), policy.fail, figures)


def _verdict(
    rows: Sequence[Mapping[str, Any]],
    outcomes: Mapping[str, str],
    flips: Sequence[str],
    comparable: int,
    fail: bool,
    figures: Mapping[str, Any],
) -> CheckResult:
    ranked = sorted(rows, key=lambda r: (_RANK[r["outcome"]], r["metric"], r["labels"]))
    details = (*flips, *(_line(r) for r in ranked if r["outcome"] != NOT_APPLICABLE))
    details += tuple(
        f"{_where(c)}: a shift began at {c['began']} (change point; compared with the runs since)"
        for c in figures.get("changePoints") or ()
    )
    details += tuple(_line(r) for r in ranked if r["outcome"] == NOT_APPLICABLE)
    differ = [m for m, o in outcomes.items() if o == DIFFERS]
    unsure = [m for m, o in outcomes.items() if o == INCONCLUSIVE]
    agree = [m for m, o in outcomes.items() if o == AGREES]
    judged = len(differ) + len(unsure) + len(agree)
    against = f"the {_runs(comparable)} of the same fingerprint"
    if differ or flips:
        first = next((_line(r) for r in ranked if r["outcome"] == DIFFERS), "")
        head = (
            f"{len(differ)} of {judged} metrics differ from {against} — {first}"
            if differ
            else flips[0]
        )
        if differ and flips:
            head += f"; {flips[0]}"
        status = Status.FAIL if fail else Status.WARN
        return CheckResult(status, f"{TITLE}: {head}", details, figures)
    if unsure:
        reason = next(r["reason"] for r in ranked if r["outcome"] == INCONCLUSIVE)
        return CheckResult(
            Status.WARN,
            f"{TITLE}: inconclusive for {len(unsure)} of {judged} metrics "
            f"({shown_names(unsure)}) — {reason}",
            details,
            figures,
        )
    if agree:
        return CheckResult(
            Status.PASS,
            f"{TITLE}: {len(agree)} metrics agree with {against} (within ±{figures['floor']:.0%})",
            details,
            figures,
        )
    return CheckResult(
        Status.NA, f"{TITLE}: no metric of this run was measured by {against}", details, figures
    )
