"""The overnight window as pure functions of a clock, and the daemon's timed chores (APScheduler 3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Window


def window_zone(window: Window) -> tzinfo | None:
    return None if window.timezone == "local" else ZoneInfo(window.timezone)


def local_now(window: Window, now: datetime | None = None) -> datetime:
    """`now` (aware, or the current time) as wall-clock time in the window's zone."""
    zone = window_zone(window)
    if now is None:
        return datetime.now(zone).astimezone(zone) if zone else datetime.now().astimezone()
    return now.astimezone(zone) if zone else now.astimezone()


def in_window(window: Window, now: datetime) -> bool:
    """Whether wall-clock time `now` lies inside the window; a window may cross midnight."""
    t = local_now(window, now).time().replace(tzinfo=None)
    if window.start == window.end:
        return True  # start == end means always open
    if window.start < window.end:
        return window.start <= t < window.end
    return t >= window.start or t < window.end


def next_window(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the window that is open now, or else of the next one."""
    here = local_now(window, now)
    day = here.date()
    for offset in (-1, 0, 1):
        start = datetime.combine(day + timedelta(days=offset), window.start, tzinfo=here.tzinfo)
        end_day = day + timedelta(days=offset + (1 if window.end <= window.start else 0))
        end = datetime.combine(end_day, window.end, tzinfo=here.tzinfo)
        if here < end:
            return start, end
    raise AssertionError("unreachable: one of three days holds the next window")


def _cron_at(t: time, window: Window) -> CronTrigger:
    return CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=window_zone(window) or None)


def start_scheduler(
    window: Window,
    *,
    on_window_open: Callable[[], None],
    on_window_close: Callable[[], None],
    chores: list[tuple[Callable[[], None], float]],
) -> BackgroundScheduler:
    """Timed jobs: window open/close (wakes the worker, logs), and periodic chores (seconds)."""
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    if window.start != window.end:
        scheduler.add_job(on_window_open, _cron_at(window.start, window), id="window-open")
        scheduler.add_job(on_window_close, _cron_at(window.end, window), id="window-close")
    for i, (fn, seconds) in enumerate(chores):
        scheduler.add_job(fn, IntervalTrigger(seconds=seconds), id=f"chore-{i}-{fn.__name__}")
    scheduler.start()
    return scheduler
