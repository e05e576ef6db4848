"""The working-day calendar appointments and appeals count in: weekends, holidays and the
make-up working days (调休) China moves around them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ticketer.workdays import CalendarSection

SH = ZoneInfo("Asia/Shanghai")
# National Day 2026: 1–7 October off, Saturday 10 October worked (as a State Council notice would set it).
OCTOBER = CalendarSection.model_validate({"holidays": [f"2026-10-0{d}" for d in range(1, 8)], "workdays": ["2026-10-10"]})


def test_weekends_holidays_and_make_up_days() -> None:
    cal = OCTOBER.calendar()
    assert cal.is_working_day(date(2026, 9, 30))  # Wednesday
    assert not cal.is_working_day(date(2026, 10, 5))  # Monday, but a holiday
    assert cal.is_working_day(date(2026, 10, 10))  # Saturday, made up
    assert not cal.is_working_day(date(2026, 10, 11))  # Sunday
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.working_days_between(date(2026, 10, 1), date(2026, 10, 11)) == 3  # 8th, 9th, 10th


def test_deadline_in_working_days_keeps_the_time_and_skips_days_off() -> None:
    cal = OCTOBER.calendar()
    filed = datetime(2026, 9, 30, 16, 0, tzinfo=SH)
    assert cal.add_working_days(filed, 1) == datetime(2026, 10, 8, 16, 0, tzinfo=SH)
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=SH)
    assert cal.add_working_days(friday, 1) == datetime(2026, 11, 30, 16, 0, tzinfo=SH)
    # Filed on a day off: due at the end of the next working day.
    sunday = datetime(2026, 11, 29, 3, 0, tzinfo=SH)
    assert cal.add_working_days(sunday, 1) == datetime(2026, 12, 1, 0, 0, tzinfo=SH)


@pytest.mark.parametrize("bad, words", [
    ({"holidays": ["2026-13-01"]}, "holidays: dates as YYYY-MM-DD"),
    ({"weekend": [7]}, "weekdays 0 (Monday) to 6 (Sunday)"),
    ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "both a holiday and a make-up"),
])
def test_a_calendar_typo_is_named(bad: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        CalendarSection.model_validate(bad)
