"""The exact verdicts of every published result in the real corpus (shared/upstream/site-data).

Each expected line was worked out by reading the result file against the
experiment it belongs to, not copied from a run: which declared metrics have
a query with finite values, which pods the pod-labelled points name, which
differentiating groups are covered, and the verdict words. The pure checks
are run on each file, and an offline pytest run over the whole corpus must
report the same verdicts.

Two files match no experiment's generateName, so a directory run leaves them
alone; they are still scored here against the experiment a single-file run
would pair them with: ``id-102`` (a tutorial run without metrics) against
``hello-app`` (no metrics, no criteria), and ``ui-showcase-demo`` (the logging
comparison's demo, with its metric names) against ``logging-comparison``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_experiment.core.checks import CheckInput, run_checks
from pytest_experiment.core.intent import build_intent
from pytest_experiment.core.sitedata import SiteData, load_site_data
from pytest_experiment.core.spec import Experiment, load_experiment

CHECK_NAMES = (
    "custom-metrics",
    "metrics-source",
    "machine-verdict",
    "workload-pods",
    "presentation",
    "intent-coverage",
    "ai-verdict",
    "reproducibility",
)

# Lines shared by many rows.
NO_CRITERIA = "[N/A] Machine verdict: no success criteria defined"
NO_SECTION_SOURCE = "[N/A] Metrics source: not reported (summary has no metrics section)"
NO_SECTION_PODS = "[N/A] Workload pods: no pod-level metrics — summary has no metrics section"
NO_SECTION_RENDER = "[N/A] Presentation: nothing to render — summary has no metrics section"
NO_POD_LABELS = "[N/A] Workload pods: no pod-level metrics"
NO_GROUPS = "[N/A] Intent coverage: no differentiating groups"
NO_ANALYSIS = "[N/A] AI verdict: no analysis in summary"
CADVISOR = "[WARN] Metrics source: target:cadvisor (no custom metric pipeline)"
# logging-comparison declares 20 metrics in 4 groups, none of them published before.
LOGGING_GROUPS_ONLY_CLUSTER = (
    "[FAIL] Intent coverage: 1/4 differentiating groups (loki: 0/8 metrics, "
    "elasticsearch: 0/8 metrics, drill-down: 0/2 metrics)"
)
LOGGING_GROUPS_NONE = (
    "[FAIL] Intent coverage: 0/4 differentiating groups (loki: 0/8 metrics, "
    "elasticsearch: 0/8 metrics, drill-down: 0/2 metrics, cluster: 0/2 metrics)"
)
LOGGING_GROUPS_NO_LOKI_ES = (
    "[FAIL] Intent coverage: 2/4 differentiating groups (loki: 0/8 metrics, "
    "elasticsearch: 0/8 metrics)"
)

# instance → (experiment directory, expected scorecard line of each check, as a prefix).
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    # 29 declared metrics, all with data; 12 first values under 0.005 (fsync p99s of
    # ~4.96 ms, nosync write p99s of ~0.49 ms, 0.07 % disk utilisation) print as 0.00.
    "db-dsc-s2gqx": (
        "db-disk-comparison",
        (
            "[PASS] Custom metrics: 29/29 collected",
            "[PASS] Metrics source: target:db-dsc-s2gqx/kube-prometheus-stack-prometheus",
            NO_CRITERIA,
            "[PASS] Workload pods: 1 infrastructure, 6 workload (naive-db-fsync-balanced-0,",
            "[WARN] Presentation: 17/29 metrics render correctly",
            # db-fvm (earlier in the series) published timeseries and cluster metrics.
            "[PASS] Intent coverage: 5/5 differentiating groups",
            "[PASS] AI verdict: invalidated",
            "[N/A] Reproducibility: no earlier run of db-dsc-",
        ),
    ),
    # 20 of 26 queries have no `data` key; only the cluster, memory and row-count ones do.
    "db-fvm-mpcnl": (
        "db-fsync-vs-memory",
        (
            "[WARN] Custom metrics: 6/26 collected",
            "[PASS] Metrics source: target:db-fvm-mpcnl/kube-prometheus-stack-prometheus",
            NO_CRITERIA,
            "[PASS] Workload pods: 0 infrastructure, 2 workload (naive-db-fsync-0, "
            "naive-db-nosync-0)",
            "[PASS] Presentation: 6/6 metrics render correctly",
            "[FAIL] Intent coverage: 3/7 differentiating groups (fsync: 0/6 metrics, "
            "nosync: 0/6 metrics, batch: 0/2 metrics, timeseries: 0/4 metrics)",
            '[FAIL] AI verdict: insufficient — "This experiment is insufficient',
            (
                "[WARN] Reproducibility: inconclusive for 6 of 6 metrics (cluster_cpu, "
                "cluster_memory, fsync_memory, fsync_total_rows, nosync_memory, … (+1 more)) — "
                "too few points: 1 (3 needed)"
            ),
        ),
    ),
    # Sub-5 ms first values: fsync_read_p99, the six nosync latencies but one, both cpus.
    "db-fvm-tsl9m": (
        "db-fsync-vs-memory",
        (
            "[PASS] Custom metrics: 26/26 collected",
            "[PASS] Metrics source: target:db-fvm-tsl9m/kube-prometheus-stack-prometheus",
            NO_CRITERIA,
            "[PASS] Workload pods: 0 infrastructure, 2 workload",
            "[WARN] Presentation: 18/26 metrics render correctly",
            "[PASS] Intent coverage: 7/7 differentiating groups",
            "[PASS] AI verdict: validated",
            (
                "[WARN] Reproducibility: 2 of 26 metrics differ from the 2 earlier runs of the "
                "same fingerprint — fsync_total_rows differs: 6771 vs 1.3e+04–1.356e+04 in 2 "
                "earlier runs, shift -49% (95% CI -95% to -3%)"
            ),
        ),
    ),
    # Every latency is ~4.96 ms or less here, and both cpu series start near zero.
    "db-fvm-zz7jt": (
        "db-fsync-vs-memory",
        (
            "[PASS] Custom metrics: 26/26 collected",
            "[PASS] Metrics source: target:db-fvm-zz7jt/kube-prometheus-stack-prometheus",
            NO_CRITERIA,
            "[PASS] Workload pods: 0 infrastructure, 2 workload",
            "[WARN] Presentation: 12/26 metrics render correctly",
            "[PASS] Intent coverage: 7/7 differentiating groups",
            NO_ANALYSIS,
            "[N/A] Reproducibility: no earlier run of db-fvm-",
        ),
    ),
    "id-102": (
        "hello-app",
        (
            "[PASS] Custom metrics: none defined",
            NO_SECTION_SOURCE,
            NO_CRITERIA,
            NO_SECTION_PODS,
            NO_SECTION_RENDER,
            NO_GROUPS,
            NO_ANALYSIS,
            "[N/A] Reproducibility: ",
        ),
    ),
    # cadvisor only: of the declared names, memory_by_pod, cpu_total and memory_total.
    "logging-comparison-554sl": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 3/20 collected",
            CADVISOR,
            NO_CRITERIA,
            "[PASS] Workload pods: 4 infrastructure, 5 workload (fluent-bit-9qgff,",
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_NO_LOKI_ES,
            "[N/A] AI verdict: not given in analysis",
            (
                "[N/A] Reproducibility: not comparable with the 9 earlier runs: app machineType "
                "e2-medium → e2-standard-4"
            ),
        ),
    ),
    # cpu_usage/memory_usage carry no pod label; cpu_total and memory_total are declared.
    "logging-comparison-77tj5": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 2/20 collected",
            CADVISOR,
            NO_CRITERIA,
            NO_POD_LABELS,
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_ONLY_CLUSTER,
            NO_ANALYSIS,
            (
                "[WARN] Reproducibility: inconclusive for 4 of 4 metrics (cpu_total, cpu_usage, "
                "memory_total, memory_usage) — 1 earlier comparable run (2 needed)"
            ),
        ),
    ),
    "logging-comparison-8nqdq": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 2/20 collected",
            CADVISOR,
            NO_CRITERIA,
            NO_POD_LABELS,
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_ONLY_CLUSTER,
            "[N/A] AI verdict: analyzer errored — Error: Could not resolve authentication",
            (
                "[N/A] Reproducibility: no metric of this run was measured by the 3 earlier runs "
                "of the same fingerprint"
            ),
        ),
    ),
    "logging-comparison-bdnn8": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 3/20 collected",
            CADVISOR,
            NO_CRITERIA,
            "[PASS] Workload pods: 4 infrastructure, 5 workload (fluent-bit-rcwwh,",
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_NO_LOKI_ES,
            "[N/A] AI verdict: not given in analysis",
            (
                "[WARN] Reproducibility: inconclusive for 2 of 2 metrics (cpu_total, "
                "memory_total) — noise between runs (±107%) is wider than the 10% shift that "
                "matters"
            ),
        ),
    ),
    "logging-comparison-c2gzq": (
        "logging-comparison",
        (
            "[FAIL] Custom metrics: 0/20 collected (summary has no metrics section)",
            NO_SECTION_SOURCE,
            NO_CRITERIA,
            NO_SECTION_PODS,
            NO_SECTION_RENDER,
            LOGGING_GROUPS_NONE,
            NO_ANALYSIS,
            (
                "[N/A] Reproducibility: not comparable with the 1 earlier run: app components "
                "not recorded → 60 components"
            ),
        ),
    ),
    # Both queries lack `data` and the section has no `source`.
    "logging-comparison-dbkf7": (
        "logging-comparison",
        (
            "[FAIL] Custom metrics: 0/20 collected",
            "[N/A] Metrics source: not reported (no metrics.source)",
            NO_CRITERIA,
            NO_POD_LABELS,
            "[N/A] Presentation: no metrics with data",
            LOGGING_GROUPS_NONE,
            "[N/A] AI verdict: not given in analysis",
            "[N/A] Reproducibility: no earlier run of logging-comparison-",
        ),
    ),
    "logging-comparison-hzrhq": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 2/20 collected",
            CADVISOR,
            NO_CRITERIA,
            NO_POD_LABELS,
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_ONLY_CLUSTER,
            "[N/A] AI verdict: analyzer errored — Error: ENOENT",
            (
                "[N/A] Reproducibility: not comparable with the 5 earlier runs: app machineType "
                "not recorded → e2-medium; app nodeCount not recorded → 1"
            ),
        ),
    ),
    # Ten pods, elasticsearch-master-0 among the six workload ones.
    "logging-comparison-nkbf8": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 3/20 collected",
            CADVISOR,
            NO_CRITERIA,
            "[PASS] Workload pods: 4 infrastructure, 6 workload (elasticsearch-master-0,",
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_NO_LOKI_ES,
            NO_ANALYSIS,
            (
                "[N/A] Reproducibility: not comparable with the 10 earlier runs: app machineType "
                "e2-standard-4 → e2-standard-8"
            ),
        ),
    ),
    "logging-comparison-qfw2x": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 2/20 collected",
            CADVISOR,
            NO_CRITERIA,
            NO_POD_LABELS,
            "[PASS] Presentation: 4/4 metrics render correctly",
            LOGGING_GROUPS_ONLY_CLUSTER,
            "[N/A] AI verdict: not given in analysis",
            (
                "[WARN] Reproducibility: inconclusive for 4 of 4 metrics (cpu_total, cpu_usage, "
                "memory_total, memory_usage) — noise between runs (±67%) is wider than the 10% "
                "shift that matters"
            ),
        ),
    ),
    "logging-comparison-vmmcr": (
        "logging-comparison",
        (
            "[FAIL] Custom metrics: 0/20 collected (summary has no metrics section)",
            NO_SECTION_SOURCE,
            NO_CRITERIA,
            NO_SECTION_PODS,
            NO_SECTION_RENDER,
            LOGGING_GROUPS_NONE,
            "[N/A] AI verdict: analyzer errored — Error: ENOENT",
            (
                "[N/A] Reproducibility: no metric of this run was measured by the 1 earlier run "
                "of the same fingerprint"
            ),
        ),
    ),
    "logging-comparison-zpcdc": (
        "logging-comparison",
        (
            "[FAIL] Custom metrics: 0/20 collected (summary has no metrics section)",
            NO_SECTION_SOURCE,
            NO_CRITERIA,
            NO_SECTION_PODS,
            NO_SECTION_RENDER,
            LOGGING_GROUPS_NONE,
            "[N/A] AI verdict: analyzer errored — Error: Could not resolve authentication",
            (
                "[N/A] Reproducibility: no metric of this run was measured by the 2 earlier runs "
                "of the same fingerprint"
            ),
        ),
    ),
    # tracing-comparison declares no metrics: nothing is missing.
    **dict.fromkeys(
        ("tracing-comparison-fk5n4", "tracing-comparison-scwp7"),
        (
            "tracing-comparison",
            (
                "[PASS] Custom metrics: none defined",
                NO_SECTION_SOURCE,
                NO_CRITERIA,
                NO_SECTION_PODS,
                NO_SECTION_RENDER,
                NO_GROUPS,
                NO_ANALYSIS,
                "[N/A] Reproducibility: ",
            ),
        ),
    ),
    # cadvisor's four queries, none of the 10 declared names; metrics have no groups.
    "tsdb-comparison-6czms": (
        "tsdb-comparison",
        (
            "[FAIL] Custom metrics: 0/10 collected",
            CADVISOR,
            NO_CRITERIA,
            "[PASS] Workload pods: 9 infrastructure, 3 workload "
            "(cardinality-generator-5df7786cb8-p6twm, mimir-nginx-64c595b85c-2dt8t, "
            "minio-7594465b77-jtkv8)",
            "[PASS] Presentation: 4/4 metrics render correctly",
            NO_GROUPS,
            '[FAIL] AI verdict: insufficient — "The experiment provides partial support',
            (
                "[N/A] Reproducibility: not comparable with the 6 earlier runs: app components "
                "220 components → not recorded; app machineType not recorded → e2-medium (+1 "
                "more)"
            ),
        ),
    ),
    # Old runs that published no metrics section: all 10 declared metrics are missing.
    **dict.fromkeys(
        (
            "tsdb-comparison-d7tf4",
            "tsdb-comparison-hv9zm",
            "tsdb-comparison-tb24t",
            "tsdb-comparison-vltvr",
        ),
        (
            "tsdb-comparison",
            (
                "[FAIL] Custom metrics: 0/10 collected (summary has no metrics section)",
                NO_SECTION_SOURCE,
                NO_CRITERIA,
                NO_SECTION_PODS,
                NO_SECTION_RENDER,
                NO_GROUPS,
                NO_ANALYSIS,
                "[N/A] Reproducibility: ",
            ),
        ),
    ),
    # A target Prometheus, but only the default queries; cpu_usage starts at 0.00038 cores.
    "tsdb-comparison-wp4rl": (
        "tsdb-comparison",
        (
            "[FAIL] Custom metrics: 0/10 collected",
            "[PASS] Metrics source: target:tsdb-comparison-wp4rl/kube-prometheus-stack-prometheus",
            NO_CRITERIA,
            NO_POD_LABELS,
            "[WARN] Presentation: 3/4 metrics render correctly",
            NO_GROUPS,
            NO_ANALYSIS,
            (
                "[N/A] Reproducibility: no metric of this run was measured by the 1 earlier run "
                "of the same fingerprint"
            ),
        ),
    ),
    "tsdb-comparison-xg4fv": (
        "tsdb-comparison",
        (
            "[FAIL] Custom metrics: 0/10 collected",
            "[N/A] Metrics source: not reported (no metrics.source)",
            NO_CRITERIA,
            NO_POD_LABELS,
            "[N/A] Presentation: no metrics with data",
            NO_GROUPS,
            "[N/A] AI verdict: not given in analysis",
            "[N/A] Reproducibility: no earlier run of tsdb-comparison-",
        ),
    ),
    # Ten declared names with data (the stack, peak and by-pod series); total_cpu and
    # total_memory are not the declared cpu_total and memory_total.
    "ui-showcase-demo": (
        "logging-comparison",
        (
            "[WARN] Custom metrics: 10/20 collected",
            "[N/A] Metrics source: not reported (no metrics.source)",
            NO_CRITERIA,
            "[PASS] Workload pods: 0 infrastructure, 5 workload",
            "[PASS] Presentation: 14/14 metrics render correctly",
            "[FAIL] Intent coverage: 3/4 differentiating groups (cluster: 0/2 metrics)",
            "[PASS] AI verdict: validated",
            "[N/A] Reproducibility: ",
        ),
    ),
}


@pytest.fixture(scope="module")
def site(upstream: Path) -> SiteData:
    return load_site_data(upstream / "site-data")


@pytest.fixture(scope="module")
def experiments(upstream: Path) -> dict[str, Experiment]:
    found = {}
    for path in sorted((upstream / "experiments").glob("*/experiment.yaml")):
        experiment = load_experiment(path)
        if experiment is not None:
            found[path.parent.name] = experiment
    return found


def test_the_table_covers_every_result_file(site: SiteData) -> None:
    assert {r.name for r in site.results} == set(EXPECTED)
    assert len(EXPECTED) == 26


@pytest.mark.parametrize("instance", sorted(EXPECTED))
def test_verdicts_of_a_real_result(
    instance: str, site: SiteData, experiments: dict[str, Experiment]
) -> None:
    directory, expected = EXPECTED[instance]
    experiment = experiments[directory]
    result = next(r for r in site.results if r.name == instance)
    intent = build_intent(
        experiment,
        series=site.series,
        prior_metric_names=site.prior_metric_names(experiment),
    )
    history = [summary for _, summary in site.results_for(experiment.generate_name)]
    checks = run_checks(
        CheckInput(experiment=experiment, summary=result.summary, intent=intent, history=history)
    )
    assert [name for name, _ in checks] == list(CHECK_NAMES)
    lines = [verdict.line for _, verdict in checks]
    mismatched = [
        (name, line, want)
        for name, line, want in zip(CHECK_NAMES, lines, expected, strict=True)
        if not line.startswith(want)
    ]
    assert not mismatched, mismatched


def test_offline_run_over_the_corpus_reports_the_same_verdicts(
    pytester: pytest.Pytester, upstream: Path
) -> None:
    """The plugin, as a user runs it, scores each matched file exactly as the table says."""
    result = pytester.runpytest(
        str(upstream / "experiments"),
        f"--experiment-results={upstream / 'site-data'}",
        f"--experiment-site-data={upstream / 'site-data'}",
        f"--experiment-components-dir={upstream / 'components'}",
        "--experiment-report=report.json",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "report.json").read_text())
    scored = {
        record["instance"]: {c["check"]: c["verdict"] for c in record["checks"]}
        for experiment in report["experiments"]
        for record in experiment["instances"]
        if record["checks"] and record["instance"]
    }
    # The two files no generateName claims are not scored by a directory run.
    assert set(scored) == set(EXPECTED) - {"id-102", "ui-showcase-demo"}
    tags = {"[PASS]": "pass", "[WARN]": "warn", "[FAIL]": "fail", "[N/A]": "n-a"}
    for instance, verdicts in scored.items():
        expected = {
            name: tags[line.split(" ", 1)[0]]
            for name, line in zip(CHECK_NAMES, EXPECTED[instance][1], strict=True)
        }
        assert verdicts == expected, instance
