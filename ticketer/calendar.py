"""Local-time rules of the hall, as pure functions: the business day (numbers reset at a
configured local time, not at midnight, because a 24-hour hall wants its reset when it is
quiet), opening hours, and the hour a moment belongs to for statistics."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo


def parse_hhmm(text: str, *, allow_24: bool = False) -> int:
    """'08:30' → 510 minutes. '24:00' only where `allow_24` (the end of a window)."""
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"a time like 08:30, got {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > (1440 if allow_24 else 1439):
        raise ValueError(f"a time of day 00:00–{'24:00' if allow_24 else '23:59'}, got {text!r}")
    return value


def parse_window(text: str) -> tuple[int, int]:
    """'08:30-17:30' → (510, 1050). An end before the start crosses midnight."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"a window like 08:30-17:30, got {text!r}")
    first, last = parse_hhmm(start.strip()), parse_hhmm(end.strip(), allow_24=True)
    if first == last:
        raise ValueError(f"a window of non-zero length, got {text!r}")
    return first, last


def resolve_tz(name: str) -> tzinfo | None:
    """The configured zone; None means the system's local time."""
    return ZoneInfo(name) if name else None


def local(ts: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(ts, tz)


def business_day(ts: float, tz: tzinfo | None, reset_minute: int) -> str:
    """The business day (YYYYMMDD) a moment belongs to: the calendar day of the local time
    shifted back by the reset time, so with a 04:00 reset 03:59 still counts as yesterday."""
    return (local(ts, tz) - timedelta(minutes=reset_minute)).strftime("%Y%m%d")


def minute_of_day(ts: float, tz: tzinfo | None) -> int:
    moment = local(ts, tz)
    return moment.hour * 60 + moment.minute


def in_windows(minute: int, windows: tuple[tuple[int, int], ...]) -> bool:
    """Whether a minute of the local day falls inside one of the opening windows."""
    for start, end in windows:
        if start < end:
            if start <= minute < end:
                return True
        elif minute >= start or minute < end:  # crosses midnight
            return True
    return False


def is_open(ts: float, tz: tzinfo | None, windows: tuple[tuple[int, int], ...]) -> bool:
    return in_windows(minute_of_day(ts, tz), windows)


def format_windows(windows: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}–{e // 60:02d}:{e % 60:02d}" for s, e in windows)


def day_from_iso(text: str) -> str:
    """'2026-11-27' (the command line's form) → '20261127'."""
    return datetime.strptime(text, "%Y-%m-%d").strftime("%Y%m%d")


def day_minus(day: str, days: int) -> str:
    return (datetime.strptime(day, "%Y%m%d") - timedelta(days=days)).strftime("%Y%m%d")
