"""The auto-fixes: the edits that address a failed gate's root causes (see ``gate``).

Pure: file text in, edited text out. The edits are made on the text itself at
the lines ruamel.yaml locates, so every byte the fix does not touch (comments,
quoting, key order, blank lines, indentation) stays as the author wrote it. A
fix that cannot be made safely (a flow-style list, say) raises ``FixError``
rather than guess.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from pytest_experiment.base.errors import ExperimentError
from pytest_experiment.core.spec import LATENCY_SUFFIXES, NAMESPACE_VAR

# What each fix does, as the attempt line reports it.
FIXES = {
    "add-kube-prometheus-stack": "add kube-prometheus-stack to every target's components",
    "add-metrics-pipeline": "add metrics-agent and metrics-egress to every target's components",
    "fix-namespace-var": "replace $NAMESPACE with $EXPERIMENT in the metric queries",
    "add-load-test": "add a load-test step to the workflow template",
    "add-metric-units": "add unit: seconds to latency metrics that have no unit",
}
TEMPLATE_FIXES = frozenset({"add-load-test"})
"""Fixes made in ``workflow/template.yaml`` rather than experiment.yaml."""


class FixError(ExperimentError):
    """A fix does not apply to this file as written."""


def _load(text: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.StringIO(text))
    except YAMLError as exc:
        raise FixError(f"cannot parse the file: {exc}") from exc


def _insert(lines: list[str], at: int, new: Sequence[str]) -> None:
    lines[at:at] = [line + "\n" for line in new]


def _targets(doc: Any) -> list[CommentedMap]:
    spec = doc.get("spec") if isinstance(doc, CommentedMap) else None
    targets = spec.get("targets") if isinstance(spec, CommentedMap) else None
    if not isinstance(targets, CommentedSeq):
        raise FixError("spec.targets is not a block list")
    return [t for t in targets if isinstance(t, CommentedMap)]


def add_components(text: str, apps: Sequence[str]) -> str:
    """Add ``- app: <x>`` for each of ``apps`` a target lacks, after the last item of its
    ``components`` list, indented like the items already there."""
    doc = _load(text)
    lines = text.splitlines(keepends=True)
    # Bottom-up, so earlier insertions do not move the lines later ones are made at.
    for target in reversed(_targets(doc)):
        components = target.get("components")
        present = {c.get("app") for c in components or () if isinstance(c, CommentedMap)}
        missing = [app for app in apps if app not in present]
        if not missing:
            continue
        if components is None:
            # No list yet: one under the target, after its name.
            line, col = (
                target.lc.key("name") if "name" in target else target.lc.key(next(iter(target)))
            )
            pad = " " * col
            _insert(
                lines, line + 1, [f"{pad}components:", *(f"{pad}  - app: {a}" for a in missing)]
            )
            continue
        if not isinstance(components, CommentedSeq) or components.fa.flow_style():
            raise FixError(f"target {target.get('name')!r}: components is not a block list")
        if not components:
            raise FixError(f"target {target.get('name')!r}: components is an empty list")
        line, col = components.lc.item(0)
        prefix = lines[line][:col]
        if not prefix.rstrip().endswith("-"):
            raise FixError(f"target {target.get('name')!r}: cannot read the list's layout")
        prefix = " " * (len(prefix) - len(prefix.lstrip())) + prefix.lstrip()
        dash = prefix.index("-")
        last = components.lc.item(len(components) - 1)[0]
        _insert(lines, _end_of(lines, last, dash), [f"{prefix}app: {app}" for app in missing])
    return "".join(lines)


def fix_namespace_var(text: str) -> str:
    # $NAMESPACE becomes $EXPERIMENT, ${NAMESPACE} becomes ${EXPERIMENT}.
    return NAMESPACE_VAR.sub(lambda m: m.group(0).replace("NAMESPACE", "EXPERIMENT"), text)


def add_metric_units(text: str) -> str:
    """``unit: seconds`` under the name of each latency-named metric that has no unit."""
    doc = _load(text)
    spec = doc.get("spec") if isinstance(doc, CommentedMap) else None
    metrics = spec.get("metrics") if isinstance(spec, CommentedMap) else None
    if not isinstance(metrics, CommentedSeq):
        raise FixError("spec.metrics is not a block list")
    lines = text.splitlines(keepends=True)
    for metric in reversed(metrics):
        if not isinstance(metric, CommentedMap) or "unit" in metric:
            continue
        name = str(metric.get("name") or "")
        if not name.endswith(LATENCY_SUFFIXES):
            continue
        if metric.fa.flow_style():
            raise FixError(f"metric {name}: written as a flow mapping")
        line, col = metric.lc.key("name")
        _insert(lines, line + 1, [f"{' ' * col}unit: seconds"])
    return "".join(lines)


def add_load_test(text: str) -> str:
    """A ``load-test`` step first in the entrypoint's steps, and the template it runs."""
    doc = _load(text)
    spec = doc.get("spec") if isinstance(doc, CommentedMap) else None
    templates = spec.get("templates") if isinstance(spec, CommentedMap) else None
    entry = spec.get("entrypoint") if isinstance(spec, CommentedMap) else None
    if not isinstance(templates, CommentedSeq) or not templates:
        raise FixError("spec.templates is not a block list")
    if any(isinstance(t, CommentedMap) and t.get("name") == "load-test" for t in templates):
        raise FixError("the template already has a load-test template")
    main = next(
        (t for t in templates if isinstance(t, CommentedMap) and t.get("name") == entry), None
    )
    steps = main.get("steps") if main is not None else None
    if not isinstance(steps, CommentedSeq) or not steps:
        raise FixError(f"entrypoint {entry!r} has no steps list to add the load test to")
    lines = text.splitlines(keepends=True)
    # The new template goes after the last one, indented like the first.
    t_col = templates.lc.item(0)[1]
    pad = " " * (t_col - 2)
    end = _end_of(lines, templates.lc.item(len(templates) - 1)[0], t_col - 2)
    _insert(
        lines,
        end,
        [
            "",
            f"{pad}- name: load-test",
            f"{pad}  container:",
            f"{pad}    image: williamyeh/hey:latest",
            f'{pad}    args: ["-z", "5m", "-q", "50",'
            ' "http://{{workflow.parameters.target-endpoint}}/"]',
        ],
    )
    s_line, s_col = steps.lc.item(0)
    prefix = lines[s_line][:s_col]
    inner = re.sub(r"[^ ]", " ", prefix)
    _insert(lines, s_line, [f"{prefix}- name: load-test", f"{inner}  template: load-test"])
    return "".join(lines)


def _end_of(lines: Sequence[str], start: int, dash_col: int) -> int:
    """The line after the list item starting at ``start`` whose dash is at ``dash_col``."""
    index = start + 1
    while index < len(lines):
        stripped = lines[index].strip()
        indent = len(lines[index]) - len(lines[index].lstrip())
        # A comment as shallow as the dash belongs to what follows the list, not the item.
        if stripped and indent <= dash_col:
            break
        index += 1
    while index > start + 1 and not lines[index - 1].strip():
        index -= 1
    return index


def apply_fix(fix: str, text: str) -> str:
    """``text`` with ``fix`` made; ``FixError`` when it cannot be made as written."""
    if fix == "add-kube-prometheus-stack":
        return add_components(text, ["kube-prometheus-stack"])
    if fix == "add-metrics-pipeline":
        return add_components(text, ["metrics-agent", "metrics-egress"])
    if fix == "fix-namespace-var":
        return fix_namespace_var(text)
    if fix == "add-metric-units":
        return add_metric_units(text)
    if fix == "add-load-test":
        return add_load_test(text)
    raise FixError(f"unknown fix {fix!r}")


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
