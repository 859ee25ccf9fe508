"""Setting up on a real hub: a missing Experiment CRD, a runner that may not list
Experiments, a namespace where it has no role. Each is one pre-flight FAIL per experiment
naming what is missing and the command that fixes it; nothing is applied, the session
ends normally (exit 1, never INTERNALERROR) and writes the JUnit, JSON and step summary.
The lines captured here are the README's troubleshooting rows."""

from __future__ import annotations

import json
import secrets
import shlex
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from troubleshooting import documented

from pytest_experiment.base.resources import EXPERIMENT_CRD
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox

from .lifecycle import ensure_template, experiment_doc, start_test_sandbox
from .rbac import Permission, RunnerAccess, shipped_runner, wait_enforced
from .runs import Session, managed, run_live, write

LIST_EXPERIMENTS = Permission(
    namespace="experiments", group="experiments.illm.io", resource="experiments", verb="list"
)


def unnamespaced_doc(prefix: str) -> Obj:
    doc = experiment_doc(prefix)
    del doc["metadata"]["namespace"]
    return doc


def assert_blocked_and_reported(session: Session, step_summary: Path, name: str) -> str:
    """The session ended normally with the experiment blocked by ``preflight[namespace]``,
    every report written; returns the FAIL line the user reads."""
    out = session.stdout + session.result.stderr.str()
    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "INTERNALERROR" not in out
    assert "Traceback" not in out
    assert "Applied experiment" not in out
    cases = {
        case.get("name"): case
        for case in ET.parse(session.root / "report.xml").iter("testcase")
        if any(
            (p.get("name"), p.get("value")) == ("experiment", name) for p in case.iter("property")
        )
    }
    failure = cases["preflight[namespace]"].find("failure")
    assert failure is not None
    line = failure.get("message", "")
    assert line.startswith("[FAIL] Namespace "), line
    assert line in session.result.stdout.lines, out  # one line, as the scorecard prints it
    skipped = cases["lifecycle"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == f"[N/A] blocked by {name}::preflight[namespace]"
    preflight = session.preflight(name, "namespace")
    assert (preflight["verdict"], preflight["summary"]) == ("fail", line)
    assert session.instance(name)["lifecycle"]["verdict"] == "n-a"
    assert f"`preflight[namespace]`: {line}" in step_summary.read_text()
    return line


@pytest.fixture
def step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


@pytest.fixture(scope="module")
def hub_without_crd() -> Iterator[Sandbox]:
    """A hub where the experiment operator (its CRD) is not installed."""
    with start_test_sandbox() as bare:
        api = bare.api_client()
        try:
            ensure_template(api)
            extensions = client.ApiextensionsV1Api(api)
            extensions.delete_custom_resource_definition(EXPERIMENT_CRD)
            deadline = time.monotonic() + 30
            while True:  # until the API no longer serves the kind
                try:
                    extensions.read_custom_resource_definition(EXPERIMENT_CRD)
                except client.ApiException as exc:
                    if exc.status == 404:
                        break
                    raise
                assert time.monotonic() < deadline, "the CRD was never deleted"
                time.sleep(0.1)
        finally:
            api.close()
        yield bare


def test_without_the_experiment_crd_preflight_names_the_crd_to_install(
    pytester: pytest.Pytester, hub_without_crd: Sandbox, prefix: str, step_summary: Path,
    s3_credentials: None,
) -> None:  # fmt: skip
    write(pytester, "web", experiment_doc(prefix))
    session = run_live(pytester, hub_without_crd, "--junitxml=report.xml")
    line = assert_blocked_and_reported(session, step_summary, "web")
    assert line == (
        "[FAIL] Namespace experiments: the Experiment CRD experiments.experiments.illm.io is "
        "not installed on this cluster; install the experiment operator, or its CRD from the "
        "operator's repository: kubectl apply -f "
        "config/crd/bases/experiments.illm.io_experiments.yaml "
        "(list Experiments in experiments: Not Found)"
    )
    documented("The Experiment CRD is not installed (the operator is not)", line)


@pytest.fixture
def runner_without_list(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path
) -> Iterator[RunnerAccess]:
    with shipped_runner(k8s, sandbox, tmp_path / "runner", without=LIST_EXPERIMENTS) as runner:
        yield runner


def test_without_list_on_experiments_preflight_names_the_role_to_apply(
    pytester: pytest.Pytester, sandbox: Sandbox, workflow_template: str, prefix: str,
    runner_without_list: RunnerAccess, step_summary: Path, s3_credentials: None,
) -> None:  # fmt: skip
    write(pytester, "web", experiment_doc(prefix))
    session = run_live(
        pytester, sandbox, "--junitxml=report.xml", kubeconfig=runner_without_list.kubeconfig
    )
    line = assert_blocked_and_reported(session, step_summary, "web")
    assert line == (
        "[FAIL] Namespace experiments: list Experiments in experiments: forbidden: cannot "
        "list experiments (experiments.illm.io) in namespace experiments as "
        "system:serviceaccount:experiment-ci:experiment-runner (HTTP 403); grant the "
        "runner's role there: kubectl apply -f deploy/rbac.yaml"
    )
    documented("The runner may not list Experiments (its role is not applied)", line)


@pytest.fixture
def runner(k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path) -> Iterator[RunnerAccess]:
    with shipped_runner(k8s, sandbox, tmp_path / "runner") as access:
        yield access


@pytest.fixture
def team_namespace(k8s: client.ApiClient) -> str:
    """A namespace of its own, where the runner has no role (the sandbox has no namespace
    controller to finish deleting one: names are unique instead)."""
    name = f"team-{secrets.token_hex(3)}"
    client.CoreV1Api(k8s).create_namespace(client.V1Namespace(metadata={"name": name}))
    return name


def test_a_namespace_without_the_runners_role_fails_preflight_naming_the_rolebinding(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, runner: RunnerAccess, team_namespace: str,
    step_summary: Path, s3_credentials: None,
) -> None:  # fmt: skip
    write(pytester, "web", unnamespaced_doc(prefix))
    option = f"--experiment-namespace={team_namespace}"
    session = run_live(
        pytester, sandbox, "--junitxml=report.xml", option, kubeconfig=runner.kubeconfig
    )
    line = assert_blocked_and_reported(session, step_summary, "web")
    bind = (
        "kubectl apply -f deploy/rbac.yaml && kubectl create rolebinding experiment-runner "
        f"-n {team_namespace} --clusterrole=experiment-runner-experiments "
        "--serviceaccount=experiment-ci:experiment-runner"
    )
    assert line == (
        f"[FAIL] Namespace {team_namespace}: list Experiments in {team_namespace}: forbidden: "
        f"cannot list experiments (experiments.illm.io) in namespace {team_namespace} as "
        f"system:serviceaccount:experiment-ci:experiment-runner (HTTP 403); grant the "
        f"runner's role there: {bind}"
    )
    documented(
        "`--experiment-namespace` names a namespace where the runner has no role",
        line.replace(team_namespace, "team-a"),
    )

    # The printed fix fixes it: the role of the file is applied (the fixture did), and the
    # RoleBinding the command names makes the namespace usable.
    apply, create = (shlex.split(part) for part in bind.split(" && "))
    assert apply == ["kubectl", "apply", "-f", "deploy/rbac.yaml"]
    assert create[:6] == [
        "kubectl", "create", "rolebinding", "experiment-runner", "-n", team_namespace
    ]  # fmt: skip
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in create[6:])
    sa_namespace, sa_name = flags["serviceaccount"].split(":")
    rbac = client.RbacAuthorizationV1Api(k8s)
    rbac.create_namespaced_role_binding(
        team_namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=create[3]),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=flags["clusterrole"]
            ),
            subjects=[
                client.RbacV1Subject(kind="ServiceAccount", name=sa_name, namespace=sa_namespace)
            ],
        ),
    )
    try:
        wait_enforced(
            k8s,
            user=runner.user,
            permissions=[
                Permission(
                    namespace=team_namespace, group="experiments.illm.io",
                    resource="experiments", verb=verb,
                )
                for verb in ("list", "watch", "create")
            ],
        )  # fmt: skip
        fixed = run_live(
            pytester, sandbox, "--junitxml=report.xml", option, "-k", "preflight",
            kubeconfig=runner.kubeconfig,
        )  # fmt: skip
        assert fixed.result.ret == pytest.ExitCode.OK, fixed.stdout
        assert fixed.preflight("web", "namespace")["summary"] == (
            f"[PASS] Namespace {team_namespace}: Experiments can be listed"
        )
    finally:
        rbac.delete_namespaced_role_binding(create[3], team_namespace)


def test_a_file_namespace_over_the_option_is_said_on_one_line(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, team_namespace: str, s3_credentials: None,
) -> None:  # fmt: skip
    write(pytester, "web", experiment_doc(prefix))  # metadata.namespace: experiments
    session = run_live(
        pytester, sandbox, f"--experiment-namespace={team_namespace}", "-k", "preflight", "-rx",
    )  # fmt: skip
    assert session.result.ret == pytest.ExitCode.OK, session.stdout
    namespace = session.preflight("web", "namespace")
    assert namespace["verdict"] == "warn"
    line = (
        "[WARN] Namespace experiments: Experiments can be listed; it is metadata.namespace "
        f"in the file, which takes precedence over --experiment-namespace {team_namespace}"
    )
    assert namespace["summary"] == line
    assert any(line in text for text in session.result.stdout.lines), session.stdout
    assert managed(k8s, prefix) == []  # -k preflight: nothing applied
    documented(
        "The file sets `metadata.namespace` and `--experiment-namespace` names another",
        line.replace(team_namespace, "team-a"),
    )


def test_the_report_json_of_a_blocked_run_is_valid(
    pytester: pytest.Pytester, hub_without_crd: Sandbox, prefix: str, s3_credentials: None
) -> None:
    import jsonschema

    from pytest_experiment.reporting.report import REPORT_SCHEMA

    write(pytester, "web", experiment_doc(prefix))
    session = run_live(pytester, hub_without_crd)
    schema = json.loads(REPORT_SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(session.report)
