"""The operator scaled to 0 the way a user does it (``kubectl scale --replicas=0``, the
Deployment's scale subresource): the sandbox's operator stops acting and reports no ready
replica, and acts again when scaled back; the harness, meanwhile, fails the lifecycle of an
instance left without status, naming the Deployment, long before the Pending budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from pytest_experiment.base.resources import OPERATOR_DEPLOYMENT, OPERATOR_NAMESPACE
from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox
from pytest_experiment.sandbox.kube import wait_until
from pytest_experiment.sandbox.operator import FINALIZER

from .lifecycle import TIMEOUT, Run, experiment_doc, status_of
from .runs import exists, run_live, write

DEPLOYMENT = f"{OPERATOR_NAMESPACE}/{OPERATOR_DEPLOYMENT}"


def scale(k8s: client.ApiClient, replicas: int) -> None:
    """What ``kubectl scale deployment … --replicas=N`` sends: a patch of ``/scale``."""
    client.AppsV1Api(k8s).patch_namespaced_deployment_scale(
        OPERATOR_DEPLOYMENT,
        OPERATOR_NAMESPACE,
        {"spec": {"replicas": replicas}},
        _content_type="application/merge-patch+json",
    )


def deployment_reports(k8s: client.ApiClient, replicas: int) -> Obj:
    """Wait until the Deployment's status says the operator took in ``replicas``."""

    def taken_in(objects: dict[str, Obj]) -> bool:
        # The API server leaves out counts of 0, as it does for a real Deployment.
        return any(
            int((o.get("status") or {}).get("replicas") or 0) == replicas
            and int((o.get("status") or {}).get("readyReplicas") or 0) == replicas
            and (o.get("status") or {}).get("observedGeneration")
            == (o.get("metadata") or {}).get("generation")
            for o in objects.values()
        )

    found = wait_until(
        lambda **kw: client.AppsV1Api(k8s).list_namespaced_deployment(OPERATOR_NAMESPACE, **kw),
        taken_in,
        timeout=TIMEOUT,
        what=f"the operator Deployment to report {replicas} ready of {replicas}",
        field_selector=f"metadata.name={OPERATOR_DEPLOYMENT}",
    )
    deployment: Obj = next(iter(found.values()))
    return deployment


@pytest.fixture
def scaled_to_zero(k8s: client.ApiClient) -> Iterator[Obj]:
    """The operator scaled to 0 for the test; scaled back (and ready) whatever happens."""
    scale(k8s, 0)
    try:
        yield deployment_reports(k8s, 0)
    finally:
        scale(k8s, 1)
        deployment_reports(k8s, 1)


def test_scaled_to_zero_the_operator_stops_acting_and_resumes_when_scaled_back(
    k8s: client.ApiClient, prefix: str, scaled_to_zero: Obj
) -> None:
    # Scaled to 0, a Deployment has no pod and counts as available (0 of 0).
    status = scaled_to_zero["status"]
    assert "replicas" not in status
    assert "readyReplicas" not in status
    assert [c["status"] for c in status["conditions"] if c["type"] == "Available"] == ["True"]
    run = Run.create(k8s, experiment_doc(prefix))

    # A whole lifecycle takes about a second at the sandbox's time scale: nothing moves.
    # (No witness: an operator scaled to 0 would not move one either.)
    quiet = run.assert_quiet("phase", witness=False)
    assert "status" not in quiet
    assert FINALIZER not in (quiet["metadata"].get("finalizers") or [])

    scale(k8s, 1)
    deployment_reports(k8s, 1)
    assert status_of(run.wait_terminal())["phase"] == "Complete"
    run.delete()
    run.wait_gone()


def test_the_lifecycle_fails_naming_the_deployment_and_the_instance_is_deleted(
    pytester: pytest.Pytester,
    sandbox: Sandbox,
    k8s: client.ApiClient,
    workflow_template: str,
    prefix: str,
    scaled_to_zero: Obj,
    no_bd: None,
) -> None:
    # An instance created beside the run shows the operator doing nothing meanwhile.
    bystander = Run.create(k8s, experiment_doc(f"{prefix}by-"))
    write(pytester, "down", experiment_doc(prefix))
    # The Pending budget stays the default 20 minutes; the run would outlast the
    # session timeout if the operator's budget did not end it.
    session = run_live(pytester, sandbox, "--experiment-budget-operator=3s")

    assert session.result.ret == pytest.ExitCode.TESTS_FAILED, session.stdout
    operator = session.preflight("down", "operator")
    assert operator["summary"] == "[WARN] Operator unhealthy (0 ready replicas); the run continues"
    instance = session.instance("down")["instance"]
    lifecycle = session.lifecycle("down")
    assert lifecycle["verdict"] == "fail"
    assert lifecycle["summary"].startswith(f"[FAIL] Operator down: no status on {instance} after 3")
    assert lifecycle["summary"].endswith(
        f"(--experiment-budget-operator 3s) and Deployment {DEPLOYMENT} has no ready replica; "
        f"check it with: kubectl get deployment {OPERATOR_DEPLOYMENT} -n {OPERATOR_NAMESPACE}"
    )
    session.result.stdout.fnmatch_lines([f"*Lifecycle ({instance}): [[]FAIL[]] Operator down: *"])
    # Unfinished, so on-success deletes it: a recovering operator must not provision it.
    cleanup = session.cleanup("down")
    assert cleanup["action"] == "deleted", cleanup
    assert cleanup["reason"].startswith("unfinished (Pending) when the session ended")
    assert not exists(k8s, instance)
    assert [t["title"] for t in session.toil("down")] == [
        "Operator unhealthy at experiment start: down",
        f"Operator down: no status on {instance} after "
        + lifecycle["summary"].split(" after ", 1)[1].split(" ", 1)[0],
    ]

    # For all that time the operator left the bystander alone; scaled back, it runs it.
    assert "status" not in bystander.get()
    scale(k8s, 1)
    assert status_of(bystander.wait_terminal())["phase"] == "Complete"
    bystander.delete()
    bystander.wait_gone()
