"""The review gate of a published run: present the PR, approve or reject it, wait for the
operator to record the decision.

The operator opens a review (``status.reviewPhase`` Pending, a results PR)
once the analyzer resolves. ``--experiment-review`` decides what the harness
does with it: approve or reject by annotating the instance, leave it open
for a person, or skip. Without an operator review gate, ``gh`` merges or
closes the PR itself. What each observation means is ``core.review``'s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_experiment.base.errors import ClusterError, GitHubError
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.core import lifecycle
from pytest_experiment.core import review as rv
from pytest_experiment.core.lifecycle import format_duration, phase_of
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import InstanceDeleted, WatchTimeout
from pytest_experiment.run.contexts import RunContext
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.ports import PullRequest
from pytest_experiment.run.published import Published

# How long the watch is given to deliver what a direct read shows, before the review
# budget is declared spent.
CATCH_UP = 2.0


def review(run: RunContext, launch: Launch, outcome: Published) -> CheckResult:
    """The review item's verdict for the launch's last instance; computed once."""
    state = launch.review
    if state.result is None:
        state.result = _Reviewer(run, launch, outcome).review()
    return state.result


class _Reviewer:
    def __init__(self, run: RunContext, launch: Launch, outcome: Published) -> None:
        self.run = run
        self.launch = launch
        self.outcome = outcome
        self.options = run.options
        self.instance = launch.instance
        self.name = launch.name
        self.watcher = run.watcher(launch.namespace)
        self.gh = run.github()
        self.figures: dict[str, Any] = {}

    def say(self, text: str) -> None:
        self.run.out.clear()
        self.run.out.line(text)

    def review(self) -> CheckResult:
        if self.outcome.turn is not None:
            # The operator opens no review gate for a run it failed; a PR it opened before
            # the turn (an analyzer that failed after publishing) is still shown.
            self._figures_of(self.watcher.observed(self.instance).obj)
            return self._result(Status.NA, f"Review: no review gate: {self.outcome.turn_line()}")
        if self.outcome.analyzer == "Timeout":
            # The operator opens the review gate once the analyzer resolves (seed step 7).
            return self._result(
                Status.NA, "Review: the analyzer has not finished, so the review gate is not open"
            )
        try:
            obj = self._wait(
                lambda o: bool(rv.review_phase(o)) or phase_of(o) == "Failed",
                what="reviewPhase to be set",
            )
        except InstanceDeleted:
            return self._result(Status.NA, f"Review: {self.instance} was deleted first")
        if obj is not None and phase_of(obj) == "Failed" and not rv.review_phase(obj):
            turn = lifecycle.turned_failed(obj)
            assert turn is not None  # the phase is Failed
            self.run.log_toil(lifecycle.turn_toil(self.name, self.instance, turn))
            turned = f"{self.instance} turned Failed after Complete: {turn.line()}"
            self._figures_of(obj)
            return self._result(Status.NA, f"Review: no review gate: {turned}")
        pr = self._figures_of(obj if obj is not None else self.watcher.observed(self.instance).obj)
        phase = rv.review_phase(obj)
        self.figures["reviewPhase"] = phase or None
        if phase == "Skipped":
            # The operator opens a review only for a published run with a PR.
            why = lifecycle.review_skipped_why(obj)
            if pr.number is None and self.launch.spec.publish:
                # Asked to publish, yet no PR: its creation failed on the operator's side.
                self.run.log_toil(rv.no_pr_toil(self.name, self.instance))
            return self._result(
                Status.NA, f"Review: skipped by the operator (reviewPhase Skipped: {why})"
            )
        if not pr.url:
            self.run.log_toil(rv.no_pr_toil(self.name, self.instance))
            return self._result(Status.NA, f"Review: no PR created for {self.instance}")
        details = self._present(pr)
        if obj is None:
            return self._without_gate(pr, details)
        if phase in rv.REVIEW_DONE:
            return self._decided(phase, pr, details, ours=False)
        wanted = rv.decision(self.options.review, self.outcome.gate)
        viewed = self.figures.get("prState")
        if viewed in ("CLOSED", "MERGED"):
            # Decided on GitHub: the operator records it; nothing for us to annotate.
            return self._await_operator(pr, details, why=f"{pr.name} is {viewed.lower()}")
        if wanted is None:
            return self._left_open(pr, details)
        assert self.run.cluster is not None
        try:
            self.run.cluster.annotate_experiment(
                self.instance,
                namespace=self.launch.namespace,
                annotations={rv.REVIEW_ANNOTATION: wanted},
            )
        except ClusterError as exc:
            self.run.log_toil(rv.review_toil(self.name, self.instance, one_line(exc)))
            return self._result(
                Status.FAIL,
                f"Review: could not annotate {self.instance}: {one_line(exc)}",
                details,
            )
        self.say(f"{self.instance}: review {wanted} ({rv.REVIEW_ANNOTATION}={wanted})")
        self.figures["action"] = wanted
        return self._await_operator(pr, details, why=f"annotated {wanted}", ours=True)

    def _figures_of(self, obj: Obj | None) -> rv.PullRequestRef:
        """The PR and review phase the status shows, into the item's figures."""
        pr = rv.PullRequestRef.of(obj)
        self.figures.update(prNumber=pr.number, prURL=pr.url or None, branch=pr.branch or None)
        self.figures["reviewPhase"] = rv.review_phase(obj) or None
        return pr

    def _wait(self, predicate: Callable[[Obj], bool], *, what: str) -> Obj | None:
        """The object once ``predicate`` holds, or None after ``--experiment-budget-review``."""
        try:
            return self._within(predicate, deadline=self._deadline(), what=what)
        except WatchTimeout:
            return None

    def _deadline(self) -> float:
        budget = self.options.budget_review
        return time.monotonic() + (budget if budget is not None else float("inf"))

    def _within(self, predicate: Callable[[Obj], bool], *, deadline: float, what: str) -> Obj:
        """The object once ``predicate`` holds, before ``deadline`` (``time.monotonic()``).
        ``WatchTimeout`` only once what already waits on the watch, and one direct read of
        the instance, show that it still does not hold: a harness that was paused wakes
        past its budget with the watch behind, and the review may have resolved in time."""
        try:
            return self.watcher.wait_for(
                self.instance, predicate, timeout=max(0.0, deadline - time.monotonic()), what=what
            )
        except WatchTimeout:
            pass
        self.watcher.catch_up(self.instance, timeout=CATCH_UP)
        return self.watcher.wait_for(self.instance, predicate, timeout=0.0, what=what)

    def _present(self, pr: rv.PullRequestRef) -> list[str]:
        """Seed step 7: the PR and the quality it would publish."""
        gh = self.gh
        lines = []
        viewed: PullRequest | None = None
        if gh is not None and pr.number is not None:
            try:
                viewed = gh.pr_view(pr.number)
            except GitHubError as exc:
                lines.append(f"gh pr view: {one_line(exc)}")
        if viewed is not None:
            self.figures.update(
                prTitle=viewed.title,
                prState=viewed.state,
                additions=viewed.additions,
                deletions=viewed.deletions,
            )
            lines.append(viewed.line())
        else:
            lines.append(f"{pr.name}: {pr.url}" + ("" if gh else " (gh not on PATH: no details)"))
        if pr.branch:
            lines.append(f"branch: {pr.branch}")
        figures = {name: dict(r.figures) for name, r in self.outcome.results or ()}
        lines.append(rv.quality_line(self.outcome.gate, figures))
        for line in lines:
            self.run.out.line(f"  {line}")
        return lines

    def _await_operator(
        self, pr: rv.PullRequestRef, details: list[str], *, why: str, ours: bool = False
    ) -> CheckResult:
        deadline = self._deadline()
        said: rv.Refusal | None = None
        while True:
            # Until the review resolves, or GitHub refuses (again, differently): each
            # refusal the operator records is said once, while the wait goes on.
            try:
                obj = self._within(
                    functools.partial(_resolved_or_refused, said=said),
                    deadline=deadline,
                    what="reviewPhase Approved or Rejected",
                )
            except InstanceDeleted:
                return self._result(
                    Status.FAIL,
                    f"Review: {self.instance} was deleted before the review resolved",
                    details,
                )
            except WatchTimeout as exc:
                return self._still_pending(exc.observed.obj, details, why=why)
            phase = rv.review_phase(obj)
            if phase in rv.REVIEW_DONE:
                return self._decided(phase, pr, details, ours=ours)
            said = rv.github_refusal(obj)
            assert said is not None  # what the wait ended on
            line = f"{said.line()}; the operator retries it"
            self.say(f"{self.instance}: review Pending: {line}")
            details = [*details, line]

    def _still_pending(self, obj: Obj | None, details: list[str], *, why: str) -> CheckResult:
        """The review did not resolve within the budget: with GitHub's refusal when the
        operator recorded one (GitHub's toil), else the operator's."""
        budget = format_duration(self.options.budget_review)
        problem = f"reviewPhase still Pending {budget} after {why}"
        refusal = rv.github_refusal(obj)
        if refusal is not None:
            self.figures["reviewGate"] = refusal.line()
            self.run.log_toil(rv.github_toil(self.name, self.instance, refusal))
            return self._result(Status.FAIL, f"Review: {problem}: {refusal.line()}", details)
        self.run.log_toil(rv.review_toil(self.name, self.instance, problem))
        return self._result(Status.FAIL, f"Review: {problem}", details)

    def _decided(
        self, phase: str, pr: rv.PullRequestRef, details: list[str], *, ours: bool
    ) -> CheckResult:
        self.figures["reviewPhase"] = phase
        self.figures["pr"] = f"{pr.url} ({rv.pr_outcome(phase)})"
        if phase == "Approved":
            details = [*details, *self._deploy_run()]
            by = "" if ours else " (by a reviewer)"
            return self._result(Status.PASS, f"Review: approved{by}; {pr.name} merged", details)
        if ours:
            return self._result(
                Status.PASS, f"Review: rejected as asked; {pr.name} closed", details
            )
        return self._result(
            Status.FAIL,
            f"Review: {pr.name} rejected by a reviewer; the results are not published",
            details,
        )

    def _left_open(self, pr: rv.PullRequestRef, details: list[str]) -> CheckResult:
        commands = rv.annotate_commands(self.instance, self.launch.namespace)
        for line in commands:
            self.run.out.line(f"  {line}")
        self.figures["pr"] = f"{pr.url} (Open)"
        details = [*details, *commands]
        if self.options.review == "auto":
            gate = self.outcome.gate.name if self.outcome.gate else "N/A"
            return self._result(
                Status.WARN,
                f"Review: {pr.name} left open for a person: quality gate {gate}",
                details,
            )
        return self._result(
            Status.NA, f"Review: {pr.name} left open (--experiment-review=skip)", details
        )

    def _without_gate(self, pr: rv.PullRequestRef, details: list[str]) -> CheckResult:
        """An operator that never sets reviewPhase; approve merges with gh."""
        gh = self.gh
        self.figures["reviewPhase"] = None
        note = f"the operator set no reviewPhase in {format_duration(self.options.budget_review)}"
        details = [*details, note]
        wanted = rv.decision(self.options.review, self.outcome.gate)
        if wanted is None:
            self.figures["pr"] = f"{pr.url} (Open)"
            status = Status.WARN if self.options.review == "auto" else Status.NA
            return self._result(status, f"Review: {pr.name} left open; {note}", details)
        if gh is None or pr.number is None:
            why = "gh is not on PATH" if gh is None else "the status has no PR number"
            return self._result(
                Status.FAIL, f"Review: cannot {wanted[:-1]} {pr.name}: {note} and {why}", details
            )
        try:
            if wanted == "approved":
                gh.pr_merge(pr.number)
            else:
                gh.pr_close(pr.number)
        except GitHubError as exc:
            return self._result(Status.FAIL, f"Review: {one_line(exc)}", details)
        self.figures["action"] = wanted
        if wanted == "approved":
            self.figures["pr"] = f"{pr.url} (Merged)"
            details = [*details, *self._deploy_run()]
            return self._result(
                Status.PASS, f"Review: {pr.name} squash-merged with gh ({note})", details
            )
        self.figures["pr"] = f"{pr.url} (Rejected)"
        return self._result(Status.PASS, f"Review: {pr.name} closed with gh ({note})", details)

    def _deploy_run(self) -> list[str]:
        """The site deploy the merge triggers, when gh can say."""
        gh = self.gh
        if gh is None:
            return ["Deploy Benchmark Site: unknown (gh not on PATH)"]
        try:
            run = gh.latest_run()
        except GitHubError as exc:
            return [f"Deploy Benchmark Site: unavailable: {one_line(exc)}"]
        if run is None:
            return ["Deploy Benchmark Site: no run yet"]
        self.figures["deployRun"] = run.url or run.line()
        line = run.line()
        self.run.out.line(f"  {line}")
        return [line]

    def _result(self, status: Status, summary: str, details: Sequence[str] = ()) -> CheckResult:
        self.figures.setdefault("pr", self.figures.get("prURL"))
        return CheckResult(
            status,
            summary,
            details=tuple(details),
            figures={k: v for k, v in self.figures.items() if v is not None},
        )


def _resolved_or_refused(obj: Obj, *, said: rv.Refusal | None) -> bool:
    """The review resolved, or GitHub refused in a way not yet said."""
    return rv.review_phase(obj) in rv.REVIEW_DONE or rv.github_refusal(obj) not in (None, said)


__all__ = ["review"]
