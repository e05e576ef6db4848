"""The hall's working-day calendar: which dates are working days, and deadlines counted in
working days. China moves weekends around public holidays (调休): a Saturday may be a working
day and a Tuesday a holiday, so the calendar is data — the weekend days, the holidays and the
make-up working days, from the `[calendar]` section — not a weekday rule.

Used by appointments (no slots on a day off) and appeals (an answer is due N working days
after filing). Pure functions over dates and aware datetimes; the clock is the caller's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field, field_validator, model_validator

from taxhall.config import ConfigSection


def _iso_dates(values: list[str], option: str) -> list[str]:
    for value in values:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{option}: dates as YYYY-MM-DD, got {value!r}") from None
    return values


class CalendarSection(ConfigSection):
    """`[calendar]`: the days the hall's staff work (the self-service side is open every day)."""

    weekend: list[int] = Field([5, 6], description="weekdays off, 0 = Monday … 6 = Sunday")
    holidays: list[str] = Field([], description="public holidays, YYYY-MM-DD (e.g. 2026-10-01 … 2026-10-07)")
    workdays: list[str] = Field([], description="make-up working days (调休) that fall on a weekend, YYYY-MM-DD")

    @field_validator("weekend")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in value):
            raise ValueError(f"weekdays 0 (Monday) to 6 (Sunday), got {value}")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str]) -> list[str]:
        return _iso_dates(value, "holidays")

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, value: list[str]) -> list[str]:
        return _iso_dates(value, "workdays")

    @model_validator(mode="after")
    def _disjoint(self) -> "CalendarSection":
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"a date cannot be both a holiday and a make-up working day: {both}")
        if len(set(self.weekend)) == 7:
            raise ValueError("weekend: at least one working weekday is needed")
        return self

    def calendar(self) -> "WorkCalendar":
        return WorkCalendar(frozenset(self.weekend), frozenset(map(date.fromisoformat, self.holidays)),
                            frozenset(map(date.fromisoformat, self.workdays)))


SECTIONS = {"calendar": CalendarSection}


class WorkCalendar:
    """Working days by the hall's calendar."""

    def __init__(self, weekend: frozenset[int] = frozenset({5, 6}), holidays: frozenset[date] = frozenset(),
                 workdays: frozenset[date] = frozenset()) -> None:
        self.weekend = weekend
        self.holidays = holidays
        self.workdays = workdays

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() not in self.weekend

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local time `days` working days after `start` (a start on a day off counts
        from the next working day's beginning): filed Friday 16:00 with one working day is due
        Monday 16:00; filed on a Sunday it is due at the end of Monday."""
        if days <= 0:
            return start
        day = start.date()
        if not self.is_working_day(day):
            # Nothing can be done before the next working day opens: due at its end (+ days-1).
            day = self.next_working_day(day)
            for _ in range(days - 1):
                day = self.next_working_day(day)
            return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=start.tzinfo)
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, start.timetz())

    def working_days_between(self, first: date, last: date) -> int:
        """Working days in [first, last]."""
        count, day = 0, first
        while day <= last:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count
