"""The gate decision and the auto-fixes: pure, on real files, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_experiment.core.autofix import (
    FixError,
    add_components,
    add_load_test,
    add_metric_units,
    apply_fix,
    unified_diff,
)
from pytest_experiment.core.gate import GateDecision, Plan, RootCause, decide, plan
from pytest_experiment.core.spec import Experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status

PASS, WARN, FAIL = (CheckResult(s, "x") for s in (Status.PASS, Status.WARN, Status.FAIL))

SPEC = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: bare-   # keep me
  namespace: experiments
spec:
  publish: true
  targets:
    - name: app
      cluster: {type: gke, machineType: e2-standard-4}
      components:
        - app: naive-db    # the workload

        - app: loadgen
      # trailing comment of the target
  metrics:
    - name: write_p99
      query: 'histogram_quantile(0.99, x{ns="$NAMESPACE"})'
      group: db
    - name: "write_latency"   # quoted on purpose
      query: y
      unit: seconds
    - name: read_p50
      query: z
"""


def experiment(tmp_path: Path, text: str = SPEC) -> Experiment:
    path = tmp_path / "bare" / "experiment.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return Experiment.from_source(read_source(path))


def inserted(before: str, after: str) -> list[str]:
    """The lines ``after`` adds, asserting everything else is ``before`` unchanged."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added: list[str] = []
    i = 0
    for line in new:
        if i < len(old) and line == old[i]:
            i += 1
        else:
            added.append(line.rstrip("\n"))
    assert i == len(old), "a line of the original was changed or dropped"
    return added


def test_components_are_added_after_the_last_item_indented_alike() -> None:
    after = apply_fix("add-metrics-pipeline", apply_fix("add-kube-prometheus-stack", SPEC))
    assert inserted(SPEC, after) == [
        "        - app: kube-prometheus-stack",
        "        - app: metrics-agent",
        "        - app: metrics-egress",
    ]
    assert after.index("- app: loadgen") < after.index("- app: kube-prometheus-stack")
    assert after.index("- app: metrics-egress") < after.index("# trailing comment")


def test_a_present_component_is_not_added_twice() -> None:
    once = add_components(SPEC, ["kube-prometheus-stack"])
    assert add_components(once, ["kube-prometheus-stack"]) == once


def test_metric_units_go_under_the_name_of_latency_metrics_without_one() -> None:
    after = add_metric_units(SPEC)
    assert inserted(SPEC, after) == ["      unit: seconds", "      unit: seconds"]
    lines = after.splitlines()
    assert lines[lines.index("    - name: write_p99") + 1] == "      unit: seconds"
    assert lines[lines.index("    - name: read_p50") + 1] == "      unit: seconds"


def test_namespace_var_becomes_experiment_everywhere_and_nothing_else_changes() -> None:
    after = apply_fix("fix-namespace-var", SPEC)
    assert "$NAMESPACE" not in after
    assert after == SPEC.replace("$NAMESPACE", "$EXPERIMENT")


def test_flow_lists_are_refused_rather_than_rewritten() -> None:
    flow = SPEC.replace(
        "      components:\n        - app: naive-db    # the workload\n\n        - app: loadgen\n",
        "      components: [{app: naive-db}, {app: loadgen}]\n",
    )
    with pytest.raises(FixError, match="components is not a block list"):
        add_components(flow, ["metrics-agent"])


def test_unknown_fix_is_an_error() -> None:
    with pytest.raises(FixError, match="unknown fix"):
        apply_fix("make-it-fast", SPEC)


def test_diff_is_a_unified_diff_of_the_file() -> None:
    diff = unified_diff(SPEC, add_metric_units(SPEC), "experiments/bare/experiment.yaml")
    assert diff.startswith(
        "--- a/experiments/bare/experiment.yaml\n+++ b/experiments/bare/experiment.yaml\n@@ "
    )
    assert diff.count("\n+      unit: seconds") == 2


@pytest.mark.parametrize(
    "fix", ["add-kube-prometheus-stack", "add-metrics-pipeline", "fix-namespace-var"]
)
def test_fixes_on_real_upstream_files_change_only_their_lines(
    upstream: Path, tmp_path: Path, fix: str
) -> None:
    changed = 0
    for source in sorted((upstream / "experiments").glob("*/experiment.yaml")):
        copy = tmp_path / source.parent.name / "experiment.yaml"
        copy.parent.mkdir()
        shutil.copy(source, copy)
        before = copy.read_bytes()
        after = apply_fix(fix, before.decode()).encode()
        copy.write_bytes(after)
        if fix == "fix-namespace-var":
            assert after == before.replace(b"$NAMESPACE", b"$EXPERIMENT")
            continue
        added = inserted(before.decode(), after.decode())
        assert all(line.strip().startswith("- app: ") for line in added), added
        changed += bool(added)
        # The edited file still parses as the same experiment plus the components.
        edited = Experiment.from_source(read_source(copy))
        apps = {c.app for _, c in edited.components()}
        assert ("kube-prometheus-stack" in apps) or fix != "add-kube-prometheus-stack"
    if fix != "fix-namespace-var":
        assert changed >= 3


def test_load_test_step_on_a_real_workflow_template(upstream: Path) -> None:
    template = (upstream / "experiments" / "hello-app" / "workflow" / "template.yaml").read_text()
    after = add_load_test(template)
    added = inserted(template, after)
    assert added[:2] == ["        - - name: load-test", "            template: load-test"]
    assert "    - name: load-test" in added
    with pytest.raises(FixError, match="already has a load-test"):
        add_load_test(after)


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


def test_intent_coverage_alone_escalates_and_is_never_fixed(tmp_path: Path) -> None:
    spec = SPEC.replace(
        "        - app: loadgen\n",
        "        - app: loadgen\n        - app: kube-prometheus-stack\n"
        "        - app: metrics-agent\n        - app: metrics-egress\n",
    ).replace("$NAMESPACE", "$EXPERIMENT")
    coverage = CheckResult(Status.FAIL, "x", figures={"missing": ["db"]})
    decision = decide(
        experiment(tmp_path, spec), [("custom-metrics", WARN), ("intent-coverage", coverage)]
    )
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
