"""The device's disk outbox for QoS 1 events.

Every event is written here before it is handed to MQTT and deleted only when the broker
acknowledges it (PUBACK). A broker outage, a broker crash (Mosquitto only saves every
`autosave_interval`) or a crash of the device itself therefore loses nothing: what is left
is sent again, in the order it was written, when the bus is back.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


@dataclass(frozen=True)
class OutboxEntry:
    row: int
    topic: str
    payload: bytes
    retain: bool


class Outbox:
    """An ordered queue of unacknowledged events in one SQLite file. Thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives a process crash; only an OS crash may drop the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " row INTEGER PRIMARY KEY AUTOINCREMENT,"
            " topic TEXT NOT NULL, payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0)"
        )

    def add(self, topic: str, payload: bytes, retain: bool = False) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)", (topic, payload, int(retain))
            )
            return int(cur.lastrowid or 0)

    def after(self, row: int, limit: int) -> list[OutboxEntry]:
        """Entries written after `row`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT row, topic, payload, retain FROM outbox WHERE row > ? ORDER BY row LIMIT ?", (row, limit)
            ).fetchall()
        return [OutboxEntry(r, t, bytes(p), bool(k)) for r, t, p, k in rows]

    def remove(self, rows: Iterable[int]) -> None:
        batch = [(r,) for r in rows]
        if not batch:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE row = ?", batch)
            self._db.execute("COMMIT")

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
