"""Why an Argo Workflow failed, read from its status.

A failed Workflow's own ``status.message`` is Argo's generic ``child '<node id>'
failed``: the reason is on the node of the step that failed, in
``status.nodes`` (each node with its ``type``, ``displayName``,
``templateName``, ``phase``, ``message`` and ``children``). Plain data in,
one line out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.types import ObjView

FAILED = frozenset({"Failed", "Error"})
_NAMED_CHILD = re.compile(r"child '([^']+)' failed")


@dataclass(frozen=True, kw_only=True)
class FailedStep:
    """The node whose failure failed the Workflow."""

    step: str
    template: str
    message: str

    def line(self) -> str:
        template = f" (template {self.template})" if self.template not in ("", self.step) else ""
        return f"step {self.step}{template}: {self.message or 'no message'}"


def _nodes(workflow: ObjView) -> dict[str, Mapping[str, Any]]:
    status = workflow.get("status")
    nodes = status.get("nodes") if isinstance(status, Mapping) else None
    if not isinstance(nodes, Mapping):
        return {}
    return {str(k): v for k, v in nodes.items() if isinstance(v, Mapping)}


def _failed(node: Mapping[str, Any]) -> bool:
    return node.get("phase") in FAILED


def _failed_children(node: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    children = node.get("children")
    if not isinstance(children, list):
        return []
    return [str(c) for c in children if str(c) in nodes and _failed(nodes[str(c)])]


def failed_step(workflow: ObjView) -> FailedStep | None:
    """The failed step of a failed Workflow: the node Argo's message names, followed down
    to the failed node under it that has no failed child; else the first such node to
    finish. None when the status lists no failed node."""
    nodes = _nodes(workflow)
    status = workflow.get("status")
    message = str(status.get("message") or "") if isinstance(status, Mapping) else ""
    named = _NAMED_CHILD.search(message)
    start = named.group(1) if named and named.group(1) in nodes else None
    if start is None:
        leaves = [
            (str(nodes[k].get("finishedAt") or "~"), k)
            for k, node in nodes.items()
            if _failed(node) and not _failed_children(node, nodes)
        ]
        if not leaves:
            return None
        start = min(leaves)[1]
    seen = {start}
    current = start
    while True:
        below = [c for c in _failed_children(nodes[current], nodes) if c not in seen]
        if not below:
            break
        # Under a Retry node the attempts are its children: the last one is what failed it.
        current = below[-1] if nodes[current].get("type") == "Retry" else below[0]
        seen.add(current)
    node = nodes[current]
    return FailedStep(
        step=str(node.get("displayName") or node.get("name") or current),
        template=str(node.get("templateName") or ""),
        message=" ".join(str(node.get("message") or "").split()),
    )


def describe(workflow: ObjView) -> str:
    """``Failed at step <step>: <its message>``, else the phase with Argo's own message."""
    status = workflow.get("status")
    current = status if isinstance(status, Mapping) else {}
    phase = str(current.get("phase") or "<no phase>")
    step = failed_step(workflow) if phase in FAILED else None
    if step is not None:
        return f"{phase} at {step.line()}"
    message = " ".join(str(current.get("message") or "").split())
    return f"{phase}: {message}" if message else phase


def workflow_reason(name: str, workflow: ObjView) -> str:
    """``workflow <name> Failed at step <step>: <its message>``."""
    return f"workflow {name} {describe(workflow)}"


def deleted(phase: str, *, cleaned: bool) -> str:
    """What can be said of a Workflow the operator's cleanup has already deleted: the
    phase the experiment's status copied from it, and why its failed step is unknown."""
    gone = (
        "the operator deleted it at cleanup"
        if cleaned
        else "it is already deleted (the operator deletes it at cleanup)"
    )
    return f"{phase or '<no phase>'}; its failed step cannot be read: {gone}"
