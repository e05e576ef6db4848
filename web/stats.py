"""The queue statistics on the dashboard: the rows of `taxhall ticketer stats`, read from the
engine's database with a read-only connection (web runs on the ticketer host), and what the
page draws of them — column charts (inline SVG) and bar tables, laid out here so that the
template only places shapes and words. No chart library: the hall may be offline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Any, Callable, Sequence

# Chart geometry, in SVG user units (the SVG scales to its box's width).
CHART_W, CHART_H = 560.0, 200.0
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 44.0, 8.0, 14.0, 28.0


def day_key(iso_date: str) -> str:
    """`2026-11-27` → `20261127`; ValueError for anything else."""
    return Date.fromisoformat(iso_date).strftime("%Y%m%d")


def iso_day(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}" if len(day) == 8 else ""


def day_rows(db_path: Path, day: str, timezone: str) -> list[Any]:
    """StatRows of business day `day` (YYYYMMDD); none when there is no database yet."""
    if not db_path.exists():
        return []
    # Imported here: the statistics are the engine's own code, and only the dashboard needs them.
    from ticketer.calendar import resolve_tz
    from ticketer.stats import day_stats

    return day_stats(db_path, day, resolve_tz(timezone))


def days_rows(db_path: Path, last_day: str, days: int, timezone: str) -> list[Any]:
    """The whole hall's StatRow (group `day`) of each of `days` business days up to `last_day`."""
    if not db_path.exists():
        return []
    from ticketer.calendar import resolve_tz
    from ticketer.stats import days_stats

    return days_stats(db_path, last_day, days, resolve_tz(timezone))


def rows_csv(rows: list[Any]) -> str:
    from ticketer.stats import render_csv

    return render_csv(rows)


# ---------------------------------------------------------------------- column charts


@dataclass(frozen=True)
class Column:
    """One column of a chart: its label under the axis, its stacked parts, and the figure
    printed above it (and in its tooltip)."""

    label: str
    x: float
    width: float
    parts: tuple[tuple[str, float, float], ...]  # (css class, y, height) from the bottom up
    shown: str
    top: float  # y of the column's top, for the figure above it
    tip: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    columns: list[Column]
    ticks: list[tuple[float, str]]  # (y, label) of the horizontal grid lines
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, words)
    empty: bool = False
    width: float = CHART_W
    height: float = CHART_H
    left: float = PLOT_LEFT
    base: float = CHART_H - PLOT_BOTTOM


def _nice_top(value: float) -> float:
    """The axis top above `value`: 1, 2, 4 or 8 times a power of ten (so that quarters of it
    are round numbers too)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 8, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power


def _tick_label(value: float) -> str:
    return f"{value:g}"


def column_chart(chart_id: str, title: str, unit: str, points: Sequence[tuple[str, Sequence[float | None]]],
                 classes: Sequence[str], shown: Callable[[Sequence[float | None]], str],
                 legend: Sequence[tuple[str, str]] = (), top: float | None = None, divisions: int = 4) -> Chart:
    """A column chart of `points` — (label, stacked values) — with its axis from 0 to a
    round number above the tallest column (or `top`). A value of None draws nothing."""
    plot_w = CHART_W - PLOT_LEFT - PLOT_RIGHT
    plot_h = CHART_H - PLOT_TOP - PLOT_BOTTOM
    base = CHART_H - PLOT_BOTTOM
    tallest = max((sum(v or 0 for v in values) for _, values in points), default=0.0)
    axis_top = top if top is not None else _nice_top(tallest)
    slot = plot_w / max(1, len(points))
    width = max(2.0, min(40.0, slot * 0.7))
    columns = []
    for i, (label, values) in enumerate(points):
        x = PLOT_LEFT + slot * i + (slot - width) / 2
        y = base
        parts = []
        for css, value in zip(classes, values):
            height = plot_h * (value or 0) / axis_top
            if height > 0:
                y -= height
                parts.append((css, round(y, 1), round(height, 1)))
        text = shown(values)
        columns.append(Column(label, round(x, 1), round(width, 1), tuple(parts), text, round(y, 1), f"{label}: {text}"))
    ticks = [(round(base - plot_h * i / divisions, 1), _tick_label(axis_top * i / divisions)) for i in range(divisions + 1)]
    empty = not any(any(v for v in values if v) for _, values in points)
    return Chart(chart_id, title, unit, columns, ticks, list(legend), empty)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _fmt_minutes(values: Sequence[float | None]) -> str:
    return "-" if values[0] is None else f"{values[0]:.1f}"


def _fmt_count(values: Sequence[float | None]) -> str:
    return str(int(sum(v or 0 for v in values)))


def _fmt_rating(values: Sequence[float | None]) -> str:
    return "-" if values[0] is None else f"{values[0]:.2f}"


def _hours(rows: list[Any]) -> list[Any]:
    """The day's hour rows from the first hour with anything to the last, gaps filled."""
    by_hour = {int(r.key): r for r in rows if r.group == "hour" and r.key.isdigit()}
    if not by_hour:
        return []
    return [by_hour.get(h) or _Empty(f"{h:02d}") for h in range(min(by_hour), max(by_hour) + 1)]


@dataclass(frozen=True)
class _Empty:
    """An hour or day with nothing in it, shaped like a StatRow for the charts."""

    key: str
    taken: int = 0
    served: int = 0
    no_shows: int = 0
    wait_mean_s: float | None = None
    service_mean_s: float | None = None
    rating_mean: float | None = None
    ratings: int = 0


def hour_charts(rows: list[Any], w: dict[str, str]) -> list[Chart]:
    """Served and no-shows, mean wait, mean service time and mean rating, by hour of the call."""
    hours = _hours(rows)
    served = [(f"{r.key}", (r.served, r.no_shows)) for r in hours]
    legend = [("c-served", w["served"]), ("c-noshow", w["no_shows"])]
    return [
        column_chart("hour-served", w["chart_served_hour"], w["unit_tickets"], served, ("c-served", "c-noshow"),
                     _fmt_count, legend),
        column_chart("hour-wait", w["chart_wait_hour"], w["unit_min"],
                     [(r.key, (_minutes(r.wait_mean_s),)) for r in hours], ("c-wait",), _fmt_minutes),
        column_chart("hour-service", w["chart_service_hour"], w["unit_min"],
                     [(r.key, (_minutes(r.service_mean_s),)) for r in hours], ("c-service",), _fmt_minutes),
        column_chart("hour-rating", w["chart_rating_hour"], w["unit_rating"],
                     [(r.key, (r.rating_mean,)) for r in hours], ("c-rating",), _fmt_rating, top=5.0, divisions=5),
    ]


def day_charts(days: list[Any], w: dict[str, str]) -> list[Chart]:
    """Served and no-shows, and mean wait, for each of a run of days (labels MM-DD)."""
    def label(row: Any) -> str:
        return f"{row.key[4:6]}-{row.key[6:]}"

    legend = [("c-served", w["served"]), ("c-noshow", w["no_shows"])]
    return [
        column_chart("day-served", w["chart_served_day"], w["unit_tickets"],
                     [(label(r), (r.served, r.no_shows)) for r in days], ("c-served", "c-noshow"), _fmt_count, legend),
        column_chart("day-wait", w["chart_wait_day"], w["unit_min"],
                     [(label(r), (_minutes(r.wait_mean_s),)) for r in days], ("c-wait",), _fmt_minutes),
    ]


def ratings_chart(levels: dict[int, int], w: dict[str, str]) -> Chart:
    """How many ratings of each level, 非常满意 (5) first."""
    points = [(w[f"rating_{level}"], (float(count),)) for level, count in levels.items()]
    return column_chart("ratings", w["chart_ratings"], w["unit_ratings"], points, ("c-rating",), _fmt_count)


# ---------------------------------------------------------------------- bar tables


@dataclass(frozen=True)
class Cell:
    text: str
    fraction: float  # of the column's longest bar, 0–1
    css: str


@dataclass(frozen=True)
class BarRow:
    key: str
    cells: list[Cell]


@dataclass(frozen=True)
class BarTable:
    """One grouping (service, counter, staff) as a table whose figures carry bars, each
    column scaled to its own longest."""

    group: str
    title: str
    headers: list[str]
    rows: list[BarRow]


# (header word, value of a row, text of the value, css class, fixed scale top or None)
_METRICS: tuple[tuple[str, Callable[[Any], float | None], Callable[[float | None], str], str, float | None], ...] = (
    ("served", lambda r: r.served, lambda v: str(int(v or 0)), "c-served", None),
    ("no_shows", lambda r: r.no_shows, lambda v: str(int(v or 0)), "c-noshow", None),
    ("wait_mean", lambda r: _minutes(r.wait_mean_s), lambda v: "-" if v is None else f"{v:.1f}", "c-wait", None),
    ("service_mean", lambda r: _minutes(r.service_mean_s), lambda v: "-" if v is None else f"{v:.1f}", "c-service", None),
    ("rating_mean", lambda r: r.rating_mean, lambda v: "-" if v is None else f"{v:.2f}", "c-rating", 5.0),
    ("dissatisfied", lambda r: r.dissatisfied, lambda v: str(int(v or 0)), "c-bad", None),
)


def bar_table(rows: list[Any], group: str, title: str, w: dict[str, str], names: dict[str, str] | None = None) -> BarTable:
    mine = [r for r in rows if r.group == group]
    tops = [fixed or max([value(r) or 0 for r in mine] or [0]) or 1 for _, value, _, _, fixed in _METRICS]
    table_rows = []
    for r in mine:
        cells = [Cell(text(value(r)), round(min(1.0, (value(r) or 0) / top), 3), css)
                 for (_, value, text, css, _), top in zip(_METRICS, tops)]
        table_rows.append(BarRow((names or {}).get(r.key, r.key), cells))
    return BarTable(group, title, [w[f"m_{name}"] for name, *_ in _METRICS], table_rows)


@dataclass(frozen=True)
class Figure:
    """One headline figure of the day."""

    id: str
    label: str
    value: str
    note: str = ""


def day_figures(rows: list[Any], w: dict[str, str]) -> list[Figure]:
    hall = next((r for r in rows if r.group == "hall"), None)
    if hall is None:
        return []
    def minutes(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds / 60:.1f}"

    return [
        Figure("taken", w["m_taken"], str(hall.taken or 0), f"{w['offline_taken']} {hall.offline}" if hall.offline else ""),
        Figure("served", w["m_served"], str(hall.served)),
        Figure("no_shows", w["m_no_shows"], str(hall.no_shows)),
        Figure("wait", w["m_wait_mean"], minutes(hall.wait_mean_s), f"{w['median']} {minutes(hall.wait_median_s)}"),
        Figure("service", w["m_service_mean"], minutes(hall.service_mean_s), f"{w['median']} {minutes(hall.service_median_s)}"),
        Figure("rating", w["m_rating_mean"], "-" if hall.rating_mean is None else f"{hall.rating_mean:.2f}",
               f"{hall.ratings} {w['unit_ratings']}"),
    ]


@dataclass(frozen=True)
class StatsPage:
    """Everything the statistics part of the dashboard shows for a day."""

    figures: list[Figure]
    hour_charts: list[Chart]
    day_charts: list[Chart]
    ratings: Chart | None
    tables: list[BarTable]
    hours: list[Any]


def stats_page(db_path: Path, day: str, timezone: str, w: dict[str, str], service_names: dict[str, str],
               days: int = 14) -> StatsPage:
    """The statistics of business day `day` and the `days` days up to it (blocking: run it in
    a worker thread)."""
    rows = day_rows(db_path, day, timezone) if day else []
    run: list[Any] = []
    levels: dict[int, int] = {}
    if day and db_path.exists():
        from ticketer.calendar import resolve_tz
        from ticketer.stats import days_stats, rating_levels

        run = days_stats(db_path, day, days, resolve_tz(timezone))
        levels = rating_levels(db_path, day)
    tables = [bar_table(rows, "service", w["by_service"], w, service_names),
              bar_table(rows, "counter", w["by_counter"], w),
              bar_table(rows, "staff", w["by_staff"], w)]
    return StatsPage(figures=day_figures(rows, w), hour_charts=hour_charts(rows, w), day_charts=day_charts(run, w) if run else [],
                     ratings=ratings_chart(levels, w) if any(levels.values()) else None,
                     tables=[t for t in tables if t.rows], hours=[r for r in rows if r.group == "hour"])
