"""The owner lease every instance the harness creates carries, and what an expired one means.

An instance holds cloud clusters until someone deletes it. The session that
created it says it is still there to decide, in the instance's annotations:
the run, the host and the process, and a deadline it keeps moving forward
while it runs (``--experiment-lease``). A process killed outright (SIGKILL,
an OOM kill, a lost CI runner) stops moving it; once the deadline has passed,
a later session knows nobody will decide for that instance, lists it and
applies its cleanup policy. A session that keeps an instance on purpose (a
failed run kept for a person, ``--experiment-cleanup=never``) ends its lease
and says why in ``pytest-experiment/kept``: such an instance is never an
orphan. An instance without a lease (created by someone else, or by a harness
that predates leases) is never touched.

Deadlines are written and judged on the API server's clock (see ``run.leases``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pytest_experiment.base.views import meta
from pytest_experiment.core.durations import format_duration

RUN = "pytest-experiment/lease-run"
HOST = "pytest-experiment/lease-host"
PID = "pytest-experiment/lease-pid"
EXPIRES = "pytest-experiment/lease-expires"
"""The deadline, RFC 3339 in UTC on the API server's clock; gone once the lease ended."""
KEPT = "pytest-experiment/kept"
"""Why the session that ended the lease kept the instance."""
MANAGED_BY = ("app.kubernetes.io/managed-by", "pytest-experiment")
"""The label on every instance the harness creates: what a sweep lists."""
RENEW_FRACTION = 3
"""The lease is renewed every third of its length: two renewals can fail before it expires."""


def timestamp(moment: datetime) -> str:
    """``moment`` as the annotations write it (UTC, milliseconds)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time (an annotation, ``creationTimestamp``), or None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The process holding the lease."""

    run: str
    host: str
    pid: int

    def describe(self) -> str:
        return f"run {self.run} (host {self.host}, pid {self.pid})"


@dataclass(frozen=True, kw_only=True)
class Lease:
    owner: Owner
    expires: datetime

    def annotations(self) -> dict[str, str]:
        """What the instance carries from its create on."""
        return {
            RUN: self.owner.run,
            HOST: self.owner.host,
            PID: str(self.owner.pid),
            EXPIRES: timestamp(self.expires),
        }

    @classmethod
    def of(cls, annotations: Mapping[str, Any]) -> Lease | None:
        """The lease ``annotations`` hold, or None (no lease, an ended one, or one that
        cannot be read: none of them is judged)."""
        expires = parse_time(annotations.get(EXPIRES))
        run, host, pid = annotations.get(RUN), annotations.get(HOST), annotations.get(PID)
        if expires is None or not isinstance(run, str) or not run or not isinstance(host, str):
            return None
        try:
            number = int(str(pid))
        except ValueError:
            return None
        return cls(owner=Owner(run=run, host=host, pid=number), expires=expires)


def renewal(expires: datetime) -> dict[str, str | None]:
    """The patch that moves the deadline."""
    return {EXPIRES: timestamp(expires)}


def ended(reason: str) -> dict[str, str | None]:
    """The patch of a session that keeps the instance on purpose: no deadline to pass,
    and the reason, for whoever finds it."""
    return {EXPIRES: None, KEPT: reason}


@dataclass(frozen=True, kw_only=True)
class Orphan:
    """An instance whose lease expired: nobody is left to decide what becomes of it."""

    instance: str
    namespace: str
    experiment: str
    lease: Lease
    created: datetime | None
    now: datetime

    @property
    def age(self) -> float | None:
        """Seconds since the API created it (both on the server's clock)."""
        return (self.now - self.created).total_seconds() if self.created is not None else None

    @property
    def expired_for(self) -> float:
        return (self.now - self.lease.expires).total_seconds()

    def describe(self) -> str:
        """Made by whom, how old, how long ago its lease ran out."""
        age = f", {format_duration(self.age)} old" if self.age is not None else ""
        return (
            f"made by {self.lease.owner.describe()}{age}, its lease expired "
            f"{format_duration(max(self.expired_for, 0.0))} ago"
        )


def orphans(
    objects: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    now: datetime,
    own_run: str,
    attached: Collection[str],
    experiment_label: str,
) -> list[Orphan]:
    """The instances among ``objects`` (listed in ``namespace``) whose lease expired by
    ``now``: never one this run made, one attached by name, one without a lease (someone
    else's, or kept on purpose), or one already being deleted."""
    found = []
    for obj in objects:
        about = meta(obj)
        name, labels = about.name, about.labels
        if not name or labels.get(MANAGED_BY[0]) != MANAGED_BY[1] or about.deleting:
            continue
        lease = Lease.of(about.annotations)
        if lease is None or lease.owner.run == own_run or name in attached:
            continue
        if lease.expires >= now:
            continue  # a live session's: it renews it
        found.append(
            Orphan(
                instance=name,
                namespace=namespace,
                experiment=str(labels.get(experiment_label) or "?"),
                lease=lease,
                created=parse_time(about.created),
                now=now,
            )
        )
    return sorted(found, key=lambda o: o.instance)


__all__ = [
    "EXPIRES",
    "KEPT",
    "MANAGED_BY",
    "RENEW_FRACTION",
    "Lease",
    "Orphan",
    "Owner",
    "ended",
    "orphans",
    "parse_time",
    "renewal",
    "timestamp",
]
