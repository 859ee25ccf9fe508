"""After the workflow: summary.json, the quality gate, cleanup and the publish PR.

Each step is its own status write, in the real operator's order:
``completedAt`` + ``resultsURL`` (so Complete is visible before resultsURL),
the quality gate's verdict (clearing ``resultsURL`` while it re-collects),
``resourcesCleaned``, then ``published`` and the PR fields.
"""

from __future__ import annotations

import logging
from typing import Any

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import cloud
from pytest_experiment.sandbox.operator.conditions import QUALITY_GATE, with_condition
from pytest_experiment.sandbox.operator.config import (
    REAL,
    instance,
    now,
    publishes,
    seconds,
    spec,
    status,
)
from pytest_experiment.sandbox.operator.context import Ctx, Track
from pytest_experiment.sandbox.scenarios import Scenario, ScenarioChoice
from pytest_experiment.sandbox.summary import build_summary, coverage, machine_verdict

log = logging.getLogger("experiment-operator")

DEFAULT_MAX_ITERATIONS = 3
GATE_SCENARIOS = (Scenario.QUALITY_GATE_RECOLLECT, Scenario.QUALITY_GATE_EXHAUSTED)


def gate_settings(obj: Obj, choice: ScenarioChoice) -> tuple[int, float, float] | None:
    """(maxIterations, recollect delay, minimum coverage), or None when the gate is off.

    On by default for a published run with metrics. The facts do not say what
    minimum the real operator assumes when none is declared: the sandbox asks
    for none (so partial data passes) unless a quality-gate scenario is chosen.
    """
    declared = spec(obj).get("qualityGate") or {}
    if not publishes(obj) or not spec(obj).get("metrics") or declared.get("enabled") is False:
        return None
    iterations = int(declared.get("maxIterations") or DEFAULT_MAX_ITERATIONS)
    delay = float(declared.get("recollectDelaySeconds") or 120)
    fallback = 0.0
    if choice.scenario in GATE_SCENARIOS:
        fallback = float(choice.option("minDataCoverage", 1.0))
    minimum = float(declared.get("minDataCoverage", fallback))
    return iterations, delay, minimum


def _summary(ctx: Ctx, obj: Obj, track: Track, *, phase: str, iteration: Obj | None) -> Obj:
    return build_summary(
        experiment=obj,
        choice=track.choice,
        status=status(obj),
        completed_at=now(),
        time_scale=ctx.config.time_scale,
        phase=phase,
        collection=track.collections,
        iteration_status=iteration,
    )


def _upload(ctx: Ctx, obj: Obj, summary: Obj) -> str:
    name = instance(obj)
    # metrics-snapshot.json first: summary.json is what readers wait for.
    ctx.put_json(f"{name}/metrics-snapshot.json", summary.get("metrics") or {})
    ctx.put_json(f"{name}/summary.json", summary)
    return f"s3://{ctx.config.bucket}/{name}/"


def collect(ctx: Ctx, obj: Obj, track: Track) -> None:
    """Collect metrics, upload summary.json, then write completedAt and resultsURL."""
    current = status(obj)
    phase = str(current.get("phase"))
    gate = gate_settings(obj, track.choice) if phase == "Complete" else None
    iteration: Obj | None = None
    if gate is not None:
        previous = current.get("iterationStatus") or {}
        iteration = {
            "currentIteration": track.collections,
            "maxIterations": gate[0],
            "phase": "Evaluating",
            "qualityResults": list(previous.get("qualityResults") or []),
        }
    summary = _summary(ctx, obj, track, phase=phase, iteration=iteration)
    fields: Obj = {"resultsURL": _upload(ctx, obj, summary)}
    if not current.get("completedAt"):
        fields["completedAt"] = seconds(now())
    verdict = machine_verdict(summary)
    if verdict and phase == "Complete":
        fields["hypothesisResult"] = verdict
    if iteration is not None:
        with_data, total = coverage(summary)
        ratio = with_data / total if total else 0.0
        missing = [
            name
            for name, query in ((summary.get("metrics") or {}).get("queries") or {}).items()
            if not query.get("data")
        ]
        result: Obj = {
            "iteration": track.collections,
            "totalMetrics": total,
            "metricsWithData": with_data,
            "coverage": round(ratio, 4),
            "passed": ratio >= gate[2] if gate else True,
        }
        if missing:
            result["missingMetrics"] = missing
        iteration["qualityResults"] = [*iteration["qualityResults"], result]
        fields["iterationStatus"] = iteration
    if gate is None and (phase == "Failed" or not publishes(obj)):
        # Nothing to evaluate, analyse or review: a Failed or unpublished run.
        fields.update(analysisPhase="Skipped", reviewPhase="Skipped")
    ctx.patch_status(obj, fields)
    track.enter("results")
    if iteration is not None:
        track.enter("evaluate")
    log.info("experiment=%s results at %s", instance(obj), fields["resultsURL"])


def evaluate(ctx: Ctx, obj: Obj, track: Track) -> None:
    """The quality gate's verdict on the last collection."""
    gate = gate_settings(obj, track.choice)
    iteration = dict(status(obj).get("iterationStatus") or {})
    last = (iteration.get("qualityResults") or [{}])[-1]
    if gate is None or last.get("passed", True):
        iteration["phase"] = "Passed"
        ctx.patch_status(obj, {"iterationStatus": iteration})
        return
    iterations, _, minimum = gate
    if track.collections < iterations:
        track.collections += 1
        iteration.update(phase="Recollecting", currentIteration=track.collections)
        ctx.patch_status(obj, {"iterationStatus": iteration, "resultsURL": None})
        track.enter("recollect")
        log.info(
            "experiment=%s coverage %.2f below %.2f: re-collecting (%d of %d)",
            instance(obj),
            last.get("coverage", 0.0),
            minimum,
            track.collections,
            iterations,
        )
        return
    iteration["phase"] = "Exhausted"
    message = (
        f"Quality gate exhausted after {iterations} re-collections: data coverage "
        f"{last.get('coverage', 0.0):.0%} is below the required {minimum:.0%}"
    )
    summary = _summary(ctx, obj, track, phase="Failed", iteration=iteration)
    ctx.patch_status(
        obj,
        {
            "phase": "Failed",
            "iterationStatus": iteration,
            "resultsURL": _upload(ctx, obj, summary),
            "conditions": with_condition(
                obj, kind=QUALITY_GATE, true=False, reason="Exhausted", message=message
            ),
            "analysisPhase": "Skipped",
            "reviewPhase": "Skipped",
        },
    )
    log.info("experiment=%s %s", instance(obj), message)


def cleanup(ctx: Ctx, obj: Obj, track: Track) -> None:
    cloud.delete_cloud(ctx, obj, REAL, workflow=True)
    ctx.patch_status(obj, {"resourcesCleaned": True})
    track.enter("cleaned")
    log.info("experiment=%s cloud resources deleted", instance(obj))


def publish(ctx: Ctx, obj: Obj, track: Track) -> None:
    """Open the results PR (the analyzer and the review follow it)."""
    name = instance(obj)
    fields: dict[str, Any]
    if track.choice.scenario is Scenario.NO_PR:
        log.info("experiment=%s PR creation failed: not published", name)
        fields = {"published": False, "analysisPhase": "Skipped", "reviewPhase": "Skipped"}
        ctx.patch_status(obj, fields)
        return
    pull_request = REAL.pull_request(name)
    number = int(pull_request["publishPRNumber"])
    ctx.record_pr(number, "open")
    fields = {"published": True, **pull_request}
    if track.choice.scenario is Scenario.ANALYZER_SKIP:
        fields["analysisPhase"] = "Skipped"
    else:
        fields["analysisJobName"] = cloud.create_analyzer_job(ctx, obj, REAL)
        fields["analysisPhase"] = "Pending"
    ctx.patch_status(obj, fields)
    track.enter("analysis")
    log.info("experiment=%s published as PR #%d", name, number)


def after_workflow(ctx: Ctx, obj: Obj, track: Track) -> bool:
    """Results, gate, cleanup, publish; True once nothing of these is left to do."""
    current = status(obj)
    durations = ctx.config.durations
    iteration = current.get("iterationStatus") or {}
    gate_phase = iteration.get("phase")
    # After a restart the operator's memory starts from what status says.
    track.collections = max(track.collections, int(iteration.get("currentIteration") or 0))
    if gate_phase == "Recollecting":
        settings = gate_settings(obj, track.choice)
        delay = settings[1] if settings else durations.recollect
        if ctx.due(obj, track, "recollect", delay):
            collect(ctx, obj, track)
        return False
    if not current.get("resultsURL") and gate_phase != "Exhausted":
        if ctx.due(obj, track, str(current.get("phase")), durations.results):
            collect(ctx, obj, track)
        return False
    if gate_phase == "Evaluating":
        # At once by default (the URL is shown for a moment); a scenario can make the
        # moment longer with its ``seconds`` option.
        if ctx.due(obj, track, "evaluate", 0.0):
            evaluate(ctx, obj, track)
        return False
    if not current.get("resourcesCleaned"):
        if ctx.due(obj, track, "results", durations.cleanup):
            cleanup(ctx, obj, track)
        return False
    if current.get("phase") == "Complete" and publishes(obj) and "published" not in current:
        publish(ctx, obj, track)
        return False
    return True
