"""A fix the gate names but whose edit changes nothing is not "applied", and nothing is re-run.

The gate reads its causes from the parsed spec, the fixes edit the text: an
empty ``unit: ""`` on a latency metric is "without a unit" to the gate, while
the unit fix leaves a metric that has a ``unit`` key alone. Applied anyway,
the loop would delete the instance and run the same file again. A user's run
(``--experiment-autofix=apply``) whose conftest supplies the in-memory cluster
and results store through the plugin's hooks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

EXPERIMENT = """\
apiVersion: experiments.illm.io/v1alpha1
kind: Experiment
metadata:
  generateName: nounit-
  namespace: experiments
spec:
  title: "Echo server p99 latency"
  publish: true
  targets:
    - name: app
      cluster: {type: gke, machineType: e2-standard-4}
      components:
        - app: echo-server
        - app: http-loadgen
        - app: kube-prometheus-stack
        - app: metrics-agent
        - app: metrics-egress
  metrics:
    - name: request_p99
      query: 'histogram_quantile(0.99, x{namespace="$EXPERIMENT"})'
      type: instant
      unit: ""
  workflow:
    template: nounit-validation
    completion:
      mode: workflow
"""

# The analyzer finds the data insufficient (a FAIL no fix addresses) and the latency shows
# without seconds (a WARN whose fix is add-metric-units).
CONFTEST = f"""
import json, sys
from pathlib import Path

sys.path.insert(0, {str(TESTS)!r})
from fakes.cluster import FakeCluster
from fakes.results import FakeResultsStore

CLUSTER = FakeCluster()
P99 = {{"type": "instant", "data": [{{"timestamp": "2026-01-01T00:00:00Z", "value": 0.031}}]}}

def summary(instance):
    return {{
        "name": instance,
        "phase": "Complete",
        "metrics": {{"source": "target:prometheus", "queries": {{"request_p99": P99}}}},
        "analysis": {{"hypothesisVerdict": "insufficient"}},
    }}

def pytest_experiment_make_cluster(config, options):
    return CLUSTER

def pytest_experiment_make_results_store(options):
    return FakeResultsStore(default=summary)

def pytest_unconfigure(config):
    Path("created.json").write_text(json.dumps(CLUSTER.created))
"""


def test_a_fix_that_changes_nothing_stops_the_loop_instead_of_rerunning(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "experiments" / "nounit"
    folder.mkdir(parents=True)
    (folder / "experiment.yaml").write_text(EXPERIMENT)
    pytester.makeconftest(CONFTEST)

    result = pytester.runpytest(
        "experiments",
        "-p",
        "no:cacheprovider",
        "--experiment-autofix=apply",
        "--experiment-toil-file=toil.jsonl",
        "--experiment-report=report.json",
    )

    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    created = json.loads((pytester.path / "created.json").read_text())
    assert len(created) == 1, out
    assert "Auto-fix attempt" not in out
    why = "add-metric-units cannot be applied automatically: it changes nothing in experiment.yaml"
    result.stdout.fnmatch_lines(
        [
            f"{created[0]}: quality gate FAIL",
            "  root cause (presentation): latency metrics without a unit: request_p99"
            " [fix: add-metric-units]",
            f"  {why}",
            f"{created[0]}: auto-fix stopped: {why}",
        ]
    )
    assert (folder / "experiment.yaml").read_text() == EXPERIMENT
    report = json.loads((pytester.path / "report.json").read_text())
    [experiment] = report["experiments"]
    [instance] = experiment["instances"]
    gate = next(c for c in instance["checks"] if c["check"] == "presentation")
    assert gate["verdict"] == "warn"
    # The cause is a figure of the check that found it, and the summary lists it from there.
    cause = "(presentation): latency metrics without a unit: request_p99 [fix: add-metric-units]"
    assert gate["figures"]["rootCauses"] == [cause]
    result.stdout.fnmatch_lines(["    Root causes:", f"      - {cause}"])
