"""The counter caller's logic: what staff at a counter do (login, call next, recall, start,
finish, no-show, transfer, pause, resume, logout) and what their screen shows.

A plain object over the bus contract (docs/mqtt.md), driven by the Kivy caller and by tests
alike. Each action keeps its request id across a retry, so a press whose answer got lost
never calls a second ticket. What the counter is doing comes from the engine: replies give
immediate feedback and the retained `queue/state` keeps the screen true after a restart.

Out of service (`device/{id}/cmd/out_of_service` / `cmd/in_service`, as on the dispenser and
the kiosk; `serve_service_commands` here serves them for the caller and the rating pad): the
reason is shown, no new ticket is called, and the counter stops being given tickets — a
logged-in counter is paused in the engine with reason `out_of_service` (once the ticket in
hand, if any, is finished, marked no-show or transferred: a taxpayer already at the counter
is served to the end). `in_service` resumes it only if that pause was ours; a staff member's
own pause (a break) is left for them to end. The state is kept in a file across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from taxhall.bus import BusError, BusMessage, HallBus, RequestRejected, RequestTimeout
from taxhall.commands import serve_command
from ticketer.counter_prefill import PrefillCard, read_code
from ticketer.queue_words import STATES, error_words, words

log = logging.getLogger("ticketer.counter")

OUT_OF_SERVICE = "out_of_service"  # the pause reason the engine keeps for a counter closed from afar
# What staff may still do while out of service: finish with the taxpayer already called.
ALLOWED_WHILE_CLOSED = frozenset({"recall", "start", "finish", "no_show", "transfer", "logout"})
PREFILL_ENDS = frozenset({"call_next", "finish", "no_show", "transfer", "logout"})  # ops that end a taxpayer's turn


class Requester(Protocol):
    def request(self, suffix: str, payload: dict[str, Any], *, timeout_s: float | None = None,
                check: bool = True) -> dict[str, Any]: ...

    def request_retried(self, suffix: str, payload: dict[str, Any], *, timeout_s: float | None = None,
                        tries: int = 2) -> dict[str, Any]: ...


# ---------------------------------------------------------------------- out of service


@dataclass(frozen=True)
class OutOfService:
    """An operator's out_of_service: the reason to show, Chinese and (optionally) English.
    Empty texts mean the device's own default words."""

    message: str = ""
    message_en: str = ""

    def title(self, lang: str) -> str:
        return "暂停服务" if lang == "zh" else "Out of service"

    def reason(self, lang: str, default_zh: str, default_en: str) -> str:
        if lang == "zh":
            return self.message or default_zh
        if self.message_en:
            return self.message_en
        # An English reader still sees the operator's Chinese words (a counter number, a time).
        return f"{default_en}\n{self.message}" if self.message else default_en


def closure_from_args(args: dict[str, Any]) -> OutOfService:
    """`cmd/out_of_service` args {message?, message_en?}; RequestRejected on anything else."""
    texts: dict[str, str] = {}
    for key in ("message", "message_en"):
        value = args.get(key, "")
        if not isinstance(value, str) or len(value) > 200:
            raise RequestRejected("bad_request", f"args.{key}: a text of at most 200 characters")
        texts[key] = value.strip()
    return OutOfService(**texts)


def load_closure(path: Path) -> OutOfService | None:
    """The out-of-service state kept in `path`; None when in service (or the file is unreadable:
    a broken file must not keep a device closed that nobody can see why)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return OutOfService(str(data.get("message", "")), str(data.get("message_en", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        log.warning("%s: unreadable out-of-service state, taken as in service", path)
        return None


def save_closure(path: Path, closure: OutOfService | None) -> None:
    if closure is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"message": closure.message, "message_en": closure.message_en}, ensure_ascii=False),
                   encoding="utf-8")
    os.replace(tmp, path)  # whole or not at all: a power cut leaves the old state


class Closable(Protocol):
    def close_for_service(self, closure: OutOfService) -> dict[str, Any]: ...

    def reopen(self) -> dict[str, Any]: ...


def serve_service_commands(bus: HallBus, device: Closable, state_file: Path) -> OutOfService | None:
    """`cmd/out_of_service` {message?, message_en?} and `cmd/in_service` for `device`, each
    logged with who asked (taxhall.commands); the state is kept in `state_file` and the retained
    status says `out_of_service` / `online`. A device closed before a restart is closed again
    here (returned). Call before `bus.start()`."""

    def close(message: BusMessage) -> dict[str, Any]:
        closure = closure_from_args(getattr(message.data, "args", None) or {})
        save_closure(state_file, closure)
        bus.set_status(OUT_OF_SERVICE)
        return {"state": OUT_OF_SERVICE, **device.close_for_service(closure)}

    def reopen(message: BusMessage) -> dict[str, Any]:
        save_closure(state_file, None)
        bus.set_status("online")
        return {"state": "online", **device.reopen()}

    saved = load_closure(state_file)
    if saved is not None:
        bus.set_status(OUT_OF_SERVICE)
        device.close_for_service(saved)
    # blocking: closing a counter asks the engine to pause it, an answer this bus must receive
    serve_command(bus, OUT_OF_SERVICE, close, blocking=True)
    serve_command(bus, "in_service", reopen, blocking=True)
    return saved


@dataclass(frozen=True)
class DeskScreen:
    """Everything the caller's screen shows."""

    counter: str
    staff: str | None = None
    state: str = "closed"
    ticket: str | None = None
    ticket_id: str | None = None
    service: str | None = None
    since: float | None = None  # monotonic time the current ticket was called
    waiting: int = 0  # people waiting for this counter's services
    message: str = ""
    ok: bool = True
    busy: bool = False
    pause_reason: str | None = None  # the engine's, while paused
    closed: OutOfService | None = None  # out of service from afar, with the reason to show
    prefill: PrefillCard | None = None  # a pre-filled request code scanned for the taxpayer being served


@dataclass
class CounterDesk:
    bus: Requester
    counter: str
    services: tuple[str, ...] = ()  # which services count as "waiting for me"; empty = all
    lang: str = "zh"
    timeout_s: float = 3.0
    on_change: Callable[[DeskScreen], None] = lambda screen: None
    screen: DeskScreen = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _service_names: dict[str, str] = field(default_factory=dict, init=False)
    _pausing: threading.Lock = field(default_factory=threading.Lock, init=False)
    prefill_keys: tuple[str, ...] = ()  # the hall's public keys for pre-filled codes ([counter] prefill_keys)

    def __post_init__(self) -> None:
        self.screen = DeskScreen(self.counter)

    # ------------------------------------------------------------------ state from the bus

    def on_state(self, message: BusMessage) -> None:
        state = message.data
        self._service_names = {code: s.name if self.lang == "zh" else getattr(s, "name_en", None) or s.name
                               for code, s in state.services.items()}
        mine = state.counters.get(self.counter)
        waiting = sum(s.waiting for code, s in state.services.items() if not self.services or code in self.services)
        with self._lock:
            screen = replace(self.screen, waiting=waiting)
            if mine is not None:
                same_ticket = mine.ticket == self.screen.ticket
                screen = replace(
                    screen, state=mine.state, staff=mine.staff or screen.staff, ticket=mine.ticket,
                    ticket_id=getattr(mine, "ticket_id", None),
                    service=getattr(mine, "service", None) if mine.ticket else None,
                    since=self.screen.since if same_ticket else (time.monotonic() if mine.ticket else None),
                    pause_reason=getattr(mine, "reason", None) if mine.state == "paused" else None,
                )
            self.screen = screen
        self.on_change(screen)
        if screen.closed is not None and screen.state == "idle" and screen.staff:
            # Out of service yet open in the engine (a restart, a resume from elsewhere, a
            # ticket just done): pause it — from a thread, a bus callback must not wait.
            threading.Thread(target=self._pause_for_service, args=(False,), name="oos-pause", daemon=True).start()

    # ------------------------------------------------------------------ out of service

    def close_for_service(self, closure: OutOfService) -> dict[str, Any]:
        """Out of service: the reason on screen, no new tickets; paused in the engine when a
        staff member is logged in and no ticket is in hand (else once it is done)."""
        self._set(closed=closure)
        log.info("counter %s out of service", self.counter)
        return {"counter": self._pause_for_service().state}

    def reopen(self) -> dict[str, Any]:
        """In service again; the engine's pause is ended only if it was ours."""
        screen = self._set(closed=None)
        log.info("counter %s in service", self.counter)
        if screen.state == "paused" and screen.pause_reason == OUT_OF_SERVICE:
            screen = self._act("resume")
        return {"counter": screen.state}

    def closed_text(self) -> str:
        """The reason shown while out of service, in the screen's language."""
        closure = self.screen.closed or OutOfService()
        return closure.reason(self.lang, "本窗口暂停服务，请到其他窗口办理", "This counter is out of service; please go to another counter")

    def _pause_for_service(self, wait: bool = True) -> DeskScreen:
        """Pauses the counter in the engine if it is out of service yet open there. `wait`:
        after another thread's pause in flight (the answer should say how it ended); else
        leave it to that thread."""
        if not self._pausing.acquire(blocking=wait):
            return self.screen
        try:
            screen = self.screen
            if screen.closed is None or screen.state != "idle" or not screen.staff:
                return screen  # nobody logged in, already paused (ours or a break), or a ticket in hand
            return self._act("pause", reason=OUT_OF_SERVICE)
        finally:
            self._pausing.release()

    # ------------------------------------------------------------------ actions

    def login(self, staff: str) -> DeskScreen:
        return self._act("login", staff=staff)

    def call_next(self) -> DeskScreen:
        return self._act("call_next")

    def recall(self) -> DeskScreen:
        return self._act("recall")

    def start(self) -> DeskScreen:
        return self._act("start")

    def finish(self) -> DeskScreen:
        return self._act("finish")

    def no_show(self) -> DeskScreen:
        return self._act("no_show")

    def transfer(self, to_service: str | None = None, to_counter: str | None = None) -> DeskScreen:
        return self._act("transfer", to_service=to_service, to_counter=to_counter)

    def pause(self, reason: str) -> DeskScreen:
        return self._act("pause", reason=reason)

    def resume(self) -> DeskScreen:
        return self._act("resume")

    def logout(self) -> DeskScreen:
        return self._act("logout")

    def _act(self, op: str, **fields: Any) -> DeskScreen:
        closed = self.screen.closed
        if closed is not None and op not in ALLOWED_WHILE_CLOSED and fields.get("reason") != OUT_OF_SERVICE:
            return self._set(ok=False, message=self.closed_text())  # login, call_next, pause, resume
        payload = {"request_id": f"{self.counter}-{op}-{uuid.uuid4().hex[:12]}", "counter": self.counter}
        payload.update({k: v for k, v in fields.items() if v is not None})
        self._set(busy=True, message="")
        try:  # retried with the same request id: a lost answer is fetched again, never acted twice
            reply = self.bus.request_retried(f"queue/req/{op}", payload, timeout_s=self.timeout_s)
        except RequestTimeout:
            return self._set(busy=False, ok=False, message=error_words("timeout", "", self.lang))
        except BusError:
            return self._set(busy=False, ok=False, message=error_words("offline", "", self.lang))
        if not reply.get("ok"):
            error = reply.get("error") or {}
            return self._set(busy=False, ok=False, message=error_words(str(error.get("code")), str(error.get("message", "")), self.lang))
        return self._apply(op, fields, reply)

    def _apply(self, op: str, fields: dict[str, Any], reply: dict[str, Any]) -> DeskScreen:
        ticket = reply.get("ticket") or {}
        zh = self.lang == "zh"
        if op in PREFILL_ENDS:
            with self._lock:  # the last taxpayer's request leaves the screen with them
                self.screen = replace(self.screen, prefill=None)
        if op == "login":
            return self._set(busy=False, ok=True, staff=fields["staff"], state="idle",
                             message=f"{fields['staff']} 已登录" if zh else f"{fields['staff']} logged in")
        if op in ("call_next", "recall"):
            number = ticket.get("number")
            again = op == "recall"
            text = (f"重呼 {number}" if again else f"已呼叫 {number}") if zh else (f"Recalled {number}" if again else f"Called {number}")
            since = self.screen.since if again else time.monotonic()
            return self._set(busy=False, ok=True, state="calling", ticket=number, ticket_id=ticket.get("id"),
                             service=ticket.get("service"), since=since, message=text)
        if op == "start":
            return self._set(busy=False, ok=True, state="serving", message="开始办理" if zh else "Serving")
        if op in ("finish", "no_show", "transfer"):
            done = {"finish": ("已办结", "Finished"), "no_show": ("已过号", "Marked no-show"),
                    "transfer": ("已转移", "Transferred")}[op]
            number = self.screen.ticket or ticket.get("number") or ""
            screen = self._set(busy=False, ok=True, state="idle", ticket=None, ticket_id=None, service=None, since=None,
                               message=f"{number} {done[0] if zh else done[1]}".strip())
            if screen.closed is not None:  # out of service: the ticket in hand was the last
                self._pause_for_service()
                return self._set(message=screen.message)  # "A001 已办结" stays; the header says paused
            return screen
        if op == "pause":
            return self._set(busy=False, ok=True, state="paused", pause_reason=fields["reason"],
                             message="已暂停" if zh else "Paused")
        if op == "resume":
            return self._set(busy=False, ok=True, state="idle", pause_reason=None, message="已恢复" if zh else "Resumed")
        if op == "logout":
            return self._set(busy=False, ok=True, state="closed", staff=None, ticket=None, since=None,
                             message="已退出" if zh else "Logged out")
        return self._set(busy=False, ok=True)

    def say(self, ok: bool, message: str) -> DeskScreen:
        """A line on the caller's screen from a companion of the desk (an appeal logged, ticketer.counter_appeal)."""
        return self._set(ok=ok, message=message)

    def _set(self, **changes: Any) -> DeskScreen:
        with self._lock:
            self.screen = replace(self.screen, **changes)
            screen = self.screen
        self.on_change(screen)
        return screen

    # ------------------------------------------------------------------ texts

    def scan_prefill(self, text: str, now: datetime | None = None) -> DeskScreen:
        """A scanned pre-filled request code (免填单): shown on screen, or why it is refused."""
        card = read_code(text, self.prefill_keys, now or datetime.now(timezone.utc), self.lang)
        if card.ok:
            log.info("counter %s read pre-filled code %s", self.counter, card.reference)
        return self._set(prefill=card, ok=card.ok, message=card.title)

    def service_names(self) -> dict[str, str]:
        """Service code → name, from the last queue state (for the transfer choice)."""
        return dict(self._service_names)

    def state_text(self) -> str:
        return words(STATES, self.screen.state, self.lang, self.screen.state)

    def waited_text(self, now: float | None = None) -> str:
        if self.screen.since is None:
            return ""
        minutes = int(((now or time.monotonic()) - self.screen.since) // 60)
        return f"已叫 {minutes} 分钟" if self.lang == "zh" else f"called {minutes} min ago"
