"""Pre-flight: may an experiment be applied? Its cost, namespace, WorkflowTemplate, the
operator, the cluster.

Runs once per experiment before anything is created. A session over
``--experiment-max-cost`` blocks every apply (and applies no template); a namespace
the run cannot list Experiments in (no CRD, no role) blocks the apply, as does a
missing template (unless it is applied with ``--experiment-apply-templates``); an
unhealthy operator only warns; an unreachable cluster blocks every experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from pytest_experiment.base.errors import ClusterError, PermissionDenied
from pytest_experiment.base.text import one_line
from pytest_experiment.base.types import Obj
from pytest_experiment.base.views import meta
from pytest_experiment.core import access, lifecycle
from pytest_experiment.core.lifecycle import shown_path
from pytest_experiment.core.options import Options
from pytest_experiment.core.spec import Experiment
from pytest_experiment.core.toil import ToilRecord
from pytest_experiment.core.verdict import CheckResult, Status, blocked
from pytest_experiment.run.launch import Launch
from pytest_experiment.run.ports import Cluster

_UNREACHABLE = "No cluster reachable"
_REFUSED = "Cluster refused the request"
# Why a missing template blocks the apply rather than letting the operator find out.
_EMPTY_WORKFLOW = (
    "without it the operator runs an empty inline workflow and reports Complete having "
    "tested nothing"
)


class Preflight:
    """The pre-flight of every experiment of a session (the operator is read once)."""

    def __init__(
        self,
        *,
        options: Options,
        log_toil: Callable[[ToilRecord], None],
        validation_failure: Callable[[Experiment], tuple[str, str] | None],
        watch: Callable[[str], object],
        cost_verdict: Callable[[Experiment], CheckResult | None] = lambda _: None,
    ) -> None:
        """``watch(namespace)`` starts the session's one watch of a namespace (its first
        list is the namespace check), raising ``ClusterError`` when it cannot."""
        self.options = options
        self._log_toil = log_toil
        self._validation_failure = validation_failure
        self._watch = watch
        self._cost_verdict = cost_verdict
        self._operator: tuple[int | None, str] | None = None
        self._namespaces: dict[str, CheckResult] = {}

    def check(
        self,
        launch: Launch,
        cluster: Cluster | None,
        *,
        unreachable: str,
        refused: bool,
        crd_read: bool = False,
    ) -> None:
        """Fill ``launch.preflight``. ``cluster`` is None when it could not be reached:
        ``unreachable`` says why, ``refused`` that it answered but denied access;
        ``crd_read``: the Experiment CRD was read when connecting.
        Validation is asked only after connecting: it checks against the cluster's CRD."""
        state = launch.preflight
        if state.checks:
            return
        experiment = launch.experiment
        failure = self._validation_failure(experiment)
        # Decided first, for the whole session: over the limit, nothing is applied.
        cost = self._cost_verdict(experiment)
        over = cost is not None and cost.status is Status.FAIL
        if cluster is None:
            message = f"{_REFUSED if refused else _UNREACHABLE}: {unreachable}"
            state.checks = {
                **({"cost": cost} if cost is not None else {}),
                "namespace": CheckResult(Status.FAIL, message),
                "workflow-template": CheckResult(Status.FAIL, message),
                "operator": CheckResult(Status.FAIL, message),
            }
            blocking = "cost" if over else "workflow-template"
            state.blocked = f"blocked by {experiment.name}::preflight[{blocking}]"
            self._log_toil(lifecycle.unreachable_toil(experiment.name, one_line(unreachable)))
            return
        if failure is not None:
            rule, reason = failure
            state.blocked = f"blocked by {experiment.name}::validate[{rule}]"
            self._log_toil(lifecycle.validation_toil(experiment.name, reason))
            # Pre-flight still reports on the cluster: it is what the user fixes next.
        elif over:
            state.blocked = f"blocked by {experiment.name}::preflight[cost]"
        state.checks = {
            **({"cost": cost} if cost is not None else {}),
            "namespace": self._namespace_check(launch, crd_read=crd_read),
            "workflow-template": self._template_check(experiment, cluster, may_apply=not over),
            "operator": self._operator_check(experiment, cluster),
        }
        if state.blocked is None and state.checks["namespace"].status is Status.FAIL:
            state.blocked = f"blocked by {experiment.name}::preflight[namespace]"
        template = state.checks["workflow-template"]
        if state.blocked is None and launch.attached is None and template.status is Status.FAIL:
            state.blocked = f"blocked by {experiment.name}::preflight[workflow-template]"

    def _namespace_check(self, launch: Launch, *, crd_read: bool) -> CheckResult:
        """Experiments can be listed in the launch's namespace (once per namespace)."""
        namespace = launch.namespace
        if namespace not in self._namespaces:
            try:
                self._watch(namespace)
            except ClusterError as exc:
                refusal = access.Refusal(
                    error=one_line(exc),
                    status=exc.status,
                    user=exc.user if isinstance(exc, PermissionDenied) else "",
                )
                result = access.namespace_unusable(namespace, refusal, crd_read=crd_read)
            else:
                result = access.namespace_usable(namespace)
            self._namespaces[namespace] = result
        result = self._namespaces[namespace]
        option, written = self.options.namespace, launch.experiment.namespace
        if result.status is Status.PASS and option and written and written != option:
            return access.namespace_overridden(result, option=option)
        return result

    def _template_check(
        self, experiment: Experiment, cluster: Cluster, *, may_apply: bool
    ) -> CheckResult:
        name = experiment.workflow_template
        if not name:
            return CheckResult(Status.NA, "no spec.workflow.template to look up")
        local = experiment.path.parent / "workflow" / "template.yaml"
        shown = shown_path(local)
        try:
            if cluster.workflow_template_exists(name):
                return CheckResult(Status.PASS, f"WorkflowTemplate {name} found in cluster")
        except ClusterError as exc:
            return CheckResult(Status.FAIL, f"WorkflowTemplate {name}: cannot check: {exc}")
        if not local.is_file():
            self._log_toil(lifecycle.missing_template_toil(experiment.name, name))
            return CheckResult(
                Status.FAIL,
                f"WorkflowTemplate {name} not found in argo-workflows and there is no {shown} "
                f"to apply; {_EMPTY_WORKFLOW}",
            )
        if self.options.apply_templates and not may_apply:
            return blocked(
                f"WorkflowTemplate {name} not found in argo-workflows; not applied from {shown}: "
                f"blocked by {experiment.name}::preflight[cost]"
            )
        if not self.options.apply_templates:
            self._log_toil(lifecycle.missing_template_toil(experiment.name, name))
            return CheckResult(
                Status.FAIL,
                f"WorkflowTemplate {name} not found in argo-workflows; apply it with: "
                f"{lifecycle.apply_template_command(shown)} "
                f"(or pass --experiment-apply-templates); {_EMPTY_WORKFLOW}",
                figures={"command": lifecycle.apply_template_command(shown)},
            )
        try:
            doc = _template_doc(local, name)
            cluster.apply_workflow_template(doc)
        except (ClusterError, ValueError) as exc:
            return CheckResult(Status.FAIL, f"WorkflowTemplate {name}: applying {shown}: {exc}")
        return CheckResult(
            Status.PASS,
            f"WorkflowTemplate {name} applied from {shown}",
            figures={"applied": str(shown)},
        )

    def _operator_check(self, experiment: Experiment, cluster: Cluster) -> CheckResult:
        if self._operator is None:
            try:
                self._operator = (cluster.operator_ready_replicas(), "")
            except ClusterError as exc:
                self._operator = (None, str(exc))
        replicas, error = self._operator
        if replicas:
            plural = "replica" if replicas == 1 else "replicas"
            return CheckResult(
                Status.PASS, f"Operator healthy ({replicas} ready {plural})", figures={"ready": 1}
            )
        self._log_toil(lifecycle.operator_toil(experiment.name))
        why = f"cannot read its Deployment: {error}" if replicas is None else "0 ready replicas"
        return CheckResult(
            Status.WARN,
            f"Operator unhealthy ({why}); the run continues",
            figures={"ready": replicas or 0},
        )


def _template_doc(path: Path, name: str) -> Obj:
    """The WorkflowTemplate named ``name`` in ``path`` (a file may hold several documents)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it: {one_line(exc)}") from exc
    for doc in docs:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "WorkflowTemplate"
            and meta(doc).raw.get("name") == name
        ):
            return doc
    raise ValueError(f"it holds no WorkflowTemplate named {name}")


__all__ = ["Preflight"]
