"""The queue's durable state: one SQLite file in WAL mode, one transaction per operation.

Why these settings:
- WAL with `synchronous=NORMAL`: a commit is an append to the WAL without an fsync; the WAL
  is synced at checkpoints. The database is always consistent — after a process crash nothing
  committed is lost, and after a power cut or kernel crash it comes back consistent but may
  lack the last few milliseconds of commits. `synchronous=FULL` would fsync every commit and
  cap the engine at the disk's flush rate (a few hundred per second on an SD card), far below
  the ≥ 6,000 transactions/s a busy hall's counters can produce in a burst.
- One connection, used by one thread at a time (the engine serialises operations), with
  statements cached by sqlite3's statement cache: per operation only a handful of prepared
  statements run.
- Each operation writes its whole effect — tickets, counters, the call, the events to publish,
  and the answer under its request id — in one transaction, so a repeated request id finds
  either nothing (the operation never happened) or the answer of the one time it did.
- Leases of offline numbers (the band dispensers issue from while the engine is away) are rows
  of their own, written by `lease` and marked by `hand_in` in the same transaction as the
  ticket they became; they are read on demand (a few per minute), not kept in memory.
- A service the duty supervisor closed (`close_service`) is a row of `service_closures`
  until `open_service` deletes it, so a restart keeps it closed.
- Raised alarms keep their severity and message (the retained `queue/alarms` snapshot shows
  them); a database from before those columns gets them added on open.
- Events (calls, alarms) are committed here with the change they describe and deleted, in
  batches, with later transactions once handed to the bus's own outbox; after a crash the
  ones still here are handed again (receivers drop repeats by id).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ticketer.model import ACTIVE_STATES, Call, Counter, Leased, PendingEvent, Serve, Ticket

SCHEMA_VERSION = "1"
# Handed events are deleted in batches, piggybacked on an operation's transaction: at most
# this many are handed to the bus again after a crash (receivers drop repeats by id).
FORGET_BATCH = 16

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, day TEXT NOT NULL, service TEXT NOT NULL, number TEXT NOT NULL, num INTEGER NOT NULL,
    priority TEXT NOT NULL, source TEXT NOT NULL, token TEXT NOT NULL, appointment TEXT,
    taken_at REAL NOT NULL, queued_at REAL NOT NULL, waiting_since REAL NOT NULL, state TEXT NOT NULL,
    target_counter TEXT, counter TEXT, staff TEXT, called_at REAL, started_at REAL, ended_at REAL,
    recalls INTEGER NOT NULL, transfers INTEGER NOT NULL, rating INTEGER, rated_at REAL,
    UNIQUE (day, number)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, staff TEXT, ticket_id TEXT, since REAL NOT NULL, pause_reason TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL,
    counter TEXT NOT NULL, staff TEXT, recall INTEGER NOT NULL, at REAL NOT NULL, day TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS serves (
    row INTEGER PRIMARY KEY, ticket_id TEXT NOT NULL, day TEXT NOT NULL, service TEXT NOT NULL,
    priority TEXT NOT NULL, counter TEXT NOT NULL, staff TEXT, waited_from REAL NOT NULL, called_at REAL NOT NULL,
    started_at REAL, ended_at REAL NOT NULL, outcome TEXT NOT NULL, recalls INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, op TEXT NOT NULL, reply TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (row INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (key TEXT PRIMARY KEY, kind TEXT NOT NULL, event_id TEXT NOT NULL, raised_at REAL NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS service_closures (
    service TEXT PRIMARY KEY, closed_by TEXT, closed_at REAL NOT NULL, reason TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    day TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, num INTEGER NOT NULL, source TEXT NOT NULL,
    lease_id TEXT NOT NULL, leased_at REAL NOT NULL, ticket_id TEXT,
    PRIMARY KEY (day, number)) WITHOUT ROWID;
"""

_TICKET_COLUMNS = (
    "id", "day", "service", "number", "num", "priority", "source", "token", "appointment", "taken_at", "queued_at",
    "waiting_since", "state", "target_counter", "counter", "staff", "called_at", "started_at", "ended_at", "recalls",
    "transfers", "rating", "rated_at",
)
_MUTABLE_TICKET_COLUMNS = [c for c in _TICKET_COLUMNS if c not in ("id", "day", "number", "num", "source", "token",
                                                                     "appointment", "taken_at", "queued_at")]
UPSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS)}) VALUES ({', '.join('?' * len(_TICKET_COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _MUTABLE_TICKET_COLUMNS)}"
)
UPSERT_COUNTER = (
    "INSERT INTO counters (id, state, staff, ticket_id, since, pause_reason) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET state = excluded.state, staff = excluded.staff, ticket_id = excluded.ticket_id, "
    "since = excluded.since, pause_reason = excluded.pause_reason"
)
INSERT_CALL = "INSERT INTO calls (seq, ticket_id, number, service, counter, staff, recall, at, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_LEASE_COLUMNS = "day, number, service, num, source, lease_id, leased_at, ticket_id"
UPSERT_LEASE = f"INSERT OR REPLACE INTO leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_SERVE = (
    "INSERT INTO serves (ticket_id, day, service, priority, counter, staff, waited_from, called_at, started_at, "
    "ended_at, outcome, recalls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Closure(NamedTuple):
    """A service closed by the duty supervisor: no new tickets until it is opened again."""

    service: str
    closed_by: str | None
    closed_at: float
    reason: str | None


class RaisedAlarm(NamedTuple):
    """An alarm raised and not yet cleared, as the engine keeps it."""

    kind: str
    event_id: str
    data: dict[str, Any]
    severity: str = "warning"
    message: str = ""
    raised_at: float = 0.0


# Columns added to `alarms` after the first release: (name, definition) for ALTER TABLE.
_ALARM_COLUMNS_ADDED = (("severity", "TEXT NOT NULL DEFAULT 'warning'"), ("message", "TEXT NOT NULL DEFAULT ''"))


@dataclass
class Change:
    """The whole effect of one operation, written in one transaction."""

    tickets: list[Ticket] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    serves: list[Serve] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rating: tuple[str, int, float] | None = None  # (ticket id, level, at) for a ticket no longer in memory
    alarms_raised: list[tuple[str, RaisedAlarm]] = field(default_factory=list)  # (key, alarm)
    alarms_cleared: list[str] = field(default_factory=list)
    leases: list[Leased] = field(default_factory=list)  # new leases, or leases now handed in
    closures: list[Closure] = field(default_factory=list)  # services closed by the supervisor
    reopened: list[str] = field(default_factory=list)  # services opened again
    request: tuple[str, str, str, float] | None = None  # (request id, op, reply JSON, at)


@dataclass
class Recovered:
    """Everything the engine needs in memory, as it was at the last commit."""

    epoch: str
    seq: int
    tickets: list[Ticket]
    counters: list[Counter]
    events: list[PendingEvent]
    alarms: dict[str, RaisedAlarm]
    closures: dict[str, Closure] = field(default_factory=dict)


def _ticket_row(t: Ticket) -> tuple[Any, ...]:
    return (t.id, t.day, t.service, t.number, t.num, t.priority, t.source, t.token, t.appointment, t.taken_at,
            t.queued_at, t.waiting_since, t.state, t.target_counter, t.counter, t.staff, t.called_at, t.started_at,
            t.ended_at, t.recalls, t.transfers, t.rating, t.rated_at)


def _ticket_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Ticket:
    return Ticket(*row)


class Store:
    """The engine's SQLite database. Not thread-safe by itself: the engine serialises use."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=64)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (copying the WAL into the database, with an fsync) are run by
        # `checkpoint()` from the service's housekeeping thread on a connection of their own,
        # off the path of requests; SQLite's automatic one stays as a safety net for when
        # nobody calls it, at 10,000 pages (40 MB of WAL) instead of 1,000.
        self._db.execute("PRAGMA wal_autocheckpoint=10000")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.executescript(SCHEMA)
        self._add_alarm_columns()
        self._deleted_upto = 0
        self._aux: sqlite3.Connection | None = None  # for checkpoints from another thread
        self._aux_lock = threading.Lock()
        # Event rows come from our own counter, not SQLite's: with the table emptied SQLite
        # would hand out row 1 again, below rows already marked as handed.
        self._next_event_row = int(self._db.execute("SELECT COALESCE(MAX(row), 0) FROM events").fetchone()[0]) + 1
        # The request ids on file, so that a new request (nearly all of them) costs no read.
        self._request_ids: set[str] = {r[0] for r in self._db.execute("SELECT request_id FROM requests")}
        with self._tx():
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            # A random name of this database: call event ids carry it, so a hall whose database
            # was replaced never produces ids that displays remember from the old one.
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (secrets.token_hex(4),))

    def _add_alarm_columns(self) -> None:
        """Brings an `alarms` table written before severity and message were kept up to date."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(alarms)")}
        for name, definition in _ALARM_COLUMNS_ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE alarms ADD COLUMN {name} {definition}")

    def close(self) -> None:
        with self._aux_lock:
            if self._aux is not None:
                self._aux.close()
                self._aux = None
        self._db.close()

    # ------------------------------------------------------------------ transactions

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind: object, value: object, tb: object) -> None:
            if kind is None:
                try:
                    self.db.execute("COMMIT")
                    return
                except sqlite3.Error:
                    self._rollback()  # a failed COMMIT (disk full, I/O error) can leave it open
                    raise
            self._rollback()

        def _rollback(self) -> None:
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite has rolled back by itself

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self._db)

    def commit(self, change: Change, handed_upto: int) -> list[PendingEvent]:
        """Writes `change` in one transaction; also forgets events the bus has taken (rows up to
        `handed_upto`). Returns the committed events with their rows."""
        db = self._db
        pending: list[PendingEvent] = []
        with self._tx():
            for ticket in change.tickets:
                db.execute(UPSERT_TICKET, _ticket_row(ticket))
            for c in change.counters:
                db.execute(UPSERT_COUNTER, (c.id, c.state, c.staff, c.ticket_id, c.since, c.pause_reason))
            for call in change.calls:
                db.execute(INSERT_CALL, (call.seq, call.ticket_id, call.number, call.service, call.counter, call.staff,
                                         int(call.recall), call.at, call.day))
            for s in change.serves:
                db.execute(INSERT_SERVE, (s.ticket_id, s.day, s.service, s.priority, s.counter, s.staff, s.waited_from,
                                          s.called_at, s.started_at, s.ended_at, s.outcome, s.recalls))
            if change.rating is not None:
                ticket_id, level, at = change.rating
                db.execute("UPDATE tickets SET rating = ?, rated_at = ? WHERE id = ?", (level, at, ticket_id))
            for key, alarm in change.alarms_raised:
                db.execute("INSERT OR REPLACE INTO alarms (key, kind, event_id, raised_at, data, severity, message) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (key, alarm.kind, alarm.event_id, alarm.raised_at, json.dumps(alarm.data, ensure_ascii=False),
                            alarm.severity, alarm.message))
            for key in change.alarms_cleared:
                db.execute("DELETE FROM alarms WHERE key = ?", (key,))
            for lease in change.leases:
                db.execute(UPSERT_LEASE, tuple(lease))
            for closure in change.closures:
                db.execute("INSERT OR REPLACE INTO service_closures (service, closed_by, closed_at, reason) VALUES (?, ?, ?, ?)",
                           tuple(closure))
            for service in change.reopened:
                db.execute("DELETE FROM service_closures WHERE service = ?", (service,))
            forgotten = self._deleted_upto
            if handed_upto - forgotten >= FORGET_BATCH:
                db.execute("DELETE FROM events WHERE row <= ?", (handed_upto,))
                forgotten = handed_upto
            row = self._next_event_row
            for topic, payload in change.events:
                db.execute("INSERT INTO events (row, topic, payload) VALUES (?, ?, ?)",
                           (row, topic, json.dumps(payload, ensure_ascii=False)))
                pending.append(PendingEvent(row, topic, payload))
                row += 1
            if change.request is not None:
                db.execute("INSERT INTO requests VALUES (?, ?, ?, ?)", change.request)
        self._deleted_upto = forgotten
        self._next_event_row = row
        if change.request is not None:
            self._request_ids.add(change.request[0])
        return pending

    def forget_events(self, handed_upto: int) -> None:
        """Deletes events the bus has taken, in a transaction of its own (at shutdown)."""
        if handed_upto > self._deleted_upto:
            with self._tx() as db:
                db.execute("DELETE FROM events WHERE row <= ?", (handed_upto,))
            self._deleted_upto = handed_upto

    # ------------------------------------------------------------------ reads

    def reply_for(self, request_id: str) -> tuple[str, str] | None:
        """(op, reply JSON) stored for a request id, if it was seen."""
        if request_id not in self._request_ids:
            return None
        row = self._db.execute("SELECT op, reply FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def ticket(self, ticket_id: str) -> Ticket | None:
        row = self._db.execute(f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return _ticket_from_row(row) if row else None

    def issued(self, day: str, prefix: str, band: range = range(0)) -> tuple[int, int]:
        """(tickets issued, highest number outside the offline `band`) under a prefix on a
        business day. Counted by the number, not the current service: a ticket transferred to
        another service still used its number of the service it was taken for. Handed-in
        offline tickets count as issued but do not move the normal numbering."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(MAX(CASE WHEN num < ? OR num >= ? THEN num END), 0) FROM tickets "
            "WHERE day = ? AND rtrim(number, '0123456789') = ?",
            (band.start, band.stop, day, prefix),
        ).fetchone()
        return int(row[0]), int(row[1])

    def lease(self, day: str, number: str) -> Leased | None:
        """The lease of a number on a business day, if it was leased."""
        row = self._db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE day = ? AND number = ?", (day, number)).fetchone()
        return Leased(*row) if row else None

    def band_in_use(self, day: str, service: str, band: range) -> set[int]:
        """Numbers of the band a new lease must not give out: leased already that day, or
        used by a ticket of that day (one issued before the band existed)."""
        leased = self._db.execute("SELECT num FROM leases WHERE day = ? AND service = ?", (day, service))
        used = self._db.execute(
            "SELECT num FROM tickets WHERE day = ? AND rtrim(number, '0123456789') = ? AND num >= ? AND num < ?",
            (day, service, band.start, band.stop))
        return {int(r[0]) for r in leased} | {int(r[0]) for r in used}

    def lease_count(self, day: str, service: str) -> int:
        """How many leases of a service were given out on a business day."""
        row = self._db.execute("SELECT COUNT(DISTINCT lease_id) FROM leases WHERE day = ? AND service = ?",
                               (day, service)).fetchone()
        return int(row[0])

    def recent_durations(self, service: str, limit: int) -> list[float]:
        """The latest service times of a service, oldest first."""
        rows = self._db.execute(
            "SELECT ended_at - COALESCE(started_at, called_at) FROM serves WHERE service = ? AND outcome = 'finished' "
            "ORDER BY row DESC LIMIT ?", (service, limit),
        ).fetchall()
        return [max(0.0, float(r[0])) for r in reversed(rows)]

    def load(self) -> Recovered:
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        placeholders = ", ".join("?" * len(ACTIVE_STATES))
        tickets = [
            _ticket_from_row(r) for r in db.execute(
                f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE state IN ({placeholders})", tuple(ACTIVE_STATES))
        ]
        counters = [Counter(*r) for r in db.execute("SELECT id, state, staff, ticket_id, since, pause_reason FROM counters")]
        events = [PendingEvent(r[0], r[1], json.loads(r[2])) for r in db.execute("SELECT row, topic, payload FROM events ORDER BY row")]
        alarms = {r[0]: RaisedAlarm(r[1], r[2], json.loads(r[3]), r[4], r[5], r[6])
                  for r in db.execute("SELECT key, kind, event_id, data, severity, message, raised_at FROM alarms")}
        closures = {r[0]: Closure(*r) for r in db.execute("SELECT service, closed_by, closed_at, reason FROM service_closures")}
        # The call sequence is the highest call kept (pruning always keeps the last one).
        seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM calls").fetchone()[0])
        return Recovered(epoch=meta["epoch"], seq=seq, tickets=tickets, counters=counters,
                         events=events, alarms=alarms, closures=closures)

    # ------------------------------------------------------------------ housekeeping

    def prune(self, before_day: str, requests_before: float) -> dict[str, int]:
        """Deletes finished tickets, calls, statistics and leases of business days before `before_day`,
        and request ids older than `requests_before`. Live tickets are kept whatever their day."""
        placeholders = ", ".join("?" * len(ACTIVE_STATES))
        with self._tx() as db:
            counts = {
                "tickets": db.execute(f"DELETE FROM tickets WHERE day < ? AND state NOT IN ({placeholders})",
                                      (before_day, *ACTIVE_STATES)).rowcount,
                "calls": db.execute("DELETE FROM calls WHERE day < ? AND seq < (SELECT MAX(seq) FROM calls)",
                                    (before_day,)).rowcount,
                "serves": db.execute("DELETE FROM serves WHERE day < ?", (before_day,)).rowcount,
                "leases": db.execute("DELETE FROM leases WHERE day < ?", (before_day,)).rowcount,
                "requests": db.execute("DELETE FROM requests WHERE at < ?", (requests_before,)).rowcount,
            }
        if counts["requests"]:
            self._request_ids = {r[0] for r in self._db.execute("SELECT request_id FROM requests")}
        return counts

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copies committed WAL frames into the database file. PASSIVE never waits for the
        writer and may run from another thread while operations go on; TRUNCATE (at shutdown)
        also empties the WAL file."""
        if mode not in ("PASSIVE", "TRUNCATE"):
            raise ValueError(mode)
        if mode == "TRUNCATE":
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        with self._aux_lock:
            if self._aux is None:
                self._aux = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._aux.execute("PRAGMA wal_checkpoint(PASSIVE)")
