"""The one backoff every retry loop uses: growth, cap, bounds, server delay, jitter, stop."""

from __future__ import annotations

import threading
from itertools import islice

import pytest

from pytest_experiment.base.backoff import Backoff


class FakeTime:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_delays_grow_by_the_factor_up_to_the_cap() -> None:
    policy = Backoff(first=0.1, cap=1.0)
    assert list(islice(policy.delays(), 6)) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert list(islice(Backoff(first=0.05, cap=0.5, factor=1.5).delays(), 3)) == pytest.approx(
        [0.05, 0.075, 0.1125]
    )


def test_attempts_count_the_first_try() -> None:
    assert list(Backoff(first=0.2, cap=2.0, attempts=4).delays()) == pytest.approx([0.2, 0.4, 0.8])
    assert list(Backoff(first=0.2, cap=2.0, attempts=1).delays()) == []


def test_pause_sleeps_each_delay_then_says_when_the_attempts_are_spent() -> None:
    time = FakeTime()
    retries = Backoff(first=0.2, cap=0.5, attempts=4).retries(clock=time.clock, sleep=time.sleep)
    assert [retries.pause() for _ in range(4)] == [True, True, True, False]
    assert time.slept == pytest.approx([0.2, 0.4, 0.5])


def test_reset_starts_again_from_the_first_delay() -> None:
    time = FakeTime()
    retries = Backoff(first=0.1, cap=5.0, attempts=3).retries(sleep=time.sleep)
    assert retries.pause()
    assert retries.pause()
    assert not retries.pause()
    retries.reset()
    assert retries.pause()
    assert time.slept == pytest.approx([0.1, 0.2, 0.1])


def test_a_wait_that_would_pass_the_deadline_is_not_taken() -> None:
    time = FakeTime()
    retries = Backoff(first=0.2, cap=2.0).retries(
        deadline=time.now + 1.0, clock=time.clock, sleep=time.sleep
    )
    while retries.pause():
        pass
    # 0.2 + 0.4 = 0.6 s; the next 0.8 s would end at 1.4 s, past the deadline.
    assert time.slept == pytest.approx([0.2, 0.4])
    assert time.now <= 100.0 + 1.0


def test_a_server_delay_replaces_the_computed_one_capped_and_uses_an_attempt() -> None:
    retries = Backoff(first=0.2, cap=2.0, attempts=3).retries()
    assert retries.next_delay(server_delay=1.5) == 1.5
    assert retries.next_delay(server_delay=30.0) == 2.0
    assert retries.next_delay(server_delay=1.0) is None


def test_a_zero_or_negative_server_delay_falls_back_to_the_computed_one() -> None:
    retries = Backoff(first=0.2, cap=2.0).retries()
    assert retries.next_delay(server_delay=0.0) == pytest.approx(0.2)
    assert retries.next_delay(server_delay=-3.0) == pytest.approx(0.4)


def test_jitter_takes_up_to_its_fraction_off_each_delay() -> None:
    draws = iter([0.0, 1.0, 0.5])
    retries = Backoff(first=1.0, cap=1.0, jitter=0.5).retries(rng=lambda: next(draws))
    assert [retries.next_delay() for _ in range(3)] == pytest.approx([1.0, 0.5, 0.75])


def test_a_set_stop_event_ends_the_wait_and_the_loop() -> None:
    stop = threading.Event()
    slept: list[float] = []
    retries = Backoff(first=60.0, cap=60.0).retries(stop=stop, sleep=slept.append)
    stop.set()
    # A minute's delay returns at once: the event is waited on, not the sleep.
    assert retries.pause() is False
    assert slept == []


def test_an_unset_stop_event_waits_the_delay() -> None:
    retries = Backoff(first=0.01, cap=0.01).retries(stop=threading.Event())
    assert retries.pause() is True


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first": -1.0, "cap": 1.0},
        {"first": 2.0, "cap": 1.0},
        {"first": 0.1, "cap": 1.0, "factor": 0.5},
        {"first": 0.1, "cap": 1.0, "jitter": 1.5},
        {"first": 0.1, "cap": 1.0, "attempts": 0},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
