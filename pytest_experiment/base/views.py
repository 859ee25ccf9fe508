"""Read-only views of Kubernetes objects: their metadata, status, conditions and targets.

Objects arrive as decoded JSON from the API, from a watch, from another plugin's
cluster or from a hand-written file, and any part of them may be missing or of
the wrong shape. Each view answers with the absent value (an empty string, an
empty mapping, None) rather than raising, so a decision never fails on an
object it was not meant to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_experiment.base.types import ObjView

_EMPTY: Mapping[str, Any] = {}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


@dataclass(frozen=True, slots=True)
class Meta:
    """An object's ``metadata``."""

    raw: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.raw.get("namespace") or "")

    @property
    def labels(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("labels"))

    @property
    def annotations(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("annotations"))

    @property
    def resource_version(self) -> str:
        return str(self.raw.get("resourceVersion") or "")

    @property
    def created(self) -> Any:
        """``creationTimestamp`` as written (parsed by whoever needs the time)."""
        return self.raw.get("creationTimestamp")

    @property
    def deleting(self) -> bool:
        """The API is deleting it (``deletionTimestamp`` is set)."""
        return bool(self.raw.get("deletionTimestamp"))

    @property
    def finalizers(self) -> tuple[str, ...]:
        return tuple(str(f) for f in self.raw.get("finalizers") or ())


def meta(obj: ObjView | None) -> Meta:
    """The ``metadata`` of ``obj`` (empty for None or an object without one)."""
    return Meta(_mapping((obj or _EMPTY).get("metadata")))


def status(obj: ObjView | None) -> Mapping[str, Any]:
    """The ``status`` of ``obj``; empty until a controller wrote one."""
    return _mapping((obj or _EMPTY).get("status"))


def conditions(obj: ObjView | None, type: str | None = None) -> list[Mapping[str, Any]]:
    """``status.conditions`` in order, only those of ``type`` when given."""
    return [
        c
        for c in status(obj).get("conditions") or []
        if isinstance(c, Mapping) and (type is None or c.get("type") == type)
    ]


def condition(obj: ObjView | None, type: str) -> Mapping[str, Any] | None:
    """The first condition of ``type``, or None."""
    found = conditions(obj, type)
    return found[0] if found else None


def targets(obj: ObjView | None) -> list[Mapping[str, Any]]:
    """``status.targets`` (an Experiment's clusters as the operator reports them)."""
    return [t for t in status(obj).get("targets") or [] if isinstance(t, Mapping)]


def target_phases(obj: ObjView | None) -> dict[str, str]:
    """Each named target's phase ("" when it has none yet), by target name."""
    return {str(t["name"]): str(t.get("phase") or "") for t in targets(obj) if t.get("name")}


__all__ = [
    "Meta",
    "condition",
    "conditions",
    "meta",
    "status",
    "target_phases",
    "targets",
]
