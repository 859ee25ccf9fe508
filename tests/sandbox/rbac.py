"""The shipped runner role (``deploy/rbac.yaml``) on the sandbox, and a kubeconfig that
authenticates as its ServiceAccount with a TokenRequest token, as a CI Job would."""

from __future__ import annotations

import base64
import contextlib
import copy
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, utils
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from pytest_experiment.base.types import Obj
from pytest_experiment.sandbox import Sandbox

RBAC_FILE = Path(__file__).resolve().parents[2] / "deploy" / "rbac.yaml"
RUNNER = "experiment-runner"
RUNNER_NAMESPACE = "experiment-ci"
# How long the API server's RBAC cache may take to see new roles.
RBAC_SETTLE = 30.0


@dataclass(frozen=True, kw_only=True)
class Permission:
    """One verb on one resource, in one namespace (None: the ClusterRole)."""

    namespace: str | None
    group: str
    resource: str
    verb: str


@dataclass(frozen=True, kw_only=True)
class RunnerAccess:
    """A ServiceAccount bound to (a variant of) the shipped role, and how to act as it."""

    service_account: str
    user: str
    """``system:serviceaccount:<namespace>:<name>``, as a 403 names it."""
    token: str
    kubeconfig: Path
    ca_file: Path


def role_documents() -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(RBAC_FILE.read_text()) if doc]


def granted(documents: list[Obj]) -> list[Permission]:
    """Every permission the bindings in ``documents`` grant: a RoleBinding grants its
    role's rules in its own namespace (a ClusterRole's too), a ClusterRoleBinding grants
    its ClusterRole's cluster-wide. A role nothing binds grants nothing."""
    roles = {
        (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc
        for doc in documents
        if doc["kind"] in ("Role", "ClusterRole")
    }
    found = []
    for doc in documents:
        if doc["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        namespace = doc["metadata"].get("namespace")
        ref = doc["roleRef"]
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        found.append(
                            Permission(
                                namespace=namespace, group=group, resource=resource, verb=verb
                            )
                        )
    return found


def _bound_in(documents: list[Obj], namespace: str | None) -> set[tuple[str, str | None, str]]:
    """(kind, namespace, name) of the roles whose rules apply in ``namespace`` (None:
    cluster-wide)."""
    kind = "ClusterRoleBinding" if namespace is None else "RoleBinding"
    return {
        (ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])
        for doc in documents
        if doc["kind"] == kind and doc["metadata"].get("namespace") == namespace
        for ref in [doc["roleRef"]]
    }


def _variant(documents: list[Obj], *, suffix: str, without: Permission | None) -> list[Obj]:
    """The role under names nobody else uses, optionally with one permission removed."""
    out = []

    def renamed(name: str) -> str:
        return f"{name}-{suffix}" if suffix else name

    account = renamed(RUNNER)
    removing = _bound_in(documents, without.namespace) if without is not None else set()
    for original in documents:
        doc = copy.deepcopy(original)
        kind, meta = doc["kind"], doc["metadata"]
        if kind == "Namespace":
            out.append(doc)
            continue
        if without is not None and (kind, meta.get("namespace"), meta["name"]) in removing:
            for rule in doc["rules"]:
                if without.group in rule["apiGroups"] and without.resource in rule["resources"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != without.verb]
            doc["rules"] = [r for r in doc["rules"] if r["verbs"]]
        meta["name"] = renamed(meta["name"])
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            doc["roleRef"]["name"] = renamed(doc["roleRef"]["name"])
            for subject in doc["subjects"]:
                subject["name"] = account
        out.append(doc)
    return out


def install_runner(
    k8s: client.ApiClient,
    sandbox: Sandbox,
    directory: Path,
    *,
    without: Permission | None = None,
    suffix: str | None = None,
) -> RunnerAccess:
    """Apply the shipped role for a new ServiceAccount, wait until RBAC enforces it, and
    write a kubeconfig with a TokenRequest token for it (the sandbox's CA, no admin token).

    ``suffix`` "" keeps the shipped names (see ``shipped_runner``); by default a random
    suffix makes them the test's own."""
    suffix = secrets.token_hex(3) if suffix is None else suffix
    documents = _variant(role_documents(), suffix=suffix, without=without)
    for doc in documents:
        try:
            utils.create_from_dict(k8s, doc)
        except utils.FailToCreateError as exc:
            conflicts = [e for e in exc.api_exceptions if e.status == 409]
            if doc["kind"] != "Namespace" or len(conflicts) != len(exc.api_exceptions):
                raise
    account = f"{RUNNER}-{suffix}" if suffix else RUNNER
    user = f"system:serviceaccount:{RUNNER_NAMESPACE}:{account}"
    wait_enforced(k8s, user=user, permissions=granted(documents))
    if without is not None:
        # The same names may have granted it a moment ago (``shipped_runner``).
        wait_enforced(k8s, user=user, permissions=[without], allowed=False)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=["https://kubernetes.default.svc"], expiration_seconds=3600
        )
    )
    issued = client.CoreV1Api(k8s).create_namespaced_service_account_token(
        account, RUNNER_NAMESPACE, request
    )
    token = str(issued.status.token)
    document = yaml.safe_load(sandbox.kubeconfig.read_text())
    document["users"] = [{"name": account, "user": {"token": token}}]
    for context in document["contexts"]:
        context["context"]["user"] = account
    directory.mkdir(parents=True, exist_ok=True)
    kubeconfig = directory / "runner-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(document, sort_keys=False))
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(
        base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"])
    )
    return RunnerAccess(
        service_account=account, user=user, token=token, kubeconfig=kubeconfig, ca_file=ca_file
    )


@contextlib.contextmanager
def shipped_runner(
    k8s: client.ApiClient, sandbox: Sandbox, directory: Path, *, without: Permission | None = None
) -> Iterator[RunnerAccess]:
    """``deploy/rbac.yaml`` under its own names (``experiment-ci/experiment-runner``), so a
    message names exactly what a user of the shipped file reads; deleted afterwards (the
    Namespace stays) so the next test can install it again."""
    documents = _variant(role_documents(), suffix="", without=without)
    try:
        yield install_runner(k8s, sandbox, directory, without=without, suffix="")
    finally:
        dynamic = DynamicClient(k8s)
        for doc in reversed(documents):
            if doc["kind"] == "Namespace":
                continue
            resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            with contextlib.suppress(NotFoundError):
                resource.delete(
                    name=doc["metadata"]["name"], namespace=doc["metadata"].get("namespace")
                )


def wait_enforced(
    k8s: client.ApiClient, *, user: str, permissions: list[Permission], allowed: bool = True
) -> None:
    """Until the authorizer allows (or, with ``allowed`` False, denies) every one of
    ``permissions`` (its cache lags the API)."""
    api = client.AuthorizationV1Api(k8s)
    deadline = time.monotonic() + RBAC_SETTLE
    pending = list(permissions)
    while pending:
        permission = pending[0]
        resource, _, subresource = permission.resource.partition("/")
        review = api.create_subject_access_review(
            client.V1SubjectAccessReview(
                spec=client.V1SubjectAccessReviewSpec(
                    user=user,
                    groups=["system:serviceaccounts", f"system:serviceaccounts:{RUNNER_NAMESPACE}"],
                    resource_attributes=client.V1ResourceAttributes(
                        namespace=permission.namespace,
                        group=permission.group,
                        resource=resource,
                        subresource=subresource or None,
                        verb=permission.verb,
                        name=(
                            "experiments.experiments.illm.io"
                            if permission.resource == "customresourcedefinitions"
                            else None
                        ),
                    ),
                )
            )
        )
        if bool(review.status.allowed) == allowed:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            verb = "allowed" if allowed else "refused"
            raise AssertionError(f"RBAC never {verb} {permission} for {user}")
        time.sleep(0.1)  # polling the authorizer: there is no watch on its cache
