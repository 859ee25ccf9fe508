"""The auto-fixes: pure, on real files, byte for byte."""

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
from pytest_experiment.core.spec import Experiment, read_source

SPEC = (Path(__file__).parent / "data" / "autofix" / "bare.yaml").read_text()
"""A spec with comments, quoting and blank lines to keep, and a cause for every fix."""


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


def test_the_braced_namespace_variable_becomes_the_braced_experiment_one() -> None:
    braced = SPEC.replace("$NAMESPACE", "${NAMESPACE}")
    after = apply_fix("fix-namespace-var", braced)
    assert after == SPEC.replace("$NAMESPACE", "${EXPERIMENT}")


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


def test_a_target_without_components_gets_the_list_under_its_name_indented_alike() -> None:
    bare = SPEC.replace(
        "      components:\n        - app: naive-db    # the workload\n\n        - app: loadgen\n",
        "",
    )
    after = add_components(bare, ["metrics-agent"])
    assert inserted(bare, after) == ["      components:", "        - app: metrics-agent"]
    lines = after.splitlines()
    assert lines[lines.index("    - name: app") + 1] == "      components:"


def test_a_list_whose_items_start_on_the_next_line_is_refused() -> None:
    odd = SPEC.replace(
        "        - app: naive-db    # the workload\n", "        -\n          app: naive-db\n"
    )
    with pytest.raises(FixError, match="cannot read the list's layout"):
        add_components(odd, ["metrics-agent"])


def test_an_empty_templates_list_is_refused_as_not_a_block_list() -> None:
    with pytest.raises(FixError, match=r"spec\.templates is not a block list"):
        add_load_test("spec:\n  entrypoint: main\n  templates: []\n")


WORKFLOW = """\
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: work
            template: other
    - name: other
      container:
        image: busybox
"""


def test_the_load_test_template_goes_after_the_last_template() -> None:
    after = add_load_test(WORKFLOW)
    lines = after.splitlines()
    assert lines.index("    - name: load-test") > lines.index("        image: busybox")
    assert lines[lines.index("    - name: main") + 2] == "        - - name: load-test"


def test_a_comment_deeper_than_the_templates_dash_stays_with_the_last_template() -> None:
    text = WORKFLOW + "     # about busybox\n    # after the templates\n  arguments: {}\n"
    lines = add_load_test(text).splitlines()
    new = lines.index("    - name: load-test")
    assert lines.index("     # about busybox") < new < lines.index("    # after the templates")
