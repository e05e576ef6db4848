"""What the hall's screens and boards show, as a plain object fed by bus messages.

The hall screen (Kivy), the LED boards and the voice all follow the queue through this one
model: the retained `queue/state` snapshot and each `queue/calls` event. Calls carry a per-hall
sequence number; the model drops any call it has already shown — after a reconnect, a
redelivery or a restart (the last shown sequence is kept on disk) — and counts gaps.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from taxhall.bus.schemas import CallEvent, QueueState

log = logging.getLogger("display.hall")

SERVICE_NAMES_EN = {"A": "General", "B": "Invoices", "C": "Tax filing", "V": "Appointments"}


@dataclass(frozen=True)
class ShownCall:
    seq: int
    ticket: str
    counter: str
    service: str
    recall: bool
    at: str


@dataclass(frozen=True)
class ServiceLine:
    code: str
    name: str
    waiting: int
    est_wait_s: int
    open: bool


class SeenCalls:
    """The highest call sequence this device has shown, kept in a small file so a restarted
    display does not announce old calls again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.last = 0
        if path and path.exists():
            try:
                self.last = int(json.loads(path.read_text()).get("last_seq", 0))
            except (ValueError, OSError, AttributeError):
                log.warning("ignoring unreadable %s; starting from the retained queue state", path)

    def remember(self, seq: int) -> None:
        self.last = max(self.last, seq)
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"last_seq": self.last}))
            os.replace(tmp, self.path)


@dataclass
class HallModel:
    """Recent calls, waiting per service and counter activity, from the bus."""

    seen: SeenCalls = field(default_factory=lambda: SeenCalls(None))
    recent: deque[ShownCall] = field(default_factory=lambda: deque(maxlen=8))
    services: dict[str, ServiceLine] = field(default_factory=dict)
    counters: dict[str, str | None] = field(default_factory=dict)  # counter → ticket being served
    gaps: int = 0
    state_seq: int = 0

    def apply_state(self, state: QueueState, retained: bool = False) -> None:
        """`retained`: the snapshot the broker kept, received on (re)subscribing — the only
        state that may move the seen-calls mark; a live state can overtake its own call event
        (they travel separately) and must not hide that call."""
        self.services = {
            code: ServiceLine(code, s.name, s.waiting, s.est_wait_s, s.open) for code, s in sorted(state.services.items())
        }
        self.counters = {cid: c.ticket for cid, c in state.counters.items()}
        self.state_seq = state.seq
        if retained and not self.recent and self.seen.last == 0 and state.seq:
            # A display new to this hall starts from the present, not from yesterday's calls.
            self.seen.remember(state.seq)

    def apply_call(self, call: CallEvent) -> ShownCall | None:
        """The call to show and announce, or None if it was shown before."""
        if call.seq <= self.seen.last:
            return None
        if self.seen.last and call.seq > self.seen.last + 1:
            self.gaps += call.seq - self.seen.last - 1
            log.warning("missed %d call(s) before seq %d", call.seq - self.seen.last - 1, call.seq)
        self.seen.remember(call.seq)
        shown = ShownCall(call.seq, call.ticket, call.counter, call.service, call.recall, call.at)
        # A recall moves the ticket to the top instead of listing it twice.
        for earlier in [c for c in self.recent if c.ticket == call.ticket]:
            self.recent.remove(earlier)
        self.recent.appendleft(shown)
        self.counters[call.counter] = call.ticket
        return shown

    @property
    def latest(self) -> ShownCall | None:
        return self.recent[0] if self.recent else None

    def service_lines(self) -> list[ServiceLine]:
        return list(self.services.values())


def window_board_lines(call: ShownCall | None, counter: str, lang: str = "zh") -> list[str]:
    """The two lines of the board above a counter."""
    if lang == "en":
        return [f"No. {call.ticket}", f"Window {counter}"] if call else [f"Window {counter}", "Welcome"]
    return [f"请{call.ticket}号", f"{counter}号窗口"] if call else [f"{counter}号窗口", "欢迎光临"]


def main_board_lines(model: HallModel, lang: str = "zh") -> list[str]:
    """The hall's main board: the latest call, then who waits where."""
    call = model.latest
    if lang == "en":
        first = f"{call.ticket} to window {call.counter}" if call else "Welcome"
        waiting = " ".join(f"{s.code}:{s.waiting}" for s in model.service_lines())
        return [first, f"Waiting {waiting}".strip()]
    first = f"请{call.ticket}号到{call.counter}号窗口" if call else "欢迎光临"
    waiting = " ".join(f"{s.code}{s.waiting}人" for s in model.service_lines())
    return [first, f"等候 {waiting}".strip()]
