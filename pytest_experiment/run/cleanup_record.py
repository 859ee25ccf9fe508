"""What the session did with one instance at its end: the cleanup record every created
instance gets (``run.cleanup`` decides it), shown in the summary and the JSON report."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_experiment.core.review import PullRequestRef
from pytest_experiment.run.launch import Launch


@dataclass(frozen=True, kw_only=True)
class Cleanup:
    """What the session did with one instance (cleanup policy); every created instance gets one."""

    experiment: str
    instance: str
    action: str
    """``deleted`` (and gone), ``held`` (deletion requested, a finalizer still holds it),
    ``kept``, ``left`` (attached) or ``gone`` (already deleted)."""
    reason: str
    command: str = ""
    namespace: str = field(default="", compare=False)
    """Where the instance is (set once decided; the xdist controller ends a worker's
    lease there). Not part of what was decided, so not compared."""
    error: bool = False
    """The instance was to be deleted and the API refused (or failed) the delete: it
    still holds cloud resources, and the session fails."""

    def line(self) -> str:
        text = f"{self.action} {self.instance} ({self.experiment}): {self.reason}"
        if not self.command:
            return text
        verb = "inspect" if self.action == "held" else "delete"
        return f"{text}; {verb} with: {self.command}"

    def as_json(self) -> dict[str, str | bool]:
        return {
            "experiment": self.experiment,
            "instance": self.instance,
            "action": self.action,
            "reason": self.reason,
            "command": self.command,
            **({"namespace": self.namespace} if self.namespace else {}),
            **({"error": True} if self.error else {}),
        }


__all__ = ["Cleanup"]


@dataclass(frozen=True, kw_only=True)
class Deleting:
    """A deletion decided at session end, carried out once every decision is made."""

    experiment: str
    instance: str
    namespace: str
    reason: str
    pr: PullRequestRef | None = None

    @classmethod
    def of(cls, launch: Launch, *, reason: str, pr: PullRequestRef | None = None) -> Deleting:
        return cls(
            experiment=launch.name,
            instance=launch.instance,
            namespace=launch.namespace,
            reason=reason,
            pr=pr,
        )
