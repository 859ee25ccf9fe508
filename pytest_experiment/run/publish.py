"""A published run after Complete: results, analyzer, quality gate and auto-fix re-runs.

Runs on the item thread of the experiment's first quality (or review) item
and is computed once per launch: ``published()`` waits for the results
(``run.results_wait``), follows the analyzer (``run.analyzer``), scores the
summary, decides the gate
and, with ``--experiment-autofix=apply``, edits the file and re-runs the
experiment until the gate passes, no new fix applies or three attempts are
spent. What the observations mean is decided in ``core.gate``,
``core.autofix``, ``core.review`` and the checks; the review gate is ``run.review_gate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_experiment.base.errors import GitHubError, ResultsError, SpecError
from pytest_experiment.base.text import one_line
from pytest_experiment.core import autofix, gate, lifecycle
from pytest_experiment.core import review as rv
from pytest_experiment.core.lifecycle import format_duration, shown_path, status
from pytest_experiment.core.result_file import ResultFile
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status
from pytest_experiment.run import results_wait
from pytest_experiment.run.analyzer import Analyzer
from pytest_experiment.run.contexts import PublishContext
from pytest_experiment.run.diagnostics import failed_summary
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.published import Attempt, Published

Score = Callable[[Experiment, ResultFile, str | None], Sequence[tuple[str, CheckResult]]]
"""Scores one summary: the plugin's checks, memoised per result."""


def published(run: PublishContext, launch: Launch, *, score: Score) -> Published:
    """The scored outcome of ``launch``'s last attempt; computed once."""
    state = launch.publish
    if state.outcome is None:
        state.outcome = _Publisher(run, launch, score).publish()
    return state.outcome


class _Publisher:
    def __init__(self, run: PublishContext, launch: Launch, score: Score) -> None:
        self.run = run
        self.launch = launch
        self.state = launch.publish
        self.score = score
        self.options = run.options
        self.out = run.out
        self._wait: results_wait.ResultsWait | None = None

    def say(self, text: str) -> None:
        self.out.clear()
        self.out.line(text)

    def publish(self) -> Published:
        launch, state = self.launch, self.state
        while True:
            outcome = self._score_once()
            decision = outcome.decision
            if decision is None or not decision.failed:
                return self._finish(outcome)
            self.run.log_toil(
                rv.quality_gate_toil(launch.name, outcome.instance, _primary(outcome))
            )
            self._report_gate(outcome)
            step = gate.plan(
                decision,
                mode=self.options.autofix,
                attempts=len(state.attempts),
                applied=state.applied_fixes,
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
            number = len(state.attempts) + 1
            state.attempts.append(
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
                outcome.attempts = list(state.attempts)
                self.say(f"{launch.name}: auto-fix stopped: {why}")
                return outcome

    def _finish(self, outcome: Published) -> Published:
        attempts = self.state.attempts
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
        outcome.absent = results_wait.manual_absence(self.run, launch)
        if outcome.absent:
            return outcome
        # Nothing is read (or waited for) before the quality gate passed.
        self._wait = waited = results_wait.await_results(self.run, launch)
        outcome.turn = results_wait.turn(self.run, launch)
        if outcome.turn is not None:
            observed = self.run.watcher(launch.namespace).observed(launch.instance)
            outcome.analyzer = rv.analysis_phase(observed.obj) or "Skipped"
        elif waited.settled:
            # Read once the analyzer has resolved: a successful one has added `analysis` to
            # summary.json (seed step 6), and nothing is scored before then.
            outcome.analyzer, outcome.analyzer_details = Analyzer(self.run, launch).outcome(
                results_seen=waited.at
            )
            outcome.turn = results_wait.turn(self.run, launch)
        # Else no final results within the wait: the operator starts no analyzer before
        # them, and reading the summary says what is missing.
        if outcome.turn is not None and outcome.turn.type == "AnalysisComplete":
            # Its Job failed or vanished: for the AI verdict that is a failed analyzer.
            outcome.analyzer = "Failed"
        if outcome.analyzer == "Failed":
            # One record per analyzer failure, whether the operator also turned the run
            # Failed for it (its condition is on every item) or not.
            self.run.log_toil(rv.analyzer_failed_toil(launch.name, launch.instance))
        if outcome.turn is not None:
            self.say(f"{outcome.turn_line()}")
            if outcome.turn.type != "AnalysisComplete":
                self.run.log_toil(lifecycle.turn_toil(launch.name, launch.instance, outcome.turn))
            outcome.analyzer_details = (*outcome.analyzer_details, outcome.turn_line())
            observed = self.run.watcher(launch.namespace).observed(launch.instance)
            url = status(observed.obj).get("resultsURL")
            if not url:
                # The turn is the reason, already recorded as toil: no second record.
                outcome.problem = f"{launch.instance} has no status.resultsURL"
                return outcome
            if outcome.turn.type == "QualityGate":
                # Nothing was published: the failed run's summary explains, it is no gate.
                outcome.problem = "the quality gate failed the run: its summary is not scored"
                declared = [m.name for m in launch.spec.metrics]
                outcome.turn_details = tuple(
                    failed_summary(self.run.read_summary, str(url), declared=declared)
                )
                return outcome
        summary = self._read_summary(outcome)
        if summary is None:
            return outcome
        result = ResultFile(
            instance=launch.instance,
            path=Path(f"s3/{launch.instance}/summary.json"),
            summary=summary,
        )
        outcome.results = tuple(self.score(launch.spec, result, outcome.analyzer or None))
        outcome.decision = gate.decide(
            launch.spec, outcome.results, applied=self.state.applied_fixes
        )
        return outcome

    def _read_summary(self, outcome: Published) -> Mapping[str, Any] | None:
        """summary.json of the Complete instance into ``outcome``; None with
        ``outcome.problem`` saying why (and a toil record)."""
        launch = self.launch
        observed = self.run.watcher(launch.namespace).observed(launch.instance)
        url = status(observed.obj).get("resultsURL")
        outcome.results_url = str(url or "")
        waited = format_duration(self._wait.waited if self._wait is not None else 0.0)
        limit = lifecycle.max_iterations(launch.spec.data.get("spec") or {})
        deciding = lifecycle.quality_gate_progress(observed.obj, max_iterations=limit)
        try:
            if not url and observed.deleted:
                raise ResultsError(f"{launch.instance} was deleted before its results were written")
            if not url:
                raise ResultsError(
                    f"{launch.instance} has no status.resultsURL (waited {waited} for it)"
                )
            if deciding:
                # Its URL may be cleared for another collection: these are not the results.
                raise ResultsError(
                    f"{launch.instance}: {deciding} after waiting {waited}: "
                    "its results are not final"
                )
            outcome.summary = self.run.read_summary(str(url))
        except ResultsError as exc:
            outcome.problem = one_line(exc)
            self.run.log_toil(lifecycle.results_toil(launch.name, launch.instance, outcome.problem))
        return outcome.summary

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
        experiment = self.launch.spec
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
                after = autofix.apply_fix(fix, current)
            except autofix.FixError as exc:
                self._problem(problems, fix, str(exc))
                continue
            if after == current:
                # The gate reads causes from the parsed spec, the fix edits the text; where
                # they disagree (an empty unit), applying it would re-run the same file.
                self._problem(problems, fix, f"it changes nothing in {path.name}")
                continue
            files[path] = (before, after, [*made, fix])
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
        self.state.applied_fixes.extend(written)
        return written

    # -- re-run -----------------------------------------------------------------------

    def _rerun(self) -> str | None:
        """Delete the instance, close its PR, re-apply the edited file and follow it.

        Returns why the loop must stop (the re-run did not complete), or None.
        """
        run, launch = self.run, self.launch
        try:
            experiment = Experiment.from_source(read_source(launch.spec.path))
        except SpecError as exc:
            return f"the fixed file does not parse: {exc}"
        pr = rv.PullRequestRef.of(run.watcher(launch.namespace).observed(launch.instance).obj)
        run.retire(
            launch, reason=f"auto-fix attempt {len(self.state.attempts)}: replaced by a re-run"
        )
        gh = run.github()
        if pr.number is not None:
            if gh is None:
                self.say(f"  {pr.name} left open: gh is not on PATH to close it")
            else:
                try:
                    gh.pr_close(pr.number)
                    self.say(f"  closed {pr.name} ({pr.url})")
                except GitHubError as exc:
                    self.say(f"  {pr.name} not closed: {one_line(exc)}")
        verdict = run.rerun(launch, experiment)
        if verdict.status is not Status.PASS:
            return (
                f"auto-fix re-run {launch.instance or '(not applied)'} did not complete: "
                f"{one_line(verdict.line)}"
            )
        return None


def _primary(outcome: Published) -> str:
    failing = [r for _, r in outcome.results or () if r.status is Status.FAIL]
    return one_line(failing[0].summary, limit=120) if failing else "gate failed"


__all__ = ["Score", "published"]
