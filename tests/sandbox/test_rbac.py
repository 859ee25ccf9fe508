"""Least privilege: the shipped runner role is exactly sufficient, a missing permission is a
clear 403 (never "unreachable"), the CRD read is optional, and in-cluster config works."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from fakes import FakeTools
from kubernetes import client
from troubleshooting import documented

from pytest_experiment.base.errors import ClusterError, PermissionDenied
from pytest_experiment.base.resources import Labelled
from pytest_experiment.core.access import RUNNER
from pytest_experiment.edges.cluster import Cluster
from pytest_experiment.edges.kubeconfig import connect
from pytest_experiment.reporting.report import REPORT_SCHEMA
from pytest_experiment.sandbox import Sandbox

from .lifecycle import TEMPLATE, SetScenario, experiment_doc
from .rbac import Permission, RunnerAccess, granted, install_runner, role_documents
from .runs import SESSION_TIMEOUT, write
from .test_examples import scorecards
from .test_live_lifecycle import assert_diagnostics

P, W, F = "pass", "warn", "fail"
READ_CRD = Permission(
    namespace=None, group="apiextensions.k8s.io", resource="customresourcedefinitions", verb="get"
)
CREATE_EXPERIMENTS = Permission(
    namespace="experiments", group="experiments.illm.io", resource="experiments", verb="create"
)
GET_OPERATOR = Permission(
    namespace="experiment-operator-system", group="apps", resource="deployments", verb="get"
)


def run_as(
    pytester: pytest.Pytester,
    runner: RunnerAccess,
    sandbox: Sandbox,
    *args: str,
    target: str = "experiments",
) -> pytest.RunResult:
    """``pytest <target>`` in a subprocess as the runner, with JUnit and JSON reports."""
    report = pytester.path / "experiment-report.json"
    return pytester.runpytest_subprocess(
        target, "-v", "-rA", "-p", "no:cacheprovider",
        f"--experiment-kubeconfig={runner.kubeconfig}",
        f"--experiment-s3-endpoint={sandbox.s3_endpoint}",
        f"--experiment-report={report}",
        "--junitxml=report.xml",
        *args,
        timeout=SESSION_TIMEOUT,
    )  # fmt: skip


@pytest.fixture
def examples_project(pytester: pytest.Pytester, examples: Path) -> Path:
    shutil.copytree(examples, pytester.path / "experiments")
    return pytester.path


@pytest.fixture
def runner_cluster(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path
) -> Iterator[tuple[RunnerAccess, Cluster]]:
    runner = install_runner(k8s, sandbox, tmp_path / "runner")
    connected = connect(kubeconfig=runner.kubeconfig)
    yield runner, connected
    connected.close()


def test_the_examples_pass_as_the_runner_service_account_as_they_do_with_admin(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, examples_project: Path,
    fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    runner = install_runner(k8s, sandbox, examples_project / "runner")
    result = run_as(
        pytester, runner, sandbox,
        "--experiment-apply-templates", "--experiment-review=auto", "--experiment-cleanup=always",
    )  # fmt: skip
    out = result.stdout.str()
    # The same verdicts as the admin run of the examples: only lint-demo's validation
    # and echo-scaling's gate fail, on purpose. lint-demo also names namespace default,
    # which the shipped role does not cover: its pre-flight says so, and how to grant it.
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    refused = [line for line in out.splitlines() if "forbidden" in line.lower()]
    assert refused, out
    # The sweep for instances an earlier run left behind cannot look in default either,
    # and says so once, before anything is applied.
    orphans = [line for line in refused if line.startswith("Orphans in default not looked for: ")]
    assert len(orphans) == 1, refused
    assert all("[FAIL] Namespace default: " in line for line in refused if line not in orphans), out
    cards = scorecards(examples_project / "report.xml")
    assert cards["web-latency"].gates() == {P}
    assert cards["web-latency"].properties["review"]["reviewPhase"] == "Approved"
    assert cards["echo-scaling"].gates() == {F}
    for name in ("kv-baseline", "kv-hyperdisk"):
        assert cards[name].gates() == {P}, name
        assert cards[name].properties["review"]["reviewPhase"] == "Approved", name
    for name in ("web-latency", "echo-scaling", "kv-baseline", "kv-hyperdisk"):
        card = cards[name]
        assert card.outcomes["lifecycle"] == "passed", name
        assert card.properties["validate[schema]"]["summary"].endswith("(live CRD schema)")
        assert {
            card.outcomes[f"preflight[{c}]"] for c in ("namespace", "workflow-template", "operator")
        } == {"passed"}, name
    failed = sorted(n for n, o in cards["lint-demo"].outcomes.items() if o == "failure")
    assert failed == [
        "preflight[namespace]", "validate[gke-name-length]", "validate[namespace-var]",
        "validate[storage-machine]",
    ]  # fmt: skip
    assert (
        cards["lint-demo"]
        .messages["preflight[namespace]"]
        .endswith(
            "grant the runner's role there: kubectl apply -f deploy/rbac.yaml && kubectl create "
            f"rolebinding {runner.service_account} -n default "
            f"--clusterrole=experiment-runner-experiments "
            f"--serviceaccount=experiment-ci:{runner.service_account}"
        )
    )
    report = json.loads((examples_project / "experiment-report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text())).validate(report)
    assert {c["action"] for c in report["cleanup"]} == {"deleted"}


def test_without_create_the_run_fails_with_a_403_naming_verb_resource_and_namespace(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, examples_project: Path,
    fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    runner = install_runner(k8s, sandbox, examples_project / "runner", without=CREATE_EXPERIMENTS)
    result = run_as(
        pytester, runner, sandbox, "--experiment-apply-templates", target="experiments/web-latency"
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.stdout.fnmatch_lines(
        [
            "*[[]FAIL[]] Apply failed: create Experiment web-lat-* in experiments: forbidden: "
            f"cannot create experiments (experiments.illm.io) in namespace experiments "
            f"as {runner.user} (HTTP 403)*"
        ]
    )
    assert "No cluster reachable" not in out, out
    assert "Traceback" not in out + result.stderr.str()
    cards = scorecards(examples_project / "report.xml")
    assert cards["web-latency"].outcomes["lifecycle"] == "failure"
    documented(
        "The runner's role lacks a verb (an older `deploy/rbac.yaml`)",
        cards["web-latency"].messages["lifecycle"].replace(runner.user, RUNNER),
    )


def test_without_crd_read_validation_falls_back_to_the_bundled_schema_with_a_warn(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient, examples_project: Path,
    fake_tools: FakeTools, s3_credentials: None,
) -> None:  # fmt: skip
    runner = install_runner(k8s, sandbox, examples_project / "runner", without=READ_CRD)
    result = run_as(
        pytester,
        runner,
        sandbox,
        "--experiment-review=auto",
        "--experiment-apply-templates",
        target="experiments/web-latency",
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out  # a WARN is an xfail: the run still passes
    card = scorecards(examples_project / "report.xml")["web-latency"]
    schema = card.properties["validate[schema]"]
    assert schema["verdict"] == W
    assert card.outcomes["validate[schema]"] == "skipped"  # JUnit's word for an xfail
    assert schema["summary"] == (
        "[WARN] Schema: valid (bundled schema); the cluster's CRD was not read: "
        "read CRD experiments.experiments.illm.io: forbidden: cannot get "
        f"customresourcedefinitions (apiextensions.k8s.io) cluster-wide as {runner.user} "
        "(HTTP 403): the runner's role lacks this permission"
    )
    assert card.outcomes["lifecycle"] == "passed"
    assert card.gates() == {P}


def test_a_403_is_a_permission_error_with_the_cause_chained(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    runner = install_runner(k8s, sandbox, tmp_path, without=GET_OPERATOR)
    cluster = connect(kubeconfig=runner.kubeconfig)
    try:
        with pytest.raises(PermissionDenied) as caught:
            cluster.operator_ready_replicas()
    finally:
        cluster.close()
    error = caught.value
    assert str(error) == (
        "get Deployment experiment-operator-system/experiment-operator-controller-manager: "
        "forbidden: cannot get deployments (apps) in namespace experiment-operator-system "
        f"as {runner.user} (HTTP 403): the runner's role lacks this permission"
    )
    assert (error.status, error.verb, error.resource, error.namespace, error.user) == (
        403, "get", "deployments.apps", "experiment-operator-system", runner.user
    )  # fmt: skip
    assert isinstance(error.__cause__, client.ApiException)
    assert cluster.requests["get"] == 1  # a refusal is not retried


def test_the_role_grants_exactly_what_the_harness_reads(
    runner_cluster: tuple[RunnerAccess, Cluster],
) -> None:
    _, cluster = runner_cluster
    assert cluster.experiment_crd() is not None
    assert cluster.operator_ready_replicas() >= 1
    items, _ = cluster.list_experiments(namespace="experiments")
    assert isinstance(items, list)
    # Outside the role: another namespace's experiments.
    with pytest.raises(PermissionDenied, match=r"cannot list experiments .* in namespace default"):
        cluster.list_experiments(namespace="default")


def test_in_cluster_config_connects_with_a_projected_token_and_ca(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = install_runner(k8s, sandbox, tmp_path / "issued")
    mount = tmp_path / "serviceaccount"  # what the kubelet projects into a pod
    mount.mkdir()
    (mount / "token").write_text(runner.token)
    shutil.copy(runner.ca_file, mount / "ca.crt")
    host, _, port = sandbox.server.removeprefix("https://").rpartition(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig-here"))
    cluster = connect(service_account=mount)
    try:
        assert cluster.endpoint.source == "in-cluster config"
        assert cluster.endpoint.server == sandbox.server
        assert cluster.operator_ready_replicas() >= 1
        with pytest.raises(PermissionDenied, match=f"as {runner.user}"):
            cluster.list_experiments(namespace="default")  # the token's identity, not admin's
    finally:
        cluster.close()


def test_a_rejected_token_is_refused_not_unreachable(
    pytester: pytest.Pytester, sandbox: Sandbox, examples_project: Path, s3_credentials: None
) -> None:
    document = yaml.safe_load(sandbox.kubeconfig.read_text())
    for user in document["users"]:
        user["user"] = {"token": "revoked-token"}
    kubeconfig = examples_project / "revoked-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(document))
    result = pytester.runpytest_subprocess(
        "experiments/web-latency", "-p", "no:cacheprovider", "-k", "preflight",
        f"--experiment-kubeconfig={kubeconfig}", timeout=SESSION_TIMEOUT,
    )  # fmt: skip
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.stdout.fnmatch_lines(
        [
            "[[]FAIL[]] Cluster refused the request: read CRD experiments.experiments.illm.io: "
            "unauthorized: the API rejected the credentials (HTTP 401)*"
        ]
    )
    assert "No cluster reachable" not in out
    assert "cannot reach" not in out
    assert "revoked-token" not in out
    [line, *_] = [x for x in result.stdout.lines if x.startswith("[FAIL] Cluster refused")]
    documented("The runner's token expired or was revoked", line)


def test_diagnostics_of_a_failed_run_read_everything_as_the_runner(
    pytester: pytest.Pytester, sandbox: Sandbox, k8s: client.ApiClient,
    workflow_template: str, prefix: str, scenario: SetScenario, no_bd: None,
    s3_credentials: None,
) -> None:  # fmt: skip
    # The failure path reads what a passing run never does: pods, logs, workflows,
    # applications, cluster claims. The role must cover those too.
    runner = install_runner(k8s, sandbox, pytester.path / "runner")
    scenario(prefix, "fail-running", message="workflow step crashed")
    write(pytester, "broken", experiment_doc(prefix))
    result = run_as(pytester, runner, sandbox, "--experiment-cleanup=always")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "experiment-report.json").read_text())
    (run,) = report["experiments"][0]["instances"]
    details = run["lifecycle"]["details"]
    assert_diagnostics(details, run["instance"])
    assert [line for line in details if "forbidden" in line or "HTTP 40" in line] == []
    assert run["cleanup"]["action"] == "deleted"


def _new_template(cluster: Cluster) -> object:
    return cluster.apply_workflow_template(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": f"rbac-{secrets.token_hex(3)}"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main"}]},
        }
    )


def _existing_template(cluster: Cluster) -> object:
    return cluster.apply_workflow_template(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": TEMPLATE},
            "spec": {"entrypoint": "validate", "templates": [{"name": "validate"}]},
        }
    )


def _watch(cluster: Cluster) -> object:
    _, version = cluster.list_experiments(namespace="experiments")
    stream = cluster.watch_experiments(
        namespace="experiments", resource_version=version, timeout_seconds=1
    )
    stream.close()
    return stream


OPERATOR_NS = "experiment-operator-system"


# Every permission the shipped role grants, and a request of the harness that needs it.
def _events_in(namespace: str) -> Callable[[Cluster], object]:
    return lambda c: c.events("rbac-x", namespaces=[namespace])


USES: dict[tuple[str | None, str, str, str], Callable[[Cluster], object]] = {
    (None, "apiextensions.k8s.io", "customresourcedefinitions", "get"): (
        lambda c: c.experiment_crd()
    ),
    (None, "illm.io", "gkeclusters", "list"): (
        lambda c: c.list_labelled(Labelled.GKE_CLUSTERS, instance="x")
    ),
    ("experiments", "experiments.illm.io", "experiments", "get"): (
        lambda c: c.get_experiment("rbac-x", namespace="experiments")
    ),
    ("experiments", "experiments.illm.io", "experiments", "list"): (
        lambda c: c.list_experiments(namespace="experiments")
    ),
    ("experiments", "experiments.illm.io", "experiments", "watch"): _watch,
    ("experiments", "experiments.illm.io", "experiments", "create"): (
        lambda c: c.delete_experiment(
            c.create_experiment(experiment_doc("rbac-"), namespace="experiments"),
            namespace="experiments",
        )
    ),
    ("experiments", "experiments.illm.io", "experiments", "patch"): (
        lambda c: c.annotate_experiment("rbac-x", namespace="experiments", annotations={"a": "b"})
    ),
    ("experiments", "experiments.illm.io", "experiments", "delete"): (
        lambda c: c.delete_experiment("rbac-x", namespace="experiments")
    ),
    ("experiments", "", "pods", "list"): lambda c: c.list_labelled(Labelled.PODS, instance="x"),
    ("argo-workflows", "argoproj.io", "workflowtemplates", "get"): (
        lambda c: c.workflow_template_exists("rbac-x")
    ),
    ("argo-workflows", "argoproj.io", "workflowtemplates", "create"): _new_template,
    ("argo-workflows", "argoproj.io", "workflowtemplates", "patch"): _existing_template,
    ("argo-workflows", "argoproj.io", "workflows", "list"): (
        lambda c: c.list_labelled(Labelled.WORKFLOWS, instance="x")
    ),
    ("argo-workflows", "argoproj.io", "workflows", "get"): lambda c: c.get_workflow("rbac-x"),
    ("argocd", "argoproj.io", "applications", "list"): (
        lambda c: c.list_labelled(Labelled.APPLICATIONS, instance="x")
    ),
    (OPERATOR_NS, "apps", "deployments", "get"): lambda c: c.operator_ready_replicas(),
    (OPERATOR_NS, "", "pods", "list"): lambda c: c.job_log_tail("rbac-x-analyzer"),
    # The sandbox's operator is a process, not a pod: read a log the way the harness does.
    (OPERATOR_NS, "", "pods/log", "get"): lambda c: c._pod_log("rbac-x", tail_lines=1),
    (OPERATOR_NS, "batch", "jobs", "get"): lambda c: c.analyzer_job("rbac-x"),
    **{
        (namespace, "", "events", "list"): _events_in(namespace)
        for namespace in ("experiments", "argo-workflows", "argocd", OPERATOR_NS)
    },
}


def test_every_permission_of_the_role_is_one_the_harness_uses() -> None:
    shipped = {(p.namespace, p.group, p.resource, p.verb) for p in granted(role_documents())}
    assert shipped == set(USES)


@pytest.fixture(scope="module")
def full_role(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    runner = install_runner(k8s, sandbox, tmp_path_factory.mktemp("full-role"))
    connected = connect(kubeconfig=runner.kubeconfig)
    yield connected
    connected.close()


@pytest.mark.parametrize(
    "permission", list(USES), ids=lambda p: f"{p[0] or 'cluster'}:{p[2]}:{p[3]}"
)
def test_without_each_permission_its_request_is_refused_naming_it(
    k8s: client.ApiClient, sandbox: Sandbox, tmp_path: Path, workflow_template: str,
    full_role: Cluster, permission: tuple[str | None, str, str, str],
) -> None:  # fmt: skip
    namespace, group, resource, verb = permission
    use = USES[permission]
    try:
        use(full_role)
    except PermissionDenied as exc:
        pytest.fail(f"the full role was refused: {exc}")
    except ClusterError:
        pass  # not found, no pod to read…: anything but a refusal is the role's part done
    removed = install_runner(
        k8s, sandbox, tmp_path,
        without=Permission(namespace=namespace, group=group, resource=resource, verb=verb),
    )  # fmt: skip
    less = connect(kubeconfig=removed.kubeconfig)
    try:
        with pytest.raises(PermissionDenied) as caught:
            use(less)
    finally:
        less.close()
    error = caught.value
    assert error.status == 403
    assert f"{resource.partition('/')[0]}" in str(error)
    if error.user:  # the authorizer's own message: verb, resource, scope and identity
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        assert f"cannot {verb} {resource} ({group or 'core'}) {where} as {removed.user}" in str(
            error
        )
    else:  # a server-side apply that would create names only what was asked
        assert permission[2:] == ("workflowtemplates", "create")
        assert "cannot patch workflowtemplates (argoproj.io) (an apply that creates" in str(error)
