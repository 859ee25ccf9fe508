"""The analyzer Job, the review gate, deletion and the finalizer (real operator)."""

from __future__ import annotations

import logging

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox.operator import cloud
from pytest_experiment.sandbox.operator.conditions import (
    ANALYSIS_COMPLETE,
    REVIEW_GATE,
    condition,
    patch_with_condition,
)
from pytest_experiment.sandbox.operator.config import (
    FINALIZER,
    REAL,
    REVIEW_ANNOTATION,
    instance,
    meta,
    namespace,
    now,
    spec,
    status,
)
from pytest_experiment.sandbox.operator.context import Ctx, Track
from pytest_experiment.sandbox.scenarios import Scenario
from pytest_experiment.sandbox.summary import build_analysis

log = logging.getLogger("experiment-operator")

TERMINAL_REVIEW = ("Approved", "Rejected", "Skipped")


def released(obj: Obj) -> bool:
    """Whether the operator is done with the instance and lets go of its finalizer."""
    current = status(obj)
    return (
        current.get("phase") in ("Complete", "Failed")
        and current.get("resourcesCleaned") is True
        and current.get("reviewPhase") in TERMINAL_REVIEW
    )


def _fail_analysis(ctx: Ctx, obj: Obj, track: Track, *, reason: str, message: str) -> None:
    """The analysis failed: its phase and condition in one status write; the run's phase
    Failed follows in the next (``_turn``)."""
    patch_with_condition(
        ctx,
        obj,
        {"analysisPhase": "Failed"},
        kind=ANALYSIS_COMPLETE,
        true=False,
        reason=reason,
        message=message,
    )
    track.enter("turn")
    log.info("experiment=%s analysis failed: %s", instance(obj), message)


def _turn(ctx: Ctx, obj: Obj, track: Track) -> bool:
    """A failed analysis fails a published run, a status write after its condition; True
    once nothing of it is left to write."""
    current = status(obj)
    if current.get("analysisPhase") != "Failed" or current.get("phase") == "Failed":
        return True
    if ctx.due(obj, track, "turn", 0.0):
        ctx.patch_status(obj, {"phase": "Failed", "reviewPhase": "Skipped"})
        log.info("experiment=%s Complete -> Failed: analysis failed", instance(obj))
    return False


def analysis(ctx: Ctx, obj: Obj, track: Track) -> bool:
    """Advance the analyzer; True once its phase is final."""
    current = status(obj)
    phase = current.get("analysisPhase")
    if phase in ("Succeeded", "Failed", "Skipped"):
        return _turn(ctx, obj, track)
    durations = ctx.config.durations
    job = str(current.get("analysisJobName") or REAL.analyzer_job(instance(obj)))
    scenario = track.choice.scenario
    if phase == "Pending":
        # The operator polls every 30 s: Running only if the Job is still active
        # then; a quick analyzer is already done and the phase jumps to Succeeded.
        if not ctx.due(obj, track, "analysis", durations.analyzer_pending):
            return False
        if scenario is Scenario.ANALYZER_QUICK:
            _succeed(ctx, obj, track, job)
        else:
            ctx.patch_status(obj, {"analysisPhase": "Running"})
            track.enter("analysis-running")
        return False
    if scenario is Scenario.ANALYZER_TIMEOUT:
        return False
    if not ctx.due(obj, track, "analysis-running", durations.analyzer_running):
        return False
    if scenario is Scenario.ANALYZER_JOB_GONE:
        cloud.delete_analyzer_job(ctx, job)
    if not cloud.analyzer_job_exists(ctx, job):
        _fail_analysis(
            ctx, obj, track, reason="JobNotFound", message=f"Analyzer Job {job} not found"
        )
        return False
    if scenario is Scenario.ANALYZER_FAIL:
        cloud.finish_analyzer_job(ctx, job, succeeded=False)
        _fail_analysis(
            ctx,
            obj,
            track,
            reason="Failed",
            message="Analyzer Job failed: Job has reached the specified backoff limit",
        )
        return False
    _succeed(ctx, obj, track, job)
    return False


def _succeed(ctx: Ctx, obj: Obj, track: Track, job: str) -> None:
    """The analyzer wrote its analysis into summary.json and its Job completed."""
    key = f"{instance(obj)}/summary.json"
    summary = ctx.get_json(key)
    summary["analysis"] = build_analysis(
        spec=spec(obj), summary=summary, choice=track.choice, generated_at=now()
    )
    ctx.put_json(key, summary)
    cloud.finish_analyzer_job(ctx, job, succeeded=True)
    patch_with_condition(
        ctx,
        obj,
        {"analysisPhase": "Succeeded"},
        kind=ANALYSIS_COMPLETE,
        true=True,
        reason="Succeeded",
        message=f"Analyzer Job {job} completed",
    )


def _decide(ctx: Ctx, obj: Obj, number: int, decision: str) -> None:
    approved = decision == "approved"
    ctx.record_pr(number, "merged" if approved else "closed")
    message = (
        f"PR #{number} merged after human approval"
        if approved
        else f"PR #{number} closed after human rejection"
    )
    phase = "Approved" if approved else "Rejected"
    patch_with_condition(
        ctx,
        obj,
        {"reviewPhase": phase},
        kind=REVIEW_GATE,
        true=approved,
        reason=phase,
        message=message,
    )
    log.info("experiment=%s %s", instance(obj), message)


# What GitHub's API answers when it will not merge or close (as go-github words it).
_GITHUB_ERRORS = {
    "approved": "PUT https://api.github.com/repos/illm-lab/benchmarks/pulls/{n}/merge: "
    "405 Pull Request is not mergeable []",
    "rejected": "PATCH https://api.github.com/repos/illm-lab/benchmarks/pulls/{n}: "
    "403 Resource not accessible by integration []",
}
_REFUSING = {"approved": Scenario.REVIEW_MERGE_FAILED, "rejected": Scenario.REVIEW_CLOSE_FAILED}


def _github_refuses(ctx: Ctx, obj: Obj, track: Track, number: int, decision: str) -> bool:
    """Whether GitHub refuses the merge (close) now: the ReviewGate condition then says
    ``MergeFailed`` (``CloseFailed``) with GitHub's error, the review stays Pending,
    and the operator tries again at its next review poll."""
    choice = track.choice
    if choice.scenario is not _REFUSING[decision]:
        return False
    recover = choice.option("recoverAfter")
    if recover is not None and track.github_refusals >= int(recover):
        return False
    if track.github_refusals and not ctx.due(
        obj, track, "github-refused", ctx.config.durations.review_retry
    ):
        return True
    track.github_refusals += 1
    track.enter("github-refused")
    error = str(choice.option("message", _GITHUB_ERRORS[decision].format(n=number)))
    verb, reason = ("merge", "MergeFailed") if decision == "approved" else ("close", "CloseFailed")
    message = f"Failed to {verb} PR #{number}: {error}"
    previous = condition(obj, REVIEW_GATE) or {}
    if (previous.get("reason"), previous.get("message")) != (reason, message):
        patch_with_condition(
            ctx, obj, {}, kind=REVIEW_GATE, true=False, reason=reason, message=message
        )
        log.info("experiment=%s %s", instance(obj), message)
    return True


def review(ctx: Ctx, obj: Obj, track: Track) -> None:
    current = status(obj)
    number = current.get("publishPRNumber")
    phase = current.get("reviewPhase")
    if phase in TERMINAL_REVIEW or track.choice.scenario is Scenario.NO_REVIEW_GATE:
        # An operator from before the review gate never sets reviewPhase.
        return
    if not number:
        ctx.patch_status(obj, {"reviewPhase": "Skipped"})
        return
    if phase is None:
        if ctx.due(obj, track, "analysis-done", ctx.config.durations.review_pending):
            hint = (
                f"Review PR #{number}, then: kubectl annotate experiment {instance(obj)} "
                f"-n {namespace(obj)} {REVIEW_ANNOTATION}=approved (or =rejected)"
            )
            patch_with_condition(
                ctx,
                obj,
                {"reviewPhase": "Pending"},
                kind=REVIEW_GATE,
                true=False,
                reason="AwaitingReview",
                message=hint,
            )
            track.enter("review")
        return
    decision = (meta(obj).get("annotations") or {}).get(REVIEW_ANNOTATION)
    if decision in ("approved", "rejected"):
        if not _github_refuses(ctx, obj, track, int(number), str(decision)):
            _decide(ctx, obj, int(number), str(decision))
    elif track.choice.scenario is Scenario.REVIEW_REJECTED and ctx.due(
        obj, track, "review", ctx.config.durations.reviewer_rejects
    ):
        _decide(ctx, obj, int(number), "rejected")


def finalize(ctx: Ctx, obj: Obj, track: Track) -> None:
    """Deletion: close a PR still under review, clean up, then let the object go."""
    finalizers = list(meta(obj).get("finalizers") or [])
    if FINALIZER not in finalizers:
        return
    current = status(obj)
    number = current.get("publishPRNumber")
    if current.get("reviewPhase") == "Pending" and number:
        ctx.record_pr(int(number), "closed")
        log.info("experiment=%s deleted while review pending: closed PR #%s", instance(obj), number)
    cloud.delete_cloud(ctx, obj, REAL, workflow=True)
    job = current.get("analysisJobName")
    if job:
        cloud.delete_analyzer_job(ctx, str(job))
    ctx.set_finalizers(obj, [f for f in finalizers if f != FINALIZER])
    log.info("experiment=%s finalized", instance(obj))
