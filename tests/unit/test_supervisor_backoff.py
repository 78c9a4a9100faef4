"""The supervisor's restart schedule and exit wording, as pure functions."""

from __future__ import annotations

import signal

from services.supervisor import Backoff, exit_text


def test_the_wait_doubles_from_half_a_second_up_to_thirty() -> None:
    assert [Backoff().delay(streak) for streak in range(9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_long_streak_stays_at_the_cap() -> None:
    assert Backoff().delay(10_000) == 30.0


def test_a_child_that_ran_a_minute_starts_the_doubling_over() -> None:
    backoff = Backoff()
    assert backoff.streak_after(6, ran_for=59.9) == 6
    assert backoff.streak_after(6, ran_for=60.0) == 0


def test_the_schedule_is_configurable() -> None:
    backoff = Backoff(first=0.1, cap=0.3, stable=1.0)
    assert [backoff.delay(s) for s in range(4)] == [0.1, 0.2, 0.3, 0.3]
    assert backoff.streak_after(3, ran_for=1.0) == 0


def test_an_exit_reads_as_a_shell_says_it() -> None:
    assert exit_text(0) == "exited with code 0"
    assert exit_text(3) == "exited with code 3"
    assert exit_text(-signal.SIGKILL) == "exited with code 137 (SIGKILL)"
    assert exit_text(-signal.SIGTERM) == "exited with code 143 (SIGTERM)"
