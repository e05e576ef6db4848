"""The dispenser's book of leased numbers, on disk (SQLite).

While the queue engine is reachable the dispenser keeps a block of numbers per service leased
from it; while it is not, tickets are issued from that block and written here first, so a
dispenser that restarts mid-outage neither reuses a number nor forgets a ticket. When the
engine is back, the book lists what is still to be handed in.

A leased number is unused (`taken_at` NULL), issued and pending (`handed_in` 0), handed in (1),
or given up (-1): the engine refused it for good (its business day had ended).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OfflineIssued:
    day: str
    number: str
    service: str
    taken_at: str
    priority: str | None


class OfflineBook:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a printed ticket must survive a power cut
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS leased ("
            " day TEXT NOT NULL, service TEXT NOT NULL, number TEXT NOT NULL, lease_id TEXT NOT NULL,"
            " taken_at TEXT, priority TEXT, handed_in INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY (day, number))"
        )

    def add_lease(self, day: str, service: str, lease_id: str, numbers: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO leased (day, service, number, lease_id) VALUES (?, ?, ?, ?)",
                [(day, service, n, lease_id) for n in numbers],
            )
            self._db.execute("COMMIT")

    def remaining(self, day: str, service: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM leased WHERE day = ? AND service = ? AND taken_at IS NULL", (day, service)
            ).fetchone()
        return int(row[0])

    def issue(self, day: str, service: str, taken_at: str, priority: str | None) -> OfflineIssued | None:
        """Takes the lowest unused leased number of `service` for `day`, or None without one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT number FROM leased WHERE day = ? AND service = ? AND taken_at IS NULL "
                "ORDER BY length(number), number LIMIT 1",
                (day, service),
            ).fetchone()
            if row is None:
                self._db.execute("ROLLBACK")
                return None
            self._db.execute(
                "UPDATE leased SET taken_at = ?, priority = ? WHERE day = ? AND number = ?",
                (taken_at, priority, day, row[0]),
            )
            self._db.execute("COMMIT")
        return OfflineIssued(day, row[0], service, taken_at, priority)

    def pending(self) -> list[OfflineIssued]:
        """Tickets issued offline and not yet handed in, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT day, number, service, taken_at, priority FROM leased "
                "WHERE taken_at IS NOT NULL AND handed_in = 0 ORDER BY taken_at, number"
            ).fetchall()
        return [OfflineIssued(*row) for row in rows]

    def mark_handed_in(self, tickets: list[OfflineIssued]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE leased SET handed_in = 1 WHERE day = ? AND number = ? AND taken_at IS NOT NULL",
                                 [(t.day, t.number) for t in tickets])
            self._db.execute("COMMIT")

    def give_up(self, tickets: list[OfflineIssued]) -> None:
        """Stops handing in tickets the engine will never take (kept for the record)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE leased SET handed_in = -1 WHERE day = ? AND number = ? AND taken_at IS NOT NULL",
                                 [(t.day, t.number) for t in tickets])
            self._db.execute("COMMIT")

    def given_up(self) -> list[OfflineIssued]:
        """Tickets issued offline that the engine refused for good, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT day, number, service, taken_at, priority FROM leased WHERE handed_in = -1 ORDER BY taken_at, number"
            ).fetchall()
        return [OfflineIssued(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
