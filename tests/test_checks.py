"""Quality checks, the completion line and root causes.

Real published results from the upstream corpus are checked against the
figures those files actually hold; small hand-written summaries cover each
branch, and a hypothesis fuzz run covers wrong types anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiment.core.checks import (
    CHECKS,
    ON_DEMAND,
    Check,
    CheckInput,
    ai_verdict,
    completion_line,
    custom_metrics,
    finite_number,
    has_data,
    intent_coverage,
    machine_verdict,
    metrics_source,
    point_value,
    presentation,
    run_checks,
    workload_pods,
)
from pytest_experiment.core.checks.reading import (
    Reproducibility,
    data_gap,
    first_line,
    not_measurable,
)
from pytest_experiment.core.gate import RootCause, root_causes
from pytest_experiment.core.intent import Intent, build_intent
from pytest_experiment.core.sitedata import SiteData, load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment, read_source
from pytest_experiment.core.verdict import CheckResult, Status

DATA = Path(__file__).parent / "data" / "checks"
CheckFunc = Callable[[CheckInput], CheckResult]


# -- helpers -----------------------------------------------------------------------------------


def fixture_experiment(name: str) -> Experiment:
    return Experiment.from_source(read_source(DATA / f"{name}.yaml"), name=name)


def edited(tmp_path: Path, name: str, *changes: tuple[str, str]) -> Experiment:
    text = (DATA / f"{name}.yaml").read_text()
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return Experiment.from_source(read_source(path), name=name)


KV = fixture_experiment("kv-hdb")
BARE = fixture_experiment("bare")


def q(*values: Any, unit: str | None = None, error: str | None = None, pod: str = "") -> Any:
    """One ``metrics.queries`` entry with a data point per value."""
    entry: dict[str, Any] = {
        "data": [{"labels": {"pod": pod}, "value": v} if pod else {"value": v} for v in values]
    }
    if unit is not None:
        entry["unit"] = unit
    if error is not None:
        entry["error"] = error
    return entry


def summary(queries: Any = None, *, source: Any = "target:x/prometheus", **extra: Any) -> Any:
    return {"phase": "Complete", "metrics": {"source": source, "queries": queries or {}}, **extra}


def run(
    check: CheckFunc,
    data: Any,
    *,
    experiment: Experiment = KV,
    intent: Intent | None = None,
    analyzer: str | None = None,
) -> CheckResult:
    return check(
        CheckInput(
            experiment=experiment,
            summary=data,
            intent=intent or build_intent(experiment),
            analyzer=analyzer,
        )
    )


ALL_KV = {
    "ssd_write_p99": q(0.012, unit="seconds"),
    "ssd_read_p99": q(0.011, unit="seconds"),
    "hdb_write_p99": q(0.02, unit="seconds"),
    "hdb_read_p99": q(0.02, unit="seconds"),
    "cluster_cpu": q(0.4, unit="cores"),
}


# -- the real corpus ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    site: SiteData
    experiments: tuple[Experiment, ...]

    def input(self, instance: str, *, analyzer: str | None = None) -> CheckInput:
        experiment = next(e for e in self.experiments if instance.startswith(e.generate_name))
        _, data = next(
            pair
            for pair in self.site.results_for(experiment.generate_name)
            if pair[1]["name"] == instance
        )
        intent = build_intent(
            experiment,
            series=self.site.series,
            prior_metric_names=self.site.prior_metric_names(experiment),
        )
        return CheckInput(experiment=experiment, summary=data, intent=intent, analyzer=analyzer)

    def check(self, func: CheckFunc, instance: str) -> CheckResult:
        return func(self.input(instance))


@pytest.fixture(scope="module")
def corpus(upstream: Path) -> Corpus:
    experiments = tuple(
        e
        for p in sorted((upstream / "experiments").glob("*/experiment.yaml"))
        if (e := load_experiment(p))
    )
    return Corpus(site=load_site_data(upstream / "site-data"), experiments=experiments)


def test_real_db_fvm_mpcnl_collected_6_of_26(corpus: Corpus) -> None:
    result = corpus.check(custom_metrics, "db-fvm-mpcnl")
    assert result.status is Status.WARN
    assert result.summary == "Custom metrics: 6/26 collected"
    assert result.figures["collected"] == 6
    assert result.figures["declared"] == 26
    assert len(result.figures["missing"]) == 20
    assert "fsync_write_p99: no data" in result.details
    assert "cluster_cpu" not in result.figures["missing"]


def test_real_complete_runs_collect_everything(corpus: Corpus) -> None:
    assert corpus.check(custom_metrics, "db-fvm-tsl9m").summary == "Custom metrics: 26/26 collected"
    dsc = corpus.check(custom_metrics, "db-dsc-s2gqx")
    assert (dsc.status, dsc.summary) == (Status.PASS, "Custom metrics: 29/29 collected")


def test_real_tsdb_6czms_collected_none_of_its_metrics(corpus: Corpus) -> None:
    result = corpus.check(custom_metrics, "tsdb-comparison-6czms")
    assert (result.status, result.summary) == (Status.FAIL, "Custom metrics: 0/10 collected")
    assert result.details[0] == "prometheus_stack_cpu: not in results"


def test_real_logging_554sl_is_cadvisor_only(corpus: Corpus) -> None:
    source = corpus.check(metrics_source, "logging-comparison-554sl")
    assert source.status is Status.WARN
    assert source.summary == "Metrics source: target:cadvisor (no custom metric pipeline)"
    custom = corpus.check(custom_metrics, "logging-comparison-554sl")
    assert (custom.status, custom.summary) == (Status.WARN, "Custom metrics: 3/20 collected")


def test_real_prometheus_source_passes(corpus: Corpus) -> None:
    result = corpus.check(metrics_source, "db-dsc-s2gqx")
    assert result.status is Status.PASS
    assert result.summary == "Metrics source: target:db-dsc-s2gqx/kube-prometheus-stack-prometheus"


def test_real_logging_554sl_pods(corpus: Corpus) -> None:
    result = corpus.check(workload_pods, "logging-comparison-554sl")
    assert result.status is Status.PASS
    assert result.figures["infrastructure_pods"] == [
        "alloy-p9nvl",
        "kube-state-metrics-0",
        "operator-64d66c8747-wwkgb",
        "ts-vm-hub-dqjkl-0",
    ]
    assert result.figures["workload_pods"] == [
        "fluent-bit-9qgff",
        "log-generator-7bdc6bdb75-hlwjn",
        "loki-canary-pqnt8",
        "loki-gateway-6b6fb68665-pgglb",
        "promtail-9wjlc",
    ]
    assert result.summary == (
        "Workload pods: 4 infrastructure, 5 workload (fluent-bit-9qgff, "
        "log-generator-7bdc6bdb75-hlwjn, loki-canary-pqnt8, loki-gateway-6b6fb68665-pgglb, "
        "promtail-9wjlc)"
    )


def test_real_tsdb_6czms_pods(corpus: Corpus) -> None:
    result = corpus.check(workload_pods, "tsdb-comparison-6czms")
    assert (result.figures["infrastructure"], result.figures["workload"]) == (9, 3)
    assert result.figures["workload_pods"] == [
        "cardinality-generator-5df7786cb8-p6twm",
        "mimir-nginx-64c595b85c-2dt8t",
        "minio-7594465b77-jtkv8",
    ]


def test_real_db_dsc_pods_come_from_any_pod_labelled_query(corpus: Corpus) -> None:
    result = corpus.check(workload_pods, "db-dsc-s2gqx")
    # The node exporter appears in disk_io_utilization; the six naive-db pods in *_total_rows.
    assert result.figures["infrastructure_pods"] == [
        "kube-prometheus-stack-prometheus-node-exporter-wprhc"
    ]
    assert result.figures["workload"] == 6
    assert result.summary.endswith("… (+1 more))")


def test_real_results_without_pod_labels(corpus: Corpus) -> None:
    result = corpus.check(workload_pods, "logging-comparison-77tj5")
    assert (result.status, result.summary) == (Status.NA, "Workload pods: no pod-level metrics")


def test_real_ai_verdict_insufficient_db_fvm_mpcnl(corpus: Corpus) -> None:
    result = corpus.check(ai_verdict, "db-fvm-mpcnl")
    assert result.status is Status.FAIL
    assert result.summary == (
        'AI verdict: insufficient — "This experiment is insufficient to evaluate the '
        "hypothesis because all critical latency and throughput metrics returned no data — "
        "the 20 queries covering write p50/p99, read p99, fsync latency, batch write latency, "
        'and ops/sec for both variants produced empty results."'
    )


def test_real_ai_verdict_insufficient_tsdb_6czms(corpus: Corpus) -> None:
    result = corpus.check(ai_verdict, "tsdb-comparison-6czms")
    assert result.status is Status.FAIL
    assert result.figures["abstract"] == (
        "The experiment provides partial support for the hypothesis that VictoriaMetrics is "
        "the most resource-efficient single-node TSDB, but the data is insufficient to fully "
        "evaluate either claim due to critical missing metrics."
    )


@pytest.mark.parametrize(
    ("instance", "status", "line"),
    [
        ("db-dsc-s2gqx", Status.PASS, "AI verdict: invalidated"),
        ("db-fvm-tsl9m", Status.PASS, "AI verdict: validated"),
        ("db-fvm-zz7jt", Status.NA, "AI verdict: no analysis in summary"),
        ("logging-comparison-554sl", Status.NA, "AI verdict: not given in analysis"),
        (
            "logging-comparison-hzrhq",
            Status.NA,
            "AI verdict: analyzer errored — Error: ENOENT: no such file or directory, "
            "mkdir '/home/node/.claude/debug'",
        ),
    ],
)
def test_real_ai_verdicts(corpus: Corpus, instance: str, status: Status, line: str) -> None:
    result = corpus.check(ai_verdict, instance)
    assert (result.status, result.summary) == (status, line)


def test_real_db_dsc_covers_its_differentiating_groups(corpus: Corpus) -> None:
    result = corpus.check(intent_coverage, "db-dsc-s2gqx")
    assert result.status is Status.PASS
    assert result.summary == "Intent coverage: 5/5 differentiating groups"
    assert result.details == (
        "hdd: 5/5 metrics",
        "balanced: 5/5 metrics",
        "ssd: 5/5 metrics",
        "disk_io: 2/2 metrics",
        "totals: 6/6 metrics",
    )


def test_real_db_fvm_mpcnl_misses_four_groups(corpus: Corpus) -> None:
    result = corpus.check(intent_coverage, "db-fvm-mpcnl")
    assert result.status is Status.FAIL
    assert result.summary == (
        "Intent coverage: 3/7 differentiating groups (fsync: 0/6 metrics, nosync: 0/6 metrics, "
        "batch: 0/2 metrics, timeseries: 0/4 metrics)"
    )
    assert result.details[0] == "Experiment's differentiating data missing — fsync has no results"
    assert "resources: 2/4 metrics" in result.details


def test_real_presentation(corpus: Corpus) -> None:
    dsc = corpus.check(presentation, "db-dsc-s2gqx")
    assert (dsc.status, dsc.summary) == (
        Status.WARN,
        "Presentation: 17/29 metrics render correctly",
    )
    assert len(dsc.figures["renders_as_zero"]) == 12
    assert "hdd_fsync_write_p99: 0.00496434 seconds renders as 0.00" in dsc.details
    assert dsc.figures["latency_without_seconds"] == []
    mpcnl = corpus.check(presentation, "db-fvm-mpcnl")
    assert (mpcnl.status, mpcnl.summary) == (
        Status.PASS,
        "Presentation: 6/6 metrics render correctly",
    )


def test_real_results_have_no_success_criteria(corpus: Corpus) -> None:
    result = corpus.check(machine_verdict, "db-dsc-s2gqx")
    assert (result.status, result.summary) == (
        Status.NA,
        "Machine verdict: no success criteria defined",
    )


def test_real_summary_without_metrics_section_has_collected_nothing(corpus: Corpus) -> None:
    # The operator leaves `metrics` out when it collected nothing: the declared
    # metrics are all missing, not unmeasurable.
    inp = corpus.input("logging-comparison-c2gzq")
    results = dict(run_checks(inp))
    custom = results["custom-metrics"]
    assert (custom.status, custom.summary) == (
        Status.FAIL,
        "Custom metrics: 0/20 collected (summary has no metrics section)",
    )
    assert len(custom.figures["missing"]) == 20
    assert custom.details[0] == "loki_stack_cpu: summary has no metrics section"
    coverage = results["intent-coverage"]
    assert (coverage.status, coverage.summary) == (
        Status.FAIL,
        "Intent coverage: 0/4 differentiating groups (loki: 0/8 metrics, elasticsearch: "
        "0/8 metrics, drill-down: 0/2 metrics, cluster: 0/2 metrics)",
    )
    assert coverage.figures["missing"] == ["loki", "elasticsearch", "drill-down", "cluster"]
    assert results["metrics-source"].line == (
        "[N/A] Metrics source: not reported (summary has no metrics section)"
    )
    assert results["presentation"].status is Status.NA
    assert results["workload-pods"].status is Status.NA


@pytest.mark.parametrize(
    ("instance", "line"),
    [
        ("db-dsc-s2gqx", "[PASS] Experiment completed (47m, $0.021)"),
        ("logging-comparison-dbkf7", "[PASS] Experiment completed (2h02m, $0.041)"),
        ("id-102", "[PASS] Experiment completed (30m)"),
    ],
)
def test_real_completion_lines(corpus: Corpus, instance: str, line: str) -> None:
    data = next(r.summary for r in corpus.site.results if r.name == instance)
    assert completion_line(data).line == line


def test_real_root_causes(corpus: Corpus) -> None:
    def causes(instance: str) -> list[tuple[str, str | None]]:
        inp = corpus.input(instance)
        return [(c.check, c.fix) for c in root_causes(inp.experiment, run_checks(inp))]

    assert causes("logging-comparison-554sl") == [
        ("custom-metrics", "add-kube-prometheus-stack"),
        ("custom-metrics", "add-metrics-pipeline"),
        ("intent-coverage", None),
        ("intent-coverage", None),
    ]
    assert causes("tsdb-comparison-6czms") == [("custom-metrics", "add-metrics-pipeline")]
    assert causes("db-fvm-mpcnl") == [("intent-coverage", None)] * 4


def test_every_check_on_every_real_result(corpus: Corpus) -> None:
    """No result file crashes a check, whichever experiment it is scored against."""
    checked = 0
    for experiment in corpus.experiments:
        intent = build_intent(
            experiment,
            series=corpus.site.series,
            prior_metric_names=corpus.site.prior_metric_names(experiment),
        )
        for result in corpus.site.results:
            inp = CheckInput(experiment=experiment, summary=result.summary, intent=intent)
            for check in CHECKS:
                verdict = check.func(inp)
                assert isinstance(verdict.status, Status)
                assert verdict.summary.startswith(check.title)
            assert isinstance(completion_line(result.summary).status, Status)
            root_causes(experiment, run_checks(inp))
            checked += 1
    assert checked == len(corpus.experiments) * 26


# -- what counts as data ----------------------------------------------------------------------

# Points with no finite numeric value, as mutated summaries and broken
# exporters publish them; each one alone must leave a query without data.
NO_VALUE_POINTS = [
    pytest.param({"value": float("nan")}, id="nan-number"),
    pytest.param({"value": float("inf")}, id="inf-number"),
    pytest.param({"value": "NaN"}, id="nan-string"),
    pytest.param({"value": "Infinity"}, id="infinity-string"),
    pytest.param({"value": "-Inf"}, id="minus-inf-string"),
    pytest.param({"value": None}, id="value-null"),
    pytest.param({"value": True}, id="boolean"),
    pytest.param({"value": "fast"}, id="word"),
    pytest.param({"value": ""}, id="empty-string"),
    pytest.param({"value": "1_000"}, id="underscored-digits"),
    pytest.param({"value": {}}, id="value-object"),
    pytest.param({"value": [1]}, id="value-list"),
    pytest.param({"timestamp": "2026-02-11T13:31:28Z"}, id="no-value-key"),
    pytest.param({}, id="empty-object"),
    pytest.param(None, id="null"),
    pytest.param("0.5", id="bare-string"),
    pytest.param(False, id="bare-boolean"),
    pytest.param([1730000000, "NaN"], id="prometheus-pair-nan"),
    pytest.param([1730000000], id="short-pair"),
    pytest.param({"value": 10**400}, id="integer-beyond-float"),
]


@pytest.mark.parametrize("point", NO_VALUE_POINTS)
def test_a_point_without_a_finite_number_is_no_data(point: Any) -> None:
    assert point_value(point) is None
    assert not has_data({"data": [point]})
    assert not has_data({"data": [point, point]})


@pytest.mark.parametrize(
    ("point", "value"),
    [
        ({"timestamp": "2026-02-11T13:31:28Z", "value": 0.00496}, 0.00496),
        ({"labels": {"pod": "naive-db-0"}, "timestamp": "t", "value": 3867}, 3867.0),
        ({"value": 0}, 0.0),
        ({"value": "0.25"}, 0.25),
        ({"value": " -1.5e-3 "}, -0.0015),
        ([1730000000, "0.5"], 0.5),
        ([1730000000.5, 2], 2.0),
    ],
)
def test_operator_points_and_prometheus_pairs_carry_values(point: Any, value: float) -> None:
    assert point_value(point) == value
    assert has_data({"data": [{"value": None}, point]})


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"query": "up", "unit": "cores"}, id="no-data-key"),
        pytest.param({"data": []}, id="empty-data"),
        pytest.param({"data": None}, id="null-data"),
        pytest.param({"data": [{"value": 1}], "error": "timeout"}, id="error-with-data"),
        pytest.param({"error": "bad_data"}, id="error-only"),
        pytest.param({"data": {"value": 1}}, id="data-object"),
    ],
)
def test_queries_without_usable_data(entry: Any) -> None:
    assert not has_data(entry)


def test_finite_number_reads_numbers_and_decimal_strings_only() -> None:
    assert finite_number(3) == 3.0
    assert finite_number("12") == 12.0
    assert finite_number(".5") == 0.5
    assert finite_number("1e999") is None  # parses to infinity
    assert finite_number("١٢") is None  # digits of another script: not a published number
    assert finite_number(True) is None


@pytest.mark.parametrize("point", NO_VALUE_POINTS)
def test_custom_metrics_counts_no_value_points_as_missing(point: Any) -> None:
    queries = {**ALL_KV, "cluster_cpu": {"unit": "cores", "data": [point]}}
    result = run(custom_metrics, summary(queries))
    assert (result.status, result.summary) == (Status.WARN, "Custom metrics: 4/5 collected")
    assert result.figures["missing"] == ["cluster_cpu"]


def test_custom_metrics_says_why_points_are_not_data() -> None:
    queries = {**ALL_KV, "cluster_cpu": {"data": [{"value": "NaN"}, {"value": None}]}}
    result = run(custom_metrics, summary(queries))
    assert result.details == ("cluster_cpu: no finite numeric value in 2 points",)


def test_intent_coverage_counts_no_value_points_as_missing() -> None:
    queries = {**ALL_KV, "hdb_write_p99": q("NaN"), "hdb_read_p99": q(None, {})}
    result = run(intent_coverage, summary(queries), intent=hdb_intent())
    assert result.line == "[FAIL] Intent coverage: 0/1 differentiating groups (hdb: 0/2 metrics)"


def test_workload_pods_ignore_pods_seen_only_without_values() -> None:
    queries = {
        "cpu_by_pod": {
            "data": [
                {"labels": {"pod": "kv-store-0"}, "value": "NaN"},
                {"labels": {"pod": "loadgen-1"}, "value": None},
                {"labels": {"pod": "alloy-x"}, "value": 0.2},
            ]
        },
        "memory_by_pod": {
            "error": "timeout",
            "data": [{"labels": {"pod": "kv-store-1"}, "value": 1}],
        },
    }
    result = run(workload_pods, summary(queries))
    assert (result.status, result.summary) == (
        Status.FAIL,
        "Workload pods: 1 infrastructure, 0 workload (no workload pods visible in metrics)",
    )


def test_workload_pods_with_only_no_value_points_is_na() -> None:
    queries = {"cpu_by_pod": {"data": [{"labels": {"pod": "kv-store-0"}, "value": "Infinity"}]}}
    result = run(workload_pods, summary(queries))
    assert (result.status, result.summary) == (Status.NA, "Workload pods: no pod-level metrics")


def test_summary_with_nan_everywhere_passes_nothing() -> None:
    """Garbage in every value: no check may pass on it."""
    garbage = {name: q(float("nan"), unit="seconds") for name in ALL_KV}
    garbage["cpu_by_pod"] = q("NaN", pod="kv-store-0")
    results = dict(
        run_checks(CheckInput(experiment=KV, summary=summary(garbage), intent=build_intent(KV)))
    )
    assert results["custom-metrics"].line == "[FAIL] Custom metrics: 0/5 collected"
    assert results["presentation"].status is Status.NA
    assert results["workload-pods"].status is Status.NA
    assert results["intent-coverage"].status is Status.FAIL


# -- custom-metrics ----------------------------------------------------------------------------


def test_custom_metrics_all_collected() -> None:
    result = run(custom_metrics, summary(ALL_KV))
    assert (result.status, result.summary) == (Status.PASS, "Custom metrics: 5/5 collected")
    assert result.details == ()


def test_custom_metrics_none_collected() -> None:
    result = run(custom_metrics, summary({"ssd_write_p99": q()}))
    assert (result.status, result.summary) == (Status.FAIL, "Custom metrics: 0/5 collected")
    assert result.figures["missing"] == [
        "ssd_write_p99",
        "ssd_read_p99",
        "hdb_write_p99",
        "hdb_read_p99",
        "cluster_cpu",
    ]


def test_custom_metrics_partial_names_each_gap() -> None:
    queries = {
        **ALL_KV,
        "ssd_read_p99": q(),
        "hdb_write_p99": q(error="bad_data: parse error\nat line 1"),
        "hdb_read_p99": "oops",
    }
    del queries["cluster_cpu"]
    result = run(custom_metrics, summary(queries))
    assert (result.status, result.summary) == (Status.WARN, "Custom metrics: 1/5 collected")
    assert result.details == (
        "ssd_read_p99: no data",
        "hdb_write_p99: query error: bad_data: parse error",
        "hdb_read_p99: malformed entry (str)",
        "cluster_cpu: not in results",
    )
    # The kind of each gap is a figure, so a report never parses the details' wording.
    assert result.figures["gaps"] == {
        "ssd_read_p99": "empty",
        "hdb_write_p99": "error",
        "hdb_read_p99": "empty",
        "cluster_cpu": "absent",
    }


def test_custom_metrics_none_defined(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("kind: Experiment\nspec: {}\n")
    bare = Experiment.from_source(read_source(path))
    result = run(custom_metrics, {"phase": "Complete"}, experiment=bare)
    assert (result.status, result.summary) == (Status.PASS, "Custom metrics: none defined")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"metrics": []}, "metrics section is a list, not an object"),
        ({"metrics": {"queries": [1]}}, "metrics.queries is a list, not an object"),
        ("not a summary", "summary is a str, not an object"),
    ],
)
def test_custom_metrics_unreadable_schema_warns(data: Any, reason: str) -> None:
    result = run(custom_metrics, data)
    assert (result.status, result.summary) == (
        Status.WARN,
        f"Custom metrics: not measurable — {reason}",
    )


@pytest.mark.parametrize("data", [{"phase": "Complete"}, {"phase": "Complete", "metrics": None}])
def test_custom_metrics_without_metrics_section_fails_0_of_y(data: Any) -> None:
    result = run(custom_metrics, data)
    assert (result.status, result.summary) == (
        Status.FAIL,
        "Custom metrics: 0/5 collected (summary has no metrics section)",
    )
    assert result.figures["collected"] == 0
    assert result.figures["missing"] == [m.name for m in KV.metrics]
    assert result.details[-1] == "cluster_cpu: summary has no metrics section"


@pytest.mark.parametrize(
    "metrics",
    [{"source": "target:x/prometheus"}, {"source": "target:x/prometheus", "queries": None}],
    ids=["queries-absent", "queries-null"],
)
def test_a_metrics_section_without_queries_collected_nothing(metrics: Any) -> None:
    """Zero metrics arrived, as with no ``metrics`` at all: FAIL 0/Y, not "not measurable"."""
    data = {"phase": "Complete", "metrics": metrics}
    result = run(custom_metrics, data)
    assert (result.status, result.summary) == (
        Status.FAIL,
        "Custom metrics: 0/5 collected (metrics section has no queries)",
    )
    assert result.details[-1] == "cluster_cpu: metrics section has no queries"
    coverage = run(intent_coverage, data, intent=hdb_intent())
    assert (coverage.status, coverage.summary) == (
        Status.FAIL,
        "Intent coverage: 0/1 differentiating groups (hdb: 0/2 metrics)",
    )
    assert coverage.details[-1] == "metrics section has no queries"
    assert run(presentation, data).status is Status.NA
    assert run(workload_pods, data).status is Status.NA


# -- metrics-source ----------------------------------------------------------------------------


def test_metrics_source_cadvisor_with_custom_metrics_warns() -> None:
    result = run(metrics_source, summary(source="target:cadvisor"))
    assert result.status is Status.WARN
    assert result.line == "[WARN] Metrics source: target:cadvisor (no custom metric pipeline)"


def test_metrics_source_cadvisor_without_custom_metrics_passes(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("kind: Experiment\nspec: {}\n")
    bare = Experiment.from_source(read_source(path))
    result = run(metrics_source, summary(source="target:cadvisor"), experiment=bare)
    assert (result.status, result.summary) == (Status.PASS, "Metrics source: target:cadvisor")


@pytest.mark.parametrize(
    ("data", "status", "line"),
    [
        (summary(source=None), Status.NA, "Metrics source: not reported (no metrics.source)"),
        (
            {"phase": "Complete"},
            Status.NA,
            "Metrics source: not reported (summary has no metrics section)",
        ),
        (summary(source=["a"]), Status.WARN, "Metrics source: unreadable (list)"),
    ],
)
def test_metrics_source_unknown(data: Any, status: Status, line: str) -> None:
    result = run(metrics_source, data)
    assert (result.status, result.summary) == (status, line)


# -- machine-verdict ---------------------------------------------------------------------------


def hypothesis_section(verdict: Any, *criteria: dict[str, Any]) -> dict[str, Any]:
    return {"machineVerdict": verdict, "successCriteria": list(criteria)}


NULL_CRITERION = {
    "metric": "hdb_write_p99",
    "operator": "lt",
    "value": "0.005",
    "description": "Hyperdisk p99 write under 5 ms",
    "passed": None,
}


def test_machine_verdict_insufficient_fails_and_lists_null_criteria() -> None:
    passed = {"metric": "ssd_write_p99", "operator": "lt", "value": "1", "passed": True}
    data = summary(ALL_KV, hypothesis=hypothesis_section("insufficient", NULL_CRITERION, passed))
    result = run(machine_verdict, data)
    assert result.status is Status.FAIL
    assert result.summary == "Machine verdict: insufficient (1/2 criteria not evaluated)"
    assert result.details == (
        "passed: null — hdb_write_p99 lt 0.005 (Hyperdisk p99 write under 5 ms)",
    )


def test_machine_verdict_criterion_without_passed_was_not_evaluable() -> None:
    # The real operator leaves `passed` out and writes `actualValue` as a string.
    absent = {"metric": "hdb_write_p99", "operator": "lt", "value": "0.005", "actualValue": ""}
    odd = {"metric": "ssd_write_p99", "operator": "lt", "value": "1", "passed": "yes"}
    evaluated = {
        "metric": "cluster_cpu",
        "operator": "lt",
        "value": "2",
        "passed": False,
        "actualValue": "2.5",
    }
    data = summary(hypothesis=hypothesis_section("insufficient", absent, odd, evaluated))
    result = run(machine_verdict, data)
    assert result.summary == "Machine verdict: insufficient (2/3 criteria not evaluated)"
    assert result.details == (
        "passed: null — hdb_write_p99 lt 0.005",
        "passed: 'yes' — ssd_write_p99 lt 1",
    )
    assert result.figures["unevaluated"] == ["hdb_write_p99 lt 0.005", "ssd_write_p99 lt 1"]


def test_machine_verdict_shows_string_actual_values() -> None:
    criterion = {**NULL_CRITERION, "actualValue": "0.0071"}
    result = run(machine_verdict, summary(hypothesis=hypothesis_section("invalidated", criterion)))
    assert result.status is Status.PASS
    assert result.details == (
        "passed: null — hdb_write_p99 lt 0.005 (Hyperdisk p99 write under 5 ms), "
        "actual value 0.0071",
    )


@pytest.mark.parametrize(
    ("word", "status"),
    [
        (" Validated ", Status.PASS),
        ("INVALIDATED", Status.PASS),
        ("Insufficient", Status.FAIL),
        ("partially-validated", Status.WARN),
    ],
)
def test_verdict_words_ignore_case_and_padding(word: str, status: Status) -> None:
    machine = run(machine_verdict, summary(hypothesis=hypothesis_section(word)))
    ai = run(ai_verdict, summary(analysis={"hypothesisVerdict": word}))
    assert machine.status is status
    assert ai.status is status
    if status is Status.WARN:
        assert machine.summary == f"Machine verdict: {word!r} is not a known verdict"
        assert ai.summary == f"AI verdict: {word!r} is not a known verdict"


@pytest.mark.parametrize("word", ["confirmed", "rejected", "validated", "invalidated"])
def test_machine_verdict_known_words_pass(word: str) -> None:
    result = run(machine_verdict, summary(hypothesis=hypothesis_section(word)))
    assert (result.status, result.summary) == (Status.PASS, f"Machine verdict: {word}")


def test_machine_verdict_unknown_word_warns() -> None:
    result = run(machine_verdict, summary(hypothesis=hypothesis_section("inconclusive")))
    assert result.status is Status.WARN
    assert result.summary == "Machine verdict: 'inconclusive' is not a known verdict"


@pytest.mark.parametrize(
    ("hypothesis", "status", "line"),
    [
        (None, Status.NA, "Machine verdict: not reported"),
        ({"claim": "x"}, Status.NA, "Machine verdict: not reported"),
        (hypothesis_section(""), Status.NA, "Machine verdict: not reported"),
        (hypothesis_section(3), Status.WARN, "Machine verdict: unreadable (int)"),
        ("text", Status.NA, "Machine verdict: not reported"),
    ],
)
def test_machine_verdict_unreported(hypothesis: Any, status: Status, line: str) -> None:
    result = run(machine_verdict, summary(hypothesis=hypothesis))
    assert (result.status, result.summary) == (status, line)


def test_machine_verdict_no_criteria_anywhere_is_na() -> None:
    result = run(
        machine_verdict, summary(hypothesis={"machineVerdict": "validated"}), experiment=BARE
    )
    assert (result.status, result.summary) == (
        Status.NA,
        "Machine verdict: no success criteria defined",
    )


def test_machine_verdict_criteria_from_the_summary_alone_count() -> None:
    data = summary(hypothesis={"machineVerdict": "insufficient", "criteria": [NULL_CRITERION, 7]})
    result = run(machine_verdict, data, experiment=BARE)
    assert result.status is Status.FAIL
    assert result.figures["criteria"] == 1


# -- workload-pods -----------------------------------------------------------------------------


def test_workload_pods_all_infrastructure_fails() -> None:
    queries = {
        "cpu_by_pod": {
            "data": [
                {"labels": {"pod": "prometheus-kube-0"}, "value": 1},
                {"labels": {"pod": "grafana-abc"}, "value": 1},
                {"labels": {"pod": "tailscale-operator-x"}, "value": 1},
            ]
        }
    }
    result = run(workload_pods, summary(queries))
    assert result.status is Status.FAIL
    assert result.summary == (
        "Workload pods: 3 infrastructure, 0 workload (no workload pods visible in metrics)"
    )


def test_workload_pods_any_workload_passes() -> None:
    queries = {
        "cpu_by_pod": q(1, pod="alloy-x"),
        "memory_by_pod": {
            "data": [
                {"labels": {"pod": "kv-store-0"}, "value": 1},
                {"labels": {"pod": "alloy-x"}, "value": 2},
            ]
        },
    }
    result = run(workload_pods, summary(queries))
    assert (result.status, result.summary) == (
        Status.PASS,
        "Workload pods: 1 infrastructure, 1 workload (kv-store-0)",
    )
    assert result.details == ("infrastructure: alloy-x", "workload: kv-store-0")


def test_workload_pods_without_pod_labels_is_na() -> None:
    queries = {
        "cpu": q(1),
        "odd": {"data": [{"labels": ["pod"]}, {"labels": {"pod": 5}}, "point"]},
        "other": {"data": "x"},
    }
    result = run(workload_pods, summary(queries))
    assert (result.status, result.summary) == (Status.NA, "Workload pods: no pod-level metrics")


# -- presentation ------------------------------------------------------------------------------


def test_presentation_flags_latency_without_seconds(tmp_path: Path) -> None:
    result = run(
        presentation,
        summary({"request_latency": q(0.5), "web_p99": q(12, unit="ms"), "cpu": q(2)}),
        experiment=BARE,
    )
    assert (result.status, result.summary) == (
        Status.WARN,
        "Presentation: 1/3 metrics render correctly",
    )
    assert result.details == (
        "request_latency: latency metric without unit: seconds (unit: none)",
        "web_p99: latency metric without unit: seconds (unit: ms)",
    )
    assert result.figures["latency_without_seconds"] == ["request_latency", "web_p99"]


def test_presentation_takes_the_unit_from_the_spec_when_the_summary_has_none() -> None:
    result = run(presentation, summary({"ssd_write_p99": q(0.5)}))
    assert result.status is Status.PASS


def test_presentation_flags_values_that_render_as_zero() -> None:
    queries = {
        "ssd_write_p99": q(0.004, unit="seconds"),
        "ssd_read_p99": q("0.0001", unit="seconds"),
        "cluster_cpu": q(0, unit="cores"),
        "hdb_write_p99": q(0.006, unit="seconds"),
    }
    result = run(presentation, summary(queries))
    assert (result.status, result.summary) == (
        Status.WARN,
        "Presentation: 2/4 metrics render correctly",
    )
    assert result.details == (
        "ssd_write_p99: 0.004 seconds renders as 0.00",
        "ssd_read_p99: 0.0001 seconds renders as 0.00",
    )


def test_presentation_passes_clean_metrics() -> None:
    result = run(presentation, summary(ALL_KV))
    assert (result.status, result.summary) == (
        Status.PASS,
        "Presentation: 5/5 metrics render correctly",
    )


def test_presentation_warns_when_the_first_value_is_not_finite() -> None:
    # Later points hold data, so the metric is shown; the site prints its first sample.
    queries = {
        "cluster_cpu": q("NaN", 0.5, unit="cores"),
        "ssd_write_p99": q(None, 0.5, unit="seconds"),
        "ssd_read_p99": {"data": [[1730000000, "+Inf"], [1730000060, "0.5"]], "unit": "seconds"},
    }
    result = run(presentation, summary(queries))
    assert (result.status, result.summary) == (
        Status.WARN,
        "Presentation: 0/3 metrics render correctly",
    )
    assert result.details == (
        "cluster_cpu: first value 'NaN' is not a finite number",
        "ssd_write_p99: first value None is not a finite number",
        "ssd_read_p99: first value [1730000000, '+Inf'] is not a finite number",
    )


def test_presentation_never_passes_on_nan() -> None:
    # A float NaN (json.loads accepts the NaN literal) used to render "correctly".
    result = run(presentation, summary({"cluster_cpu": q(float("nan"), unit="cores")}))
    assert (result.status, result.summary) == (Status.NA, "Presentation: no metrics with data")


def test_presentation_without_data_is_na() -> None:
    assert run(presentation, summary({"cluster_cpu": q()})).summary == (
        "Presentation: no metrics with data"
    )
    assert run(presentation, {"phase": "Complete"}).status is Status.NA


# -- intent-coverage ---------------------------------------------------------------------------


def hdb_intent() -> Intent:
    return build_intent(KV, prior_metric_names=frozenset({"ssd_write_p99", "cluster_cpu"}))


def test_intent_coverage_fails_when_a_differentiating_group_has_no_data() -> None:
    queries = {**ALL_KV, "hdb_write_p99": q(), "hdb_read_p99": q(error="timeout")}
    result = run(intent_coverage, summary(queries), intent=hdb_intent())
    assert result.status is Status.FAIL
    assert result.line == ("[FAIL] Intent coverage: 0/1 differentiating groups (hdb: 0/2 metrics)")
    assert result.details == (
        "Experiment's differentiating data missing — hdb has no results",
        "hdb: 0/2 metrics",
    )


def test_intent_coverage_passes_on_partial_group_data() -> None:
    queries = {**ALL_KV, "hdb_read_p99": q()}
    result = run(intent_coverage, summary(queries), intent=hdb_intent())
    assert (result.status, result.summary) == (
        Status.PASS,
        "Intent coverage: 1/1 differentiating groups",
    )
    assert result.details == ("hdb: 1/2 metrics",)


def test_intent_coverage_without_groups_is_na() -> None:
    intent = build_intent(KV, prior_metric_names=frozenset(m.name for m in KV.metrics))
    result = run(intent_coverage, summary(ALL_KV), intent=intent)
    assert (result.status, result.summary) == (
        Status.NA,
        "Intent coverage: no differentiating groups",
    )


def test_intent_coverage_without_metrics_section_fails_every_group() -> None:
    intent = build_intent(KV)
    result = run(intent_coverage, {"phase": "Complete"}, intent=intent)
    assert result.status is Status.FAIL
    assert result.summary == (
        "Intent coverage: 0/3 differentiating groups (ssd: 0/2 metrics, hdb: 0/2 metrics, "
        "cluster: 0/1 metrics)"
    )
    assert result.details == (
        "Experiment's differentiating data missing — ssd has no results",
        "Experiment's differentiating data missing — hdb has no results",
        "Experiment's differentiating data missing — cluster has no results",
        "ssd: 0/2 metrics",
        "hdb: 0/2 metrics",
        "cluster: 0/1 metrics",
        "summary has no metrics section",
    )


def test_intent_coverage_unreadable_metrics_section_warns() -> None:
    result = run(intent_coverage, {"metrics": "x"}, intent=hdb_intent())
    assert (result.status, result.summary) == (
        Status.WARN,
        "Intent coverage: not measurable — metrics section is a str, not an object",
    )


# -- ai-verdict --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyzer", "line"),
    [
        ("Failed", "AI verdict: analyzer failed"),
        ("Skipped", "AI verdict: analyzer skipped"),
        ("Timeout", "AI verdict: analyzer timed out"),
        ("Running", "AI verdict: analyzer Running"),
    ],
)
def test_ai_verdict_when_the_analyzer_did_not_succeed(analyzer: str, line: str) -> None:
    data = summary(analysis={"hypothesisVerdict": "insufficient"})
    result = run(ai_verdict, data, analyzer=analyzer)
    assert (result.status, result.summary) == (Status.NA, line)


def test_ai_verdict_insufficient_quotes_two_short_sentences() -> None:
    abstract = "Metrics were empty. Nothing to conclude. A long third sentence follows."
    data = summary(analysis={"hypothesisVerdict": "Insufficient", "abstract": abstract})
    result = run(ai_verdict, data, analyzer="Succeeded")
    assert result.status is Status.FAIL
    assert result.summary == 'AI verdict: insufficient — "Metrics were empty. Nothing to conclude."'


def test_ai_verdict_insufficient_without_abstract() -> None:
    result = run(ai_verdict, summary(analysis={"hypothesisVerdict": "insufficient", "abstract": 4}))
    assert (result.status, result.summary) == (Status.FAIL, "AI verdict: insufficient")


@pytest.mark.parametrize(
    ("analysis", "status", "line"),
    [
        ({"hypothesisVerdict": "confirmed"}, Status.PASS, "AI verdict: confirmed"),
        ({"hypothesisVerdict": "rejected"}, Status.PASS, "AI verdict: rejected"),
        ({"hypothesisVerdict": "mixed"}, Status.WARN, "AI verdict: 'mixed' is not a known verdict"),
        ({"hypothesisVerdict": ["x"]}, Status.WARN, "AI verdict: unreadable (list)"),
        ({"summary": "x"}, Status.NA, "AI verdict: not given in analysis"),
        (
            {"errors": ["Error: boom\n  at x"]},
            Status.NA,
            "AI verdict: analyzer errored — Error: boom",
        ),
        ("text", Status.WARN, "AI verdict: analysis is a str"),
        (None, Status.NA, "AI verdict: no analysis in summary"),
    ],
)
def test_ai_verdict_values(analysis: Any, status: Status, line: str) -> None:
    result = run(ai_verdict, summary(analysis=analysis))
    assert (result.status, result.summary) == (status, line)


# -- run_checks --------------------------------------------------------------------------------


def test_run_checks_in_r51_order_then_extra() -> None:
    extra = Check("custom", "Custom", lambda inp: CheckResult(Status.PASS, "Custom: fine"))
    names = [
        name
        for name, _ in run_checks(
            CheckInput(experiment=KV, summary=summary(ALL_KV), intent=hdb_intent()), extra=[extra]
        )
    ]
    assert names == [
        "custom-metrics",
        "metrics-source",
        "machine-verdict",
        "workload-pods",
        "presentation",
        "intent-coverage",
        "ai-verdict",
        "reproducibility",
        "custom",
    ]


def test_a_raising_check_fails_with_its_error() -> None:
    def broken(inp: CheckInput) -> CheckResult:
        raise KeyError("metrics")

    def sloppy(inp: CheckInput) -> CheckResult:
        return None  # type: ignore[return-value]

    inp = CheckInput(experiment=KV, summary=summary(ALL_KV), intent=hdb_intent())
    results = dict(
        run_checks(
            inp, extra=[Check("broken", "Broken", broken), Check("sloppy", "Sloppy", sloppy)]
        )
    )
    assert results["broken"].status is Status.FAIL
    assert results["broken"].summary == "Broken: check error — KeyError: 'metrics'"
    assert results["sloppy"].status is Status.FAIL
    assert results["sloppy"].summary == "Sloppy: check error — returned null, not a CheckResult"
    assert results["sloppy"].figures == {"error": "returned null, not a CheckResult"}
    assert results["custom-metrics"].status is Status.PASS


class CountedPoints(list[Any]):
    """A query's points that count how often a check walks them."""

    walks = 0

    def __iter__(self) -> Any:
        CountedPoints.walks += 1
        return super().__iter__()


@pytest.mark.parametrize(
    "points",
    [[{}] * 1000, [{}] * 999 + [{"value": 0.01, "labels": {"pod": "kv-0"}}]],
    ids=["no-value", "a-value-last"],
)
def test_every_check_together_walks_a_query_once(points: list[Any]) -> None:
    """A million points is within the limits: each check walking them again cost seconds."""
    data = CountedPoints(points)
    queries = {**ALL_KV, "hdb_write_p99": {"data": data, "unit": "seconds"}}
    CountedPoints.walks = 0
    results = dict(
        run_checks(CheckInput(experiment=KV, summary=summary(queries), intent=hdb_intent()))
    )
    has_value = points[-1] != {}
    # Whether it has data, once; which pods its values name, once more when it has.
    assert CountedPoints.walks == (2 if has_value else 1)
    assert results["custom-metrics"].status is (Status.PASS if has_value else Status.WARN)
    assert results["intent-coverage"].status is Status.PASS


# -- completion line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"phase": "Complete", "durationSeconds": 2280.4, "costEstimate": {"totalUSD": 0.0171}},
            "[PASS] Experiment completed (38m, $0.017)",
        ),
        ({"phase": "Failed", "durationSeconds": 42}, "[FAIL] Experiment failed (42s)"),
        ({"phase": "Complete", "durationSeconds": 3599.9}, "[PASS] Experiment completed (1h00m)"),
        (
            {"phase": "Complete", "durationSeconds": "x", "costEstimate": [1]},
            "[PASS] Experiment completed",
        ),
        ({"durationSeconds": 60}, "[N/A] Experiment phase not reported (1m)"),
        ({"phase": "Running"}, "[WARN] Experiment phase Running is not terminal"),
        ("nonsense", "[N/A] Experiment phase not reported"),
    ],
)
def test_completion_line(data: Any, line: str) -> None:
    assert completion_line(data).line == line


# -- root causes -------------------------------------------------------------------------------


def gate_of(experiment: Experiment, data: Any, intent: Intent | None = None) -> list[RootCause]:
    inp = CheckInput(experiment=experiment, summary=data, intent=intent or build_intent(experiment))
    return root_causes(experiment, run_checks(inp))


def test_root_causes_of_a_bare_experiment() -> None:
    causes = gate_of(BARE, summary({"request_latency": q(0.5)}, source="target:cadvisor"))
    assert [c.fix for c in causes] == [
        "add-kube-prometheus-stack",
        "add-metrics-pipeline",
        "fix-namespace-var",
        "add-load-test",
        "add-metric-units",
        None,
    ]
    assert causes[5].message.startswith(
        "Experiment's differentiating data missing — cluster has no results"
    )
    assert causes[1].message.startswith("experiment lacks metrics-agent + metrics-egress")
    assert causes[2].message.endswith("(request_latency, cpu)")
    # web_p99 has a unit (ms): the fix only adds missing ones.
    assert causes[4].message == "latency metrics without a unit: request_latency"


def test_no_root_causes_when_all_is_well() -> None:
    assert gate_of(KV, summary(ALL_KV, analysis={"hypothesisVerdict": "validated"})) == []


def test_load_generation_is_judged_from_component_names(tmp_path: Path) -> None:
    no_loadgen = edited(tmp_path, "kv-hdb", ("        - app: http-loadgen\n", ""))
    settled = build_intent(no_loadgen, prior_metric_names=frozenset(m.name for m in KV.metrics))
    causes = gate_of(no_loadgen, summary({"ssd_write_p99": q(0.5)}), settled)
    assert [(c.check, c.fix) for c in causes] == [("custom-metrics", "add-load-test")]


def test_hyperdisk_on_an_unsupported_machine_family() -> None:
    queries = {**ALL_KV, "hdb_write_p99": q(), "hdb_read_p99": q()}
    causes = gate_of(KV, summary(queries), hdb_intent())
    coverage = [c for c in causes if c.check == "intent-coverage"]
    assert coverage == [
        RootCause(
            "intent-coverage",
            "n2-standard-8 does not support Hyperdisk volumes, so the hdb group has no "
            "results. Compatible families: C3, C4, N4, A3, M3, M4.",
            None,
            infrastructure=True,
        )
    ]


def test_hyperdisk_on_a_supported_machine_family(tmp_path: Path) -> None:
    c3 = edited(tmp_path, "kv-hdb", ("machineType: n2-standard-8", "machineType: c3-standard-4"))
    queries = {**ALL_KV, "hdb_write_p99": q(), "hdb_read_p99": q()}
    intent = build_intent(c3, prior_metric_names=frozenset({"ssd_write_p99", "cluster_cpu"}))
    (cause,) = [c for c in gate_of(c3, summary(queries), intent) if c.check == "intent-coverage"]
    assert cause.fix is None
    assert cause.message.startswith(
        "Experiment's differentiating data missing — hdb has no results"
    )


def test_hyperdisk_named_outside_the_metrics_concerns_every_group(tmp_path: Path) -> None:
    renamed = edited(
        tmp_path, "kv-hdb", ('app="kv-store-hyperdisk-balanced"', 'app="kv-store-fast"')
    )
    queries = {**ALL_KV, "ssd_write_p99": q(), "ssd_read_p99": q()}
    causes = gate_of(renamed, summary(queries), build_intent(renamed))
    # Only the storageClass param names Hyperdisk now, so the ssd gap is blamed on it too.
    assert [c.message.split(",")[0] for c in causes if c.check == "intent-coverage"] == [
        "n2-standard-8 does not support Hyperdisk volumes"
    ]


def test_machine_verdict_root_causes_list_null_criteria() -> None:
    data = summary(ALL_KV, hypothesis=hypothesis_section("insufficient", NULL_CRITERION))
    causes = gate_of(KV, data)
    assert causes == [
        RootCause(
            "machine-verdict",
            "criterion not evaluable (passed: null): hdb_write_p99 lt 0.005 "
            "(Hyperdisk p99 write under 5 ms)",
            None,
        )
    ]


# -- wrong types anywhere ----------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "metrics",
        "queries",
        "data",
        "labels",
        "pod",
        "value",
        "unit",
        "error",
        "source",
        "hypothesis",
        "machineVerdict",
        "successCriteria",
        "criteria",
        "passed",
        "analysis",
        "hypothesisVerdict",
        "abstract",
        "errors",
        "phase",
        "durationSeconds",
        "costEstimate",
        "totalUSD",
        "hdb_write_p99",
        "ssd_write_p99",
        "cluster_cpu",
        "cpu_by_pod",
    ]
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(
        ["insufficient", "validated", "target:cadvisor", "Complete", "Failed", "0.001"]
    )
    | st.text(max_size=6)
)
_DOCUMENTS = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    data=_DOCUMENTS,
    analyzer=st.sampled_from([None, "Succeeded", "Failed", "Unheard-of"]),
)
def test_no_check_raises_on_any_document(data: Any, analyzer: str | None) -> None:
    inp = CheckInput(experiment=KV, summary=data, intent=build_intent(KV), analyzer=analyzer)
    results = []
    for check in CHECKS:
        result = check.func(inp)
        assert isinstance(result.status, Status)
        results.append((check.name, result))
    assert isinstance(completion_line(data).status, Status)
    root_causes(KV, results)


# -- an empty string is a value not given ------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "data", "line"),
    [
        (
            machine_verdict,
            summary(ALL_KV, hypothesis=hypothesis_section("", NULL_CRITERION)),
            "[N/A] Machine verdict: not reported",
        ),
        (
            ai_verdict,
            summary(analysis={"hypothesisVerdict": ""}),
            "[N/A] AI verdict: not given in analysis",
        ),
        (
            ai_verdict,
            summary(analysis={"hypothesisVerdict": "", "errors": ["Error: boom"]}),
            "[N/A] AI verdict: analyzer errored — Error: boom",
        ),
        (
            metrics_source,
            summary(source=""),
            "[N/A] Metrics source: not reported (no metrics.source)",
        ),
    ],
)
def test_an_empty_verdict_or_source_is_not_reported(check: CheckFunc, data: Any, line: str) -> None:
    # The operator writes "" where it has nothing to say: N/A, never an unknown verdict.
    assert run(check, data).line == line


def test_an_empty_phase_is_not_reported() -> None:
    result = completion_line({"phase": "", "durationSeconds": 60})
    assert (result.status, result.line) == (Status.NA, "[N/A] Experiment phase not reported (1m)")


def test_an_empty_actual_value_is_not_shown() -> None:
    criterion = {"metric": "p99", "operator": "lt", "value": "1", "passed": None}
    for actual, shown_as in (
        ("", ""),
        (None, ""),
        ("2.5", ", actual value 2.5"),
        (0, ", actual value 0"),
    ):
        data = summary(
            ALL_KV,
            hypothesis=hypothesis_section("insufficient", {**criterion, "actualValue": actual}),
        )
        assert run(machine_verdict, data).details == (f"passed: null — p99 lt 1{shown_as}",)


# -- what the mutants showed unchecked ---------------------------------------------------------


def test_the_checks_names_and_titles_as_the_scorecard_shows_them() -> None:
    assert [(c.name, c.title) for c in CHECKS] == [
        ("custom-metrics", "Custom metrics"),
        ("metrics-source", "Metrics source"),
        ("machine-verdict", "Machine verdict"),
        ("workload-pods", "Workload pods"),
        ("presentation", "Presentation"),
        ("intent-coverage", "Intent coverage"),
        ("ai-verdict", "AI verdict"),
        ("reproducibility", "Reproducibility"),
    ]
    # What a session judges only when its item runs must be a check it has.
    assert {"reproducibility"} == ON_DEMAND
    assert {c.name for c in CHECKS} >= ON_DEMAND


def test_a_raising_check_gives_its_error_as_a_figure() -> None:
    def broken(inp: CheckInput) -> CheckResult:
        raise KeyError("metrics")

    inp = CheckInput(experiment=KV, summary=summary(ALL_KV), intent=hdb_intent())
    result = dict(run_checks(inp, extra=[Check("broken", "Broken", broken)]))["broken"]
    assert result.figures == {"error": "KeyError: 'metrics'"}


def test_custom_metrics_figures_name_every_declared_metric() -> None:
    result = run(custom_metrics, summary({"hdb_write_p99": q(0.004, unit="seconds")}))
    assert result.status is Status.WARN
    declared = result.figures["metrics"]
    assert "hdb_write_p99" in declared
    assert result.figures == {
        "collected": 1,
        "declared": len(declared),
        "missing": [m for m in declared if m != "hdb_write_p99"],
        "gaps": {m: "absent" for m in declared if m != "hdb_write_p99"},
        "metrics": declared,
    }
    nothing = run(custom_metrics, {"phase": "Complete"})
    assert nothing.figures["reason"] == nothing.summary.split("(", 1)[1].rstrip(")")


def test_metrics_source_figures() -> None:
    result = run(metrics_source, summary(source="target:cadvisor"))
    assert result.figures == {"source": "target:cadvisor", "custom_metrics": 5}


def test_workload_pods_are_read_past_points_without_a_value_and_need_a_pod_name() -> None:
    queries = {
        # A query with no usable data first: the ones after it are still read.
        "memory_by_pod": {"error": "timeout", "data": [{"labels": {"pod": "kv-store-2"}}]},
        "cpu_by_pod": {
            "data": [
                {"labels": {"pod": "kv-store-0"}, "value": None},
                {"labels": {"pod": ""}, "value": 1},
                {"labels": {"pod": 7}, "value": 1},
                {"labels": {"pod": "kv-store-1"}, "value": 0.5},
            ]
        },
    }
    result = run(workload_pods, summary(queries))
    assert result.status is Status.PASS
    assert result.figures["workload_pods"] == ["kv-store-1"]


def test_presentation_in_full_the_summarys_unit_first_and_every_problem_of_a_metric() -> None:
    queries = {
        "ssd_write_p99": q(0.5, unit="ms"),  # the summary's unit wins over the spec's seconds
        "web_p99": q(None, 1),  # no unit at all and a first value that is not a number
        "cluster_cpu": q(2, unit="cores"),
    }
    result = run(presentation, summary(queries))
    assert result.details == (
        "ssd_write_p99: latency metric without unit: seconds (unit: ms)",
        "web_p99: latency metric without unit: seconds (unit: none); "
        "first value None is not a finite number",
    )
    assert result.figures == {
        "render_ok": 1,
        "with_data": 3,
        "latency_without_seconds": ["ssd_write_p99", "web_p99"],
        "renders_as_zero": [],
    }


def test_no_declared_metric_passes_with_zero_figures(tmp_path: Path) -> None:
    # The metrics list under another key: an experiment that declares none.
    silent = edited(tmp_path, "bare", ("  metrics:\n", "  not_metrics:\n"))
    assert silent.metrics == ()
    result = run(custom_metrics, summary({}), experiment=silent)
    assert (result.line, result.figures) == (
        "[PASS] Custom metrics: none defined",
        {"collected": 0, "declared": 0},
    )


def test_workload_pods_details_list_both_kinds_or_none() -> None:
    only_workload = {"cpu_by_pod": q(1, pod="kv-store-0"), "mem_by_pod": q(1, pod="kv-store-1")}
    result = run(workload_pods, summary(only_workload))
    assert result.details == ("infrastructure: none", "workload: kv-store-0, kv-store-1")
    only_infra = {"cpu_by_pod": q(1, pod="alloy-x"), "mem_by_pod": q(1, pod="alloy-y")}
    assert run(workload_pods, summary(only_infra)).details == (
        "infrastructure: alloy-x, alloy-y",
        "workload: none",
    )


def _sentence(length: int) -> str:
    return "A" + "a" * (length - 2) + "."


@pytest.mark.parametrize(("second", "both"), [(139, True), (140, False)])
def test_an_abstracts_two_sentences_are_quoted_while_under_240_characters(
    second: int, both: bool
) -> None:
    first = _sentence(100)
    abstract = f"{first} {_sentence(second)}"
    data = summary(analysis={"hypothesisVerdict": "insufficient", "abstract": abstract})
    result = run(ai_verdict, data)
    assert result.figures["abstract"] == (abstract if both else first)


def test_an_abstract_that_is_no_text_is_an_empty_excerpt() -> None:
    data = summary(analysis={"hypothesisVerdict": "insufficient", "abstract": 4})
    assert run(ai_verdict, data).figures == {
        "analyzer": None,
        "verdict": "insufficient",
        "abstract": "",
    }


def test_errors_that_are_no_list_are_not_the_analyzers_output() -> None:
    data = summary(analysis={"hypothesisVerdict": "", "errors": "boom"})
    assert run(ai_verdict, data).line == "[N/A] AI verdict: not given in analysis"


def test_a_criterion_without_words_or_a_textual_description() -> None:
    bare = {"description": 5, "passed": None, "actualValue": "3"}
    data = summary(ALL_KV, hypothesis=hypothesis_section("insufficient", bare))
    result = run(machine_verdict, data)
    assert result.details == ("passed: null — criterion, actual value 3",)
    assert result.figures == {
        "verdict": "insufficient",
        "criteria": 1,
        "unevaluated": ["criterion, actual value 3"],
    }


def test_a_run_of_no_seconds_still_shows_its_duration() -> None:
    result = completion_line({"phase": "Complete", "durationSeconds": 0})
    assert result.line == "[PASS] Experiment completed (0s)"
    assert result.figures == {"phase": "Complete", "duration_seconds": 0.0, "cost_usd": None}


def test_intent_coverage_figures_count_each_group() -> None:
    queries = {**ALL_KV, "hdb_read_p99": q()}
    result = run(intent_coverage, summary(queries), intent=hdb_intent())
    assert result.figures == {
        "covered": 1,
        "differentiating": ["hdb"],
        "missing": [],
        "groups": {"hdb": {"with_data": 1, "declared": 2}},
    }
    nothing = run(intent_coverage, {"phase": "Complete"}, intent=hdb_intent())
    assert nothing.figures["reason"] == nothing.details[-1]


def test_a_one_sentence_abstract_a_negative_duration_and_the_first_error() -> None:
    data = summary(analysis={"hypothesisVerdict": "insufficient", "abstract": "Too few runs."})
    assert run(ai_verdict, data).figures["abstract"] == "Too few runs."
    assert completion_line({"phase": "Complete", "durationSeconds": -1}).line == (
        "[PASS] Experiment completed"
    )
    errored = summary(analysis={"errors": ["Error: one", "Error: two"]})
    assert run(ai_verdict, errored).line == "[N/A] AI verdict: analyzer errored — Error: one"


def test_a_first_line_is_shown_whole_up_to_160_characters_then_cut_with_an_ellipsis() -> None:
    assert first_line("x" * 160) == "x" * 160
    assert first_line("x" * 161) == "x" * 159 + "…"
    assert first_line("  one\ntwo  ") == "one"
    assert first_line("   ") == ""


def test_a_summary_not_measurable_warns_with_the_reason_in_its_figures() -> None:
    result = not_measurable("Custom metrics", "no metrics section", declared=2)
    assert result.status is Status.WARN
    assert result.summary == "Custom metrics: not measurable — no metrics section"
    assert result.figures == {"declared": 2, "reason": "no metrics section"}


def test_a_query_without_a_finite_value_counts_its_points() -> None:
    assert data_gap({"data": [{"value": "NaN"}]}) == "no finite numeric value in 1 point"
    assert data_gap({"data": [{"value": "NaN"}, {"value": None}]}) == (
        "no finite numeric value in 2 points"
    )


def test_a_difference_warns_unless_the_policy_says_fail() -> None:
    assert Reproducibility().fail is False
    assert Reproducibility().floor == 0.10


def test_each_status_is_written_in_the_word_the_html_report_reads() -> None:
    from pytest_experiment.reporting.html_view import LABELS

    assert [s.value for s in Status] == ["pass", "warn", "fail", "n-a", "error"]
    assert set(LABELS) == {s.value for s in Status}
    assert [s.tag for s in Status] == ["[PASS]", "[WARN]", "[FAIL]", "[N/A]", "[ERROR]"]


def test_only_a_result_made_blocked_is_blocked() -> None:
    from pytest_experiment.core.verdict import blocked

    assert not CheckResult(Status.NA, "no data").blocked
    assert blocked("the run failed") == CheckResult(Status.NA, "the run failed", blocked=True)


def test_only_an_advisory_checks_warn_passes_the_gate() -> None:
    from pytest_experiment.core.verdict import gated

    assert gated("reproducibility", Status.WARN) is Status.PASS
    assert gated("reproducibility", Status.FAIL) is Status.FAIL
    assert gated("reproducibility", Status.PASS) is Status.PASS
    assert gated("metrics", Status.WARN) is Status.WARN
