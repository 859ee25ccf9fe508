"""The status Argo Workflows writes on a Workflow whose step failed.

The sandbox has no Argo controller, so the operator writes what Argo would:
the Workflow's own message is the generic ``child '<node id>' failed``, and the
reason is on the failed step's node in ``status.nodes``: a ``Steps`` root, the
``StepGroup`` of the step, and the step's ``Pod`` node with its ``displayName``,
``templateName``, ``phase`` and ``message``.
"""

from __future__ import annotations

import zlib

from pytest_experiment.base.types import Obj

DEFAULT_STEP = "validate-results"
DEFAULT_MESSAGE = "Error (exit code 1)"
ENTRYPOINT = "main"


def node_id(workflow: str, node_name: str) -> str:
    """Argo's node ID: the Workflow's name and a hash of the node's name."""
    return f"{workflow}-{zlib.crc32(node_name.encode())}"


def failed_status(
    workflow: str, *, step: str, message: str, started_at: str, finished_at: str
) -> Obj:
    """``status`` of ``workflow`` after its one step ``step`` failed with ``message``."""
    root, group, pod = workflow, f"{workflow}[0]", f"{workflow}[0].{step}"
    root_id, group_id, pod_id = workflow, node_id(workflow, group), node_id(workflow, pod)
    generic = f"child '{pod_id}' failed"
    times = {"startedAt": started_at, "finishedAt": finished_at}
    nodes: dict[str, Obj] = {
        root_id: {
            "id": root_id, "name": root, "displayName": root, "type": "Steps",
            "templateName": ENTRYPOINT, "phase": "Failed", "message": generic,
            "children": [group_id], "outboundNodes": [pod_id], "progress": "0/1", **times,
        },
        group_id: {
            "id": group_id, "name": group, "displayName": "[0]", "type": "StepGroup",
            "templateName": ENTRYPOINT, "phase": "Failed", "message": generic,
            "boundaryID": root_id, "children": [pod_id], "progress": "0/1", **times,
        },
        pod_id: {
            "id": pod_id, "name": pod, "displayName": step, "type": "Pod",
            "templateName": step, "phase": "Failed", "message": message,
            "boundaryID": root_id, "hostNodeName": "sandbox-node", "progress": "0/1", **times,
        },
    }  # fmt: skip
    return {"phase": "Failed", "message": generic, "progress": "0/1", "nodes": nodes, **times}
