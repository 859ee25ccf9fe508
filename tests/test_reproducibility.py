"""The reproducibility check: history, fingerprint, per-series verdicts, change points.

Small hand-written histories cover each outcome and rule; the real corpus shows the
fingerprint at work on the lab's own runs; ``pytester`` runs show the option turning a
difference into a failure, and the verdict reaching the terminal and the JSON report.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_experiment.core.changepoints import change_points
from pytest_experiment.core.checks import CheckInput, Reproducibility, reproducibility
from pytest_experiment.core.checks.compare import (
    AGREES,
    CONFIDENCE,
    DIFFERS,
    INCONCLUSIVE,
    judge,
    percent,
    t_quantile,
)
from pytest_experiment.core.checks.history import (
    duration_seconds,
    fingerprint,
    fingerprint_changes,
    pod_name,
    query_text,
    read_run,
    series_labels,
)
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.sitedata import load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment
from pytest_experiment.core.verdict import CheckResult, Status

ROOT = Path(__file__).resolve().parent.parent
WEB = load_experiment(ROOT / "experiments/web-latency/experiment.yaml")
assert WEB is not None


def run_summary(
    name: str,
    day: int,
    *,
    cpu: float = 0.22,
    p99: float = 0.041,
    machine: str = "e2-standard-4",
    points: tuple[float, ...] | None = None,
    verdict: str = "validated",
    query: str = 'sum(rate(x{namespace="$I"}[1m]))',
) -> dict[str, Any]:
    """A published summary of one web-lat run on day ``day`` of November."""
    stamp = f"2026-11-{day:02d}T10:00:00Z"
    cpu_points = points if points is not None else (cpu * 0.98, cpu, cpu * 1.02)
    return {
        "name": name,
        "createdAt": stamp,
        "completedAt": stamp.replace("T10", "T11"),
        "phase": "Complete",
        "targets": [{"name": "app", "machineType": machine, "nodeCount": 1, "components": []}],
        "metrics": {
            "queries": {
                "request_p99": {
                    "query": f'histogram_quantile(0.99, rate(h{{namespace="{name}"}}[40m]))',
                    "type": "instant",
                    "unit": "seconds",
                    "data": [{"timestamp": stamp, "value": p99}],
                },
                "server_cpu": {
                    "query": query.replace("$I", name),
                    "type": "range",
                    "unit": "cores",
                    "data": [{"timestamp": stamp, "value": v} for v in cpu_points],
                },
            }
        },
        "analysis": {"hypothesisVerdict": verdict},
    }


def steady(count: int = 5) -> list[dict[str, Any]]:
    """``count`` earlier runs a few percent apart."""
    wobble = (0.0, 0.012, -0.01, 0.006, -0.004, 0.009, -0.007, 0.003, -0.011, 0.005)
    return [
        run_summary(f"web-lat-e{i}", i + 1, cpu=0.22 * (1 + wobble[i]), p99=0.041 * (1 - wobble[i]))
        for i in range(count)
    ]


def check(
    new: dict[str, Any],
    history: Sequence[Mapping[str, Any]] | None,
    *,
    experiment: Experiment = WEB,
    **policy: Any,
) -> CheckResult:
    return reproducibility(
        CheckInput(
            experiment=experiment,
            summary=new,
            intent=build_intent(experiment),
            history=None if history is None else [*history, new],
            reproducibility=Reproducibility(**policy),
        )
    )


def outcomes(result: CheckResult) -> dict[str, str]:
    return dict(result.figures["outcomes"])


# -- the statistics of one series ---------------------------------------------------------------


def test_a_run_within_the_earlier_runs_agrees() -> None:
    judged = judge([1.0, 1.01, 0.99, 1.005, 0.995], 1.002, floor=0.10)
    assert judged.outcome == AGREES
    assert judged.interval is not None
    assert -0.10 <= judged.interval[0] < 0 < judged.interval[1] <= 0.10


TIGHT = [1.0, 1.01, 0.99, 1.005, 0.995]
"""Five runs within ±1 %: their 95 % prediction interval is 1 ± 0.024."""


def test_a_shift_outside_the_earlier_runs_band_and_beyond_the_floor_differs() -> None:
    judged = judge(TIGHT, 1.30, floor=0.10)
    assert judged.outcome == DIFFERS
    assert judged.shift == pytest.approx(0.30, abs=0.01)
    assert judged.band == pytest.approx((0.976, 1.024), abs=0.001)
    assert judged.interval == pytest.approx((0.276, 0.324), abs=0.001)
    low = judge(TIGHT, 0.70, floor=0.10)
    assert low.outcome == DIFFERS
    assert low.shift == pytest.approx(-0.30, abs=0.01)


def test_a_shift_inside_the_earlier_runs_band_is_never_differs() -> None:
    # Runs ±30 % apart: a new run 25 % above their mean is one of them.
    judged = judge([1.0, 1.4, 0.7, 1.2, 0.9], 1.30, floor=0.10)
    assert judged.band is not None
    assert judged.band[0] < 1.30 < judged.band[1]
    assert judged.outcome == INCONCLUSIVE
    assert judged.reason == "noise between runs (±79%) is wider than the 10% shift that matters"


def test_a_shift_below_the_floor_is_never_differs_however_tight_the_runs() -> None:
    # Earlier runs identical to six digits: an 8 % shift is far outside their band, but
    # smaller than the shift that matters.
    judged = judge([1.0, 1.0, 1.0, 1.0, 1.0], 1.08, floor=0.10)
    assert judged.outcome == AGREES
    assert judge([1.0, 1.0, 1.0, 1.0, 1.0], 1.12, floor=0.10).outcome == DIFFERS
    # Outside the band, 5 % off, the whole interval within the floor: it agrees.
    assert judge(TIGHT, 1.05, floor=0.10).outcome == AGREES


def test_noise_wider_than_the_floor_is_inconclusive_and_says_so() -> None:
    judged = judge([1.0, 1.4, 0.7, 1.2, 0.9], 1.05, floor=0.10)
    assert judged.outcome == INCONCLUSIVE
    assert "wider than the 10% shift that matters" in judged.reason


def test_an_interval_reaching_across_the_floor_is_inconclusive() -> None:
    # Outside the band but 9 % off, its interval (7 % to 11 %) reaching past the floor.
    beyond = judge(TIGHT, 1.09, floor=0.10)
    assert beyond.outcome == INCONCLUSIVE
    assert beyond.reason == (
        "the shift +9% is beyond the earlier runs' noise but within the 10% floor; "
        "its 95% CI (+7% to +11%) reaches across it"
    )
    # Inside the band of runs ±3 % apart (±8 %), 5 % off: it may yet be 13 %.
    near = judge([1.0, 1.03, 0.97, 1.02, 0.98], 1.05, floor=0.10)
    assert near.outcome == INCONCLUSIVE
    assert near.reason == (
        "the shift +5% is within the noise, near the 10% floor; "
        "its 95% CI (-3% to +13%) reaches across it"
    )


def test_one_earlier_run_is_too_few() -> None:
    judged = judge([1.0], 1.5, floor=0.10)
    assert judged.outcome == INCONCLUSIVE
    assert judged.reason == "1 earlier comparable run (2 needed)"
    assert judge([], 1.5, floor=0.10).reason == "0 earlier comparable runs (2 needed)"


def test_between_run_variation_is_the_unit_not_the_pooled_points() -> None:
    # Each earlier run is flat (its points agree to 0.1 %) but runs sit ±5 % apart: a new
    # run 4 % from the mean is ordinary. Pooling all points as one sample would call it
    # different; one value per run does not.
    levels = (1.0, 1.05, 0.95, 1.03, 0.97)
    history = [
        run_summary(f"web-lat-e{i}", i + 1, points=(v * 0.999, v, v * 1.001))
        for i, v in enumerate(levels)
    ]
    new = run_summary("web-lat-new", 20, points=(1.039, 1.04, 1.041))
    result = check(new, history, floor=0.02)
    assert outcomes(result)["server_cpu"] != DIFFERS


# -- the check ---------------------------------------------------------------------------------


def test_agreeing_runs_pass_with_the_count_of_comparable_runs() -> None:
    result = check(run_summary("web-lat-new", 20), steady(5))
    assert result.status is Status.PASS
    assert result.summary == (
        "Reproducibility: 2 metrics agree with the 5 earlier runs of the same fingerprint "
        "(within ±10%)"
    )


def test_a_difference_warns_naming_metric_value_range_shift_and_interval() -> None:
    result = check(run_summary("web-lat-new", 20, cpu=0.40), steady(5))
    assert result.status is Status.WARN
    assert result.summary.startswith(
        "Reproducibility: 1 of 2 metrics differ from the 5 earlier runs of the same fingerprint"
        " — server_cpu differs: 0.4 vs 0.2178–0.2226 in 5 earlier runs, shift +82% (95% CI +"
    )
    row = next(r for r in result.figures["comparisons"] if r["metric"] == "server_cpu")
    assert row["outcome"] == DIFFERS
    assert row["shiftLow"] > 0.10


def test_the_fail_mode_makes_a_difference_fail() -> None:
    result = check(run_summary("web-lat-new", 20, cpu=0.40), steady(5), fail=True)
    assert result.status is Status.FAIL
    assert check(run_summary("web-lat-new", 20), steady(5), fail=True).status is Status.PASS


def test_the_floor_option_decides_what_matters() -> None:
    new = run_summary("web-lat-new", 20, cpu=0.22 * 1.20)
    assert outcomes(check(new, steady(5), floor=0.05))["server_cpu"] == DIFFERS
    assert outcomes(check(new, steady(5), floor=0.50))["server_cpu"] == AGREES


def test_a_different_machine_type_is_not_comparable_and_names_the_change() -> None:
    result = check(run_summary("web-lat-new", 20, machine="e2-standard-8"), steady(9))
    assert result.status is Status.NA
    assert result.summary == (
        "Reproducibility: not comparable with the 9 earlier runs: "
        "app machineType e2-standard-4 → e2-standard-8"
    )
    assert result.figures["history"][-1]["changes"] == [
        "app machineType e2-standard-4 → e2-standard-8"
    ]


def test_only_runs_of_the_same_fingerprint_are_compared() -> None:
    # Two runs on another machine measured twice the CPU: they are left out, not averaged in.
    history = [
        *steady(5),
        run_summary("web-lat-x1", 10, cpu=0.5, machine="e2-medium"),
        run_summary("web-lat-x2", 11, cpu=0.5, machine="e2-medium"),
    ]
    result = check(run_summary("web-lat-new", 20), history)
    assert result.figures["comparable"] == 5
    assert result.figures["earlier"] == 7
    assert result.status is Status.PASS
    changes = [r["changes"] for r in result.figures["history"]]
    assert changes[5] == ["app machineType e2-standard-4 → e2-medium"]
    assert changes[7] == ["app machineType e2-medium → e2-standard-4"]


def test_a_changed_query_leaves_that_metric_out() -> None:
    new = run_summary("web-lat-new", 20, query='sum(rate(y{namespace="$I"}[1m]))')
    result = check(new, steady(5))
    assert outcomes(result)["server_cpu"] == "n-a"
    assert "server_cpu n-a: its query, type or unit differs from the earlier runs'" in (
        result.details
    )


def test_no_earlier_run_and_no_site_data_are_not_applicable() -> None:
    first = check(run_summary("web-lat-new", 20), [])
    assert first.status is Status.NA
    assert first.summary == "Reproducibility: no earlier run of web-lat-"
    assert check(run_summary("web-lat-new", 20), None).status is Status.NA


def test_later_runs_are_not_history() -> None:
    later = [run_summary(f"web-lat-l{i}", 21 + i, cpu=0.9) for i in range(3)]
    result = check(run_summary("web-lat-new", 20), [*steady(5), *later])
    assert result.figures["earlier"] == 5
    assert result.status is Status.PASS


def test_two_files_of_one_run_are_one_earlier_run() -> None:
    history = steady(5)
    result = check(run_summary("web-lat-new", 20), [*history, dict(history[2])])
    assert result.figures["comparable"] == 5


def test_too_few_earlier_runs_is_inconclusive_and_warns() -> None:
    result = check(run_summary("web-lat-new", 20), steady(1))
    assert result.status is Status.WARN
    assert result.summary.startswith("Reproducibility: inconclusive for 2 of 2 metrics")
    assert result.summary.endswith("1 earlier comparable run (2 needed)")


def test_too_few_points_is_inconclusive() -> None:
    result = check(run_summary("web-lat-new", 20, points=(0.22, 0.23)), steady(5))
    assert outcomes(result)["server_cpu"] == INCONCLUSIVE
    assert "server_cpu inconclusive: too few points: 2 (3 needed)" in result.details


def test_a_flipped_hypothesis_verdict_is_named() -> None:
    result = check(run_summary("web-lat-new", 20, verdict="invalidated"), steady(4))
    assert result.status is Status.WARN
    assert result.summary == (
        "Reproducibility: AI verdict flipped: validated in 4 earlier runs → invalidated"
    )


def test_the_same_input_gives_the_same_figures() -> None:
    history = [run_summary(f"web-lat-e{i}", i + 1, cpu=0.2 if i < 4 else 0.3) for i in range(8)]
    first = check(run_summary("web-lat-new", 20, cpu=0.3), history)
    again = check(run_summary("web-lat-new", 20, cpu=0.3), history)
    assert json.dumps(first.figures, sort_keys=True) == json.dumps(again.figures, sort_keys=True)


# -- series identity ---------------------------------------------------------------------------


def test_pod_names_lose_the_suffixes_kubernetes_generated() -> None:
    assert pod_name("alloy-lddjb") == "alloy"
    assert pod_name("log-generator-7bdc6bdb75-zpkg7") == "log-generator"
    assert pod_name("ts-vm-hub-jcglk-0") == "ts-vm-hub-0"
    assert pod_name("kube-state-metrics-0") == "kube-state-metrics-0"
    assert pod_name("elasticsearch-master-0") == "elasticsearch-master-0"


def test_a_query_compares_without_its_instance_and_its_duration() -> None:
    a = query_text('rate(x{ns="db-fvm-tsl9m"}[42m38s])', instance="db-fvm-tsl9m", seconds=2558)
    b = query_text('rate(x{ns="db-fvm-zz7jt"}[43m12s])', instance="db-fvm-zz7jt", seconds=2592)
    assert a == b == 'rate(x{ns="<instance>"}[$DURATION])'
    # A rate window is part of what the query means.
    assert query_text("rate(x[1m])", instance="i", seconds=2400) == "rate(x[1m])"


def test_a_query_compares_as_its_declaration_however_long_the_run() -> None:
    declared = 'histogram_quantile(0.5, sum(rate(h{namespace="$EXPERIMENT"}[$DURATION])) by (le))'
    forty = 'histogram_quantile(0.5, sum(rate(h{namespace="web-lat-ab2cd"}[41m])) by (le))'
    short = 'histogram_quantile(0.5, sum(rate(h{namespace="web-lat-x9k2p"}[1m]))  by (le))'
    assert query_text(forty, instance="web-lat-ab2cd", seconds=2612, template=declared) == (
        declared
    )
    # A sandbox run of 25 s: its $DURATION is 1m, like a rate window, and still matches.
    assert query_text(short, instance="web-lat-x9k2p", seconds=25, template=declared) == declared
    # Another query is not the declaration, whatever its variables.
    other = forty.replace("0.5", "0.9")
    assert query_text(other, instance="web-lat-ab2cd", seconds=2612, template=declared) == (
        'histogram_quantile(0.9, sum(rate(h{namespace="<instance>"}[41m])) by (le))'
    )


def test_a_short_sandbox_run_is_compared_with_the_published_runs(examples: Path) -> None:
    # What `make demo` does: a run of seconds, after the examples' published history.
    site = load_site_data(examples / "site/data")
    history = [s for _, s in site.results_for("web-lat-")]
    new = json.loads(json.dumps(next(s for s in history if s["name"] == "web-lat-2797d")))
    new["name"] = "web-lat-x9k2p"
    new["createdAt"] = "2026-12-07T10:00:00Z"
    new["metrics"]["timeRange"]["duration"] = "25.0s"
    for query in new["metrics"]["queries"].values():
        query["query"] = query["query"].replace("web-lat-2797d", "web-lat-x9k2p")
        query["query"] = query["query"].replace("[41m]", "[1m]")
    result = check(new, history)
    assert result.figures["comparable"] == 4
    assert result.figures["outcomes"]["request_p99"] == AGREES
    assert result.summary.startswith("Reproducibility: inconclusive for 2 of 3 metrics")


def test_series_of_one_query_are_judged_apart() -> None:
    def with_pods(name: str, day: int, echo: float) -> dict[str, Any]:
        summary = run_summary(name, day)
        summary["metrics"]["queries"]["cpu_by_pod"] = {
            "query": "cpu by pod",
            "type": "instant",
            "unit": "cores",
            "data": [
                {"value": echo, "labels": {"pod": f"echo-{name[-2:]}x9k2p"}},
                {"value": 0.41, "labels": {"pod": "loadgen-0"}},
            ],
        }
        return summary

    history = [with_pods(f"web-lat-e{i}", i + 1, 0.22 + 0.001 * i) for i in range(5)]
    result = check(with_pods("web-lat-new", 20, 0.5), history)
    rows = {r["labels"]: r["outcome"] for r in result.figures["comparisons"]}
    assert rows["pod=loadgen-0"] == AGREES
    assert read_run(history[0]).metrics["cpu_by_pod"].series.keys() == {
        "pod=echo-e0x9k2p",
        "pod=loadgen-0",
    }


# -- change points -----------------------------------------------------------------------------


def test_e_divisive_finds_where_a_step_began_and_nothing_in_noise() -> None:
    step = [1.0, 1.02, 0.98, 1.01, 0.99, 1.5, 1.52, 1.48, 1.51]
    assert change_points(step) == [5]
    assert change_points([1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.02, 0.98]) == []
    assert change_points(step[:5]) == []


def test_every_level_is_found_after_a_segment_too_short_to_split() -> None:
    # The first split leaves three runs on the left, too few to split again; the right
    # part still holds a change.
    assert change_points([0.0] * 3 + [10.0] * 6 + [20.0] * 3) == [3, 9]


def test_every_level_is_found_after_a_segment_without_a_change() -> None:
    # The first split leaves six equal runs on the left; the right part still holds one.
    assert change_points([0.0] * 6 + [10.0] * 6 + [20.0] * 6) == [6, 12]


def test_a_p_value_exactly_at_the_significance_level_is_a_change() -> None:
    # With 19 permutations none of which beats a clean step, p = 1/20, exactly 0.05.
    assert change_points([0.0] * 4 + [10.0] * 4, permutations=19, significance=0.05) == [4]
    assert change_points([0.0] * 4 + [10.0] * 4, permutations=19, significance=0.049) == []


def test_the_baseline_starts_after_the_last_change_point() -> None:
    # Four runs at one level, four at a new one: the new run agrees with the new level,
    # and the check says where the shift began.
    history = [run_summary(f"web-lat-e{i}", i + 1, cpu=0.2 if i < 4 else 0.3) for i in range(8)]
    result = check(run_summary("web-lat-new", 20, cpu=0.3), history)
    assert outcomes(result)["server_cpu"] == AGREES
    assert {"metric": "server_cpu", "labels": "", "began": "web-lat-e4"} in (
        result.figures["changePoints"]
    )
    assert (
        "server_cpu: a shift began at web-lat-e4 (change point; compared with the runs since)"
    ) in result.details


# -- the real corpus ---------------------------------------------------------------------------


def corpus_check(upstream: Path, instance: str) -> CheckResult:
    site = load_site_data(upstream / "site-data")
    for path in sorted(upstream.glob("experiments/*/experiment.yaml")):
        experiment = load_experiment(path)
        if experiment is None or not instance.startswith(experiment.generate_name or "\0"):
            continue
        runs = [s for _, s in site.results_for(experiment.generate_name)]
        new = next(s for s in runs if s["name"] == instance)
        return reproducibility(
            CheckInput(
                experiment=experiment, summary=new, intent=build_intent(experiment), history=runs
            )
        )
    raise AssertionError(f"no experiment for {instance}")


def test_the_lab_run_on_a_bigger_machine_is_not_compared(upstream: Path) -> None:
    result = corpus_check(upstream, "logging-comparison-nkbf8")
    assert result.summary == (
        "Reproducibility: not comparable with the 10 earlier runs: "
        "app machineType e2-standard-4 → e2-standard-8"
    )


def test_the_lab_run_that_wrote_half_the_rows_differs(upstream: Path) -> None:
    result = corpus_check(upstream, "db-fvm-tsl9m")
    assert result.status is Status.WARN
    assert result.summary.startswith(
        "Reproducibility: 2 of 26 metrics differ from the 2 earlier runs of the same "
        "fingerprint — fsync_total_rows differs: 6771 vs 1.3e+04–1.356e+04 in 2 earlier runs"
    )
    assert (
        "nosync_total_rows differs: 6791 vs 1.299e+04–1.309e+04 in 2 earlier runs, "
        "shift -48% (95% CI -57% to -39%)"
    ) in result.details
    # The $DURATION in its queries differs from run to run and does not hide them.
    assert len(result.figures["outcomes"]) == 26


# -- as a user runs it -------------------------------------------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester, examples: Path) -> pytest.Pytester:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester


def score(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "experiments/web-latency",
        "-p",
        "no:cacheprovider",
        "-rA",
        "--experiment-results=experiments/site/data",
        "--experiment-report=report.json",
        "-k",
        "reproducibility",
        *args,
    )


def test_offline_scoring_judges_each_run_against_those_before_it(
    project: pytest.Pytester,
) -> None:
    result = score(project)
    result.stdout.fnmatch_lines(
        [
            "*quality?reproducibility@web-lat-2797d? *Reproducibility: 1 of 3 metrics differ "
            "from the 3 earlier runs of the same fingerprint — request_p50 differs: 0.1609 vs "
            "0.06566–0.06987 in 3 earlier runs, shift +137% (95% CI +122% to +153%)*",
        ]
    )
    # The machine type changed between the two runs before it: not compared.
    result.stdout.fnmatch_lines(
        [
            "*[[]N/A[]] Reproducibility: not comparable with the 3 earlier runs: "
            "app machineType e2-medium → e2-standard-4*",
        ]
    )
    report = json.loads((project.path / "report.json").read_text())
    runs = {i["instance"]: i for e in report["experiments"] for i in e["instances"]}
    found = next(c for c in runs["web-lat-xgjgg"]["checks"] if c["check"] == "reproducibility")
    assert found["verdict"] == "warn"
    assert found["figures"]["comparable"] == 2
    assert found["figures"]["outcomes"] == {
        "request_p50": INCONCLUSIVE,
        "request_p99": AGREES,
        "server_cpu": INCONCLUSIVE,
    }
    # A WARN of this check is news, not a defect: the run's gate still passes.
    assert runs["web-lat-xgjgg"]["gate"] == "pass"


def test_the_option_turns_a_difference_into_a_failure(project: pytest.Pytester) -> None:
    assert score(project).ret == pytest.ExitCode.OK
    failed = score(project, "--experiment-reproducibility=fail")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["FAILED *quality?reproducibility@web-lat-2797d?*"])
    report = json.loads((project.path / "report.json").read_text())
    gates = {i["instance"]: i["gate"] for e in report["experiments"] for i in e["instances"]}
    # Only the difference holds the gate; the inconclusive runs still pass it.
    assert (gates["web-lat-2797d"], gates["web-lat-xgjgg"]) == ("fail", "pass")


def test_the_floor_has_an_ini_twin(project: pytest.Pytester) -> None:
    # Against a 50 % floor the ±36 % noise of request_p50 is narrow enough to agree.
    project.makeini("[pytest]\nexperiment_reproducibility_floor = 50%\n")
    result = score(project)
    # pytest before 9 puts "reason: " before an xfail's reason.
    result.stdout.fnmatch_lines(
        [
            "XFAIL *quality?reproducibility@web-lat-xgjgg? - *[[]WARN[]] Reproducibility: "
            "inconclusive for 1 of 3 metrics (server_cpu) — noise between runs (±138%) is "
            "wider than the 50% shift that matters"
        ]
    )


def test_a_bad_floor_is_named_at_start_up(project: pytest.Pytester) -> None:
    result = score(project, "--experiment-reproducibility-floor=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--experiment-reproducibility-floor: 'lots' is not a percentage (like 10%)*"]
    )


@pytest.mark.parametrize(
    "module",
    [
        "pytest_experiment.core.changepoints",
        "pytest_experiment.core.checks.compare",
        "pytest_experiment.core.checks.history",
        "pytest_experiment.core.checks.reproducibility",
        "pytest_experiment.reporting.html_repro",
    ],
)
def test_the_check_keeps_no_state_outside_the_session(module: str) -> None:
    # A memo at module level outlives the session and is shared by every session of the
    # process (pytester runs, an IDE's repeated runs): what the check reads once lives in
    # the session's history instead.
    loaded = importlib.import_module(module)
    memos = [
        name
        for name, value in vars(loaded).items()
        if hasattr(value, "cache_info") or hasattr(value, "cache_clear")
    ]
    assert memos == []


@pytest.mark.parametrize(
    ("selected", "imported"),
    [
        ("validate", "[]"),
        ("not reproducibility", "[]"),
        ("reproducibility", "['numpy', 'scipy']"),
    ],
)
def test_only_a_session_that_runs_the_check_imports_the_statistics(
    project: pytest.Pytester, selected: str, imported: str
) -> None:
    project.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            print("IMPORTED", sorted(m for m in ("scipy", "numpy") if m in sys.modules))
        """
    )
    # Every example, the published runs scored offline: only the reproducibility items
    # pay for SciPy, even though every other check of the same runs is judged. A fresh
    # interpreter: this one has loaded SciPy already.
    result = project.runpytest_subprocess(
        "experiments",
        "-p",
        "no:cacheprovider",
        "-s",
        "-k",
        selected,
        "--experiment-results=experiments/site/data",
    )
    result.stdout.fnmatch_lines([f"IMPORTED {imported}"])
    if selected == "not reproducibility":
        result.stdout.fnmatch_lines(["*passed*xfailed*"])


# -- durations and fingerprints, read alone ------------------------------------------------------


def test_each_duration_unit_is_read_at_its_length_in_seconds() -> None:
    assert duration_seconds("250ms") == pytest.approx(0.25)
    assert duration_seconds("1s") == 1
    assert duration_seconds("1m") == 60
    assert duration_seconds("1h") == 3600
    assert duration_seconds("1d") == 86400
    assert duration_seconds("1w") == 604800
    assert duration_seconds("1y") == 31536000
    assert duration_seconds("42m38.05s") == pytest.approx(2558.05)
    assert duration_seconds("1h2x") is None


def test_a_missing_machine_type_reads_as_not_recorded_and_is_named_when_it_changes() -> None:
    bare = {"targets": [{"name": "app", "nodeCount": 1}]}
    dressed = {"targets": [{"name": "app", "machineType": "e2-medium", "nodeCount": 1}]}
    assert ("app machineType", "not recorded") in fingerprint(bare)
    assert ("app components", "not recorded") in fingerprint(bare)
    assert fingerprint_changes(fingerprint(bare), fingerprint(dressed)) == [
        "app machineType not recorded → e2-medium"
    ]


def test_two_runs_after_a_change_point_are_enough_to_be_the_baseline() -> None:
    history = [run_summary(f"web-lat-e{i}", i + 1, cpu=0.2 if i < 5 else 0.3) for i in range(7)]
    result = check(run_summary("web-lat-new", 20, cpu=0.3), history)
    assert outcomes(result)["server_cpu"] == AGREES
    assert {"metric": "server_cpu", "labels": "", "began": "web-lat-e5"} in (
        result.figures["changePoints"]
    )


def test_a_difference_is_listed_before_an_inconclusive_metric_whatever_their_names() -> None:
    # request_p99 comes first by name; its runs are ±30 % apart (inconclusive), while
    # server_cpu differs: the difference leads the details.
    levels = (1.0, 1.4, 0.7, 1.2, 0.9)
    history = [
        run_summary(f"web-lat-e{i}", i + 1, p99=0.041 * v, cpu=0.22 * (1 + v / 100))
        for i, v in enumerate(levels)
    ]
    result = check(run_summary("web-lat-new", 20, p99=0.041 * 1.05, cpu=0.40), history)
    assert outcomes(result) == {"request_p99": INCONCLUSIVE, "server_cpu": DIFFERS}
    assert result.details[0].startswith("server_cpu differs")
    assert result.details[1].startswith("request_p99 inconclusive")


def test_one_run_after_a_change_point_is_too_few_to_be_the_baseline() -> None:
    # The shift began at the last earlier run: one run is no baseline, so the new run is
    # judged against them all, not found "inconclusive: 1 earlier comparable run".
    history = [run_summary(f"web-lat-e{i}", i + 1, cpu=0.2 if i < 8 else 0.3) for i in range(9)]
    result = check(run_summary("web-lat-new", 20, cpu=0.3), history)
    assert {"metric": "server_cpu", "labels": "", "began": "web-lat-e8"} in (
        result.figures["changePoints"]
    )
    assert not any("1 earlier comparable run" in d for d in result.details)


def test_an_inconclusive_metric_is_listed_before_one_that_agrees_whatever_their_names() -> None:
    result = check(run_summary("web-lat-new", 20, points=(0.22, 0.23)), steady(5))
    assert outcomes(result) == {"request_p99": AGREES, "server_cpu": INCONCLUSIVE}
    assert result.details[0].startswith("server_cpu inconclusive")
    assert result.details[1].startswith("request_p99 agrees")


def test_the_shift_named_is_the_latest_of_two() -> None:
    # Change points at e5 and e10: the shift named, and the baseline, are the latest's.
    levels = [0.2] * 5 + [0.3] * 5 + [0.4] * 4
    history = [run_summary(f"web-lat-e{i}", i + 1, cpu=v) for i, v in enumerate(levels)]
    result = check(run_summary("web-lat-new", 30, cpu=0.4), history)
    assert outcomes(result)["server_cpu"] == AGREES
    began = [c["began"] for c in result.figures["changePoints"] if c["metric"] == "server_cpu"]
    assert began == ["web-lat-e10"]


def test_a_run_without_a_time_counts_every_other_run_as_earlier() -> None:
    new = run_summary("web-lat-new", 20)
    del new["createdAt"], new["completedAt"]
    result = check(new, steady(3))
    assert result.figures["earlier"] == 3
    assert result.figures["comparable"] == 3


def test_a_flipped_machine_verdict_is_named() -> None:
    def with_machine_verdict(summary: dict[str, Any], word: str) -> dict[str, Any]:
        del summary["analysis"]
        return {**summary, "hypothesis": {"machineVerdict": word}}

    history = [with_machine_verdict(s, "confirmed") for s in steady(4)]
    result = check(with_machine_verdict(run_summary("web-lat-new", 20), "rejected"), history)
    assert result.summary == (
        "Reproducibility: machine verdict flipped: validated in 4 earlier runs → invalidated"
    )


def test_more_than_two_fingerprint_changes_are_counted_after_the_first_two() -> None:
    new = run_summary("web-lat-new", 20, machine="e2-standard-8")
    new["targets"][0].update(nodeCount=3, components=["alloy"])
    result = check(new, steady(2))
    assert result.summary.endswith(" (+1 more)")
    assert len(result.details) == 3
    two = run_summary("web-lat-new", 20, machine="e2-standard-8")
    two["targets"][0].update(nodeCount=3)
    assert check(two, steady(2)).summary.endswith("app nodeCount 1 → 3")


def test_a_long_list_of_added_components_shows_three_and_counts_the_rest() -> None:
    before = {"targets": [{"name": "app", "components": ["a"]}]}
    after = {"targets": [{"name": "app", "components": ["a", "b", "c", "d", "e", "f"]}]}
    assert fingerprint_changes(fingerprint(before), fingerprint(after)) == [
        "app components +b, c, d (+2 more)"
    ]
    three = {"targets": [{"name": "app", "components": ["a", "b", "c", "d"]}]}
    four = {"targets": [{"name": "app", "components": ["a", "b", "c", "d", "e"]}]}
    assert fingerprint_changes(fingerprint(before), fingerprint(three)) == [
        "app components +b, c, d"
    ]
    assert fingerprint_changes(fingerprint(before), fingerprint(four)) == [
        "app components +b, c, d (+1 more)"
    ]


def test_labels_that_are_not_a_mapping_are_the_empty_identity() -> None:
    assert series_labels(None, "web-lat-x") == ""
    assert series_labels(["pod"], "web-lat-x") == ""
    assert series_labels({"pod": "alloy-lddjb", "uid": "1"}, "web-lat-x") == "pod=alloy"


def test_earlier_runs_averaging_zero_agree_only_with_a_zero() -> None:
    zero = judge([0.0, 0.0, 0.0], 0.0, floor=0.10)
    assert zero.outcome == AGREES
    assert (zero.shift, zero.band, zero.interval) == (0.0, (0.0, 0.0), (0.0, 0.0))
    for earlier, new in (([0.0, 0.0, 0.0], 0.5), ([-1.0, 1.0], 0.0), ([-1.0, 1.0], 0.5)):
        judged = judge(earlier, new, floor=0.10)
        assert judged.outcome == INCONCLUSIVE
        assert judged.reason == "the earlier runs average 0: a relative shift is undefined"
    assert judge([0.001, 0.001, 0.001], 0.001, floor=0.10).outcome == AGREES


def test_a_shift_exactly_at_the_floor_agrees() -> None:
    # Identical earlier runs: no noise, so the shift alone decides, and the floor itself
    # does not yet matter.
    assert judge([1.0, 1.0, 1.0], 1.5, floor=0.5).outcome == AGREES
    assert judge([1.0, 1.0, 1.0], 1.75, floor=0.5).outcome == DIFFERS


def test_noise_exactly_at_the_floor_is_not_called_wider_than_it() -> None:
    earlier = [1.0, 1.1, 0.9, 1.05, 0.95]
    n, mean = len(earlier), statistics.fmean(earlier)
    half = t_quantile(n - 1, 1 - (1 - CONFIDENCE) / 2) * statistics.stdev(earlier)
    noise = half * math.sqrt(1 + 1 / n) / abs(mean)
    judged = judge(earlier, 1.02, floor=noise)
    assert judged.outcome == INCONCLUSIVE
    assert "within the noise, near" in judged.reason


def test_a_shift_under_half_a_percent_is_shown_as_none() -> None:
    assert percent(0.0) == "±0%"
    assert percent(-0.0049) == "±0%"
    assert percent(0.005) == "+0%"
    assert percent(0.012) == "+1%"


def test_the_outcomes_are_reported_in_these_words() -> None:
    assert (AGREES, DIFFERS, INCONCLUSIVE) == ("agrees", "differs", "inconclusive")
    result = check(run_summary("web-lat-new", 20, cpu=0.40), steady(5))
    assert outcomes(result) == {"request_p99": "agrees", "server_cpu": "differs"}
