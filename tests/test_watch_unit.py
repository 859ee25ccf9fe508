"""The watch's pure core: event application, de-duplication and re-list (S1), no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_experiment.watch import WatchState

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def exp(name: str, version: int, phase: str | None = None, **status: Any) -> dict[str, Any]:
    if phase:
        status["phase"] = phase
    return {"metadata": {"name": name, "resourceVersion": str(version)}, "status": status}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_new_phase_is_recorded_once_with_the_time_first_seen() -> None:
    state = WatchState()
    # No phase yet is Pending, timed from when the watch first saw the object; the
    # seeds' operator writing "Pending" later changes nothing.
    state.apply("ADDED", exp("a", 1), seen_at=at(0))
    state.apply("MODIFIED", exp("a", 2, "Pending"), seen_at=at(1))
    state.apply("MODIFIED", exp("a", 3, "Pending", targets=[]), seen_at=at(2))
    change = state.apply("MODIFIED", exp("a", 4, "Provisioning"), seen_at=at(3))
    assert change is not None
    assert [(t.value, t.seen_at) for t in change.transitions] == [("Provisioning", at(3))]
    timeline = state.observed("a").timeline()
    assert [(t.value, t.seen_at) for t in timeline] == [("Pending", at(0)), ("Provisioning", at(3))]


def test_an_empty_phase_is_pending_as_the_real_operator_leaves_it() -> None:
    state = WatchState()
    state.apply("ADDED", exp("a", 1, phase=None, targets=[]), seen_at=at(0))
    state.apply("MODIFIED", {**exp("a", 2), "status": {"phase": ""}}, seen_at=at(1))
    state.apply("MODIFIED", exp("a", 3, "Provisioning"), seen_at=at(2))
    assert [(t.value, t.seen_at) for t in state.observed("a").timeline()] == [
        ("Pending", at(0)),
        ("Provisioning", at(2)),
    ]
    # analysisPhase and reviewPhase are not defaulted: an empty one means "not yet".
    assert state.observed("a").timeline("analysisPhase") == ()


def test_stale_and_duplicate_events_change_nothing() -> None:
    state = WatchState()
    state.apply("ADDED", exp("a", 5, "Running"), seen_at=at(0))
    assert state.apply("MODIFIED", exp("a", 5, "Running"), seen_at=at(1)) is None
    assert state.apply("MODIFIED", exp("a", 4, "Ready"), seen_at=at(2)) is None
    assert [t.value for t in state.observed("a").timeline()] == ["Running"]


def test_relist_after_missed_events_reports_each_change_once() -> None:
    state = WatchState()
    state.relist(
        [exp("a", 1, "Pending"), exp("b", 2, "Pending"), exp("c", 3, "Running")], seen_at=at(0)
    )
    # The stream dropped (or 410 Gone): a moved, b unchanged, c deleted, d created meanwhile.
    changes = state.relist(
        [exp("a", 7, "Ready"), exp("b", 2, "Pending"), exp("d", 8)], seen_at=at(5)
    )
    assert {(c.instance, c.kind) for c in changes} == {
        ("a", "MODIFIED"),
        ("c", "DELETED"),
        ("d", "ADDED"),
    }
    assert [t.value for t in state.observed("a").timeline()] == ["Pending", "Ready"]
    assert state.observed("c").deleted
    # The watch resumes and replays an event the re-list already covered: no duplicate.
    assert state.apply("MODIFIED", exp("a", 7, "Ready"), seen_at=at(6)) is None
    assert (
        state.relist([exp("a", 7, "Ready"), exp("b", 2, "Pending"), exp("d", 8)], seen_at=at(7))
        == []
    )


def test_delete_is_reported_once_and_other_fields_are_tracked() -> None:
    state = WatchState()
    change = state.apply("ADDED", exp("a", 1, "Complete", analysisPhase="Running"), seen_at=at(0))
    assert change is not None
    assert [(t.field, t.value) for t in change.transitions] == [
        ("phase", "Complete"),
        ("analysisPhase", "Running"),
    ]
    assert state.apply("DELETED", exp("a", 2, "Complete"), seen_at=at(1)) is not None
    assert state.apply("DELETED", exp("a", 2, "Complete"), seen_at=at(1)) is None
    assert state.observed("unknown").obj is None
