"""What every rule shares: reading the raw document, and writing findings a user can act on.

Every detail line starts with ``experiment.yaml:<line>:`` and ends with the fix,
so a user can act on it without opening the rule's source. The spec model is
lenient (a field of the wrong type is empty there), so rules look at
``experiment.data`` where the difference between "missing" and "wrong type"
matters to the message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_experiment.core.limits import json_type_name
from pytest_experiment.core.spec import Component, Experiment, Target
from pytest_experiment.core.verdict import CheckResult, Status

# A Kubernetes object name (RFC 1123 subdomain), as the API server checks it.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
OBJECT_NAME = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
OBJECT_NAME_MAX = 253
# The API server appends 5 random characters to generateName, within 63 for a label value.
GENERATE_NAME_MAX = 58
_SHOWN_CHARS = 80

TITLES: Mapping[str, str] = {
    "schema": "Schema",
    "kind": "Kind",
    "components": "Components",
    "workflow-template": "Workflow template",
    "tutorial-targets": "Tutorial targets",
    "metric-names": "Metric names",
    "namespace": "Namespace",
    "generate-name": "generateName",
    "gke-name-length": "GKE cluster name length",
    "namespace-var": "Namespace variable",
    "metrics-pipeline": "Metrics pipeline",
    "metric-units": "Metric units",
    "storage-machine": "Storage vs machine",
}


def get(value: Any, *path: str | int) -> Any:
    """The value at ``path`` in nested mappings and lists, or None when any step is missing."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def at(experiment: Experiment, *path: str | int) -> str:
    """``experiment.yaml:57``: where ``path`` (or its nearest present ancestor) sits."""
    return f"{experiment.path.name}:{experiment.source.line_of(path)}"


def app_path(target: Target, component: Component) -> tuple[str | int, ...]:
    return ("spec", "targets", target.index, "components", component.index, "app")


def plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural or word + 's'}"


def shown(value: Any) -> str:
    """A user's value in a message: JSON's words for types, short, control characters escaped."""
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = f"{json_type_name(value)} {json.dumps(value, default=str)}"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def object_name_problem(name: str, *, limit: int = OBJECT_NAME_MAX) -> str | None:
    """Why ``name`` is not a Kubernetes object name, or None when it is one."""
    if len(name) > limit:
        return f"has {len(name)} characters, more than {limit}"
    if not OBJECT_NAME.fullmatch(name):
        return (
            "is not a Kubernetes object name (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit)"
        )
    return None


def suggest_name(value: str) -> str:
    """The nearest valid object name: ``Hello App\n`` → ``hello-app``."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", value.lower())
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-.")
    return cleaned[:OBJECT_NAME_MAX].rstrip("-.") or "name"


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def counted(
    title: str,
    found: Sequence[str],
    total: int,
    figures: Mapping[str, Any],
    *,
    status: Status,
    bad: str,
    good: str,
    none: str,
) -> CheckResult:
    """``title: 2/5 <bad>`` (``status``, the findings as details) when anything was found;
    else PASS, ``title: 5/5 <good>``, or ``title: <none>`` when there was nothing to judge."""
    if found:
        return CheckResult(status, f"{title}: {len(found)}/{total} {bad}", tuple(found), figures)
    if not total:
        return CheckResult(Status.PASS, f"{title}: {none}", figures=figures)
    return CheckResult(Status.PASS, f"{title}: {total}/{total} {good}", figures=figures)
