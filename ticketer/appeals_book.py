"""The appeals book (诉求台账): one SQLite file, WAL with synchronous=FULL (appeals are few and
each one is a promise to a taxpayer, so every commit is flushed), one transaction per operation
with its answer kept under the request id, so a repeated request repeats the first answer.

Privacy: the contact phone is stored twice — masked (`138****5678`, what pages, logs and the
CSV show) and sealed with a key kept beside the database (`appeals.key`, mode 0600), opened
only by the `contact` operation, which is logged in the appeal's history with who asked. The
sealed copy is erased `contact_keep_days` after the return visit. Free text is stored with ID
and phone numbers masked. Nothing in the SQLite file holds a clear phone number.

Deadline events (appeal_due_soon, appeal_overdue, cleared) are committed with the change that
causes them and handed to the bus by the desk after the commit; after a crash the ones still
here are handed again (receivers drop repeats by id).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, Callable

from cryptography.fernet import Fernet, InvalidToken

from taxhall.privacy import mask_text
from ticketer.appeals import CHANNELS, AppealsSection, local_time
from ticketer.appeals_report import analysis, ledger_csv
from ticketer.model import TicketerError
from ticketer.workdays import WorkCalendar

log = logging.getLogger("ticketer.appeals")

# Crockford's base32 without I L O U: read aloud and typed on a kiosk without confusion.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_CHARS = 12  # 60 random bits: a guesser rate-limited to a few tries a minute finds nothing
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_LONG_DIGITS = re.compile(r"(?<!\d)\d{7,}(?!\d)")
ERASE_EVERY_S = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS appeals (
    ref TEXT PRIMARY KEY, category TEXT NOT NULL, channel TEXT NOT NULL, counter TEXT, source TEXT NOT NULL,
    description TEXT NOT NULL, tags TEXT NOT NULL, phone_masked TEXT NOT NULL, phone_sealed TEXT,
    name_masked TEXT NOT NULL, received_by TEXT NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
    filed_at REAL NOT NULL, deadline REAL NOT NULL, warned INTEGER NOT NULL DEFAULT 0, alarmed INTEGER NOT NULL DEFAULT 0,
    answer TEXT, answered_at REAL, answered_by TEXT, satisfaction INTEGER, visited_at REAL, visited_by TEXT,
    closed_at REAL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS appeals_state ON appeals (state, deadline);
CREATE TABLE IF NOT EXISTS history (
    row INTEGER PRIMARY KEY, ref TEXT NOT NULL, at REAL NOT NULL, action TEXT NOT NULL, by TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_ref ON history (ref, row);
CREATE TABLE IF NOT EXISTS requests (request_id TEXT PRIMARY KEY, op TEXT NOT NULL, reply TEXT NOT NULL, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (row INTEGER PRIMARY KEY, payload TEXT NOT NULL);
"""


def mask_phone(phone: str) -> str:
    """`13812345678` → `138****5678`; shorter numbers keep their last four digits only."""
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_free_text(text: str) -> str:
    """ID numbers, mobile numbers and other long digit runs in what a taxpayer typed, masked."""
    text = mask_text(text)
    text = _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)
    return _LONG_DIGITS.sub(lambda m: mask_phone(m.group(0)), text)


def normalize_ref(text: str) -> str | None:
    """A reference as typed (any case, dashes, spaces, O for 0, I/L for 1), or None if it cannot be one."""
    value = re.sub(r"[\s-]", "", text.upper()).replace("O", "0").replace("I", "1").replace("L", "1")
    if len(value) != REF_CHARS or any(c not in REF_ALPHABET for c in value):
        return None
    return value


def format_ref(ref: str) -> str:
    return "-".join(ref[i:i + 4] for i in range(0, len(ref), 4))


def new_ref() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_CHARS))


def clean_phone(phone: str) -> str:
    value = re.sub(r"[\s()-]", "", phone)
    if value and (not value.isdigit() or not 7 <= len(value) <= 15):
        raise TicketerError("bad_phone", "contact phone: 7 to 15 digits (a mobile or a landline with its area code)")
    return value


def _mask_person(name: str) -> str:
    from taxhall.privacy import mask_name

    return mask_name(name) if name.strip() else ""


@dataclass(frozen=True)
class Due:
    """The deadline-related view of one open appeal."""

    ref: str
    category: str
    owner: str
    deadline: float
    warned: bool
    alarmed: bool


class AppealBook:
    """The appeals and their history, with the operations of `appeals/req/{op}`."""

    def __init__(self, path: Path, section: AppealsSection, calendar: WorkCalendar, tz: tzinfo | None) -> None:
        self.path = path
        self.section = section
        self.calendar = calendar
        self.tz = tz
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fernet = Fernet(self._key(path.with_name("appeals.key")))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._erased_at = float("-inf")
        self._ops: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
            "file": self._file, "assign": self._assign, "answer": self._answer, "follow_up": self._follow_up,
            "contact": self._contact,
        }
        self._reads: dict[str, Callable[[dict[str, Any], float], dict[str, Any]]] = {
            "catalog": self._catalog, "lookup": self._lookup, "get": self._get, "list": self._list,
            "analysis": self._analysis, "export": self._export,
        }

    @staticmethod
    def _key(path: Path) -> bytes:
        """The sealing key, made on first use; readable by the ticketer's user only."""
        if path.exists():
            key = path.read_bytes().strip()
            try:
                Fernet(key)
            except ValueError:
                raise OSError(f"{path}: not a sealing key (44 characters of url-safe base64); restore it from the backup") from None
            return key
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        return key

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ dispatch

    def handle(self, op: str, data: dict[str, Any], now: float) -> dict[str, Any]:
        """Runs one operation; changes are idempotent by `request_id`."""
        if op in self._reads:
            return self._reads[op](data, now)
        request_id = str(data["request_id"])
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seen = db.execute("SELECT op, reply FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if seen is not None:
                db.execute("ROLLBACK")
                if seen["op"] != op:
                    raise TicketerError("request_id_reused", f"request id {request_id} was used for {seen['op']}, not {op}")
                return self._opened(dict(json.loads(seen["reply"])))
            reply = self._ops[op](data, now)
            db.execute("INSERT INTO requests (request_id, op, reply, at) VALUES (?, ?, ?, ?)",
                       (request_id, op, json.dumps(reply, ensure_ascii=False), now))
            db.execute("DELETE FROM requests WHERE at < ?", (now - self.section.request_memory_h * 3600,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return self._opened(reply)

    def _opened(self, reply: dict[str, Any]) -> dict[str, Any]:
        """`contact` answers are kept sealed under their request id and opened for each reply,
        so the clear number never reaches the database."""
        sealed = reply.pop("phone_sealed", None)
        if sealed is not None:
            try:
                reply["phone"] = self._fernet.decrypt(sealed.encode()).decode()
            except InvalidToken:
                raise TicketerError("sealed", "the phone number cannot be opened with this hall's key (appeals.key replaced?)") from None
        return reply

    # ------------------------------------------------------------------ helpers

    def _iso(self, ts: float | None) -> str | None:
        return None if ts is None else local_time(ts, self.tz).isoformat(timespec="seconds")

    def _row(self, ref_text: str) -> sqlite3.Row:
        ref = normalize_ref(ref_text)
        row: sqlite3.Row | None = self._db.execute("SELECT * FROM appeals WHERE ref = ?", (ref,)).fetchone() if ref else None
        if row is None:
            # The same answer for a mistyped and an unknown reference: it tells a guesser nothing.
            raise TicketerError("not_found", "no appeal with this reference")
        return row

    def _log(self, ref: str, now: float, action: str, by: str, **detail: Any) -> None:
        self._db.execute("INSERT INTO history (ref, at, action, by, detail) VALUES (?, ?, ?, ?, ?)",
                         (ref, now, action, by, json.dumps(detail, ensure_ascii=False)))

    def _event(self, now: float, kind: str, severity: str, message: str, row: sqlite3.Row | Due) -> None:
        ref = row["ref"] if isinstance(row, sqlite3.Row) else row.ref
        category = row["category"] if isinstance(row, sqlite3.Row) else row.category
        owner = row["owner"] if isinstance(row, sqlite3.Row) else row.owner
        deadline = row["deadline"] if isinstance(row, sqlite3.Row) else row.deadline
        payload = {"id": uuid.uuid4().hex, "at": self._iso(now), "kind": kind, "severity": severity, "message": message,
                   "data": {"key": f"appeal:{ref}", "ref": format_ref(ref), "category": category, "owner": owner,
                            "deadline": self._iso(deadline)}}
        self._db.execute("INSERT INTO events (payload) VALUES (?)", (json.dumps(payload, ensure_ascii=False),))

    def _category_names(self, tag: str) -> tuple[str, str]:
        category = self.section.category(tag)
        return (category.name, category.name_en) if category else (tag, tag)

    def public_view(self, row: sqlite3.Row, now: float) -> dict[str, Any]:
        """What the taxpayer holding the reference sees: no contact, no staff names."""
        name, name_en = self._category_names(row["category"])
        return {"ref": format_ref(row["ref"]), "category": row["category"], "category_name": name,
                "category_name_en": name_en, "channel": row["channel"], "state": row["state"],
                "description": row["description"], "filed_at": self._iso(row["filed_at"]),
                "deadline": self._iso(row["deadline"]), "answer": row["answer"], "answered_at": self._iso(row["answered_at"]),
                "satisfaction": row["satisfaction"], "overdue": row["state"] == "open" and now >= row["deadline"]}

    def staff_view(self, row: sqlite3.Row, now: float, history: bool = False) -> dict[str, Any]:
        view = {**self.public_view(row, now), "counter": row["counter"], "source": row["source"], "tags": json.loads(row["tags"]),
                "phone": row["phone_masked"], "has_phone": row["phone_sealed"] is not None, "name": row["name_masked"],
                "received_by": row["received_by"], "owner": row["owner"], "answered_by": row["answered_by"],
                "visited_at": self._iso(row["visited_at"]), "visited_by": row["visited_by"],
                "closed_at": self._iso(row["closed_at"]), "warned": bool(row["warned"]),
                "answered_late": row["answered_at"] is not None and row["answered_at"] > row["deadline"]}
        if history:
            view["history"] = [{"at": self._iso(h["at"]), "action": h["action"], "by": h["by"], "detail": json.loads(h["detail"])}
                               for h in self._db.execute("SELECT * FROM history WHERE ref = ? ORDER BY row", (row["ref"],))]
        return view

    # ------------------------------------------------------------------ changes

    def _file(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        category = self.section.category(data["category"])
        if category is None:
            known = ", ".join(c.tag for c in self.section.categories)
            raise TicketerError("unknown_category", f"category {data['category']!r} is not configured; known: {known}")
        channel = data["channel"]
        if channel not in CHANNELS:
            raise TicketerError("bad_request", f"channel: one of {', '.join(CHANNELS)}")
        phrases = [p for p in data.get("phrases") or [] if p]
        unknown = [p for p in phrases if p not in category.phrases]
        if unknown:
            raise TicketerError("unknown_phrase", f"phrases {unknown} are not preset for {category.tag}; "
                                                  f"known: {', '.join(category.phrases) or 'none'}")
        description = mask_free_text((data.get("description") or "").strip())
        if not description and not phrases:
            raise TicketerError("empty_appeal", "say what the appeal is about: a preset phrase or a description")
        phone = clean_phone(data.get("phone") or "")
        staff = (data.get("staff") or "").strip()
        counter = (data.get("counter") or "").strip() or None
        if channel == "counter" and counter is None:
            raise TicketerError("bad_request", "counter: which counter received the complaint")
        # 首问负责制: whoever received it owns it; kiosk and web intake go to the service team.
        receiver = staff if channel in ("phone", "counter") and staff else self.section.intake_owner
        if channel in ("phone", "counter") and not staff:
            raise TicketerError("bad_request", "staff: who received the call or complaint (they own it until it is answered)")
        tags = [category.tag, *(f"{category.tag}.{p}" for p in phrases)]
        filed = local_time(now, self.tz)
        deadline = self.calendar.add_working_days(filed, category.days).timestamp()
        ref = new_ref()
        while self._db.execute("SELECT 1 FROM appeals WHERE ref = ?", (ref,)).fetchone():
            ref = new_ref()
        sealed = self._fernet.encrypt(phone.encode()).decode() if phone else None
        self._db.execute(
            "INSERT INTO appeals (ref, category, channel, counter, source, description, tags, phone_masked, phone_sealed, "
            "name_masked, received_by, owner, state, filed_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            (ref, category.tag, channel, counter, data["source"], description, json.dumps(tags), mask_phone(phone), sealed,
             _mask_person(data.get("name") or ""), receiver, receiver, now, deadline))
        self._log(ref, now, "filed", receiver, channel=channel, counter=counter, category=category.tag,
                  phrases=phrases, phone=mask_phone(phone), source=data["source"])
        log.info("appeal %s filed (%s, %s%s), owner %s, due %s, contact %s", format_ref(ref), category.tag, channel,
                 f" at counter {counter}" if counter else "", receiver, self._iso(deadline), mask_phone(phone) or "-")
        row = self._db.execute("SELECT * FROM appeals WHERE ref = ?", (ref,)).fetchone()
        return {"appeal": self.public_view(row, now)}

    def _open_row(self, data: dict[str, Any]) -> sqlite3.Row:
        row = self._row(data["ref"])
        if row["state"] != "open":
            raise TicketerError("already_answered", f"appeal {format_ref(row['ref'])} was answered on {self._iso(row['answered_at'])}")
        return row

    def _assign(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        row = self._open_row(data)
        owner, reason, by = data["owner"].strip(), data["reason"].strip(), data["by"].strip()
        if not owner or not reason or not by:
            raise TicketerError("bad_request", "owner, reason and by: who takes it over, why, and who decided")
        if owner == row["owner"]:
            raise TicketerError("same_owner", f"{owner} owns it already")
        self._db.execute("UPDATE appeals SET owner = ? WHERE ref = ?", (owner, row["ref"]))
        self._log(row["ref"], now, "reassigned", by, **{"from": row["owner"], "to": owner, "reason": mask_free_text(reason)})
        log.info("appeal %s reassigned from %s to %s by %s", format_ref(row["ref"]), row["owner"], owner, by)
        return {"appeal": self.staff_view(self._row(row["ref"]), now)}

    def _answer(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        row = self._open_row(data)
        answer, by = mask_free_text(data["answer"].strip()), data["by"].strip()
        if not answer or not by:
            raise TicketerError("bad_request", "answer and by: the reply given to the taxpayer and who gave it")
        extra = [t.strip().lower() for t in data.get("tags") or [] if t.strip()]
        bad = [t for t in extra if not re.match(r"^[a-z][a-z0-9_.]{0,40}$", t)]
        if bad:
            raise TicketerError("bad_request", f"tags {bad}: lower-case letters, digits, _ and .")
        tags = list(dict.fromkeys([*json.loads(row["tags"]), *extra]))
        self._db.execute("UPDATE appeals SET state = 'answered', answer = ?, answered_at = ?, answered_by = ?, tags = ? "
                         "WHERE ref = ?", (answer, now, by, json.dumps(tags), row["ref"]))
        late = now > row["deadline"]
        self._log(row["ref"], now, "answered", by, late=late, tags=extra)
        if row["warned"] or row["alarmed"]:
            self._event(now, "appeal_overdue" if row["alarmed"] else "appeal_due_soon", "cleared",
                        f"诉求 {format_ref(row['ref'])} 已答复 / appeal answered by {by}", row)
        log.info("appeal %s answered by %s%s", format_ref(row["ref"]), by, " (late)" if late else "")
        return {"appeal": self.staff_view(self._row(row["ref"]), now)}

    def _follow_up(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        row = self._row(data["ref"])
        if row["state"] == "open":
            raise TicketerError("not_answered", "a follow-up comes after the answer; answer the appeal first")
        by, kind, note = data["by"].strip(), data["kind"], mask_free_text((data.get("note") or "").strip())
        satisfaction = data.get("satisfaction")
        if not by:
            raise TicketerError("bad_request", "by: who recorded the follow-up")
        if satisfaction is not None:
            self._db.execute("UPDATE appeals SET satisfaction = ? WHERE ref = ?", (satisfaction, row["ref"]))
        if kind == "return_visit":
            # 回访: the loop is closed; the phone is kept contact_keep_days more, then erased.
            self._db.execute("UPDATE appeals SET state = 'closed', visited_at = ?, visited_by = ?, closed_at = ? WHERE ref = ?",
                             (now, by, now, row["ref"]))
        self._log(row["ref"], now, kind, by, satisfaction=satisfaction, note=note)
        log.info("appeal %s: %s by %s, satisfaction %s", format_ref(row["ref"]), kind, by, satisfaction)
        return {"appeal": self.staff_view(self._row(row["ref"]), now)}

    def _contact(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        """The clear phone number, to call the taxpayer back; every opening is in the history."""
        row = self._row(data["ref"])
        by = data["by"].strip()
        if not by:
            raise TicketerError("bad_request", "by: who needs the number")
        if row["phone_sealed"] is None:
            raise TicketerError("no_contact", "the taxpayer left no phone number, or it was erased after the return visit")
        self._log(row["ref"], now, "contact_opened", by, reason=mask_free_text((data.get("reason") or "").strip()))
        log.info("appeal %s: contact phone opened by %s", format_ref(row["ref"]), by)
        return {"ref": format_ref(row["ref"]), "phone_sealed": row["phone_sealed"]}

    # ------------------------------------------------------------------ reads

    def _catalog(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        return {"categories": [{"tag": c.tag, "name": c.name, "name_en": c.name_en, "days": c.days,
                                "phrases": [{"tag": k, "text": v[0], "text_en": v[1]} for k, v in c.phrases.items()]}
                               for c in self.section.categories],
                "teams": list(self.section.teams)}

    def _lookup(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        return {"appeal": self.public_view(self._row(data["ref"]), now)}

    def _get(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        return {"appeal": self.staff_view(self._row(data["ref"]), now, history=True)}

    def _list(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        state = data.get("state") or "open"
        # Open ones by urgency; all of them newest first.
        query = ("SELECT * FROM appeals WHERE state = 'open' ORDER BY deadline LIMIT ?" if state == "open"
                 else "SELECT * FROM appeals ORDER BY filed_at DESC LIMIT ?")
        rows = self._db.execute(query, (int(data.get("limit") or 200),))
        return {"appeals": [self.staff_view(r, now) for r in rows]}

    def all_rows(self) -> list[sqlite3.Row]:
        return list(self._db.execute("SELECT * FROM appeals ORDER BY filed_at"))

    def history_rows(self) -> list[sqlite3.Row]:
        return list(self._db.execute("SELECT * FROM history ORDER BY ref, row"))

    def _analysis(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        return {"analysis": analysis(self.all_rows(), now, self.tz, int(data.get("weeks") or 8), self.section)}

    def _export(self, data: dict[str, Any], now: float) -> dict[str, Any]:
        return {"csv": ledger_csv(self.all_rows(), self.history_rows(), self._iso)}

    # ------------------------------------------------------------------ deadlines

    def check_deadlines(self, now: float) -> None:
        """Warns before, and alarms after, each open appeal's deadline — once each."""
        lead = self.section.warn_before_h * 3600
        due = [Due(r["ref"], r["category"], r["owner"], r["deadline"], bool(r["warned"]), bool(r["alarmed"]))
               for r in self._db.execute("SELECT * FROM appeals WHERE state = 'open' AND alarmed = 0 AND deadline - ? <= ?",
                                         (lead, now))]
        for item in due:
            late = now >= item.deadline
            if item.warned and not late:
                continue
            self._db.execute("BEGIN IMMEDIATE")
            try:
                name, name_en = self._category_names(item.category)
                if late:
                    self._db.execute("UPDATE appeals SET warned = 1, alarmed = 1 WHERE ref = ?", (item.ref,))
                    self._event(now, "appeal_overdue", "alarm",
                                f"诉求 {format_ref(item.ref)}（{name}）已超过答复期限，负责人 {item.owner} / "
                                f"appeal {format_ref(item.ref)} ({name_en}) is past its deadline; owner {item.owner}", item)
                else:
                    self._db.execute("UPDATE appeals SET warned = 1 WHERE ref = ?", (item.ref,))
                    self._event(now, "appeal_due_soon", "warning",
                                f"诉求 {format_ref(item.ref)}（{name}）将于 {self._iso(item.deadline)} 到期，负责人 {item.owner} / "
                                f"appeal {format_ref(item.ref)} ({name_en}) is due at {self._iso(item.deadline)}; owner {item.owner}",
                                item)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            log.info("appeal %s %s", format_ref(item.ref), "overdue" if late else "due soon")
        if now - self._erased_at >= ERASE_EVERY_S:  # an hourly sweep is soon enough, and spares the disk
            self._erased_at = now
            erase_before = now - self.section.contact_keep_days * 86400
            self._db.execute("UPDATE appeals SET phone_sealed = NULL WHERE phone_sealed IS NOT NULL AND closed_at < ?",
                             (erase_before,))

    def pending_events(self) -> list[tuple[int, dict[str, Any]]]:
        return [(r["row"], json.loads(r["payload"])) for r in self._db.execute("SELECT row, payload FROM events ORDER BY row")]

    def forget_event(self, row: int) -> None:
        self._db.execute("DELETE FROM events WHERE row = ?", (row,))
