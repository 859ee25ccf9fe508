"""The gate decision: root causes, the fixes still to try, and the auto-fix loop's next step."""

from __future__ import annotations

from pathlib import Path

from pytest_experiment.core.gate import GateDecision, Plan, RootCause, cause_lines, decide, plan
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status

PASS, WARN, FAIL = (CheckResult(s, "x") for s in (Status.PASS, Status.WARN, Status.FAIL))
SPEC = (Path(__file__).parent / "data" / "autofix" / "bare.yaml").read_text()


def experiment(tmp_path: Path, text: str = SPEC) -> Experiment:
    path = tmp_path / "bare" / "experiment.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return Experiment.from_source(read_source(path))


# -- the decision ----------------------------------------------------------------------------


def test_a_passing_gate_names_no_causes(tmp_path: Path) -> None:
    decision = decide(experiment(tmp_path), [("custom-metrics", PASS), ("presentation", PASS)])
    assert decision.gate is Status.PASS
    assert decision.causes == ()
    assert decision.fixes == ()


def test_a_pipeline_failure_is_fixable_even_though_groups_are_empty(tmp_path: Path) -> None:
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    decision = decide(
        experiment(tmp_path), [("custom-metrics", FAIL), ("intent-coverage", coverage)]
    )
    assert decision.gate is Status.FAIL
    assert decision.fixes == (
        "add-kube-prometheus-stack",
        "add-metrics-pipeline",
        "fix-namespace-var",
    )
    assert decision.escalation is None


def test_empty_groups_are_blamed_on_the_pipeline_only_when_no_custom_metric_arrived(
    tmp_path: Path,
) -> None:
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    bare = experiment(tmp_path)
    nothing_arrived = decide(bare, [("custom-metrics", FAIL), ("intent-coverage", coverage)])
    assert [c.message for c in nothing_arrived.causes if c.check == "intent-coverage"] == [
        "Experiment's differentiating data missing — db has no results, as no custom metric "
        "arrived: the custom-metrics causes above explain it"
    ]
    # Other groups have data: the pipeline works, so this group's emptiness is its own.
    some_arrived = decide(bare, [("custom-metrics", WARN), ("intent-coverage", coverage)])
    assert [c.message for c in some_arrived.causes if c.check == "intent-coverage"] == [
        "Experiment's differentiating data missing — db has no results; the spec shows no "
        "infrastructure mismatch (check the target's PVCs and events)"
    ]


def test_both_spellings_of_the_namespace_variable_are_a_cause_and_a_lookalike_is_not(
    tmp_path: Path,
) -> None:
    # The lint rule, the gate and the fix read $NAMESPACE the same way.
    for spelling, named in (("$NAMESPACE", True), ("${NAMESPACE}", True), ("$NAMESPACES", False)):
        spec = SPEC.replace("$NAMESPACE", spelling)
        decision = decide(experiment(tmp_path, spec), [("custom-metrics", FAIL)])
        assert ("fix-namespace-var" in decision.fixes) is named, spelling


# The metrics pipeline complete and $NAMESPACE spelled right: none of the custom-metrics
# fixes applies, so only the checks a test names can offer one.
PIPELINED = SPEC.replace(
    "        - app: loadgen\n",
    "        - app: loadgen\n        - app: kube-prometheus-stack\n"
    "        - app: metrics-agent\n        - app: metrics-egress\n",
).replace("$NAMESPACE", "$EXPERIMENT")


def test_intent_coverage_alone_escalates_and_is_never_fixed(tmp_path: Path) -> None:
    spec = PIPELINED
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    decision = decide(
        experiment(tmp_path, spec), [("custom-metrics", WARN), ("intent-coverage", coverage)]
    )
    assert decision.fixes == ()
    assert decision.escalation == "intent coverage failed: never auto-fixed, a person must decide"


def test_intent_coverage_escalates_though_another_check_has_a_fix(tmp_path: Path) -> None:
    # Only a fix for the custom metrics explains empty groups; a fix elsewhere (units on
    # the latency metrics) must not let a failing intent check be auto-fixed.
    spec = PIPELINED
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    decision = decide(
        experiment(tmp_path, spec),
        [("custom-metrics", WARN), ("presentation", WARN), ("intent-coverage", coverage)],
    )
    assert "add-metric-units" in [c.fix for c in decision.causes]
    assert decision.fixes == ()
    assert decision.escalation == "intent coverage failed: never auto-fixed, a person must decide"


def test_a_fix_already_applied_is_not_offered_again(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    applied = ["add-kube-prometheus-stack", "add-metrics-pipeline", "fix-namespace-var"]
    decision = decide(exp, [("custom-metrics", FAIL)], applied=applied)
    assert decision.fixes == ()
    assert decision.escalation == (
        "no new fix applies (already applied: add-kube-prometheus-stack, "
        "add-metrics-pipeline, fix-namespace-var)"
    )


def test_a_warn_gate_names_causes_without_escalating(tmp_path: Path) -> None:
    decision = decide(experiment(tmp_path), [("presentation", WARN)])
    assert decision.gate is Status.WARN
    assert decision.causes == (
        RootCause(
            "presentation",
            "latency metrics without a unit: write_p99, read_p50",
            "add-metric-units",
        ),
    )
    assert decision.escalation is None


# -- the loop's next step ---------------------------------------------------------------------


def failing(*fixes: str, escalation: str | None = None) -> GateDecision:
    return GateDecision(gate=Status.FAIL, causes=(), fixes=fixes, escalation=escalation)


def test_the_loop_applies_new_fixes_until_three_re_runs_were_made() -> None:
    applied: list[str] = []
    steps = []
    for attempt, fix in enumerate(["add-kube-prometheus-stack", "fix-namespace-var",
                                   "add-load-test", "add-metric-units"]):  # fmt: skip
        step = plan(failing(fix), mode="apply", attempts=attempt, applied=applied)
        steps.append(step)
        applied.extend(step.apply)
    assert [s.apply for s in steps[:3]] == [
        ("add-kube-prometheus-stack",), ("fix-namespace-var",), ("add-load-test",)
    ]  # fmt: skip
    # A fourth fix would be a fourth re-run: the loop ends and says what it tried.
    assert steps[3] == Plan(
        stopped="3 auto-fix attempts exhausted: "
        "add-kube-prometheus-stack, fix-namespace-var, add-load-test"
    )


def test_the_loop_stops_when_no_new_fix_applies() -> None:
    escalation = "no new fix applies (already applied: add-load-test)"
    step = plan(failing(escalation=escalation), mode="apply", attempts=1, applied=["add-load-test"])
    assert step == Plan(stopped=escalation)


def test_suggest_prints_fixes_and_off_does_nothing() -> None:
    decision = failing("add-metric-units")
    assert plan(decision, mode="suggest", attempts=0, applied=[]) == Plan(
        suggest=("add-metric-units",)
    )
    assert plan(decision, mode="off", attempts=0, applied=[]) == Plan()


def test_a_gate_that_does_not_fail_ends_the_loop_without_a_reason() -> None:
    warn = GateDecision(gate=Status.WARN, causes=(), fixes=("add-metric-units",), escalation=None)
    assert plan(warn, mode="apply", attempts=0, applied=[]) == Plan()
    assert plan(None, mode="apply", attempts=0, applied=[]) == Plan()


def test_cause_lines_name_the_check_and_the_fix_when_there_is_one() -> None:
    causes = [
        RootCause("custom-metrics", "lacks kube-prometheus-stack", "add-kube-prometheus-stack"),
        RootCause("machine-verdict", "criterion not evaluable", None),
    ]
    assert cause_lines(causes) == [
        "root cause (custom-metrics): lacks kube-prometheus-stack [fix: add-kube-prometheus-stack]",
        "root cause (machine-verdict): criterion not evaluable",
    ]


def test_failing_workload_pods_without_load_generation_call_for_a_load_test(
    tmp_path: Path,
) -> None:
    idle = experiment(tmp_path, SPEC.replace("        - app: loadgen\n", ""))
    failing = decide(idle, [("custom-metrics", PASS), ("workload-pods", FAIL)])
    assert [(c.check, c.fix) for c in failing.causes] == [("workload-pods", "add-load-test")]
    assert failing.fixes == ("add-load-test",)
    for status in (PASS, WARN):
        quiet = decide(idle, [("custom-metrics", PASS), ("workload-pods", status)])
        assert [c.fix for c in quiet.causes] == []


def test_the_causes_of_missing_custom_metrics_in_full(tmp_path: Path) -> None:
    bare = experiment(tmp_path, SPEC.replace("        - app: loadgen\n", ""))
    expected = [
        RootCause(
            "custom-metrics",
            "experiment lacks kube-prometheus-stack — the operator queries target-local "
            "Prometheus for custom metrics via ServiceMonitor scrapes",
            "add-kube-prometheus-stack",
        ),
        RootCause(
            "custom-metrics",
            "experiment lacks metrics-agent + metrics-egress — needed for the hub VM fallback path",
            "add-metrics-pipeline",
        ),
        RootCause(
            "custom-metrics",
            "`$NAMESPACE` resolves to the Experiment CR namespace ('experiments'), not the "
            "target namespace where pods run; use `$EXPERIMENT` instead (write_p99)",
            "fix-namespace-var",
        ),
        RootCause(
            "custom-metrics",
            "no load generation: no component or target drives traffic, so workload metrics "
            "stay empty",
            "add-load-test",
        ),
    ]
    assert list(decide(bare, [("custom-metrics", FAIL)]).causes) == expected
    # The operator falling back to cadvisor is the same trouble, named by metrics-source.
    by_source = decide(bare, [("custom-metrics", PASS), ("metrics-source", WARN)])
    assert list(by_source.causes) == expected


def test_a_failing_gate_with_no_fixable_cause_says_so(tmp_path: Path) -> None:
    unevaluated = CheckResult(Status.FAIL, "x", figures={"unevaluated": ["p99 lt 1"]})
    decision = decide(experiment(tmp_path), [("machine-verdict", unevaluated)])
    assert [c.fix for c in decision.causes] == [None]
    assert decision.fixes == ()
    assert decision.escalation == "no fixable root cause identified"
    assert plan(failing(), mode="apply", attempts=0, applied=[]) == Plan(stopped="no fix applies")


def test_empty_groups_are_not_the_pipelines_when_only_load_generation_is_missing(
    tmp_path: Path,
) -> None:
    # Custom metrics failing for want of load says nothing about the pipeline, and a fix
    # for another check (units) does not make it the pipeline's doing either.
    spec = SPEC.replace(
        "        - app: loadgen\n",
        "        - app: kube-prometheus-stack\n        - app: metrics-agent\n"
        "        - app: metrics-egress\n",
    ).replace("$NAMESPACE", "$EXPERIMENT")
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    decision = decide(
        experiment(tmp_path, spec),
        [("custom-metrics", FAIL), ("presentation", WARN), ("intent-coverage", coverage)],
    )
    assert [c.message for c in decision.causes if c.check == "intent-coverage"] == [
        "Experiment's differentiating data missing — db has no results; the spec shows no "
        "infrastructure mismatch (check the target's PVCs and events)"
    ]
