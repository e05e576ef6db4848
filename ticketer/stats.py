"""Statistics of a business day (`taxhall ticketer stats --date D [--csv]`): per counter,
staff, service and hour — tickets taken (and how many of them offline) and served, waits and
service times (mean and median), no-shows, transfers and ratings; the hall's row for a run of
days (`days_stats`) and the ratings by level (`rating_levels`), for the dashboard's charts.

Read from the engine's database with a read-only connection, so it can run beside a live
engine. A day counts the tickets issued on that business day, including their stays at
counters after midnight.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import statistics
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Iterable

from ticketer.calendar import day_minus, local

GROUPS = ("hall", "service", "counter", "staff", "hour")
COLUMNS = ("group", "key", "taken", "called", "served", "no_shows", "transfers", "wait_mean_s", "wait_median_s",
           "service_mean_s", "service_median_s", "ratings", "rating_mean", "dissatisfied", "offline")


@dataclass
class _Tally:
    taken: int = 0
    offline: int = 0  # of `taken`: issued by a dispenser from its lease and handed in
    called: int = 0
    served: int = 0
    no_shows: int = 0
    transfers: int = 0
    waits: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class StatRow:
    group: str
    key: str
    taken: int | None
    called: int
    served: int
    no_shows: int
    transfers: int
    wait_mean_s: float | None
    wait_median_s: float | None
    service_mean_s: float | None
    service_median_s: float | None
    ratings: int
    rating_mean: float | None
    dissatisfied: int  # ratings of 不满意 or 非常不满意
    offline: int | None = None  # tickets taken offline (hall, service, hour)

    def values(self) -> list[object]:
        return [getattr(self, c) for c in COLUMNS]


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _keys(service: str, counter: str, staff: str | None, hour: str) -> Iterable[tuple[str, str]]:
    return (("hall", "all"), ("service", service), ("counter", counter), ("staff", staff or "-"), ("hour", hour))


def day_stats(db_path: Path, day: str, tz: tzinfo | None) -> list[StatRow]:
    """Every statistics row of business day `day` (YYYYMMDD)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tallies: dict[tuple[str, str], _Tally] = {}

        def tally(group: str, key: str) -> _Tally:
            return tallies.setdefault((group, key), _Tally())

        for number, taken_at, offline in db.execute(_TAKEN_SQL if _has_leases(db) else _TAKEN_SQL_BEFORE_LEASES, (day,)):
            prefix = number.rstrip("0123456789")
            for group, key in (("hall", "all"), ("service", prefix), ("hour", f"{local(taken_at, tz).hour:02d}")):
                tally(group, key).taken += 1
                tally(group, key).offline += offline

        finished_at: dict[str, tuple[str, str, str | None, str]] = {}
        rows = db.execute("SELECT ticket_id, service, counter, staff, waited_from, called_at, started_at, ended_at, outcome "
                          "FROM serves WHERE day = ? ORDER BY row", (day,))
        for ticket_id, service, counter, staff, waited_from, called_at, started_at, ended_at, outcome in rows:
            hour = f"{local(called_at, tz).hour:02d}"
            for group, key in _keys(service, counter, staff, hour):
                t = tally(group, key)
                t.called += 1
                t.waits.append(max(0.0, called_at - waited_from))
                if outcome == "finished":
                    t.served += 1
                    t.service_times.append(max(0.0, ended_at - (started_at or called_at)))
                elif outcome == "no_show":
                    t.no_shows += 1
                elif outcome == "transferred":
                    t.transfers += 1
            if outcome == "finished":
                finished_at[ticket_id] = (service, counter, staff, hour)

        # A rating belongs to the stay that finished the ticket (or its counter if it was
        # rated while still being served, which the next finish settles).
        for ticket_id, rating, counter, staff, service, called_at in db.execute(
            "SELECT id, rating, counter, staff, service, called_at FROM tickets WHERE day = ? AND rating IS NOT NULL", (day,)
        ):
            where = finished_at.get(ticket_id) or (service, counter or "-", staff,
                                                   f"{local(called_at, tz).hour:02d}" if called_at else "-")
            for group, key in _keys(*where):
                tally(group, key).ratings.append(int(rating))
    finally:
        db.close()

    result = []
    for (group, key), t in sorted(tallies.items(), key=lambda item: (GROUPS.index(item[0][0]), _sort_key(item[0][1]))):
        result.append(StatRow(
            group=group, key=key, taken=t.taken if group in ("hall", "service", "hour") else None, called=t.called,
            served=t.served, no_shows=t.no_shows, transfers=t.transfers, wait_mean_s=_mean(t.waits),
            wait_median_s=_median(t.waits), service_mean_s=_mean(t.service_times),
            service_median_s=_median(t.service_times), ratings=len(t.ratings),
            rating_mean=round(statistics.fmean(t.ratings), 2) if t.ratings else None,
            dissatisfied=sum(1 for r in t.ratings if r <= 2),
            offline=t.offline if group in ("hall", "service", "hour") else None,
        ))
    return result


# A ticket was taken offline when a lease of its number names it (hand_in sets that).
_TAKEN_SQL = ("SELECT t.number, t.taken_at, l.ticket_id IS NOT NULL FROM tickets t "
              "LEFT JOIN leases l ON l.day = t.day AND l.number = t.number AND l.ticket_id = t.id WHERE t.day = ?")
_TAKEN_SQL_BEFORE_LEASES = "SELECT number, taken_at, 0 FROM tickets WHERE day = ?"


def _has_leases(db: sqlite3.Connection) -> bool:
    """A database last written by an engine older than offline dispensing has no leases table
    (stats opens it read-only, so cannot add one)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'leases'").fetchone() is not None


def _sort_key(key: str) -> tuple[int, str]:
    return (0, f"{int(key):08d}") if key.isdigit() else (1, key)


def render_csv(rows: list[StatRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row.values()])
    return out.getvalue()


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def render_text(rows: list[StatRow], day: str) -> str:
    """One table per grouping, times in minutes, for a supervisor's terminal."""
    lines = [f"Queue statistics for business day {day[:4]}-{day[4:6]}-{day[6:]} (times in minutes)"]
    if not rows:
        lines.append("no tickets on this day")
        return "\n".join(lines) + "\n"
    header = f"{'':>10} {'taken':>6} {'called':>6} {'served':>6} {'no-show':>7} {'transf':>6} " \
             f"{'wait':>6} {'wait½':>6} {'svc':>6} {'svc½':>6} {'rated':>5} {'rating':>6} {'unhappy':>7} {'offline':>7}"
    for group in GROUPS:
        mine = [r for r in rows if r.group == group]
        if not mine:
            continue
        lines += ["", f"by {group}", header]
        for r in mine:
            lines.append(
                f"{r.key:>10} {'' if r.taken is None else r.taken:>6} {r.called:>6} {r.served:>6} {r.no_shows:>7} "
                f"{r.transfers:>6} {_minutes(r.wait_mean_s):>6} {_minutes(r.wait_median_s):>6} "
                f"{_minutes(r.service_mean_s):>6} {_minutes(r.service_median_s):>6} {r.ratings:>5} "
                f"{'-' if r.rating_mean is None else f'{r.rating_mean:.2f}':>6} {r.dissatisfied:>7} "
                f"{'' if r.offline is None else r.offline:>7}"
            )
    return "\n".join(lines) + "\n"


def days_stats(db_path: Path, last_day: str, count: int, tz: tzinfo | None) -> list[StatRow]:
    """The whole hall's row for each of the `count` business days ending with `last_day`
    (YYYYMMDD), oldest first, as group `day` keyed by the day; a day without tickets is a
    row of zeros, so a chart of the days has no gaps."""
    rows = []
    for back in range(count - 1, -1, -1):
        day = day_minus(last_day, back)
        hall = next((r for r in day_stats(db_path, day, tz) if r.group == "hall"), None)
        if hall is None:
            rows.append(StatRow("day", day, 0, 0, 0, 0, 0, None, None, None, None, 0, None, 0, 0))
        else:
            rows.append(replace(hall, group="day", key=day))
    return rows


def rating_levels(db_path: Path, day: str) -> dict[int, int]:
    """How many ratings of each level (5 非常满意 … 1 非常不满意) the tickets of a business day got."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        counted = dict(db.execute("SELECT rating, COUNT(*) FROM tickets WHERE day = ? AND rating IS NOT NULL GROUP BY rating",
                                  (day,)).fetchall())
    finally:
        db.close()
    return {level: int(counted.get(level, 0)) for level in (5, 4, 3, 2, 1)}
