"""The watch's pure core: event application, de-duplication and re-list, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_experiment.core.watch_state import Outage, WatchState, newer, skipped_values

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


def test_a_relist_after_an_outage_reports_the_phases_it_skipped_as_not_observed() -> None:
    state = WatchState()
    state.relist([exp("a", 1, "Provisioning")], seen_at=at(0))
    outage = Outage(started=at(2), ended=at(10))
    [change] = state.relist([exp("a", 9, "Running")], seen_at=at(10), outage=outage)
    assert [(t.value, t.observed, t.missed) for t in change.transitions] == [
        ("Ready", False, outage),
        ("Running", True, None),
    ]
    assert outage.describe() == "the watch was down 00:00:02–00:00:10 UTC"
    # When a phase was entered is only ever what the watch saw.
    observed = state.observed("a")
    assert observed.entered("Ready") is None
    assert observed.entered("Running") == at(10)


def test_the_first_list_infers_nothing_and_an_ambiguous_jump_infers_nothing() -> None:
    state = WatchState()
    # An instance already Running when the session starts: nothing was "missed".
    [change] = state.relist([exp("a", 1, "Running")], seen_at=at(0))
    assert [t.value for t in change.transitions] == ["Running"]
    # Running → Failed needs nothing in between; Running → Complete → Failed is possible
    # too, but nothing says so: no guess.
    [change] = state.relist(
        [exp("a", 2, "Failed")], seen_at=at(5), outage=Outage(started=at(1), ended=at(5))
    )
    assert [(t.value, t.observed) for t in change.transitions] == [("Failed", True)]


def test_an_analyzer_pending_that_came_and_went_is_reported_missed() -> None:
    state = WatchState()
    state.relist([exp("a", 1, "Complete")], seen_at=at(0))
    outage = Outage(started=at(1), ended=at(4))
    [change] = state.relist(
        [exp("a", 5, "Complete", analysisPhase="Succeeded")], seen_at=at(4), outage=outage
    )
    assert [(t.field, t.value, t.observed) for t in change.transitions] == [
        ("analysisPhase", "Pending", False),
        ("analysisPhase", "Succeeded", True),
    ]


def test_skipped_values_follow_what_the_operator_always_writes() -> None:
    assert skipped_values("phase", None, "Complete") == ("Provisioning", "Ready", "Running")
    assert skipped_values("phase", "Pending", "Ready") == ("Provisioning",)
    assert skipped_values("phase", "Provisioning", "Running") == ("Ready",)
    assert skipped_values("phase", "Ready", "Failed") == ("Running",)
    assert skipped_values("phase", "Running", "Failed") == ()
    assert skipped_values("phase", "Complete", "Failed") == ()
    assert skipped_values("analysisPhase", None, "Skipped") == ()
    assert skipped_values("analysisPhase", "Pending", "Succeeded") == ()
    assert skipped_values("analysisPhase", "Running", "Failed") == ()
    assert skipped_values("reviewPhase", None, "Approved") == ("Pending",)
    assert (
        Outage(started=at(0), ended=at(3), polled=True).describe().startswith("between two polls")
    )


def test_a_late_subscriber_is_replayed_everything_seen_then_the_deletion() -> None:
    state = WatchState()
    assert state.replay("a") is None
    state.apply("ADDED", exp("a", 1), seen_at=at(0))
    state.apply("MODIFIED", exp("a", 2, "Provisioning"), seen_at=at(1))
    replay = state.replay("a")
    assert replay is not None
    assert replay.kind == "SYNC"
    assert [t.value for t in replay.transitions] == ["Pending", "Provisioning"]
    assert replay.obj["metadata"]["resourceVersion"] == "2"
    state.apply("DELETED", exp("a", 3, "Provisioning"), seen_at=at(2))
    deleted = state.replay("a")
    assert deleted is not None
    assert deleted.kind == "DELETED"


def test_the_review_phase_is_tracked_and_a_rejection_implies_pending() -> None:
    state = WatchState()
    change = state.apply("ADDED", exp("a", 1, "Complete", reviewPhase="Rejected"), seen_at=at(0))
    assert change is not None
    assert [(t.field, t.value) for t in change.transitions] == [
        ("phase", "Complete"),
        ("reviewPhase", "Rejected"),
    ]
    assert skipped_values("reviewPhase", None, "Rejected") == ("Pending",)


def test_each_kind_of_outage_is_described_in_its_own_words() -> None:
    read = Outage(started=at(0), ended=at(3), read=True).describe()
    assert read == "not delivered by the watch 00:00:00–00:00:03 UTC; found by a direct read"
    assert Outage(started=at(0), ended=at(3)).describe() == (
        "the watch was down 00:00:00–00:00:03 UTC"
    )


def test_non_numeric_resource_versions_are_newer_when_they_differ() -> None:
    assert newer("abc", "abd")
    assert not newer("abc", "abc")
    assert newer("10", "9")
    assert not newer("9", "10")
