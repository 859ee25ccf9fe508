"""Durations: one way of writing seconds everywhere, and the two ways they are read."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_experiment.core.durations import format_duration, parse_duration, parse_go_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "no limit"), (1.0, "1s"), (2.5, "2.5s"), (45, "45s"), (1200, "20m"), (90, "1m30s"),
     (5400, "1h30m"), (3600, "1h")],
)  # fmt: skip
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2.5, "2s"), (45, "45s"), (2306, "38m"), (2640, "44m"), (3599.9, "1h00m"), (3720, "1h02m"),
     (7322, "2h02m")],
)  # fmt: skip
def test_whole_minutes_is_the_scorecard_form(seconds: float, text: str) -> None:
    assert format_duration(seconds, whole_minutes=True) == text


@pytest.mark.parametrize("value", [None, True, "38m", float("nan"), float("inf"), [60]])
def test_what_is_not_a_finite_number_is_written_as_absent(value: Any) -> None:
    assert format_duration(value) == "no limit"
    assert format_duration(value, whole_minutes=True, absent="N/A") == "N/A"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("20m", 1200.0), ("1h30m", 5400.0), (" 45 ", 45.0), ("none", None),
     ("0", None), ("Never", None)],
)  # fmt: skip
def test_parse_duration_reads_what_people_type(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"), [("20 minutes", "not a duration"), ("-5", "positive"), ("0s", "positive")]
)
def test_parse_duration_says_what_it_expected(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration(text)


def test_a_written_duration_reads_back_as_the_same_seconds() -> None:
    for seconds in (1.0, 45.0, 90.0, 1200.0, 3600.0, 5400.0):
        assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("43m26.8s", 2606.8), ("43m26.855137229s", 2606.855137229), ("20m0s", 1200.0),
     ("1h2m3s", 3723.0), ("500ms", 0.5), ("90", None), ("m", None), ("", None), (True, None),
     (12, 12.0)],
)  # fmt: skip
def test_parse_go_duration(text: Any, seconds: float | None) -> None:
    parsed = parse_go_duration(text)
    assert parsed == (pytest.approx(seconds) if seconds is not None else None)


def test_a_minute_exactly_is_written_in_minutes() -> None:
    assert format_duration(59) == "59s"
    assert format_duration(60) == "1m"
    assert format_duration(60, whole_minutes=True) == "1m"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200.0), ("2m", 120.0), ("2s", 2.0), ("2ms", 2e-3), ("2us", 2e-6), ("2µs", 2e-6),
     ("2ns", 2e-9), ("-1m", -60.0)],
)  # fmt: skip
def test_each_go_duration_unit_is_read_at_its_length(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5sx", "x5s", "5s 3m", "1d"])
def test_a_go_duration_with_anything_more_than_its_parts_is_not_read(text: str) -> None:
    assert parse_go_duration(text) is None


@pytest.mark.parametrize("text", ["5sx", "x5s", "1h 30m", "1d"])
def test_a_duration_with_anything_more_than_its_parts_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
