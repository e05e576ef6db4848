"""The day's queue statistics for the dashboard: the rows of `taxhall ticketer stats`, read
from the engine's database with a read-only connection (web runs on the ticketer host)."""

from __future__ import annotations

from datetime import date as Date
from pathlib import Path
from typing import Any


def day_key(iso_date: str) -> str:
    """`2026-11-27` → `20261127`; ValueError for anything else."""
    return Date.fromisoformat(iso_date).strftime("%Y%m%d")


def day_rows(db_path: Path, day: str, timezone: str) -> list[Any]:
    """StatRows of business day `day` (YYYYMMDD); none when there is no database yet."""
    if not db_path.exists():
        return []
    # Imported here: the statistics are the engine's own code, and only the dashboard needs them.
    from ticketer.calendar import resolve_tz
    from ticketer.stats import day_stats

    return day_stats(db_path, day, resolve_tz(timezone))


def rows_csv(rows: list[Any]) -> str:
    from ticketer.stats import render_csv

    return render_csv(rows)
