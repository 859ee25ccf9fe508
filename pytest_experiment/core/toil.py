"""Toil records: friction logged without asking whenever the happy path did not happen.

Plain data: what one record says, the table of every kind of record the harness
logs, its ``bd create`` argument list, and the summary line per experiment.
Where records go is ``edges.tracker``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

CATEGORIES = frozenset(
    {
        "flaky", "config", "timing", "resources", "networking", "crossplane",
        "argocd", "operator", "analyzer", "workflow", "quality", "github",
    }
)  # fmt: skip
_TITLE_LIMIT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class ToilRecord:
    """One bead: ``bd create --title=… --type=bug --priority=N -l toil -l <experiment> -l …``."""

    title: str
    priority: int
    """0–4 per the seed's guide: 1 cannot run, 2 failed or needed a hand, 3 friction, 4 minor."""
    experiment: str
    """The experiment's directory name, so toil can be filtered per experiment."""
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.priority <= 4:
            raise ValueError(f"toil priority must be 0-4, got {self.priority}")
        unknown = set(self.categories) - CATEGORIES
        if unknown:
            raise ValueError(f"unknown toil categories: {', '.join(sorted(unknown))}")

    @property
    def labels(self) -> tuple[str, ...]:
        return ("toil", self.experiment, *self.categories)

    def bd_argv(self, bd: str) -> list[str]:
        # One line, bounded: a multi-line condition message would make a poor title.
        title = " ".join(self.title.split())[:_TITLE_LIMIT]
        argv = [bd, "create", f"--title={title}", "--type=bug", f"--priority={self.priority}"]
        for label in self.labels:
            argv += ["-l", label]
        return argv


@dataclass(frozen=True, slots=True)
class ToilKind:
    priority: int
    categories: tuple[str, ...]
    """Categories; ``{label}`` stands for the one the record's fields name."""
    title: str
    """A ``str.format`` template over the record's fields (``name`` is the experiment)."""


TOIL_KINDS: Mapping[str, ToilKind] = {
    # A live run: apply and follow.
    "validation": ToilKind(2, ("config",), "Validation failed: {name} - {reason}"),
    "missing-template": ToilKind(
        2, ("workflow", "config"), "Missing WorkflowTemplate: {template} for {name}"
    ),
    "operator": ToilKind(1, ("operator",), "Operator unhealthy at experiment start: {name}"),
    "unreachable": ToilKind(
        1, ("networking",), "Cluster unreachable at experiment start: {name} - {error}"
    ),
    "apply": ToilKind(1, ("config",), "Apply failed: {name} - {error}"),
    "timeout": ToilKind(2, ("timing", "{label}"), "{phase} timeout ({budget}) for {instance}"),
    "timeout-by": ToilKind(2, ("timing", "{label}"), "{by} ({budget}) in {phase} for {instance}"),
    "failed": ToilKind(2, ("{label}",), "Experiment failed: {instance} - {message}"),
    "deleted": ToilKind(2, ("operator",), "Experiment deleted while {phase}: {instance}"),
    "results": ToilKind(3, ("quality",), "No results to score for {instance}: {problem}"),
    "stuck": ToilKind(
        2, ("{label}",), "Target {target} failed, {instance} stuck in {phase} - {reason}"
    ),
    "turn": ToilKind(
        2, ("{label}",), "Experiment turned Failed after Complete: {instance} - {turn}"
    ),
    # A published run: analyzer, gate and review.
    "analyzer-failed": ToilKind(3, ("analyzer",), "Analyzer failed for {instance}"),
    "analyzer-timeout": ToilKind(
        3, ("analyzer", "timing"), "Analyzer timeout ({budget}) for {instance}"
    ),
    "quality-gate": ToilKind(2, ("quality",), "Quality gate failed: {instance} - {reason}"),
    "no-pr": ToilKind(3, ("operator",), "No PR created for published experiment {instance}"),
    "review": ToilKind(2, ("operator",), "Review gate did not resolve for {instance}: {problem}"),
    "review-github": ToilKind(
        2, ("github",), "GitHub refused to {action} the results PR of {instance}: {refusal}"
    ),
}


def toil_record(kind: str, experiment: str, **fields: str) -> ToilRecord:
    """The record of ``kind`` for ``experiment``, its title and categories filled from
    ``fields``; the values are text, never templates, whatever braces they hold."""
    entry = TOIL_KINDS[kind]
    values = {"name": experiment, **fields}
    return ToilRecord(
        title=entry.title.format_map(values),
        priority=entry.priority,
        experiment=experiment,
        categories=tuple(category.format_map(values) for category in entry.categories),
    )


@dataclass(frozen=True, slots=True)
class Logged:
    record: ToilRecord
    backend: Literal["bd", "file"]
    reference: str
    """The bead id bd printed, or the file the record was appended to."""
    note: str = ""
    """Why bd was not used when it was on PATH (its error), for the summary."""

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.record.title,
            "priority": self.record.priority,
            "experiment": self.record.experiment,
            "labels": list(self.record.labels),
            "backend": self.backend,
            "reference": self.reference,
            "note": self.note,
        }


def summary_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """``Toil logged: N issue(s) — run bd list -l <name> to review`` per experiment.

    ``entries`` are ``Logged.as_json()`` documents, so the controller of an xdist
    run can summarise what its workers logged.
    """
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    for entry in entries:
        name = str(entry["experiment"])
        counts[name] = counts.get(name, 0) + 1
        if entry.get("backend") == "file":
            files[name] = str(entry.get("reference"))
    lines = []
    for name, count in counts.items():
        where = f" (in {files[name]})" if name in files else ""
        command = shlex.join(["bd", "list", "-l", name])
        lines.append(f"Toil logged: {count} issue(s) — run {command} to review{where}")
    return lines
