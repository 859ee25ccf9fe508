"""``--lf`` after fixing a pre-flight failure applies the experiment: every item runs again."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from pytest_experiment.reporting.report import REPORT_SCHEMA
from pytest_experiment.sandbox import Sandbox

from .lifecycle import experiment_doc
from .runs import SESSION_TIMEOUT, exists, write

pytestmark = pytest.mark.usefixtures("s3_credentials", "no_bd")


def test_lf_after_fixing_a_missing_template_reruns_the_whole_experiment(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, prefix: str
) -> None:
    import jsonschema

    template = f"{prefix}lf"
    doc = experiment_doc(prefix)
    doc["spec"]["workflow"]["template"] = template
    write(pytester, "lf", doc)  # no workflow/template.yaml beside it: pre-flight fails
    settings = (
        "-p", "cacheprovider", "-rA",
        f"--experiment-kubeconfig={sandbox.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        "--experiment-report=report.json",
        "--experiment-apply-templates", "--experiment-cleanup=always",
    )  # fmt: skip
    first = pytester.runpytest_subprocess("experiments", *settings, timeout=SESSION_TIMEOUT)
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    assert first.parseoutcomes()["failed"] == 1  # preflight[workflow-template]
    first.stdout.fnmatch_lines(["*[[]N/A[]] blocked by lf::preflight[[]workflow-template[]]*"])
    assert "Applied experiment" not in first.stdout.str()

    write(pytester, "lf", doc, template=template)  # the fix: the template beside it
    again = pytester.runpytest_subprocess(
        "experiments", "--lf", "-v", *settings, timeout=SESSION_TIMEOUT
    )
    out = again.stdout.str()
    assert again.ret == pytest.ExitCode.OK, out
    assert "run-last-failure: rerun previous 25 failures" in out  # the whole experiment
    assert "Applied experiment" in out
    report = json.loads((pytester.path / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text())).validate(report)
    (experiment,) = report["experiments"]
    (run,) = experiment["instances"]
    assert run["lifecycle"]["verdict"] == "pass"
    assert {c["verdict"] for c in experiment["preflight"]} == {"pass"}
    # The phases the harness saw, in order, each with when it first saw it.
    timeline = run["timeline"]
    assert list(timeline)[-1] == "Complete", json.dumps(run, indent=1)
    assert set(timeline) <= {"Pending", "Provisioning", "Ready", "Running", "Complete"}
    assert list(timeline.values()) == sorted(timeline.values())
    assert not exists(k8s, run["instance"]) or run["cleanup"]["action"] == "deleted"
