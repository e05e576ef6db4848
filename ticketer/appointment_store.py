"""The appointments' durable book: `<data_dir>/ticketer/appointments.sqlite`, WAL with
`synchronous=FULL` (a booking is a promise to a taxpayer: once confirmed on their phone it must
survive a power cut; bookings are few, so an fsync per commit costs nothing that matters).

One transaction per change, with the answer stored under its request id, so a repeated request
finds either nothing or the one answer it had. The capacity check and the insert are one
`BEGIN IMMEDIATE` transaction: two bookings for the last place cannot both succeed.
Taxpayers are stored as keyed hash and masked form only (ticketer/appointments.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Literal

SCHEMA = """
CREATE TABLE IF NOT EXISTS appointments (
    code TEXT PRIMARY KEY, service TEXT NOT NULL, day TEXT NOT NULL, slot TEXT NOT NULL, starts_at REAL NOT NULL,
    taxpayer_hash TEXT NOT NULL, taxpayer_masked TEXT NOT NULL, taxpayer_kind TEXT NOT NULL,
    state TEXT NOT NULL, booked_at REAL NOT NULL, source TEXT NOT NULL,
    changed_at REAL, ticket TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS appointments_slot ON appointments (service, day, slot, state);
CREATE INDEX IF NOT EXISTS appointments_taxpayer ON appointments (taxpayer_hash, state);
CREATE INDEX IF NOT EXISTS appointments_due ON appointments (state, starts_at);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, op TEXT NOT NULL, reply TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
"""
STATES = ("booked", "checked_in", "no_show", "cancelled")
# What holds a place in a slot: everything but a cancellation.
_HOLDS_PLACE = "('booked', 'checked_in', 'no_show')"
REQUEST_MEMORY_S = 7 * 86400


@dataclass(frozen=True)
class Appointment:
    code: str
    service: str
    day: str  # YYYY-MM-DD
    slot: str  # HH:MM, the slot's start
    starts_at: float
    taxpayer_hash: str
    taxpayer_masked: str
    taxpayer_kind: str
    state: str  # booked, checked_in, no_show, cancelled
    booked_at: float
    source: str
    changed_at: float | None = None
    ticket: str | None = None

    def with_state(self, state: str, at: float, ticket: str | None = None) -> "Appointment":
        return replace(self, state=state, changed_at=at, ticket=ticket or self.ticket)


_COLUMNS = ("code, service, day, slot, starts_at, taxpayer_hash, taxpayer_masked, taxpayer_kind, state, booked_at, "
            "source, changed_at, ticket")


class AppointmentStore:
    """One connection, used under the ticketer's lock (plus a lock of its own for safety)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reading

    def _rows(self, where: str, args: Iterable[Any]) -> list[Appointment]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM appointments WHERE {where}", tuple(args)).fetchall()
        return [Appointment(*row) for row in rows]

    def get(self, code: str) -> Appointment | None:
        found = self._rows("code = ?", (code,))
        return found[0] if found else None

    def on_day(self, day: str) -> list[Appointment]:
        return sorted(self._rows("day = ?", (day,)), key=lambda a: (a.slot, a.service, a.booked_at))

    def taken(self, service: str, first: str, last: str) -> dict[tuple[str, str], int]:
        """(day, slot) → places held, for a service over days first..last."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT day, slot, COUNT(*) FROM appointments WHERE service = ? AND day BETWEEN ? AND ? "
                f"AND state IN {_HOLDS_PLACE} GROUP BY day, slot", (service, first, last)).fetchall()
        return {(day, slot): n for day, slot, n in rows}

    def holds(self, taxpayer_hash: str, service: str, day: str, slot: str) -> bool:
        return bool(self._rows("taxpayer_hash = ? AND service = ? AND day = ? AND slot = ? AND state = 'booked'",
                               (taxpayer_hash, service, day, slot)))

    def open_count(self, taxpayer_hash: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM appointments WHERE taxpayer_hash = ? AND state = 'booked'",
                                        (taxpayer_hash,)).fetchone()[0])

    def no_shows(self, hashes: set[str]) -> dict[str, int]:
        """No-shows per taxpayer hash, over everything kept."""
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        with self._lock:
            rows = self._db.execute(f"SELECT taxpayer_hash, COUNT(*) FROM appointments WHERE state = 'no_show' "
                                    f"AND taxpayer_hash IN ({marks}) GROUP BY taxpayer_hash", tuple(hashes)).fetchall()
        return dict(rows)

    def day_stats(self, first: str, last: str) -> list[dict[str, Any]]:
        """Per appointment day: bookings made for it, check-ins, no-shows, cancellations."""
        with self._lock:
            rows = self._db.execute(
                "SELECT day, COUNT(*), SUM(state = 'checked_in'), SUM(state = 'no_show'), SUM(state = 'cancelled'), "
                "SUM(state = 'booked') FROM appointments WHERE day BETWEEN ? AND ? GROUP BY day ORDER BY day",
                (first, last)).fetchall()
        return [{"day": day, "bookings": n, "checked_in": c or 0, "no_show": s or 0, "cancelled": x or 0, "open": b or 0}
                for day, n, c, s, x, b in rows]

    def reply_for(self, request_id: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            row = self._db.execute("SELECT op, reply FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    # ------------------------------------------------------------------ changes

    def book(self, appointment: Appointment, capacity: int, request_id: str, reply: dict[str, Any],
             now: float) -> Literal["booked", "full", "code_taken"]:
        """Inserts the appointment if its slot has a place left, in one transaction with the answer."""
        a = appointment
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                held = self._db.execute(f"SELECT COUNT(*) FROM appointments WHERE service = ? AND day = ? AND slot = ? "
                                        f"AND state IN {_HOLDS_PLACE}", (a.service, a.day, a.slot)).fetchone()[0]
                if held >= capacity:
                    self._db.execute("ROLLBACK")
                    return "full"
                if self._db.execute("SELECT 1 FROM appointments WHERE code = ?", (a.code,)).fetchone():
                    self._db.execute("ROLLBACK")
                    return "code_taken"
                self._insert(a)
                self._remember(request_id, "book", reply, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return "booked"

    def change(self, appointment: Appointment, request_id: str, op: str, reply: dict[str, Any], now: float) -> None:
        """A new state of an appointment with the answer that reported it, in one transaction."""
        a = appointment
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE appointments SET state = ?, changed_at = ?, ticket = ? WHERE code = ?",
                                 (a.state, a.changed_at, a.ticket, a.code))
                self._remember(request_id, op, reply, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def mark_no_shows(self, started_before: float, now: float) -> list[str]:
        """Booked appointments that started before `started_before` become no-shows; their codes.
        Runs every tick: it writes (and syncs) only when there is something to mark."""
        with self._lock:
            codes = [row[0] for row in self._db.execute(
                "SELECT code FROM appointments WHERE state = 'booked' AND starts_at <= ?", (started_before,))]
            if not codes:
                return []
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE appointments SET state = 'no_show', changed_at = ? "
                                 "WHERE state = 'booked' AND starts_at <= ?", (now, started_before))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return codes

    def purge_before(self, day: str, now: float) -> int:
        """Forgets appointments of days before `day`, and request ids older than REQUEST_MEMORY_S."""
        with self._lock:
            self._db.execute("DELETE FROM requests WHERE at < ?", (now - REQUEST_MEMORY_S,))
            return self._db.execute("DELETE FROM appointments WHERE day < ?", (day,)).rowcount

    def _insert(self, a: Appointment) -> None:
        self._db.execute(f"INSERT INTO appointments ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (a.code, a.service, a.day, a.slot, a.starts_at, a.taxpayer_hash, a.taxpayer_masked,
                          a.taxpayer_kind, a.state, a.booked_at, a.source, a.changed_at, a.ticket))

    def _remember(self, request_id: str, op: str, reply: dict[str, Any], now: float) -> None:
        self._db.execute("INSERT INTO requests (request_id, op, reply, at) VALUES (?,?,?,?)",
                         (request_id, op, json.dumps(reply, ensure_ascii=False), now))
