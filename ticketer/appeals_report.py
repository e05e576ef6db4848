"""What the hall learns from its appeals (统计分析): counts per category, channel, week and
counter, the median time to answer, the overdue count, and the recurring themes — tags that
come back week after week, so the hall fixes causes, not cases; and the ledger (台账) as CSV.

Pure functions over the book's rows; contact details appear masked only.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter, defaultdict
from datetime import tzinfo
from typing import Any, Callable, Sequence

from ticketer.appeals import AppealsSection, local_time

WEEK_S = 7 * 86400
Row = Any  # a row of the book with named columns (sqlite3.Row)


def week_of(ts: float, tz: tzinfo | None) -> str:
    """ISO week, e.g. 2026-W48."""
    year, week, _ = local_time(ts, tz).isocalendar()
    return f"{year}-W{week:02d}"


def analysis(rows: Sequence[Row], now: float, tz: tzinfo | None, weeks: int,
             section: AppealsSection) -> dict[str, Any]:
    """The dashboard's figures over the appeals filed in the last `weeks` weeks."""
    recent = [r for r in rows if r["filed_at"] >= now - weeks * WEEK_S]
    answer_hours = [(r["answered_at"] - r["filed_at"]) / 3600 for r in recent if r["answered_at"] is not None]
    rated = [r["satisfaction"] for r in recent if r["satisfaction"] is not None]
    return {
        "weeks": weeks,
        "total": len(recent),
        "per_category": dict(Counter(r["category"] for r in recent).most_common()),
        "per_channel": dict(Counter(r["channel"] for r in recent).most_common()),
        "per_week": dict(sorted(Counter(week_of(r["filed_at"], tz) for r in recent).items())),
        "per_counter": dict(Counter(r["counter"] for r in recent if r["counter"]).most_common()),
        "median_answer_h": round(statistics.median(answer_hours), 2) if answer_hours else None,
        "answered": len(answer_hours),
        "overdue_open": sum(1 for r in rows if r["state"] == "open" and now >= r["deadline"]),
        "answered_late": sum(1 for r in recent if r["answered_at"] is not None and r["answered_at"] > r["deadline"]),
        "satisfaction_avg": round(sum(rated) / len(rated), 2) if rated else None,
        "themes": recurring_themes(rows, now, tz, section.theme_weeks, section.theme_min_weeks),
    }


def recurring_themes(rows: Sequence[Row], now: float, tz: tzinfo | None, window_weeks: int,
                     min_weeks: int) -> list[dict[str, Any]]:
    """Tags seen in at least `min_weeks` of the last `window_weeks` weeks, most persistent first."""
    seen_in: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    for row in rows:
        if row["filed_at"] < now - window_weeks * WEEK_S:
            continue
        week = week_of(row["filed_at"], tz)
        for tag in json.loads(row["tags"]):
            seen_in[tag].add(week)
            count[tag] += 1
    themes = [{"tag": tag, "weeks": len(weeks), "count": count[tag]} for tag, weeks in seen_in.items() if len(weeks) >= min_weeks]
    return sorted(themes, key=lambda t: (-t["weeks"], -t["count"], t["tag"]))


LEDGER_COLUMNS = ("ref", "category", "channel", "counter", "source", "filed_at", "deadline", "received_by", "owner", "state",
                  "phone", "name", "description", "tags", "answer", "answered_at", "answered_by", "answered_late",
                  "satisfaction", "visited_at", "visited_by", "history")


def ledger_csv(rows: Sequence[Row], history: Sequence[Row], iso: Callable[[float | None], str | None]) -> str:
    """The 台账: one line per appeal, its whole history in the last column (masked contact only)."""
    from ticketer.appeals_book import format_ref

    steps: dict[str, list[str]] = defaultdict(list)
    for h in history:
        detail = json.loads(h["detail"])
        said = ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", []))
        steps[h["ref"]].append(f"{iso(h['at'])} {h['action']} by {h['by']}" + (f" ({said})" if said else ""))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LEDGER_COLUMNS)
    for r in rows:
        writer.writerow([format_ref(r["ref"]), r["category"], r["channel"], r["counter"] or "", r["source"], iso(r["filed_at"]),
                         iso(r["deadline"]), r["received_by"], r["owner"], r["state"], r["phone_masked"], r["name_masked"],
                         r["description"], " ".join(json.loads(r["tags"])), r["answer"] or "", iso(r["answered_at"]) or "",
                         r["answered_by"] or "", "yes" if r["answered_at"] and r["answered_at"] > r["deadline"] else "",
                         r["satisfaction"] or "", iso(r["visited_at"]) or "", r["visited_by"] or "",
                         " | ".join(steps.get(r["ref"], []))])
    return out.getvalue()
