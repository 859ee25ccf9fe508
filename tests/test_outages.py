"""An outage is said once when it starts and once when it ends, however often it is seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest_experiment.edges.outages import OutageNotice


def test_one_line_when_lost_and_one_when_back_however_many_failures_between() -> None:
    said: list[str] = []
    times = iter(datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC) for s in (0, 7))
    notice = OutageNotice(notify=said.append, now=lambda: next(times))
    assert notice.back(lambda at, seconds: "never said") is False
    assert notice.lost(lambda at: f"lost at {at:%H:%M:%S}") is True
    assert notice.lost(lambda at: "said twice") is False
    assert notice.down
    assert notice.back(lambda at, seconds: f"back at {at:%H:%M:%S} after {seconds:.1f}s") is True
    assert notice.back(lambda at, seconds: "said twice") is False
    assert said == ["lost at 12:00:00", "back at 12:00:07 after 7.0s"]
    assert notice.count == 1
    assert not notice.down


def test_each_outage_is_counted() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ticks = iter(start + timedelta(seconds=s) for s in range(4))
    notice = OutageNotice(notify=None, now=lambda: next(ticks))
    for _ in range(2):
        notice.lost(lambda at: "lost")
        notice.back(lambda at, seconds: "back")
    assert notice.count == 2
