"""The counter caller's logic: what staff at a counter do (login, call next, recall, start,
finish, no-show, transfer, pause, resume, logout) and what their screen shows.

A plain object over the bus contract (docs/mqtt.md), driven by the Kivy caller and by tests
alike. Each action keeps its request id across a retry, so a press whose answer got lost
never calls a second ticket. What the counter is doing comes from the engine: replies give
immediate feedback and the retained `queue/state` keeps the screen true after a restart.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol

from taxhall.bus import BusError, BusMessage, RequestTimeout
from ticketer.queue_words import STATES, error_words, words


class Requester(Protocol):
    def request(self, suffix: str, payload: dict[str, Any], *, timeout_s: float | None = None,
                check: bool = True) -> dict[str, Any]: ...


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
                )
            self.screen = screen
        self.on_change(screen)

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
        payload = {"request_id": f"{self.counter}-{op}-{uuid.uuid4().hex[:12]}", "counter": self.counter}
        payload.update({k: v for k, v in fields.items() if v is not None})
        self._set(busy=True, message="")
        reply: dict[str, Any] | None = None
        # One retry with the same request id: a lost answer is fetched again, never acted twice.
        for attempt in range(2):
            try:
                reply = self.bus.request(f"queue/req/{op}", payload, timeout_s=self.timeout_s, check=False)
                break
            except RequestTimeout:
                continue
            except BusError:
                return self._set(busy=False, ok=False, message=error_words("offline", "", self.lang))
        if reply is None:
            return self._set(busy=False, ok=False, message=error_words("timeout", "", self.lang))
        if not reply.get("ok"):
            error = reply.get("error") or {}
            return self._set(busy=False, ok=False, message=error_words(str(error.get("code")), str(error.get("message", "")), self.lang))
        return self._apply(op, fields, reply)

    def _apply(self, op: str, fields: dict[str, Any], reply: dict[str, Any]) -> DeskScreen:
        ticket = reply.get("ticket") or {}
        zh = self.lang == "zh"
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
            return self._set(busy=False, ok=True, state="idle", ticket=None, ticket_id=None, service=None, since=None,
                             message=f"{number} {done[0] if zh else done[1]}".strip())
        if op == "pause":
            return self._set(busy=False, ok=True, state="paused", message="已暂停" if zh else "Paused")
        if op == "resume":
            return self._set(busy=False, ok=True, state="idle", message="已恢复" if zh else "Resumed")
        if op == "logout":
            return self._set(busy=False, ok=True, state="closed", staff=None, ticket=None, since=None,
                             message="已退出" if zh else "Logged out")
        return self._set(busy=False, ok=True)

    def _set(self, **changes: Any) -> DeskScreen:
        with self._lock:
            self.screen = replace(self.screen, **changes)
            screen = self.screen
        self.on_change(screen)
        return screen

    # ------------------------------------------------------------------ texts

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
