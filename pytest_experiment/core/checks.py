"""Results quality checks and gate root causes.

Each check is a pure function of a ``CheckInput`` (the spec, one result
summary, the intent summary and, in a live run, the analyzer's outcome) that
returns a ``CheckResult`` whose summary is the seed's scorecard wording.

Summaries come from several operator generations and from an analyzer that
sometimes crashed half-way, so every field is read defensively: a section that
is missing or has the wrong type yields N/A or WARN *with the reason*,
never an exception. The one exception is data that is simply absent: the
operator leaves out the ``metrics`` section when it collected nothing, and a
query's ``data`` when it is empty, so those count as collected nothing (see
``has_data``). ``run_checks`` still guards each call, because checks added by a
conftest through the plugin hook get no such guarantee.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_experiment.core.intent import Intent, sentences
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.verdict import CheckResult, Status

CADVISOR = "target:cadvisor"
INFRA_PREFIXES = (
    "prometheus-",
    "alertmanager-",
    "grafana-",
    "kube-state-metrics-",
    "node-exporter-",
    "kube-prometheus-stack-",
    "alloy-",
    "ts-vm-hub-",
    "tailscale-operator-",
    "operator-",
)
LATENCY_SUFFIXES = ("_latency", "_p50", "_p99")
INSUFFICIENT = "insufficient"
# Real summaries use both vocabularies (seed: confirmed/rejected; operator
# and analyzer: validated/invalidated). Anything else is a word this code has
# never seen, reported as WARN instead of passed blindly.
VERDICTS = frozenset({"confirmed", "rejected", "validated", "invalidated"})
HYPERDISK_FAMILIES = ("c3", "c4", "n4", "a3", "m3", "m4")
# Component or target names that show the experiment drives its own load.
LOAD_HINTS = ("loadgen", "load-gen", "loadtest", "load-test", "locust", "generator", "vegeta")
ANALYZER_NOT_RUN = {
    "Failed": "analyzer failed",
    "Skipped": "analyzer skipped",
    "Timeout": "analyzer timed out",
}
_NAMES_SHOWN = 5
_EXCERPT_CHARS = 240


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInput:
    experiment: Experiment
    summary: Mapping[str, Any]
    intent: Intent
    analyzer: str | None = None
    """Live analyzer outcome (``Succeeded``, ``Failed``, ``Skipped``, ``Timeout``);
    None when scoring offline, where ``analysis`` is read if present."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    title: str
    func: Callable[[CheckInput], CheckResult]


@dataclass(frozen=True, slots=True)
class RootCause:
    check: str
    """The check whose failure this explains."""
    message: str
    fix: str | None
    """The auto-fix that addresses it, or None when a human must decide."""
    infrastructure: bool = False
    """An infrastructure mismatch (machine family vs storage): never auto-fixed."""


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


NO_METRICS = "summary has no metrics section"


def _queries(summary: Any) -> tuple[Mapping[str, Any] | None, str]:
    """``metrics.queries``, or why it cannot be read.

    The operator leaves the ``metrics`` section out when it collected nothing,
    so an absent (or null) section is *empty*, not unreadable: it comes back as
    an empty mapping with the reason, and every declared metric counts as
    missing. A section of any other unexpected shape gives None: not
    measurable, which the checks report as such rather than guess.
    """
    if not isinstance(summary, Mapping):
        return None, f"summary is a {_type(summary)}, not an object"
    metrics = summary.get("metrics")
    if metrics is None:
        return {}, NO_METRICS
    if not isinstance(metrics, Mapping):
        return None, f"metrics section is a {_type(metrics)}, not an object"
    queries = metrics.get("queries")
    if queries is None:
        return None, "metrics section has no queries"
    if not isinstance(queries, Mapping):
        return None, f"metrics.queries is a {_type(queries)}, not an object"
    return queries, ""


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# A number as published: JSON numbers, or the decimal strings Prometheus
# serialises sample values as. Python's float() would also take "1_0", "nan"
# and "Infinity", none of which a chart can plot.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a plottable number.

    Booleans, null, objects, non-numeric strings, NaN and the infinities
    (as JSON numbers or as strings) are all None.
    """
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float) and not (
        isinstance(value, str) and _DECIMAL.fullmatch(value.strip())
    ):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return None
    return number if math.isfinite(number) else None


def point_value(point: Any) -> float | None:
    """The finite numeric value of one data point, or None.

    The operator writes points as ``{"timestamp", "value", "labels"?}``
    objects; Prometheus' own API returns ``[timestamp, "value"]`` pairs. A
    point of any other shape has no value.
    """
    if isinstance(point, Mapping):
        return finite_number(point.get("value"))
    if isinstance(point, list | tuple) and len(point) == 2:
        return finite_number(point[1])
    return None


def _gap(entry: Any) -> str:
    """Why a query entry has no usable data; empty when it has some.

    A query has data when it has no ``error`` and at least one point with a
    finite numeric value: the operator leaves ``data`` out of an empty query,
    and a series of NaN or nulls is as empty as no series on the site.
    """
    if entry is None:
        return "not in results"
    if not isinstance(entry, Mapping):
        return f"malformed entry ({_type(entry)})"
    error = entry.get("error")
    if error:
        return f"query error: {_first_line(str(error))}"
    data = entry.get("data")
    if data is None or data == []:
        return "no data"
    if not isinstance(data, list):
        return f"malformed data ({_type(data)})"
    if not any(point_value(point) is not None for point in data):
        return f"no finite numeric value in {len(data)} point{'s' if len(data) > 1 else ''}"
    return ""


def has_data(entry: Any) -> bool:
    """True when a ``metrics.queries`` entry holds at least one usable point."""
    return not _gap(entry)


def _declared(experiment: Experiment) -> list[str]:
    return list(dict.fromkeys(m.name for m in experiment.metrics if m.name))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return f"{shown}, … (+{more} more)" if more > 0 else shown


def custom_metrics(inp: CheckInput) -> CheckResult:
    """Every ``spec.metrics[]`` name has a query with data (``has_data``)."""
    declared = _declared(inp.experiment)
    if not declared:
        return CheckResult(
            Status.PASS, "Custom metrics: none defined", figures={"collected": 0, "declared": 0}
        )
    queries, reason = _queries(inp.summary)
    if queries is None:
        return CheckResult(
            Status.WARN,
            f"Custom metrics: not measurable — {reason}",
            figures={"declared": len(declared), "reason": reason},
        )
    if reason:  # nothing was collected at all: each metric is missing for that one reason
        gaps = dict.fromkeys(declared, reason)
    else:
        gaps = {name: gap for name in declared if (gap := _gap(queries.get(name)))}
    collected = len(declared) - len(gaps)
    if not gaps:
        status = Status.PASS
    elif collected == 0:
        status = Status.FAIL
    else:
        status = Status.WARN
    figures: dict[str, Any] = {
        "collected": collected,
        "declared": len(declared),
        "missing": list(gaps),
        # Every declared name, so a report can draw which arrived beside which did not.
        "metrics": declared,
    }
    if reason:
        figures["reason"] = reason
    return CheckResult(
        status,
        f"Custom metrics: {collected}/{len(declared)} collected"
        + (f" ({reason})" if reason else ""),
        details=tuple(f"{name}: {gap}" for name, gap in gaps.items()),
        figures=figures,
    )


def metrics_source(inp: CheckInput) -> CheckResult:
    """``target:cadvisor`` means the operator fell back to infrastructure metrics only."""
    custom = len(_declared(inp.experiment))
    metrics = _mapping(inp.summary.get("metrics")) if isinstance(inp.summary, Mapping) else None
    source = metrics.get("source") if metrics is not None else None
    figures = {"source": source, "custom_metrics": custom}
    if source is None or source == "":
        where = "summary has no metrics section" if metrics is None else "no metrics.source"
        return CheckResult(Status.NA, f"Metrics source: not reported ({where})", figures=figures)
    if not isinstance(source, str):
        return CheckResult(
            Status.WARN, f"Metrics source: unreadable ({_type(source)})", figures=figures
        )
    if source == CADVISOR and custom:
        return CheckResult(
            Status.WARN,
            f"Metrics source: {CADVISOR} (no custom metric pipeline)",
            details=(
                f"{custom} custom metrics are defined, but only cadvisor infrastructure "
                "metrics were collected: the operator could not reach the target's "
                "Prometheus or the hub VictoriaMetrics.",
            ),
            figures=figures,
        )
    return CheckResult(Status.PASS, f"Metrics source: {source}", figures=figures)


def _criterion_text(criterion: Mapping[str, Any]) -> str:
    words = " ".join(
        str(criterion[key]) for key in ("metric", "operator", "value") if key in criterion
    )
    description = criterion.get("description")
    actual = criterion.get("actualValue")
    text = words or "criterion"
    if isinstance(description, str) and description:
        text += f" ({description})"
    return text if actual is None or actual == "" else f"{text}, actual value {actual}"


def _passed(value: Any) -> str:
    return "null" if value is None else repr(value)


def _verdict_word(verdict: str) -> str:
    return verdict.strip().lower()


def machine_verdict(inp: CheckInput) -> CheckResult:
    """``hypothesis.machineVerdict`` from the operator's success-criteria evaluation."""
    summary = inp.summary if isinstance(inp.summary, Mapping) else {}
    hypothesis = _mapping(summary.get("hypothesis")) or {}
    reported = hypothesis.get("successCriteria", hypothesis.get("criteria"))
    criteria = [c for c in reported if isinstance(c, Mapping)] if isinstance(reported, list) else []
    if not criteria and not inp.experiment.success_criteria:
        return CheckResult(Status.NA, "Machine verdict: no success criteria defined")
    # The operator leaves ``passed`` out (older ones wrote null) when a criterion
    # could not be evaluated; anything but true/false says the same.
    unevaluated = [_criterion_text(c) for c in criteria if not isinstance(c.get("passed"), bool)]
    details = tuple(
        f"passed: {_passed(c.get('passed'))} — {_criterion_text(c)}"
        for c in criteria
        if not isinstance(c.get("passed"), bool)
    )
    verdict = hypothesis.get("machineVerdict")
    figures = {
        "verdict": verdict,
        "criteria": len(criteria) or len(inp.experiment.success_criteria),
        "unevaluated": unevaluated,
    }
    if verdict is None or verdict == "":
        return CheckResult(
            Status.NA, "Machine verdict: not reported", details=details, figures=figures
        )
    if not isinstance(verdict, str):
        return CheckResult(
            Status.WARN,
            f"Machine verdict: unreadable ({_type(verdict)})",
            details=details,
            figures=figures,
        )
    word = _verdict_word(verdict)
    if word == INSUFFICIENT:
        counted = (
            f" ({len(unevaluated)}/{len(criteria)} criteria not evaluated)" if criteria else ""
        )
        return CheckResult(
            Status.FAIL, f"Machine verdict: {INSUFFICIENT}{counted}", details, figures
        )
    if word in VERDICTS:
        return CheckResult(Status.PASS, f"Machine verdict: {verdict}", details, figures)
    return CheckResult(
        Status.WARN, f"Machine verdict: {verdict!r} is not a known verdict", details, figures
    )


def _pods(queries: Mapping[str, Any]) -> list[str]:
    """Pods named by points that carry a value: a pod seen only in NaN or null
    points, or in a query that errored, was not measured."""
    pods: set[str] = set()
    for entry in queries.values():
        if not has_data(entry):
            continue
        for point in entry["data"]:
            if point_value(point) is None:
                continue
            labels = point.get("labels") if isinstance(point, Mapping) else None
            pod = labels.get("pod") if isinstance(labels, Mapping) else None
            if isinstance(pod, str) and pod:
                pods.add(pod)
    return sorted(pods)


def workload_pods(inp: CheckInput) -> CheckResult:
    """At least one non-infrastructure pod shows up in pod-level query data."""
    queries, reason = _queries(inp.summary)
    pods = _pods(queries) if queries is not None else []
    if not pods:
        why = f" — {reason}" if reason else ""
        return CheckResult(Status.NA, f"Workload pods: no pod-level metrics{why}")
    infra = [p for p in pods if p.startswith(INFRA_PREFIXES)]
    workload = [p for p in pods if not p.startswith(INFRA_PREFIXES)]
    counts = f"{len(infra)} infrastructure, {len(workload)} workload"
    details = (
        f"infrastructure: {', '.join(infra) or 'none'}",
        f"workload: {', '.join(workload) or 'none'}",
    )
    figures = {
        "infrastructure": len(infra),
        "workload": len(workload),
        "infrastructure_pods": infra,
        "workload_pods": workload,
    }
    if not workload:
        return CheckResult(
            Status.FAIL,
            f"Workload pods: {counts} (no workload pods visible in metrics)",
            details,
            figures,
        )
    return CheckResult(
        Status.PASS, f"Workload pods: {counts} ({_names(workload)})", details, figures
    )


def presentation(inp: CheckInput) -> CheckResult:
    """Metrics with data render sensibly on the site: units on latencies, no false 0.00."""
    queries, reason = _queries(inp.summary)
    if reason:
        return CheckResult(Status.NA, f"Presentation: nothing to render — {reason}")
    assert queries is not None
    spec_units = {m.name: m.unit for m in inp.experiment.metrics}
    shown = [(str(name), entry) for name, entry in queries.items() if has_data(entry)]
    if not shown:
        return CheckResult(Status.NA, "Presentation: no metrics with data")
    bad: dict[str, list[str]] = {}
    unitless: list[str] = []
    zero: list[str] = []
    for name, entry in shown:
        unit = entry.get("unit")
        unit = unit if isinstance(unit, str) else spec_units.get(name, "")
        found: list[str] = []
        if name.endswith(LATENCY_SUFFIXES) and unit != "seconds":
            unitless.append(name)
            found.append(f"latency metric without unit: seconds (unit: {unit or 'none'})")
        # The site shows the first sample of a series with two decimals in its unit,
        # so a NaN or null there is printed as such even when later points are fine.
        point = entry["data"][0]
        value = point_value(point)
        if value is None:
            raw = point.get("value") if isinstance(point, Mapping) else point
            found.append(f"first value {raw!r} is not a finite number")
        elif value != 0 and f"{abs(value):.2f}" == "0.00":
            zero.append(name)
            found.append(f"{value:g} {unit}".rstrip() + " renders as 0.00")
        if found:
            bad[name] = found
    ok = len(shown) - len(bad)
    return CheckResult(
        Status.WARN if bad else Status.PASS,
        f"Presentation: {ok}/{len(shown)} metrics render correctly",
        details=tuple(f"{name}: {'; '.join(problems)}" for name, problems in bad.items()),
        figures={
            "render_ok": ok,
            "with_data": len(shown),
            "latency_without_seconds": unitless,
            "renders_as_zero": zero,
        },
    )


def intent_coverage(inp: CheckInput) -> CheckResult:
    """Each differentiating group has at least one metric with data."""
    groups = inp.intent.differentiating
    if not groups:
        return CheckResult(Status.NA, "Intent coverage: no differentiating groups")
    queries, reason = _queries(inp.summary)
    if queries is None:
        return CheckResult(
            Status.WARN,
            f"Intent coverage: not measurable — {reason}",
            figures={"differentiating": list(groups), "reason": reason},
        )
    tally: dict[str, tuple[int, int]] = {}
    for group in groups:
        names = [m.name for m in inp.experiment.metrics if m.group == group]
        tally[group] = (sum(has_data(queries.get(n)) for n in names), len(names))
    missing = [g for g, (with_data, _) in tally.items() if with_data == 0]
    per_group = {g: f"{g}: {a}/{b} metrics" for g, (a, b) in tally.items()}
    summary = f"Intent coverage: {len(groups) - len(missing)}/{len(groups)} differentiating groups"
    if missing:
        summary += f" ({', '.join(per_group[g] for g in missing)})"
    return CheckResult(
        Status.FAIL if missing else Status.PASS,
        summary,
        details=(
            *(f"Experiment's differentiating data missing — {g} has no results" for g in missing),
            *per_group.values(),
            *((reason,) if reason else ()),
        ),
        figures={
            "covered": len(groups) - len(missing),
            "differentiating": list(groups),
            "missing": missing,
            "groups": {g: {"with_data": a, "declared": b} for g, (a, b) in tally.items()},
            **({"reason": reason} if reason else {}),
        },
    )


def _excerpt(abstract: Any) -> str:
    """The first sentence of the abstract, and the second when both stay short."""
    if not isinstance(abstract, str):
        return ""
    found = sentences(abstract)
    if len(found) >= 2 and len(found[0]) + len(found[1]) < _EXCERPT_CHARS:
        return f"{found[0]} {found[1]}"
    return found[0] if found else ""


def ai_verdict(inp: CheckInput) -> CheckResult:
    """``analysis.hypothesisVerdict`` from the AI analyzer."""
    figures: dict[str, Any] = {"analyzer": inp.analyzer}
    if inp.analyzer is not None and inp.analyzer != "Succeeded":
        why = ANALYZER_NOT_RUN.get(inp.analyzer, f"analyzer {inp.analyzer}")
        return CheckResult(Status.NA, f"AI verdict: {why}", figures=figures)
    summary = inp.summary if isinstance(inp.summary, Mapping) else {}
    analysis = summary.get("analysis")
    if analysis is None:
        return CheckResult(Status.NA, "AI verdict: no analysis in summary", figures=figures)
    if not isinstance(analysis, Mapping):
        return CheckResult(
            Status.WARN, f"AI verdict: analysis is a {_type(analysis)}", figures=figures
        )
    verdict = analysis.get("hypothesisVerdict")
    figures["verdict"] = verdict
    if verdict is None or verdict == "":
        # Early analyzers crashed and published their CLI error output instead.
        errors = analysis.get("errors")
        if isinstance(errors, list) and errors:
            return CheckResult(
                Status.NA,
                f"AI verdict: analyzer errored — {_first_line(str(errors[0]))}",
                figures=figures,
            )
        return CheckResult(Status.NA, "AI verdict: not given in analysis", figures=figures)
    if not isinstance(verdict, str):
        return CheckResult(
            Status.WARN, f"AI verdict: unreadable ({_type(verdict)})", figures=figures
        )
    word = _verdict_word(verdict)
    if word == INSUFFICIENT:
        excerpt = _excerpt(analysis.get("abstract"))
        figures["abstract"] = excerpt
        return CheckResult(
            Status.FAIL,
            f'AI verdict: {INSUFFICIENT} — "{excerpt}"'
            if excerpt
            else f"AI verdict: {INSUFFICIENT}",
            details=(excerpt,) if excerpt else (),
            figures=figures,
        )
    if word in VERDICTS:
        return CheckResult(Status.PASS, f"AI verdict: {verdict}", figures=figures)
    return CheckResult(
        Status.WARN, f"AI verdict: {verdict!r} is not a known verdict", figures=figures
    )


CHECKS: tuple[Check, ...] = (
    Check("custom-metrics", "Custom metrics", custom_metrics),
    Check("metrics-source", "Metrics source", metrics_source),
    Check("machine-verdict", "Machine verdict", machine_verdict),
    Check("workload-pods", "Workload pods", workload_pods),
    Check("presentation", "Presentation", presentation),
    Check("intent-coverage", "Intent coverage", intent_coverage),
    Check("ai-verdict", "AI verdict", ai_verdict),
)


def run_checks(inp: CheckInput, *, extra: Iterable[Check] = ()) -> list[tuple[str, CheckResult]]:
    """Run the built-in checks in scorecard order, then ``extra`` ones (from the plugin hook).

    A check that raises, or returns something other than a ``CheckResult``,
    becomes a FAIL naming the error: like an erroring pytest test, a check
    that could not conclude must not let the gate pass unnoticed.
    """
    results: list[tuple[str, CheckResult]] = []
    for check in (*CHECKS, *extra):
        try:
            result: object = check.func(inp)
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            result = CheckResult(
                Status.FAIL, f"{check.title}: check error — {error}", figures={"error": error}
            )
        if not isinstance(result, CheckResult):
            error = f"returned {_type(result)}, not a CheckResult"
            result = CheckResult(
                Status.FAIL, f"{check.title}: check error — {error}", figures={"error": error}
            )
        results.append((check.name, result))
    return results


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{round(seconds)}s"
    minutes = round(seconds / 60)
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def completion_line(summary: Mapping[str, Any]) -> CheckResult:
    """The scorecard's first line: ``[PASS] Experiment completed (38m, $0.017)``."""
    data = summary if isinstance(summary, Mapping) else {}
    phase = data.get("phase")
    seconds = finite_number(data.get("durationSeconds"))
    cost_section = _mapping(data.get("costEstimate")) or {}
    cost = finite_number(cost_section.get("totalUSD"))
    parts = []
    if seconds is not None and math.isfinite(seconds) and seconds >= 0:
        parts.append(_duration(seconds))
    if cost is not None and math.isfinite(cost):
        parts.append(f"${cost:.3f}")
    suffix = f" ({', '.join(parts)})" if parts else ""
    figures = {"phase": phase, "duration_seconds": seconds, "cost_usd": cost}
    if phase == "Complete":
        return CheckResult(Status.PASS, f"Experiment completed{suffix}", figures=figures)
    if phase == "Failed":
        return CheckResult(Status.FAIL, f"Experiment failed{suffix}", figures=figures)
    if phase is None or phase == "":
        return CheckResult(Status.NA, f"Experiment phase not reported{suffix}", figures=figures)
    return CheckResult(
        Status.WARN, f"Experiment phase {phase!s} is not terminal{suffix}", figures=figures
    )


def _strings(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _has_load_generation(experiment: Experiment) -> bool:
    names = [t.name for t in experiment.targets] + [c.app for _, c in experiment.components()]
    return any(hint in name.lower() for name in names for hint in LOAD_HINTS)


def _mentions_hyperdisk(value: Any) -> bool:
    return any("hyperdisk" in text.lower() for text in _strings(value))


def _coverage_causes(
    experiment: Experiment, missing: Iterable[str], *, pipeline: bool
) -> list[RootCause]:
    """Why differentiating groups have no data: an infrastructure mismatch if the spec shows one.

    Hyperdisk is tied to a group when the group's own metrics name it; when
    no metric does, a mention anywhere in the spec (storage class, component,
    code snippet) is taken to concern every group.
    """
    in_metrics = {
        m.group for m in experiment.metrics if _mentions_hyperdisk([m.name, m.query, m.description])
    }
    anywhere = not in_metrics and _mentions_hyperdisk(experiment.data)
    unsupported = list(
        dict.fromkeys(
            t.machine_type
            for t in experiment.targets
            if t.machine_type and t.machine_family not in HYPERDISK_FAMILIES
        )
    )
    causes: list[RootCause] = []
    for group in missing:
        if (group in in_metrics or anywhere) and unsupported:
            causes.extend(
                RootCause(
                    "intent-coverage",
                    f"{machine} does not support Hyperdisk volumes, so the {group} group has "
                    "no results. Compatible families: C3, C4, N4, A3, M3, M4.",
                    None,
                    infrastructure=True,
                )
                for machine in unsupported
            )
        elif pipeline:
            causes.append(
                RootCause(
                    "intent-coverage",
                    f"Experiment's differentiating data missing — {group} has no results, "
                    "as no custom metric arrived: the custom-metrics causes above explain it",
                    None,
                )
            )
        else:
            causes.append(
                RootCause(
                    "intent-coverage",
                    f"Experiment's differentiating data missing — {group} has no results; "
                    "the spec shows no infrastructure mismatch (check the target's PVCs "
                    "and events)",
                    None,
                )
            )
    return causes


def root_causes(
    experiment: Experiment, results: Sequence[tuple[str, CheckResult]]
) -> list[RootCause]:
    """What the spec says about why the gate failed, each with its auto-fix if any.

    Judged from experiment.yaml alone: the target cluster is usually gone by
    the time the gate fails, and the checks stay pure.
    """
    by_name = dict(results)

    def status(name: str) -> Status | None:
        result = by_name.get(name)
        return result.status if result is not None else None

    causes: list[RootCause] = []
    apps = {c.app for _, c in experiment.components()}
    metrics_trouble = status("custom-metrics") in (Status.FAIL, Status.WARN) or (
        status("metrics-source") is Status.WARN
    )
    if metrics_trouble:
        if "kube-prometheus-stack" not in apps:
            causes.append(
                RootCause(
                    "custom-metrics",
                    "experiment lacks kube-prometheus-stack — the operator queries "
                    "target-local Prometheus for custom metrics via ServiceMonitor scrapes",
                    "add-kube-prometheus-stack",
                )
            )
        lacking = [app for app in ("metrics-agent", "metrics-egress") if app not in apps]
        if lacking:
            causes.append(
                RootCause(
                    "custom-metrics",
                    f"experiment lacks {' + '.join(lacking)} — needed for the hub VM fallback path",
                    "add-metrics-pipeline",
                )
            )
        namespaced = [m.name for m in experiment.metrics if "$NAMESPACE" in m.query]
        if namespaced:
            causes.append(
                RootCause(
                    "custom-metrics",
                    "`$NAMESPACE` resolves to the Experiment CR namespace ('experiments'), "
                    "not the target namespace where pods run; use `$EXPERIMENT` instead "
                    f"({_names(namespaced)})",
                    "fix-namespace-var",
                )
            )
    if (metrics_trouble or status("workload-pods") is Status.FAIL) and not _has_load_generation(
        experiment
    ):
        causes.append(
            RootCause(
                "custom-metrics" if metrics_trouble else "workload-pods",
                "no load generation: no component or target drives traffic, so workload "
                "metrics stay empty",
                "add-load-test",
            )
        )
    if status("presentation") is Status.WARN:
        unitless = [
            m.name for m in experiment.metrics if m.name.endswith(LATENCY_SUFFIXES) and not m.unit
        ]
        if unitless:
            causes.append(
                RootCause(
                    "presentation",
                    f"latency metrics without a unit: {_names(unitless)}",
                    "add-metric-units",
                )
            )
    coverage = by_name.get("intent-coverage")
    if coverage is not None and coverage.status is Status.FAIL:
        # Groups empty because nothing custom arrived at all are the pipeline's doing.
        pipeline = status("custom-metrics") is Status.FAIL and any(
            c.check == "custom-metrics" and c.fix != "add-load-test" for c in causes
        )
        causes.extend(
            _coverage_causes(experiment, coverage.figures.get("missing", ()), pipeline=pipeline)
        )
    verdict = by_name.get("machine-verdict")
    if verdict is not None and verdict.status is Status.FAIL:
        causes.extend(
            RootCause("machine-verdict", f"criterion not evaluable (passed: null): {text}", None)
            for text in verdict.figures.get("unevaluated", ())
        )
    return causes
