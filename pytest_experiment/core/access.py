"""Whether Experiments can be created and followed in a namespace, and the fix when not.

The pre-flight lists the experiment's namespace once, as the run's watch does. The API
answers a missing kind with 404 and a missing role with 403; each becomes one line naming
what is missing and the command that fixes it, instead of a traceback at the first
create. The commands name the objects of the shipped ``deploy/rbac.yaml``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pytest_experiment.base.resources import EXPERIMENT_CRD, EXPERIMENT_NAMESPACE, EXPERIMENTS
from pytest_experiment.core.verdict import CheckResult, Status

RBAC_FILE = "deploy/rbac.yaml"
NAMESPACE_ROLE = "experiment-runner-experiments"
"""The ClusterRole of ``deploy/rbac.yaml`` that a RoleBinding grants in one namespace."""
RUNNER_ACCOUNT = ("experiment-ci", "experiment-runner")
"""The ServiceAccount ``deploy/rbac.yaml`` binds (namespace, name)."""
RUNNER = f"system:serviceaccount:{RUNNER_ACCOUNT[0]}:{RUNNER_ACCOUNT[1]}"
CRD_FILE = "config/crd/bases/experiments.illm.io_experiments.yaml"
"""Where the operator's repository keeps the Experiment CRD (kubebuilder's layout)."""
_SERVICE_ACCOUNT = re.compile(r"system:serviceaccount:(?P<namespace>[^:]+):(?P<name>[^:]+)")


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why listing Experiments in a namespace failed, as plain data."""

    error: str
    """The API error, one line."""
    status: int | None
    """Its HTTP status: 404 (the kind is not served), 403 (refused), or another."""
    user: str = ""
    """The identity a 403 names, when it names one."""


def namespace_usable(namespace: str) -> CheckResult:
    return CheckResult(Status.PASS, f"Namespace {namespace}: Experiments can be listed")


def namespace_unusable(namespace: str, refusal: Refusal, *, crd_read: bool) -> CheckResult:
    """The FAIL for a namespace the run cannot list Experiments in; ``crd_read``: the
    Experiment CRD itself was read, so a 404 means its version is not served."""
    if refusal.status == 404:
        return _missing_kind(namespace, refusal, crd_read=crd_read)
    if refusal.status == 403:
        fix = bind_command(namespace, refusal.user)
        return CheckResult(
            Status.FAIL,
            f"Namespace {namespace}: {_without_hint(refusal.error)}; grant the runner's role "
            f"there: {fix}",
            figures={"command": fix},
        )
    return CheckResult(
        Status.FAIL, f"Namespace {namespace}: cannot list Experiments: {refusal.error}"
    )


def namespace_overridden(result: CheckResult, *, option: str) -> CheckResult:
    """A usable namespace set by the file while ``--experiment-namespace`` asks for
    another: a WARN, so the option is never silently ignored."""
    return CheckResult(
        Status.WARN,
        f"{result.summary}; it is metadata.namespace in the file, which takes precedence "
        f"over --experiment-namespace {option}",
        figures=result.figures,
    )


def _missing_kind(namespace: str, refusal: Refusal, *, crd_read: bool) -> CheckResult:
    apply = shlex.join(["kubectl", "apply", "-f", CRD_FILE])
    if crd_read:
        what = (
            f"the cluster's Experiment CRD does not serve {EXPERIMENTS.api_version}; update "
            f"it from the operator's repository: {apply}"
        )
    else:
        what = (
            f"the Experiment CRD {EXPERIMENT_CRD} is not installed on this cluster; install "
            f"the experiment operator, or its CRD from the operator's repository: {apply}"
        )
    return CheckResult(
        Status.FAIL,
        f"Namespace {namespace}: {what} ({refusal.error})",
        figures={"command": apply},
    )


def bind_command(namespace: str, user: str) -> str:
    """The command that grants ``user`` the shipped namespace role in ``namespace``."""
    apply = shlex.join(["kubectl", "apply", "-f", RBAC_FILE])
    if namespace == EXPERIMENT_NAMESPACE and user in (RUNNER, ""):
        return apply  # the file binds the shipped identity there: it is missing or older
    account = _SERVICE_ACCOUNT.fullmatch(user or RUNNER)
    if account is not None:
        name = account["name"]
        subject = f"--serviceaccount={account['namespace']}:{name}"
    else:
        name, subject = f"experiment-runner-{_name_part(user)}", f"--user={user}"
    bind = shlex.join(
        [
            "kubectl", "create", "rolebinding", name, "-n", namespace,
            f"--clusterrole={NAMESPACE_ROLE}", subject,
        ]
    )  # fmt: skip
    return f"{apply} && {bind}"


def _name_part(user: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", user.lower()).strip("-.")[:40] or "user"


def _without_hint(error: str) -> str:
    """The 403 without its generic hint: the fix replaces it."""
    return error.removesuffix(": the runner's role lacks this permission")


__all__ = [
    "CRD_FILE",
    "NAMESPACE_ROLE",
    "RBAC_FILE",
    "RUNNER",
    "RUNNER_ACCOUNT",
    "Refusal",
    "bind_command",
    "namespace_overridden",
    "namespace_unusable",
    "namespace_usable",
]
