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


@pytest.mark.parametrize(("text", "says"), [("20 minutes", "not a duration"), ("-5", "positive")])
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
