"""The rating pad's logic: the taxpayer-facing pad at a counter (评价器).

It follows its counter in the retained `queue/state`; when the ticket being served there is
finished, it asks that taxpayer for one of five levels (非常满意 … 非常不满意), sends `rate`
once, thanks them and returns to idle by itself. A plain object; the Kivy pad binds to it.

Out of service from afar (`cmd/out_of_service` / `cmd/in_service`, served by
ticketer.counter_desk.serve_service_commands as for the caller): the pad shows the reason,
asks nobody and takes no rating until it is back in service.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from taxhall.bus import BusError, BusMessage
from ticketer.counter_desk import OutOfService, Requester
from ticketer.queue_words import RATING_LEVELS, error_words, words


@dataclass(frozen=True)
class PadScreen:
    mode: str = "idle"  # idle, asking, thanks, error, closed (out of service)
    counter: str = ""
    staff: str | None = None
    ticket: str | None = None
    ticket_id: str | None = None
    message: str = ""
    until: float | None = None  # monotonic time the pad goes back to idle


@dataclass
class RatingPad:
    bus: Requester
    counter: str
    lang: str = "zh"
    ask_s: float = 30.0  # how long the question stays up
    thanks_s: float = 4.0
    on_change: Callable[[PadScreen], None] = lambda screen: None
    screen: PadScreen = field(init=False)
    _serving: tuple[str | None, str | None, str | None] = (None, None, None)  # ticket id, number, staff
    _rated: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    closed: OutOfService | None = None  # out of service from afar

    def close_for_service(self, closure: OutOfService) -> dict[str, Any]:
        """The reason on the pad; a question up now is withdrawn, nothing is rated."""
        self.closed = closure
        self._show(PadScreen("closed", self.counter, message=self.closed_text()))
        return {}

    def reopen(self) -> dict[str, Any]:
        self.closed = None
        self._show(PadScreen(counter=self.counter))
        return {}

    def closed_text(self) -> str:
        closure = self.closed or OutOfService()
        return closure.reason(self.lang, "本评价器暂停使用", "This rating pad is out of service")

    def __post_init__(self) -> None:
        self.screen = PadScreen(counter=self.counter)

    def on_state(self, message: BusMessage) -> None:
        mine = message.data.counters.get(self.counter)
        if mine is None:
            return
        ticket_id = getattr(mine, "ticket_id", None)
        with self._lock:
            was_id, was_number, was_staff = self._serving
            if mine.state == "serving" and ticket_id:
                self._serving = (ticket_id, mine.ticket, mine.staff)
                return
            finished = was_id is not None and was_id != ticket_id
            self._serving = (None, None, None)
        if finished and was_id not in self._rated and self.closed is None:
            self._show(PadScreen("asking", self.counter, was_staff, was_number, was_id,
                                 "请对本次服务进行评价" if self.lang == "zh" else "How did we do?",
                                 time.monotonic() + self.ask_s))

    def levels(self) -> list[tuple[int, str]]:
        return [(level, words(RATING_LEVELS, level, self.lang)) for level in sorted(RATING_LEVELS, reverse=True)]

    def rate(self, level: int) -> PadScreen:
        screen = self.screen
        if self.closed is not None or screen.mode != "asking" or not screen.ticket_id:
            return screen  # out of service, or nothing asked: a press does nothing
        payload = {"request_id": f"rate-{screen.ticket_id}", "ticket": screen.ticket_id, "level": level,
                   "counter": self.counter}
        try:  # retried with the same request id: a rating is never counted twice
            reply: dict[str, Any] | None = self.bus.request_retried("queue/req/rate", payload)
        except BusError:
            reply = None
        self._rated.add(screen.ticket_id)
        if reply is None:
            return self._show(replace(screen, mode="error", message=error_words("timeout", "", self.lang),
                                      until=time.monotonic() + self.thanks_s))
        if not reply.get("ok") and (reply.get("error") or {}).get("code") != "already_rated":
            error = reply.get("error") or {}
            return self._show(replace(screen, mode="error", until=time.monotonic() + self.thanks_s,
                                      message=error_words(str(error.get("code")), str(error.get("message", "")), self.lang)))
        return self._show(replace(screen, mode="thanks", until=time.monotonic() + self.thanks_s,
                                  message="感谢您的评价！" if self.lang == "zh" else "Thank you!"))

    def expire(self, now: float | None = None) -> PadScreen:
        """Back to idle once the question or the thanks has been up long enough."""
        screen = self.screen
        if screen.until is not None and (now or time.monotonic()) >= screen.until:
            return self._show(PadScreen(counter=self.counter))
        return screen

    def _show(self, screen: PadScreen) -> PadScreen:
        if self.closed is not None and screen.mode != "closed":  # a rating that ended after the close
            screen = PadScreen("closed", self.counter, message=self.closed_text())
        self.screen = screen
        self.on_change(screen)
        return screen
