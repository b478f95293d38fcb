from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from nightowl.config import Window
from nightowl.schedule import in_window, next_window

NIGHT = Window(start=time(23, 0), end=time(6, 0), timezone="UTC")


def at(h: int, m: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, h, m, tzinfo=timezone.utc)


@pytest.mark.parametrize("hour, inside", [(22, False), (23, True), (2, True), (5, True), (6, False), (12, False)])
def test_window_across_midnight(hour: int, inside: bool) -> None:
    assert in_window(NIGHT, at(hour)) is inside


def test_window_in_another_timezone() -> None:
    berlin = Window(start=time(1, 0), end=time(5, 0), timezone="Europe/Berlin")
    assert in_window(berlin, at(1))  # 02:00 in Berlin (CET)
    assert not in_window(berlin, at(4, 30))  # 05:30 in Berlin


def test_next_window_when_closed_and_when_open() -> None:
    start, end = next_window(NIGHT, at(12))
    assert (start.hour, start.day, end.hour, end.day) == (23, 10, 6, 11)
    start, end = next_window(NIGHT, at(3))
    assert (start.day, end.day, end.hour) == (9, 10, 6)


def test_equal_start_and_end_means_always_open() -> None:
    always = Window(start=time(0, 0), end=time(0, 0))
    assert in_window(always, at(13))
