"""A published run after Complete: results, analyzer, gate and auto-fix, review.

The I/O half of seed steps 5.5–7; what the observations mean is decided by
``gate``, ``review`` and ``checks``. Everything here runs on the item thread
of the experiment's first quality (or review) item and is computed once per
launch: ``published()`` follows the analyzer, scores the summary, decides the
gate and, with ``--experiment-autofix=apply``, edits the file and re-runs the
experiment until the gate passes, no new fix applies or three attempts are
spent. ``review()`` then drives the review gate of the last instance.

The analyzer and review phases are followed on the namespace's shared watch,
like the lifecycle: nothing here polls the API.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_experiment.base.errors import ClusterError, ResultsError, SpecError
from pytest_experiment.base.types import Obj
from pytest_experiment.core import autofix, gate, lifecycle
from pytest_experiment.core import review as rv
from pytest_experiment.core.lifecycle import Turn, format_duration, phase_of, shown_path, status
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.core.watch_state import InstanceDeleted, WatchTimeout
from pytest_experiment.edges.github import GitHub, GitHubError, PullRequest
from pytest_experiment.plugin.state import ResultFile
from pytest_experiment.run.diagnostics import one_line

if TYPE_CHECKING:
    from pytest_experiment.run.live import Launch, LiveRun

Score = Callable[[Experiment, ResultFile, str | None], Sequence[tuple[str, CheckResult]]]
TICK = 0.5


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One run of the experiment inside the auto-fix loop."""

    number: int
    instance: str
    gate: str
    fixes: tuple[str, ...] = ()
    """Fixes applied after this attempt, before the next."""
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "instance": self.instance,
            "gate": self.gate,
            "fixes": list(self.fixes),
            "outcome": self.outcome,
        }


@dataclass(kw_only=True)
class Published:
    """What the quality and review items of one published experiment report."""

    instance: str
    results: tuple[tuple[str, CheckResult], ...] | None = None
    problem: str = ""
    """Why there are no results to score (``results`` is None)."""
    decision: gate.GateDecision | None = None
    analyzer: str = ""
    analyzer_details: tuple[str, ...] = ()
    results_url: str = ""
    summary: Mapping[str, Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    diff: str = ""
    """The fix as a unified diff: suggested, or what apply wrote."""
    fix_problems: list[str] = field(default_factory=list)
    stopped: str = ""
    """Why the auto-fix loop ended without a passing gate, when it ran."""
    rerun_failed: bool = False
    """An auto-fix re-run did not complete: these are the previous attempt's results."""
    turn: Turn | None = None
    """The run turned Failed after Complete (quality gate exhausted, analyzer failed)."""
    turn_details: tuple[str, ...] = ()
    """What the failed run's summary says, when the turn left one."""

    def turn_line(self) -> str:
        return (
            f"{self.instance} turned Failed after Complete: {self.turn.line()}"
            if self.turn is not None
            else ""
        )

    def unscored(self) -> CheckResult:
        """A quality item's verdict when there are no results to score."""
        if self.turn is not None:
            return CheckResult(
                Status.FAIL,
                f"{self.turn_line()}; no results to score",
                details=((self.problem,) if self.problem else ()) + self.turn_details,
            )
        return CheckResult(Status.NA, f"no summary: {self.problem}")

    @property
    def gate(self) -> Status | None:
        return self.decision.gate if self.decision is not None else None

    def causes_of(self, check: str) -> list[str]:
        if self.decision is None or not self.decision.causes:
            return []
        return gate.cause_lines(c for c in self.decision.causes if c.check == check)

    def gate_record(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "gate": decision.gate.value if decision else None,
            "rootCauses": [
                {"check": c.check, "message": c.message, "fix": c.fix}
                for c in (decision.causes if decision else ())
            ],
            "escalation": decision.escalation if decision else None,
            "attempts": [a.as_json() for a in self.attempts],
            "fixDiff": self.diff,
            "fixProblems": list(self.fix_problems),
            "stopped": self.stopped,
        }


def published(live: LiveRun, launch: Launch, *, score: Score) -> Published:
    """The scored outcome of ``launch``'s last attempt; computed once."""
    if launch.published is None:
        launch.published = _Publisher(live, launch, score).run()
    return launch.published


class _Publisher:
    def __init__(self, live: LiveRun, launch: Launch, score: Score) -> None:
        self.live = live
        self.launch = launch
        self.score = score
        self.options = live.options
        self.out = live.out
        self._results_seen: datetime | None = None

    def say(self, text: str) -> None:
        self.out.clear()
        self.out.line(text)

    def run(self) -> Published:
        launch = self.launch
        while True:
            outcome = self._score_once()
            decision = outcome.decision
            if decision is None or not decision.failed:
                return self._finish(outcome)
            self.live.log_toil(
                rv.quality_gate_toil(launch.experiment.name, outcome.instance, _primary(outcome))
            )
            self._report_gate(outcome)
            step = gate.plan(
                decision,
                mode=self.options.autofix,
                attempts=len(launch.attempts),
                applied=launch.applied_fixes,
            )
            if step.suggest:
                self._suggest(outcome, list(step.suggest))
            if not step.apply:
                outcome.stopped = step.stopped or ""
                return self._finish(outcome)
            written = self._apply_fixes(outcome, list(step.apply))
            if not written:
                outcome.stopped = "; ".join(outcome.fix_problems) or "no fix could be applied"
                return self._finish(outcome)
            number = len(launch.attempts) + 1
            launch.attempts.append(
                Attempt(
                    number=number,
                    instance=outcome.instance,
                    gate=Status.FAIL.value,
                    fixes=tuple(written),
                    outcome="quality gate fail",
                )
            )
            self.say(
                f"Auto-fix attempt {number}/{gate.MAX_ATTEMPTS}: "
                f"{'; '.join(f'{f} ({autofix.FIXES[f]})' for f in written)}. Re-running..."
            )
            why = self._rerun()
            if why is not None:
                # The re-run did not complete: the last scored results stand, with why.
                outcome.stopped = why
                outcome.rerun_failed = True
                outcome.attempts = list(launch.attempts)
                self.say(f"{launch.experiment.name}: auto-fix stopped: {why}")
                return outcome

    def _finish(self, outcome: Published) -> Published:
        attempts = self.launch.attempts
        if attempts:
            gate = outcome.gate.value if outcome.gate is not None else "n-a"
            final = Attempt(
                number=len(attempts) + 1,
                instance=outcome.instance,
                gate=gate,
                outcome=f"quality gate {gate}",
            )
            outcome.attempts = [*attempts, final]
        if outcome.stopped:
            self.say(f"{outcome.instance}: auto-fix stopped: {outcome.stopped}")
        return outcome

    # -- one attempt: summary, analyzer, checks, gate ---------------------------------

    def _score_once(self) -> Published:
        launch = self.launch
        outcome = Published(instance=launch.instance)
        # The real operator writes resultsURL after Complete, and clears it while its
        # quality gate re-collects: nothing is read (or waited for) before it is there.
        self._await_results()
        outcome.turn = self._turn()
        if outcome.turn is None:
            # Read once the analyzer has resolved: a successful one has added `analysis` to
            # summary.json (seed step 6), and nothing is scored before then.
            outcome.analyzer, outcome.analyzer_details = self._follow_analyzer()
            outcome.turn = self._turn()
        else:
            observed = self.live.watcher(launch.namespace).observed(launch.instance)
            outcome.analyzer = rv.analysis_phase(observed.obj) or "Skipped"
        if outcome.turn is not None:
            if outcome.turn.type == "AnalysisComplete":
                # Its Job failed or vanished: for the AI verdict that is a failed analyzer.
                outcome.analyzer = "Failed"
            self.say(f"{outcome.turn_line()}")
            self.live.log_toil(
                lifecycle.turn_toil(launch.experiment.name, launch.instance, outcome.turn)
            )
            outcome.analyzer_details = (*outcome.analyzer_details, outcome.turn_line())
            observed = self.live.watcher(launch.namespace).observed(launch.instance)
            url = status(observed.obj).get("resultsURL")
            if not url:
                # The turn is the reason, already recorded as toil: no second record.
                outcome.problem = f"{launch.instance} has no status.resultsURL"
                return outcome
            if outcome.turn.type == "QualityGate":
                # Nothing was published: the failed run's summary explains, it is no gate.
                outcome.problem = "the quality gate failed the run: its summary is not scored"
                outcome.turn_details = self._failed_summary(str(url))
                return outcome
        summary = self.live.summary(launch)
        outcome.results_url = launch.results_url
        if summary is None:
            outcome.problem = launch.summary_problem or "no summary"
            return outcome
        outcome.summary = summary
        result = ResultFile(
            instance=launch.instance,
            path=Path(f"s3/{launch.instance}/summary.json"),
            summary=summary,
        )
        outcome.results = tuple(self.score(launch.experiment, result, outcome.analyzer or None))
        outcome.decision = gate.decide(
            launch.experiment, outcome.results, applied=launch.applied_fixes
        )
        return outcome

    def _failed_summary(self, url: str) -> tuple[str, ...]:
        """What a failed run's summary.json says (which metrics arrived), best effort."""
        try:
            summary = self.live.read_summary(url)
        except ResultsError as exc:
            return (f"failed run's summary.json: unavailable: {one_line(exc)}",)
        declared = [m.name for m in self.launch.experiment.metrics]
        first, *rest = lifecycle.failed_summary_lines(summary, declared=declared)
        return (f"failed run's {first}", *rest)

    def _turn(self) -> Turn | None:
        """Why the Complete run is now Failed, or None while it is not."""
        observed = self.live.watcher(self.launch.namespace).observed(self.launch.instance)
        if observed.deleted or phase_of(observed.obj) != "Failed":
            return None
        return lifecycle.turned_failed(observed.obj) or Turn(
            type="phase",
            reason="Failed",
            message=lifecycle.first_condition_message(observed.obj),
        )

    def _await_results(self) -> None:
        """Wait for ``status.resultsURL`` within ``--experiment-results-wait``, showing the
        quality gate's progress. Each new re-collection restarts the wait: a gate that is
        moving is not cut off, one that stalls is."""
        launch, live = self.launch, self.live
        watcher = live.watcher(launch.namespace)
        instance, name = launch.instance, launch.experiment.name
        budget = self.options.results_wait
        spec = launch.experiment.data.get("spec") or {}
        limit = lifecycle.max_iterations(spec)
        # A re-collection starts only after the gate's delay: while it re-collects, that
        # delay is allowed on top of the wait.
        delay = lifecycle.recollect_delay(spec)
        started = time.monotonic()
        shown: str | None = None
        while True:
            observed = watcher.observed(instance)
            obj = observed.obj
            if observed.deleted or status(obj).get("resultsURL") or phase_of(obj) != "Complete":
                self._results_seen = datetime.now(UTC)
                return
            progress = lifecycle.quality_gate_progress(obj, max_iterations=limit)
            if progress != shown:
                shown = progress
                started = time.monotonic()
                if progress:
                    self.say(f"{instance}: {progress}")
            elapsed = time.monotonic() - started
            allowed = budget + delay if budget is not None and shown else budget
            if allowed is not None and elapsed >= allowed:
                self._results_seen = datetime.now(UTC)
                return  # reading the summary then says there is no resultsURL
            against = f" / {format_duration(allowed)}" if allowed is not None else ""
            self.out.status(
                f"{name} ({instance}): {shown or 'waiting for status.resultsURL'} "
                f"{format_duration(elapsed)}{against}"
            )
            wait = TICK if allowed is None else max(0.0, min(TICK, allowed - elapsed))

            def moved(current: Obj, seen: str | None = shown) -> bool:
                return (
                    bool(status(current).get("resultsURL"))
                    or phase_of(current) != "Complete"
                    or lifecycle.quality_gate_progress(current, max_iterations=limit) != seen
                )

            with contextlib.suppress(WatchTimeout, InstanceDeleted):
                watcher.wait_for(instance, moved, timeout=wait, what="status.resultsURL")
            live.flush()

    def _follow_analyzer(self) -> tuple[str, tuple[str, ...]]:
        """The analyzer's outcome (Succeeded, Failed, Skipped, Timeout)."""
        launch, live = self.launch, self.live
        watcher = live.watcher(launch.namespace)
        instance, name = launch.instance, launch.experiment.name
        reported = 0
        # The analyzer starts after the results are in: its start budget runs from then.
        complete_at = self._results_seen or watcher.observed(instance).entered("Complete")
        while True:
            observed = watcher.observed(instance)
            timeline = observed.timeline("analysisPhase")
            for transition in timeline[reported:]:
                reported += 1
                if transition.missed is not None:
                    self.say(
                        f"{instance}: analyzer {transition.value} "
                        f"(not observed: {transition.missed.describe()})"
                    )
                    continue
                self.say(f"{instance}: analyzer {transition.value}")
                self.out.line(f"  {rv.ANALYZER_LINES.get(transition.value, transition.value)}")
                if transition.value == "Running" and live.verbose:
                    for line in self._job_log(instance, lines=10):
                        self.out.line(f"    {line}")
            if observed.deleted:
                return "Deleted", (f"{instance} was deleted before the analyzer finished",)
            phase = rv.analysis_phase(observed.obj)
            now = datetime.now(UTC)
            if phase not in rv.ANALYZER_DONE and phase_of(observed.obj) == "Failed":
                # The operator gave up on the analysis (its Job is gone, say): the turn
                # to Failed says why, and there is nothing left to wait for.
                return phase or "Skipped", ()
            if phase in rv.ANALYZER_DONE:
                if phase == "Failed":
                    live.log_toil(rv.analyzer_failed_toil(name, instance))
                    return phase, tuple(self._job_report(instance))
                return phase, ()
            since: datetime = (timeline[0].seen_at if timeline else complete_at) or now
            if not phase:
                budget, label = self.options.budget_analyzer_start, "not started"
            else:
                budget, label = self.options.budget_analyzer, phase
            elapsed = (now - since).total_seconds()
            if budget is not None and elapsed >= budget:
                if not phase:
                    # No analysisPhase within the budget: the operator never created a job,
                    # so there is no analysis to wait for.
                    self.say(f"{instance}: analyzer never started; counted as Skipped")
                    return "Skipped", (
                        f"status.analysisPhase stayed empty {format_duration(budget)} "
                        "after Complete",
                    )
                live.log_toil(rv.analyzer_timeout_toil(name, instance, budget))
                self.say(f"{instance}: analyzer timeout ({format_duration(budget)}) in {phase}")
                return "Timeout", (
                    f"analyzer still {phase} after {format_duration(elapsed)}",
                    *self._job_report(instance),
                )
            against = f" / {format_duration(budget)}" if budget is not None else ""
            self.out.status(
                f"{name} ({instance}): analyzer {label} {format_duration(elapsed)}{against}"
            )
            wait = TICK if budget is None else max(0.0, min(TICK, budget - elapsed))
            with contextlib.suppress(WatchTimeout, InstanceDeleted):
                watcher.wait_for(instance, _leaves(phase), timeout=wait, what="the analyzer")
            live.flush()

    def _job_name(self, instance: str) -> str | None:
        """The analyzer Job's name as the status gives it, else None (it is looked up)."""
        observed = self.live.watcher(self.launch.namespace).observed(instance)
        named = status(observed.obj).get("analysisJobName")
        return str(named) if named else None

    def _job_log(self, instance: str, *, lines: int, job: str | None = None) -> list[str]:
        assert self.live.cluster is not None
        try:
            if job is None:
                job, _ = self.live.cluster.analyzer_job(instance, named=self._job_name(instance))
            return self.live.cluster.job_log_tail(job, lines=lines) or ["(no log lines)"]
        except ClusterError as exc:
            return [f"logs unavailable: {one_line(exc)}"]

    def _job_report(self, instance: str) -> list[str]:
        """The job's state and log tail (seed step 6, on Failed); each part best effort."""
        assert self.live.cluster is not None
        lines = []
        job: str | None = None
        try:
            job, found = self.live.cluster.analyzer_job(instance, named=self._job_name(instance))
            conditions = [
                f"{c.get('type')}"
                + (f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") else "")
                for c in (found.get("status") or {}).get("conditions") or []
                if isinstance(c, Mapping) and c.get("status") == "True"
            ]
            lines.append(
                f"job {job}: " + (", ".join(conditions) if conditions else "no finished condition")
            )
        except ClusterError as exc:
            lines.append(f"analyzer job: unavailable: {one_line(exc)}")
            lines.append("log: logs unavailable: no analyzer Job to read")
            return lines
        lines += [f"log: {line}" for line in self._job_log(instance, lines=50, job=job)]
        return lines

    # -- gate failure: report, suggest, apply -----------------------------------------

    def _report_gate(self, outcome: Published) -> None:
        decision = outcome.decision
        assert decision is not None
        self.say(f"{outcome.instance}: quality gate FAIL")
        for line in gate.cause_lines(decision.causes):
            self.out.line(f"  {line}")
        if decision.escalation:
            self.out.line(f"  needs a person: {decision.escalation}")

    def _edited(
        self, fixes: Sequence[str], problems: list[str]
    ) -> dict[Path, tuple[str, str, list[str]]]:
        """{file: (before, after, fixes made)} for the fixes that can be made."""
        experiment = self.launch.experiment
        files: dict[Path, tuple[str, str, list[str]]] = {}
        for fix in fixes:
            path = (
                experiment.path.parent / "workflow" / "template.yaml"
                if fix in autofix.TEMPLATE_FIXES
                else experiment.path
            )
            if path not in files:
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError as exc:
                    self._problem(problems, fix, f"cannot read {path.name}: {exc.strerror}")
                    continue
                files[path] = (text, text, [])
            before, current, made = files[path]
            try:
                files[path] = (before, autofix.apply_fix(fix, current), [*made, fix])
            except autofix.FixError as exc:
                self._problem(problems, fix, str(exc))
        return {p: v for p, v in files.items() if v[2]}

    def _problem(self, problems: list[str], fix: str, why: str) -> None:
        text = f"{fix} cannot be applied automatically: {why}"
        problems.append(text)
        self.say(f"  {text}")

    def _suggest(self, outcome: Published, fixes: Sequence[str]) -> None:
        edits = self._edited(fixes, outcome.fix_problems)
        outcome.diff = "".join(
            autofix.unified_diff(before, after, shown_path(path))
            for path, (before, after, _) in edits.items()
        )
        if outcome.diff:
            self.say(f"{outcome.instance}: suggested fix (--experiment-autofix=apply applies it):")
            for line in outcome.diff.splitlines():
                self.out.line(f"  {line}")

    def _apply_fixes(self, outcome: Published, fixes: Sequence[str]) -> list[str]:
        edits = self._edited(fixes, outcome.fix_problems)
        written: list[str] = []
        diffs = []
        for path, (before, after, made) in edits.items():
            try:
                path.write_text(after, encoding="utf-8")
            except OSError as exc:
                for fix in made:
                    self._problem(
                        outcome.fix_problems, fix, f"cannot write {path.name}: {exc.strerror}"
                    )
                continue
            written.extend(made)
            diffs.append(autofix.unified_diff(before, after, shown_path(path)))
        outcome.diff = "".join(diffs)
        self.launch.applied_fixes.extend(written)
        return written

    # -- re-run -----------------------------------------------------------------------

    def _rerun(self) -> str | None:
        """Delete the instance, close its PR, re-apply the edited file and follow it.

        Returns why the loop must stop (the re-run did not complete), or None.
        """
        live, launch = self.live, self.launch
        try:
            launch.experiment = Experiment.from_source(read_source(launch.experiment.path))
        except SpecError as exc:
            return f"the fixed file does not parse: {exc}"
        pr = rv.PullRequestRef.of(live.watcher(launch.namespace).observed(launch.instance).obj)
        live.retire(launch, reason=f"auto-fix attempt {len(launch.attempts)}: replaced by a re-run")
        gh = GitHub.find()
        if pr.number is not None:
            if gh is None:
                self.say(f"  {pr.name} left open: gh is not on PATH to close it")
            else:
                try:
                    gh.pr_close(pr.number)
                    self.say(f"  closed {pr.name} ({pr.url})")
                except GitHubError as exc:
                    self.say(f"  {pr.name} not closed: {one_line(exc)}")
        verdict = live.rerun(launch)
        if verdict.status is not Status.PASS:
            return (
                f"auto-fix re-run {launch.instance or '(not applied)'} did not complete: "
                f"{one_line(verdict.line)}"
            )
        return None


def _leaves(phase: str) -> Callable[[Obj], bool]:
    return lambda obj: rv.analysis_phase(obj) != phase or phase_of(obj) == "Failed"


def _primary(outcome: Published) -> str:
    failing = [r for _, r in outcome.results or () if r.status is Status.FAIL]
    return one_line(failing[0].summary, limit=120) if failing else "gate failed"


# -- review ----------------------------------------------------------------------------------


def review(live: LiveRun, launch: Launch, outcome: Published) -> CheckResult:
    """The review item's verdict for the launch's last instance; computed once."""
    if launch.review is None:
        launch.review = _Reviewer(live, launch, outcome).run()
    return launch.review


class _Reviewer:
    def __init__(self, live: LiveRun, launch: Launch, outcome: Published) -> None:
        self.live = live
        self.launch = launch
        self.outcome = outcome
        self.options = live.options
        self.instance = launch.instance
        self.name = launch.experiment.name
        self.watcher = live.watcher(launch.namespace)
        self.gh = GitHub.find()
        self.figures: dict[str, Any] = {}

    def say(self, text: str) -> None:
        self.live.out.clear()
        self.live.out.line(text)

    def run(self) -> CheckResult:
        if self.outcome.turn is not None:
            # The operator publishes nothing for a run it failed: there is no review gate.
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
            turn = lifecycle.turned_failed(obj) or Turn(
                type="phase", reason="Failed", message=lifecycle.first_condition_message(obj)
            )
            self.outcome.turn = turn
            self.live.log_toil(lifecycle.turn_toil(self.name, self.instance, turn))
            return self._result(Status.NA, f"Review: no review gate: {self.outcome.turn_line()}")
        pr = rv.PullRequestRef.of(
            obj if obj is not None else self.watcher.observed(self.instance).obj
        )
        self.figures.update(prNumber=pr.number, prURL=pr.url or None, branch=pr.branch or None)
        phase = rv.review_phase(obj)
        self.figures["reviewPhase"] = phase or None
        if phase == "Skipped":
            # The operator opens a review only for a published run with a PR.
            why = lifecycle.review_skipped_why(obj)
            if pr.number is None and self.launch.experiment.publish:
                # Asked to publish, yet no PR: its creation failed on the operator's side.
                self.live.log_toil(rv.no_pr_toil(self.name, self.instance))
            return self._result(
                Status.NA, f"Review: skipped by the operator (reviewPhase Skipped: {why})"
            )
        if not pr.url:
            self.live.log_toil(rv.no_pr_toil(self.name, self.instance))
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
        assert self.live.cluster is not None
        try:
            self.live.cluster.annotate_experiment(
                self.instance,
                namespace=self.launch.namespace,
                annotations={rv.REVIEW_ANNOTATION: wanted},
            )
        except ClusterError as exc:
            self.live.log_toil(rv.review_toil(self.name, self.instance, one_line(exc)))
            return self._result(
                Status.FAIL,
                f"Review: could not annotate {self.instance}: {one_line(exc)}",
                details,
            )
        self.say(f"{self.instance}: review {wanted} ({rv.REVIEW_ANNOTATION}={wanted})")
        self.figures["action"] = wanted
        return self._await_operator(pr, details, why=f"annotated {wanted}", ours=True)

    def _wait(self, predicate: Callable[[Obj], bool], *, what: str) -> Obj | None:
        """The object once ``predicate`` holds, or None after ``--experiment-budget-review``."""
        budget = self.options.budget_review
        try:
            return self.watcher.wait_for(
                self.instance,
                predicate,
                timeout=budget if budget is not None else float("inf"),
                what=what,
            )
        except WatchTimeout:
            return None

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
            self.live.out.line(f"  {line}")
        return lines

    def _await_operator(
        self, pr: rv.PullRequestRef, details: list[str], *, why: str, ours: bool = False
    ) -> CheckResult:
        try:
            obj = self._wait(
                lambda o: rv.review_phase(o) in rv.REVIEW_DONE,
                what="reviewPhase Approved or Rejected",
            )
        except InstanceDeleted:
            return self._result(
                Status.FAIL,
                f"Review: {self.instance} was deleted before the review resolved",
                details,
            )
        if obj is None:
            budget = format_duration(self.options.budget_review)
            problem = f"reviewPhase still Pending {budget} after {why}"
            self.live.log_toil(rv.review_toil(self.name, self.instance, problem))
            return self._result(Status.FAIL, f"Review: {problem}", details)
        return self._decided(rv.review_phase(obj), pr, details, ours=ours)

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
            self.live.out.line(f"  {line}")
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
        self.live.out.line(f"  {line}")
        return [line]

    def _result(self, status: Status, summary: str, details: Sequence[str] = ()) -> CheckResult:
        self.figures.setdefault("pr", self.figures.get("prURL"))
        return CheckResult(
            status,
            summary,
            details=tuple(details),
            figures={k: v for k, v in self.figures.items() if v is not None},
        )


__all__ = ["Attempt", "Published", "published", "review"]
