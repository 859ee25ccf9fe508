"""Validation and lint rules as a user meets them: status, scorecard line, fix."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_experiment.core import rules
from pytest_experiment.core.catalog import Catalogue, load_catalogue
from pytest_experiment.core.rules import RULES, Rule, RuleContext, run_rules
from pytest_experiment.core.rules.text import did_you_mean, get, shown, suggest_name
from pytest_experiment.core.schema import bundled_schema, schema_from_crd
from pytest_experiment.core.spec import Experiment, load_experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status

DATA = Path(__file__).parent / "data" / "rules"
FIXTURE_COMPONENTS = DATA / "components"

# Line numbers below refer to this document; each test edits one thing.
BASE = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: demo-
  namespace: experiments
spec:
  targets:
    - name: app
      cluster:
        type: gke
        machineType: e2-standard-4
      components:
        - app: kv-store
        - app: kube-prometheus-stack
        - app: metrics-agent
        - app: metrics-egress
  metrics:
    - name: write_p99
      query: 'sum(rate(kv_write_bucket{namespace=~"$EXPERIMENT"}[1m])) by (le)'
      unit: seconds
  workflow:
    template: demo-validation
    completion:
      mode: workflow
"""


def edit(*pairs: tuple[str, str]) -> str:
    text = BASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


def load(tmp_path: Path, text: str = BASE, *, name: str = "demo") -> Experiment:
    path = tmp_path / name / "experiment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return Experiment.from_source(read_source(path))


@pytest.fixture(scope="module")
def fixture_catalogue() -> Catalogue:
    return load_catalogue(FIXTURE_COMPONENTS)


@pytest.fixture(scope="module")
def real_catalogue(upstream: Path) -> Catalogue:
    return load_catalogue(upstream / "components")


def real(upstream: Path, name: str) -> Experiment:
    experiment = load_experiment(upstream / "experiments" / name / "experiment.yaml")
    assert experiment is not None
    return experiment


# -- the registry ------------------------------------------------------------------------------


def test_registry_names_are_the_specified_ones_in_order() -> None:
    assert [r.name for r in RULES] == [
        "schema",
        "kind",
        "components",
        "workflow-template",
        "tutorial-targets",
        "metric-names",
        "namespace",
        "generate-name",
        "gke-name-length",
        "namespace-var",
        "metrics-pipeline",
        "metric-units",
        "storage-machine",
    ]


def test_a_sound_experiment_passes_every_rule(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    context = RuleContext(experiment=load(tmp_path), catalogue=fixture_catalogue)
    assert [(name, r.line) for name, r in run_rules(context)] == [
        ("schema", "[PASS] Schema: valid (bundled schema)"),
        ("kind", "[PASS] Kind: Experiment"),
        ("components", f"[PASS] Components: 4/4 resolve in {FIXTURE_COMPONENTS}"),
        ("workflow-template", "[PASS] Workflow template: demo-validation"),
        ("tutorial-targets", "[PASS] Tutorial targets: no tutorial services"),
        ("metric-names", "[PASS] Metric names: 1/1 valid"),
        ("namespace", "[PASS] Namespace: experiments"),
        ("generate-name", "[PASS] generateName: demo-"),
        ("gke-name-length", "[PASS] GKE cluster name length: longest 25/40 (target 'app')"),
        ("namespace-var", "[PASS] Namespace variable: no query uses $NAMESPACE (1 query)"),
        (
            "metrics-pipeline",
            "[PASS] Metrics pipeline: kube-prometheus-stack, metrics-agent + metrics-egress "
            "present",
        ),
        ("metric-units", "[PASS] Metric units: 1/1 latency metrics have a unit"),
        ("storage-machine", "[PASS] Storage vs machine: no Hyperdisk used"),
    ]


def test_schema_rule_uses_the_live_crd_schema_when_given(tmp_path: Path, upstream: Path) -> None:
    # The bundled schema requires DNS-label target names; the operator's CRD does not.
    experiment = load(tmp_path, edit(("- name: app", "- name: App")))
    crd = yaml.safe_load((upstream / "crds/experiments.illm.io_experiments.yaml").read_text())
    live = dict(run_rules(RuleContext(experiment=experiment, schema=schema_from_crd(crd))))
    bundled = dict(run_rules(RuleContext(experiment=experiment, schema=bundled_schema())))
    assert live["schema"].line == "[PASS] Schema: valid (live CRD schema)"
    assert bundled["schema"].summary.startswith("Schema: 1 violation(s) of bundled schema")
    assert bundled["schema"].details == (
        'experiment.yaml:8: spec.targets[0].name: "App" must match ^[a-z]([-a-z0-9]*[a-z0-9])?$',
    )


def test_a_rule_that_raises_fails_naming_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(context: RuleContext) -> CheckResult:
        raise KeyError("boom")

    monkeypatch.setattr(rules, "RULES", (Rule("kind", broken),))
    [(name, result)] = run_rules(RuleContext(experiment=load(tmp_path)))
    assert name == "kind"
    assert result.line == "[FAIL] Kind: rule error — KeyError: 'boom'"
    assert result.figures == {"error": "KeyError: 'boom'"}


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: experiments.illm.io/v1alpha1\nkind: Experiment\n",
        "kind: Experiment\nmetadata: 5\nspec: []\n",
        "kind: Experiment\nspec: {targets: x, metrics: [5, x, {name: 5, query: [1]}]}\n",
        "kind: Experiment\nspec: {targets: [5, {name: [], cluster: 3, components: {a: 1}}]}\n",
        "kind: Experiment\nspec: {targets: [{components: [{app: 5, params: [hyperdisk]}]}]}\n",
        "kind: Experiment\nspec: {tutorial: {services: [5, {target: 5}, {}]}, workflow: x}\n",
        "kind: [Experiment]\nmetadata: {name: 5, generateName: 7, namespace: {}}\n",
        "kind: Experiment\nspec: {codeSnippets: [hyperdisk], metrics: {name: x}}\n",
    ],
)
def test_rules_never_crash_on_wrong_types(
    tmp_path: Path, text: str, fixture_catalogue: Catalogue
) -> None:
    context = RuleContext(experiment=load(tmp_path, text), catalogue=fixture_catalogue)
    for rule in RULES:  # called directly: run_rules would turn a crash into a FAIL
        assert isinstance(rule.func(context), CheckResult), rule.name


# -- the real corpus ---------------------------------------------------------------------------

REAL_FINDINGS: dict[str, dict[str, Status]] = {
    "_template": {"components": Status.FAIL},
    "db-disk-comparison": {},
    "db-fsync-vs-memory": {},
    "gateway-comparison": {"metrics-pipeline": Status.WARN},
    "hello-app": {},
    "logging-comparison": {"metrics-pipeline": Status.WARN},
    "tracing-comparison": {},
    "tsdb-comparison": {"metrics-pipeline": Status.WARN},
}


def test_real_experiments_findings(upstream: Path, real_catalogue: Catalogue) -> None:
    found = {}
    for path in sorted((upstream / "experiments").glob("*/experiment.yaml")):
        experiment = load_experiment(path)
        assert experiment is not None
        results = run_rules(RuleContext(experiment=experiment, catalogue=real_catalogue))
        assert [name for name, _ in results] == [r.name for r in RULES]
        found[experiment.name] = {
            name: r.status for name, r in results if r.status is not Status.PASS
        }
    assert found == REAL_FINDINGS


def test_real_template_names_a_placeholder_component(
    upstream: Path, real_catalogue: Catalogue
) -> None:
    result = rules.components(real(upstream, "_template"), catalogue=real_catalogue)
    where = upstream / "components"
    assert result.line == f"[FAIL] Components: 1/1 unresolved in {where}"
    assert result.details == (
        f"experiment.yaml:54: component 'my-component' (target 'app') has no component.yaml "
        f"under {where}; add {where}/<category>/my-component/component.yaml or fix the name",
    )


def test_real_components_resolve(upstream: Path, real_catalogue: Catalogue) -> None:
    result = rules.components(real(upstream, "db-disk-comparison"), catalogue=real_catalogue)
    assert result.status is Status.PASS
    assert result.figures == {"components": 5, "unresolved": 0, "catalogue": 36}


def test_real_gateway_comparison_lacks_the_whole_metrics_pipeline(upstream: Path) -> None:
    result = rules.metrics_pipeline(real(upstream, "gateway-comparison"))
    assert result.line == (
        "[WARN] Metrics pipeline: 20 custom metrics but no kube-prometheus-stack, "
        "metrics-agent, metrics-egress"
    )
    assert result.details == (
        "experiment.yaml:162: 20 custom metrics but no kube-prometheus-stack: the operator "
        "queries the target's own Prometheus; add - app: kube-prometheus-stack to target 'app'",
        "experiment.yaml:162: no metrics-agent or metrics-egress: the hub fallback path needs "
        "metrics-agent + metrics-egress; add - app: metrics-agent and - app: metrics-egress "
        "to target 'app'",
    )


def test_real_tsdb_comparison_has_prometheus_but_no_hub_fallback(upstream: Path) -> None:
    result = rules.metrics_pipeline(real(upstream, "tsdb-comparison"))
    assert result.status is Status.WARN
    assert result.figures == {"metrics": 10, "missing_components": 2}
    assert result.details == (
        "experiment.yaml:48: no metrics-agent or metrics-egress: the hub fallback path needs "
        "metrics-agent + metrics-egress; add - app: metrics-agent and - app: metrics-egress "
        "to target 'app'",
    )


def test_real_logging_comparison_is_one_character_under_the_gke_limit(upstream: Path) -> None:
    result = rules.gke_name_length(real(upstream, "logging-comparison"))
    assert result.line == "[PASS] GKE cluster name length: longest 39/40 (target 'app')"


def test_real_db_fsync_metrics_are_named_and_united(upstream: Path) -> None:
    experiment = real(upstream, "db-fsync-vs-memory")
    assert rules.metric_names(experiment).figures == {"metrics": 26, "invalid": 0}
    assert rules.metric_units(experiment).line == (
        "[PASS] Metric units: 10/10 latency metrics have a unit"
    )


def test_real_catalogue_entry_reveals_hyperdisk(
    tmp_path: Path, real_catalogue: Catalogue, upstream: Path
) -> None:
    """naive-db-storage-bench deploys a Hyperdisk variant; experiment.yaml need not say so."""
    experiment = load(tmp_path, edit(("app: kv-store", "app: naive-db-storage-bench")))
    result = rules.storage_machine(experiment, catalogue=real_catalogue)
    entry = upstream / "components/apps/naive-db-storage-bench/component.yaml"
    assert result.line == (
        "[FAIL] Storage vs machine: Hyperdisk on e2-standard-4 — needs C3, C4, N4, A3, M3 or M4"
    )
    assert result.details == (
        "experiment.yaml:11: target 'app' runs e2-standard-4 (E2), which cannot attach "
        "Hyperdisk; Hyperdisk needs C3, C4, N4, A3, M3 or M4: use machineType: c3-standard-4",
        "experiment.yaml:13: Hyperdisk used by spec.targets[0].components[0].app: "
        f"'naive-db-storage-bench ({entry}: …osync × hdd/balanced/ssd/hyperdisk-balanced) "
        "for storage-tie…)'",
    )
    assert rules.storage_machine(experiment, catalogue=None).status is Status.PASS


# -- kind --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [("Experimnt", "'Experimnt'"), ("5", "5")])
def test_kind_other_than_experiment_fails(tmp_path: Path, value: str, shown: str) -> None:
    result = rules.kind(load(tmp_path, edit(("kind: Experiment", f"kind: {value}"))))
    assert result.line == f"[FAIL] Kind: {shown} is not Experiment"
    assert result.details == (f"experiment.yaml:2: kind is {shown}; use kind: Experiment",)


# -- components --------------------------------------------------------------------------------


def test_components_typo_suggests_the_catalogue_name(
    tmp_path: Path, fixture_catalogue: Catalogue
) -> None:
    experiment = load(tmp_path, edit(("app: kube-prometheus-stack", "app: kube-prometheus")))
    result = rules.components(experiment, catalogue=fixture_catalogue)
    assert result.line == f"[FAIL] Components: 1/4 unresolved in {FIXTURE_COMPONENTS}"
    assert result.details == (
        "experiment.yaml:14: component 'kube-prometheus' (target 'app') has no component.yaml "
        f"under {FIXTURE_COMPONENTS}; did you mean 'kube-prometheus-stack'?",
    )
    assert result.figures == {"components": 4, "unresolved": 1, "catalogue": 5}


def test_components_unreadable_file_is_named(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    experiment = load(tmp_path, edit(("app: kv-store", "app: broken")))
    result = rules.components(experiment, catalogue=fixture_catalogue)
    assert result.status is Status.FAIL
    assert result.details == (
        "experiment.yaml:13: component 'broken' has an unreadable component.yaml: "
        f"{FIXTURE_COMPONENTS}/apps/broken/component.yaml:7: YAML error: found unexpected end "
        "of stream",
    )


def test_components_app_of_wrong_type_fails(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    experiment = load(tmp_path, edit(("app: kv-store", "app: 5")))
    result = rules.components(experiment, catalogue=fixture_catalogue)
    assert result.status is Status.FAIL
    assert result.details == (
        "experiment.yaml:13: app is 5 in target 'app'; use the name of a component.yaml",
    )


def test_components_none_referenced_warns(tmp_path: Path) -> None:
    text = edit(
        (
            "      components:\n        - app: kv-store\n        - app: kube-prometheus-stack\n"
            "        - app: metrics-agent\n        - app: metrics-egress\n",
            "",
        )
    )
    result = rules.components(load(tmp_path, text), catalogue=None)
    assert result.line == "[WARN] Components: none referenced"
    assert result.details == (
        "experiment.yaml:7: no target lists components, so nothing is deployed to measure; "
        "add - app: <component> under a target's components",
    )


def test_components_without_a_catalogue_is_not_applicable(tmp_path: Path) -> None:
    result = rules.components(load(tmp_path), catalogue=None)
    assert result.line == (
        "[N/A] Components: not checked — no components directory (ini experiment_components_dir)"
    )


# -- workflow-template -------------------------------------------------------------------------


def test_empty_workflow_template_warns(tmp_path: Path) -> None:
    result = rules.workflow_template(
        load(tmp_path, edit(("template: demo-validation", 'template: ""')))
    )
    assert result.line == "[WARN] Workflow template: empty"
    assert result.details == (
        "experiment.yaml:22: spec.workflow.template is empty, so no workflow drives the run; "
        "name the WorkflowTemplate (namespace argo-workflows, e.g. demo-validation)",
    )


# -- tutorial-targets --------------------------------------------------------------------------

TUTORIAL = """\
  tutorial:
    services:
      - name: grafana
        namespace: monitoring
        service: grafana
        target: {target}
"""


@pytest.mark.parametrize(
    ("target", "status", "line"),
    [
        ("app", Status.PASS, "[PASS] Tutorial targets: 1/1 services name a target"),
        ("ap", Status.FAIL, "[FAIL] Tutorial targets: 1/1 services name an unknown target"),
    ],
)
def test_tutorial_service_target_must_be_a_target(
    tmp_path: Path, target: str, status: Status, line: str
) -> None:
    text = edit(("  workflow:\n", TUTORIAL.format(target=target) + "  workflow:\n"))
    result = rules.tutorial_targets(load(tmp_path, text))
    assert (result.status, result.line) == (status, line)
    if status is Status.FAIL:
        assert result.details == (
            "experiment.yaml:26: tutorial service 'grafana' targets 'ap', which is not a "
            "target; did you mean 'app'? use one of: app",
        )


def test_tutorial_service_without_target_fails(tmp_path: Path) -> None:
    text = edit(
        ("  workflow:\n", TUTORIAL.replace("        target: {target}\n", "") + "  workflow:\n")
    )
    result = rules.tutorial_targets(load(tmp_path, text))
    assert result.details == (
        "experiment.yaml:23: tutorial service 'grafana' names no target, which is not a "
        "target; use one of: app",
    )


# -- metric-names ------------------------------------------------------------------------------


def test_metric_name_pattern_fails_with_a_rename(tmp_path: Path) -> None:
    result = rules.metric_names(load(tmp_path, edit(("name: write_p99", "name: Write-P99"))))
    assert result.line == "[FAIL] Metric names: 1/1 invalid"
    assert result.details == (
        "experiment.yaml:18: metric 'Write-P99' must match ^[a-z][a-z0-9_]*$; rename it "
        "'write_p99'",
    )
    assert result.figures == {"metrics": 1, "invalid": 1}


def test_duplicate_metric_name_fails(tmp_path: Path) -> None:
    twice = "    - name: write_p99\n      query: up\n"
    result = rules.metric_names(load(tmp_path, edit(("  workflow:\n", twice + "  workflow:\n"))))
    assert result.details == (
        "experiment.yaml:21: metric 'write_p99' is defined twice (first at experiment.yaml:18), "
        "so one result is lost; rename one of them",
    )


def test_metric_without_a_name_fails(tmp_path: Path) -> None:
    result = rules.metric_names(load(tmp_path, edit(("name: write_p99", "name: 5"))))
    assert result.details == ("experiment.yaml:18: metric #0 has no name (5); add name: <name>",)


def test_no_metrics_pass(tmp_path: Path) -> None:
    result = rules.metric_names(load(tmp_path, "kind: Experiment\nspec: {}\n"))
    assert result.line == "[PASS] Metric names: no custom metrics"


# -- namespace and generate-name ---------------------------------------------------------------


def test_namespace_other_than_experiments_warns(tmp_path: Path) -> None:
    result = rules.namespace(load(tmp_path, edit(("namespace: experiments", "namespace: default"))))
    assert result.line == "[WARN] Namespace: 'default', not experiments"
    assert result.details == (
        "experiment.yaml:5: namespace 'default'; experiments run in namespace experiments, "
        "set namespace: experiments",
    )


def test_missing_namespace_warns(tmp_path: Path) -> None:
    result = rules.namespace(load(tmp_path, edit(("  namespace: experiments\n", ""))))
    assert result.line == "[WARN] Namespace: not set (expected experiments)"
    assert result.details == (
        "experiment.yaml:3: no metadata.namespace, so the experiment lands in the kubeconfig's "
        "current namespace; add namespace: experiments",
    )


def test_fixed_name_instead_of_generate_name_warns(tmp_path: Path) -> None:
    result = rules.generate_name(load(tmp_path, edit(("generateName: demo-", "name: demo-1"))))
    assert result.line == "[WARN] generateName: missing"
    assert result.details == (
        "experiment.yaml:4: metadata.name 'demo-1' is fixed, so a second run collides with "
        "the first; use generateName: demo-1-",
    )


def test_no_name_at_all_suggests_the_directory_name(tmp_path: Path) -> None:
    experiment = load(tmp_path, edit(("  generateName: demo-\n", "")), name="kv-tiers")
    assert rules.generate_name(experiment).details == (
        "experiment.yaml:3: no generateName, so instances cannot be told apart; add "
        "generateName: kv-tiers-",
    )


@pytest.mark.parametrize(
    ("generate_name", "refused"),
    [
        ("a" * 57 + "-", False),  # 58 with one of the server's characters for the dash
        ("a" * 58 + "-", True),
        ("a" * 57, False),
        ("a" * 58, False),
        ("a" * 59, True),
    ],
)
def test_generate_name_may_have_58_characters_and_not_59(
    tmp_path: Path, generate_name: str, refused: bool
) -> None:
    experiment = load(tmp_path, edit(("generateName: demo-", f"generateName: {generate_name}")))
    result = rules.generate_name(experiment)
    assert result.status is (Status.FAIL if refused else Status.PASS)
    if refused:
        assert (
            f"has 59 characters, more than 58; use generateName: {'a' * 57}-" in (result.details[0])
        )


@pytest.mark.parametrize(("length", "refused"), [(252, False), (253, False), (254, True)])
def test_a_fixed_name_may_have_253_characters_and_not_254(
    tmp_path: Path, length: int, refused: bool
) -> None:
    experiment = load(tmp_path, edit(("generateName: demo-", f"name: {'A' * length}")))
    result = rules.generate_name(experiment)
    if refused:
        assert result.status is Status.FAIL
        # The suggestion is itself a name the server takes: cut to 253, lowercased.
        assert result.details[0].endswith(
            f"has 254 characters, more than 253; use name: {'a' * 253}"
        )
    else:
        # Upper case is refused for what it is, not for the length.
        assert result.status is Status.FAIL
        assert "characters, more than" not in result.details[0]
        assert result.details[0].endswith(f"use name: {'a' * length}")


@pytest.mark.parametrize(("length", "cut"), [(79, False), (80, False), (81, True)])
def test_a_value_in_a_message_is_shown_whole_up_to_80_characters(length: int, cut: bool) -> None:
    value = "x" * (length - 2)  # repr adds the quotes
    assert shown(value) == (repr(value)[:79] + "…" if cut else repr(value))


# -- gke-name-length ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generate_name", "status", "length"),
    [("abcdefghijklmnopqrs-", Status.PASS, 40), ("abcdefghijklmnopqrst-", Status.FAIL, 41)],
)
def test_gke_name_limit_is_40_including_the_trailing_dash(
    tmp_path: Path, generate_name: str, status: Status, length: int
) -> None:
    experiment = load(tmp_path, edit(("generateName: demo-", f"generateName: {generate_name}")))
    result = rules.gke_name_length(experiment)
    assert result.status is status
    assert result.figures == {"longest": length, "limit": 40}
    if status is Status.FAIL:
        assert result.line == "[FAIL] GKE cluster name length: 41 > 40 characters (target 'app')"
        assert result.details == (
            "experiment.yaml:8: target 'app' gives GKE cluster names of 41 characters "
            "(illm-abcdefghijklmnopqrst-xxxxx-app-xxxxx), over GKE's limit of 40; shorten "
            "generateName 'abcdefghijklmnopqrst-' or the target name by 1",
        )


def test_gke_name_with_a_fixed_name_has_no_random_suffix(tmp_path: Path) -> None:
    text = edit(("generateName: demo-", "name: abcdefghijklmnopqrstuvw"))  # 12 + 23 + 3 = 38
    assert rules.gke_name_length(load(tmp_path, text)).figures == {"longest": 38, "limit": 40}


def test_hub_targets_have_no_gke_name(tmp_path: Path) -> None:
    long_name = "generateName: " + "x" * 50 + "-"
    text = edit(("generateName: demo-", long_name), ("type: gke", "type: hub"))
    assert rules.gke_name_length(load(tmp_path, text)).line == (
        "[PASS] GKE cluster name length: no GKE targets"
    )


# -- namespace-var -----------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["$NAMESPACE", "${NAMESPACE}"])
def test_namespace_variable_in_a_query_fails(tmp_path: Path, variable: str) -> None:
    result = rules.namespace_var(load(tmp_path, edit(("$EXPERIMENT", variable))))
    assert result.line == "[FAIL] Namespace variable: 1/1 queries use $NAMESPACE"
    assert result.details == (
        "experiment.yaml:19: metric 'write_p99' queries $NAMESPACE, which resolves to the "
        "Experiment's own namespace (experiments), not the target namespace its pods run in; "
        "use $EXPERIMENT",
    )


def test_a_longer_variable_is_not_namespace(tmp_path: Path) -> None:
    result = rules.namespace_var(load(tmp_path, edit(("$EXPERIMENT", "$NAMESPACE_PREFIX"))))
    assert result.status is Status.PASS


# -- metrics-pipeline --------------------------------------------------------------------------


def test_missing_prometheus_warns(tmp_path: Path) -> None:
    text = edit(("        - app: kube-prometheus-stack\n", ""))
    result = rules.metrics_pipeline(load(tmp_path, text))
    assert result.line == "[WARN] Metrics pipeline: 1 custom metric but no kube-prometheus-stack"
    assert result.details == (
        "experiment.yaml:12: 1 custom metric but no kube-prometheus-stack: the operator queries "
        "the target's own Prometheus; add - app: kube-prometheus-stack to target 'app'",
    )


def test_missing_half_of_the_hub_pipeline_warns(tmp_path: Path) -> None:
    result = rules.metrics_pipeline(load(tmp_path, edit(("        - app: metrics-egress\n", ""))))
    assert result.line == "[WARN] Metrics pipeline: 1 custom metric but no metrics-egress"
    assert result.details == (
        "experiment.yaml:12: no metrics-egress: the hub fallback path needs metrics-agent + "
        "metrics-egress; add - app: metrics-egress to target 'app'",
    )


def test_no_custom_metrics_need_no_pipeline(tmp_path: Path) -> None:
    text = edit(("        - app: metrics-egress\n", ""), ("  metrics:\n", "  unused:\n"))
    assert rules.metrics_pipeline(load(tmp_path, text)).line == (
        "[PASS] Metrics pipeline: no custom metrics"
    )


# -- metric-units ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["write_p99", "read_p50", "query_latency"])
def test_latency_metric_without_unit_warns(tmp_path: Path, name: str) -> None:
    text = edit(("name: write_p99", f"name: {name}"), ("      unit: seconds\n", ""))
    result = rules.metric_units(load(tmp_path, text))
    assert result.line == "[WARN] Metric units: 1/1 latency metrics have no unit"
    assert result.details == (
        f"experiment.yaml:18: latency metric {name!r} has no unit, so the site shows a bare "
        "number; add unit: seconds",
    )
    assert result.figures == {"latency_metrics": 1, "unitless": 1}


def test_other_metrics_need_no_unit(tmp_path: Path) -> None:
    text = edit(("name: write_p99", "name: write_rate"), ("      unit: seconds\n", ""))
    assert rules.metric_units(load(tmp_path, text)).line == (
        "[PASS] Metric units: no latency metrics"
    )


# -- storage-machine ---------------------------------------------------------------------------


def storage_tiers(tmp_path: Path, *pairs: tuple[str, str]) -> Experiment:
    text = (DATA / "storage-tiers.yaml").read_text()
    for old, new in pairs:
        text = text.replace(old, new)
    return load(tmp_path, text, name="storage-tiers")


def test_hyperdisk_storage_class_on_n2_fails(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    result = rules.storage_machine(storage_tiers(tmp_path), catalogue=fixture_catalogue)
    assert result.line == (
        "[FAIL] Storage vs machine: Hyperdisk on n2-standard-8 — needs C3, C4, N4, A3, M3 or M4"
    )
    assert result.details == (
        "experiment.yaml:22: target 'app' runs n2-standard-8 (N2), which cannot attach "
        "Hyperdisk; Hyperdisk needs C3, C4, N4, A3, M3 or M4: use machineType: c3-standard-8",
        "experiment.yaml:27: Hyperdisk used by "
        "spec.targets[0].components[0].params.storageClass: 'bench-hyperdisk-balanced'",
        "experiment.yaml:17: Hyperdisk used by spec.codeSnippets.write-path.usedBy[1]: "
        "'store-hyperdisk-balanced'",
        "experiment.yaml:44: Hyperdisk used by spec.metrics[1].query: "
        '\'…econds_bucket{app="store-hyperdisk-balanced", namespace=~"$E…\'',
    )
    assert result.figures == {"mentions": 3, "unsupported_targets": 1}


def test_hyperdisk_on_a_c3_target_passes(tmp_path: Path) -> None:
    experiment = storage_tiers(tmp_path, ("n2-standard-8", "c3-standard-8"))
    assert rules.storage_machine(experiment).line == (
        "[PASS] Storage vs machine: Hyperdisk on c3-standard-8 (supported)"
    )


@pytest.mark.parametrize(
    ("machine", "status"),
    [
        ("c4-standard-8", Status.PASS),
        ("N4-standard-8", Status.PASS),
        ("a3-highgpu-8g", Status.PASS),
        ("m3-ultramem-32", Status.PASS),
        ("m4-megamem-56", Status.PASS),
        ("e2-standard-8", Status.FAIL),
        ("n2d-standard-8", Status.FAIL),
        ("c2-standard-8", Status.FAIL),
    ],
)
def test_hyperdisk_machine_families(tmp_path: Path, machine: str, status: Status) -> None:
    experiment = storage_tiers(tmp_path, ("n2-standard-8", machine))
    assert rules.storage_machine(experiment).status is status


def test_hyperdisk_in_a_metric_label_alone_judges_every_target(tmp_path: Path) -> None:
    label = 'kv_write_bucket{app="naive-db-fsync-hyperdisk-balanced", namespace=~'
    result = rules.storage_machine(load(tmp_path, edit(("kv_write_bucket{namespace=~", label))))
    assert result.status is Status.FAIL
    assert result.details[0] == (
        "experiment.yaml:11: target 'app' runs e2-standard-4 (E2), which cannot attach "
        "Hyperdisk; Hyperdisk needs C3, C4, N4, A3, M3 or M4: use machineType: c3-standard-4"
    )
    assert result.details[1].startswith(
        "experiment.yaml:19: Hyperdisk used by spec.metrics[0].query: "
    )


def test_hyperdisk_in_a_code_snippet_used_by_alone_fails(tmp_path: Path) -> None:
    snippet = (
        "spec:\n  codeSnippets:\n    store:\n      name: Store\n      language: go\n"
        "      path: store.go\n      usedBy: [store-hyperdisk]\n"
    )
    result = rules.storage_machine(load(tmp_path, edit(("spec:\n", snippet))))
    assert result.status is Status.FAIL
    assert result.details[1] == (
        "experiment.yaml:12: Hyperdisk used by spec.codeSnippets.store.usedBy[0]: 'store-hyperdisk'"
    )


def test_hyperdisk_through_the_catalogue_entry_only(
    tmp_path: Path, fixture_catalogue: Catalogue
) -> None:
    experiment = load(tmp_path, edit(("app: kv-store", "app: tiered-store")))
    with_catalogue = rules.storage_machine(experiment, catalogue=fixture_catalogue)
    assert with_catalogue.status is Status.FAIL
    assert with_catalogue.details[1] == (
        "experiment.yaml:13: Hyperdisk used by spec.targets[0].components[0].app: "
        f"'tiered-store ({FIXTURE_COMPONENTS}/apps/tiered-store/component.yaml: "
        "Store variants on pd-ssd and Hyperdisk Balanced volumes)'"
    )
    assert rules.storage_machine(experiment, catalogue=None).status is Status.PASS


def test_hyperdisk_only_judges_the_target_that_uses_it(tmp_path: Path) -> None:
    """The e2 load generator of storage-tiers does not mount the Hyperdisk volume."""
    result = rules.storage_machine(storage_tiers(tmp_path, ("n2-standard-8", "c3-standard-8")))
    assert result.figures == {"mentions": 3, "unsupported_targets": 0}


def test_hyperdisk_without_machine_type_fails_on_gke_default(tmp_path: Path) -> None:
    text = edit(
        ("        machineType: e2-standard-4\n", ""),
        ("- app: kv-store\n", "- app: kv-store\n          params: {disk: hyperdisk-balanced}\n"),
    )
    result = rules.storage_machine(load(tmp_path, text))
    assert result.line == (
        "[FAIL] Storage vs machine: Hyperdisk on e2-medium (default) — needs C3, C4, N4, A3, "
        "M3 or M4"
    )
    assert result.details[0] == (
        "experiment.yaml:9: target 'app' sets no machineType, so GKE uses e2-medium, which "
        "cannot attach Hyperdisk; Hyperdisk needs C3, C4, N4, A3, M3 or M4: set machineType: "
        "c3-standard-4"
    )


def test_hyperdisk_in_prose_is_not_use(tmp_path: Path) -> None:
    prose = (
        "spec:\n  title: PD-SSD, no Hyperdisk\n  hypothesis:\n"
        "    claim: PD-SSD beats Hyperdisk on price\n"
    )
    result = rules.storage_machine(load(tmp_path, edit(("spec:\n", prose))))
    assert result.line == "[PASS] Storage vs machine: no Hyperdisk used"


def test_hyperdisk_on_a_hub_target_is_not_judged(tmp_path: Path) -> None:
    text = edit(
        ("        type: gke\n        machineType: e2-standard-4\n", "        type: hub\n"),
        ("app: kv-store", "app: kv-store-hyperdisk"),
    )
    assert rules.storage_machine(load(tmp_path, text)).line == (
        "[PASS] Storage vs machine: Hyperdisk used on the hub only, no machine to check"
    )


def test_fixture_storage_tiers_findings(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    context = RuleContext(experiment=storage_tiers(tmp_path), catalogue=fixture_catalogue)
    found = {name: r.status for name, r in run_rules(context) if r.status is not Status.PASS}
    assert found == {"components": Status.FAIL, "storage-machine": Status.FAIL}


# -- garbage that used to pass -----------------------------------------------------------------


@pytest.mark.parametrize("catalogued", [True, False])
def test_components_without_an_app_fail(
    tmp_path: Path, fixture_catalogue: Catalogue, catalogued: bool
) -> None:
    text = edit(
        ("        - app: kv-store\n", "        - params: {replicas: 3}\n        - kv-store\n")
    )
    result = rules.components(
        load(tmp_path, text), catalogue=fixture_catalogue if catalogued else None
    )
    assert result.status is Status.FAIL
    assert result.details[:2] == (
        "experiment.yaml:13: component #0 of target 'app' has no app, so nothing is deployed; "
        "add app: <name of a component.yaml>",
        "experiment.yaml:14: component #1 of target 'app' is 'kv-store', not a mapping; "
        "write - app: kv-store",
    )


@pytest.mark.parametrize(
    ("template", "summary"),
    [
        ('"--"', "[FAIL] Workflow template: '--' is not a Kubernetes object name"),
        (
            '"demo-validation\\n"',
            "[FAIL] Workflow template: 'demo-validation\\n' is not a Kubernetes object name",
        ),
        (
            "x" * 5000,
            "… has 5000 characters, more than 253",
        ),
        (
            "Demo_Validation",
            "[FAIL] Workflow template: 'Demo_Validation' is not a Kubernetes object name",
        ),
        ("[demo]", "[FAIL] Workflow template: array, not a name"),
        ("7", "[FAIL] Workflow template: integer, not a name"),
    ],
)
def test_workflow_template_must_be_an_object_name(
    tmp_path: Path, template: str, summary: str
) -> None:
    result = rules.workflow_template(
        load(tmp_path, edit(("template: demo-validation", f"template: {template}")))
    )
    assert result.status is Status.FAIL
    assert summary.removeprefix("[FAIL] Workflow template: ") in result.line
    assert result.details[0].startswith("experiment.yaml:22: spec.workflow.template ")


def test_workflow_template_suggests_a_valid_name(tmp_path: Path) -> None:
    text = edit(("template: demo-validation", 'template: "Demo Validation\\n"'))
    result = rules.workflow_template(load(tmp_path, text))
    assert result.details[0].endswith("; use template: demo-validation")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (
            '"hello-app-\\n"',
            "experiment.yaml:4: metadata.generateName 'hello-app-\\n' is not a Kubernetes object "
            "name (lowercase letters, digits, '-' and '.', starting and ending with a letter or "
            "digit); use generateName: hello-app-",
        ),
        ("Demo-", "experiment.yaml:4: metadata.generateName 'Demo-' is not a Kubernetes object"),
        ("[demo]", 'experiment.yaml:4: metadata.generateName is array ["demo"]; write it as text'),
        ("x" * 70 + "-", "experiment.yaml:4: metadata.generateName 'xxxx"),
    ],
)
def test_generate_name_the_api_server_would_refuse_fails(
    tmp_path: Path, value: str, detail: str
) -> None:
    result = rules.generate_name(
        load(tmp_path, edit(("generateName: demo-", f"generateName: {value}")))
    )
    assert result.status is Status.FAIL
    assert result.details[0].startswith(detail)


def test_metric_names_with_a_trailing_newline_fail(tmp_path: Path) -> None:
    text = edit(("    - name: write_p99\n", '    - name: "write_p99\\n"\n'))
    result = rules.metric_names(load(tmp_path, text))
    assert result.status is Status.FAIL
    assert result.details == (
        "experiment.yaml:18: metric 'write_p99\\n' must match ^[a-z][a-z0-9_]*$; rename it "
        "'write_p99'",
    )


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("generateName: demo-", 'generateName: "demo-\\n"', "metadata.generateName"),
        ("    - name: write_p99\n", '    - name: "write_p99\\n"\n', "spec.metrics[0].name"),
    ],
)
def test_schema_patterns_anchor_at_the_very_end(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    # Python's "$" also matches before a trailing newline; the API server's does not.
    result = rules.schema(load(tmp_path, edit((old, new))))
    assert result.status is Status.FAIL
    assert any(f" {where}: " in d and "must match" in d for d in result.details)


def test_values_of_the_wrong_type_are_named_in_json_words(tmp_path: Path) -> None:
    text = edit(
        ("kind: Experiment", "kind: ~"),
        ("namespace: experiments", "namespace: [a, 1]"),
        ("    - name: write_p99\n", "    - name: ~\n"),
    )
    experiment = load(tmp_path, text)
    assert rules.kind(experiment).line == "[FAIL] Kind: null is not Experiment"
    assert rules.namespace(experiment).line == '[WARN] Namespace: array ["a", 1], not experiments'
    assert (
        rules.metric_names(experiment)
        .details[0]
        .startswith("experiment.yaml:18: metric #0 has no name (null)")
    )


def test_suggest_name_collapses_and_trims_dashes_and_dots() -> None:
    assert suggest_name("--Hello  World--.") == "hello-world"
    assert suggest_name("Hello--World") == "hello-world"
    assert suggest_name(".-_-.") == "name"
    assert suggest_name("a" * 252 + "-b") == "a" * 252


def test_did_you_mean_offers_the_closest_choice_only() -> None:
    assert (
        did_you_mean("kv-stor", ["redis", "kv-store", "kv-stores"]) == "did you mean 'kv-store'? "
    )
    assert did_you_mean("zzz", ["redis"]) == ""


@pytest.mark.parametrize(
    ("path", "expected"),
    [((0,), "a"), ((1,), "b"), ((2,), None), ((-1,), None), (("x",), None)],
)
def test_get_reads_list_items_only_within_the_list(path: tuple[Any, ...], expected: Any) -> None:
    assert get(["a", "b"], *path) == expected


def test_each_rules_title_is_the_one_its_results_begin_with(
    tmp_path: Path, fixture_catalogue: Catalogue
) -> None:
    # The title names the rule where it has no result of its own (a rule error).
    context = RuleContext(experiment=load(tmp_path), catalogue=fixture_catalogue)
    titles = {rule.name: rule.title for rule in RULES}
    for name, result in run_rules(context):
        assert result.summary.startswith(f"{titles[name]}: "), name


def test_a_fixed_name_alone_is_checked_and_an_empty_one_is_no_name(tmp_path: Path) -> None:
    bad = rules.generate_name(load(tmp_path, edit(("generateName: demo-", "name: Demo_X"))))
    assert bad.line == "[FAIL] generateName: 'Demo_X' is not a Kubernetes object name"
    empty = rules.generate_name(load(tmp_path, edit(("generateName: demo-", 'name: ""'))))
    assert empty.details == (
        "experiment.yaml:3: no generateName, so instances cannot be told apart; add "
        "generateName: demo-",
    )


def test_both_names_wrong_are_both_reported_the_first_in_the_summary(tmp_path: Path) -> None:
    text = edit(("generateName: demo-", "generateName: Demo_\n  name: Demo_X"))
    result = rules.generate_name(load(tmp_path, text))
    assert result.line == "[FAIL] generateName: 'Demo_' is not a Kubernetes object name"
    assert [d.split(": ", 1)[1].split(" ", 1)[0] for d in result.details] == [
        "metadata.generateName",
        "metadata.name",
    ]


def test_a_cut_generate_name_suggestion_ends_in_one_dash(tmp_path: Path) -> None:
    value = "a" * 56 + "-" + "b" * 5 + "-"
    result = rules.generate_name(
        load(tmp_path, edit(("generateName: demo-", f"generateName: {value}")))
    )
    assert result.details[0].endswith(f"; use generateName: {'a' * 56}-")


def test_gke_names_without_any_name_count_the_overhead_and_the_target(tmp_path: Path) -> None:
    experiment = load(tmp_path, edit(("  generateName: demo-\n", "")))
    assert rules.gke_name_length(experiment).figures == {"longest": 17 + 3, "limit": 40}


def test_a_generate_name_that_is_no_string_does_not_hide_a_bad_name(tmp_path: Path) -> None:
    text = edit(("generateName: demo-", "generateName: 7\n  name: Demo_X"))
    result = rules.generate_name(load(tmp_path, text))
    assert result.line == "[FAIL] generateName: metadata.generateName is integer, not a string"
    assert len(result.details) == 2
    assert "metadata.name 'Demo_X' is not a Kubernetes object name" in result.details[1]


def test_tutorial_targets_count_the_services_and_the_unknown_ones(tmp_path: Path) -> None:
    text = edit(("  workflow:\n", TUTORIAL.format(target="ap") + "  workflow:\n"))
    result = rules.tutorial_targets(load(tmp_path, text))
    assert result.figures == {"services": 1, "unknown_targets": 1}


def test_a_component_naming_no_app_is_counted_unresolved(tmp_path: Path) -> None:
    result = rules.components(load(tmp_path, edit(("app: kv-store", "app: 5"))))
    assert result.status is Status.FAIL
    assert result.figures == {"components": 4, "unresolved": 1}


def test_without_a_namespace_the_namespace_variable_is_said_to_resolve_to_experiments(
    tmp_path: Path,
) -> None:
    text = edit(("$EXPERIMENT", "$NAMESPACE"), ("  namespace: experiments\n", ""))
    result = rules.namespace_var(load(tmp_path, text))
    assert "resolves to the Experiment's own namespace (experiments)" in result.details[0]


def test_no_hyperdisk_passes_with_no_mentions(tmp_path: Path, fixture_catalogue: Catalogue) -> None:
    result = rules.storage_machine(load(tmp_path), catalogue=fixture_catalogue)
    assert result.line == "[PASS] Storage vs machine: no Hyperdisk used"
    assert result.figures == {"mentions": 0}
