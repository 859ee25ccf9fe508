"""Collection as a user sees it: item ids and order, ignored files, errors, selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_experiment.core.checks import CHECKS
from pytest_experiment.core.rules import RULES

RULE_NAMES = [r.name for r in RULES]
CHECK_NAMES = [c.name for c in CHECKS]


def expected_ids(name: str) -> list[str]:
    return [
        *(f"{name}/experiment.yaml::validate[{r}]" for r in RULE_NAMES),
        f"{name}/experiment.yaml::preflight[namespace]",
        f"{name}/experiment.yaml::preflight[workflow-template]",
        f"{name}/experiment.yaml::preflight[operator]",
        f"{name}/experiment.yaml::lifecycle",
        *(f"{name}/experiment.yaml::quality[{c}]" for c in CHECK_NAMES),
        f"{name}/experiment.yaml::review",
    ]


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith("ERROR")]


def test_rules_and_checks_are_the_specified_ones() -> None:
    assert RULE_NAMES == [
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
    assert CHECK_NAMES == [
        "custom-metrics",
        "metrics-source",
        "machine-verdict",
        "workload-pods",
        "presentation",
        "intent-coverage",
        "ai-verdict",
    ]


def test_real_corpus_collects_every_experiment_in_order(
    pytester: pytest.Pytester, upstream: Path
) -> None:
    experiments = upstream / "experiments"
    # An explicit rootdir: pytest would otherwise anchor ids at the common
    # ancestor of the corpus and this temporary directory, which varies by machine.
    result = pytester.runpytest(
        "--collect-only", "-q", f"--rootdir={experiments}", str(experiments)
    )
    assert result.ret == pytest.ExitCode.OK
    names = sorted(p.parent.name for p in (upstream / "experiments").glob("*/experiment.yaml"))
    assert len(names) == 8
    assert collected(result) == [i for n in names for i in expected_ids(n)]
    assert not [line for line in result.outlines if "workflow/" in line]


def test_examples_collect_without_the_yaml_beside_them(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    result = pytester.runpytest("--collect-only", "-q", "experiments")
    assert result.ret == pytest.ExitCode.OK
    ids = collected(result)
    # Five experiments, each with its validation rules, three pre-flight checks, lifecycle,
    # quality checks and review; the WorkflowTemplate, components and site data are not
    # items.
    assert len(ids) == 5 * (len(RULE_NAMES) + 3 + 1 + len(CHECK_NAMES) + 1)
    assert not [i for i in ids if "workflow/" in i or "components/" in i]


def test_malformed_file_is_a_collection_error_and_the_others_still_run(
    pytester: pytest.Pytester, examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live items need S3 credentials to start at all; none is ever used here.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    shutil.copytree(examples / "web-latency", pytester.path / "good")
    bad = pytester.path / "bad" / "experiment.yaml"
    bad.parent.mkdir()
    bad.write_text("kind: Experiment\nspec:\n  targets: [\n    name: x\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*bad/experiment.yaml:5: YAML error*"])
    assert len(collected(result)) == len(expected_ids("good"))

    result = pytester.runpytest("-rA")
    outcomes = result.parseoutcomes()
    assert outcomes["errors"] == 1
    # The good experiment's rules ran (components is N/A: no catalogue beside it).
    assert outcomes["passed"] == len(RULE_NAMES) - 1
    result.stdout.fnmatch_lines(["*[[]N/A[]] Components: not checked*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (["-k", "web-latency"], {"web-latency"}),
        (["-k", "kv-hdb"], {"kv-hyperdisk"}),  # generateName prefix
        (["-m", "storage-internals"], {"kv-baseline", "kv-hyperdisk"}),  # series
        (["-m", "networking"], {"web-latency", "echo-scaling"}),  # tag
        (["-m", "demo and not networking"], {"lint-demo"}),
    ],
)
def test_selection_by_name_prefix_series_and_tag(
    pytester: pytest.Pytester, examples: Path, selector: list[str], expected: set[str]
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    result = pytester.runpytest("--collect-only", "-q", "--strict-markers", *selector)
    assert result.ret == pytest.ExitCode.OK
    assert {line.split("/")[1] for line in collected(result)} == expected


def test_items_of_an_experiment_share_an_xdist_group(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples / "web-latency", pytester.path / "web-latency")
    items, _ = pytester.inline_genitems()
    groups = {m.kwargs["name"] for item in items for m in item.iter_markers("xdist_group")}
    assert groups == {"web-latency"}
    assert len(items) == len(expected_ids("web-latency"))


def test_hook_adds_a_check(pytester: pytest.Pytester, examples: Path) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    pytester.makeconftest(
        """
        from pytest_experiment.core.checks import Check
        from pytest_experiment.core.verdict import CheckResult, Status

        def cost_budget(inp):
            cost = inp.summary.get("costEstimate", {}).get("totalUSD", 0)
            status = Status.PASS if cost < 0.016 else Status.FAIL
            return CheckResult(status, f"Cost: ${cost:.3f}", figures={"usd": cost})

        def pytest_experiment_checks(config):
            return [Check("cost-budget", "Cost", cost_budget)]
        """
    )
    result = pytester.runpytest(
        "-rA",
        "experiments/web-latency",
        "-k",
        "cost-budget",
        "--experiment-results=experiments/site/data",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "  Results Quality (web-lat-8fz2q):",
            "    [[]FAIL[]] Cost: $0.017",
            "  Results Quality (web-lat-2bc7d):",
            "    [[]PASS[]] Cost: $0.015",
        ]
    )


def test_last_failed_reruns_only_the_failed_items(
    pytester: pytest.Pytester, examples: Path
) -> None:
    shutil.copytree(examples, pytester.path / "experiments")
    args = ["experiments", "--experiment-results=experiments/site/data", "--timeout=30"]
    first = pytester.runpytest(*args)
    failed = first.parseoutcomes()["failed"]
    assert failed > 0
    again = pytester.runpytest("--lf", *args)
    again.assert_outcomes(failed=failed)
