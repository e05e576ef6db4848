"""The web process's view of the hall bus, and the fan-out of its changes to open pages.

One HallBus subscribes to `queue/state` (retained), `queue/calls`, `queue/alarms` (retained:
the alarms the engine has raised and not cleared, so the board starts with those raised before
this process did), `device/+/event` (alarms as they come and go) and `display/notice`. Bus
callbacks run on the bus's network thread; pages wait in the asyncio loop. A change sets the
asyncio.Event of each page concerned (one `call_soon_threadsafe` per change, not per page) and
the page reads the latest value itself: a page that is slow to read skips intermediate states
instead of queueing them.

Ticket pages follow one ticket each. Its call is known the moment `queue/calls` names its id,
and a call of its service moves a normal ticket up by one at once. The engine's own figures
(`queue/req/ticket_status`) follow: people ahead and the estimate are asked again after a
change of the queue, at most every `refresh_s` per ticket (at once for priority tickets, which
a normal ticket's call does not move).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from taxhall.bus import BusMessage, HallBus, RequestFailed
from taxhall.bus.errors import BusError

log = logging.getLogger("web.bridge")

_ALARM_MEMORY = 200
_FORGET_UNWATCHED_S = 120.0


@dataclass
class Watched:
    """A ticket some page follows: its latest status and who waits for a change."""

    token: str
    status: dict[str, Any]
    listeners: set[asyncio.Event] = field(default_factory=set)
    version: int = 0  # bumped by a call event, so an older engine answer cannot undo it
    refreshed: float = 0.0
    seen_seq: int = 0  # the queue/state count at the last refresh
    urgent: bool = False
    idle_since: float = 0.0


def _ticket_fields(ticket: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "number", "service", "state", "priority", "ahead", "est_wait_s", "counter")
    return {k: ticket.get(k) for k in keep}


class HallBridge:
    """Latest hall state from the bus, and pages waiting for it to change."""

    def __init__(self, bus: HallBus, *, refresh_s: float = 2.0, workers: int = 8) -> None:
        self.bus = bus
        self.refresh_s = refresh_s
        self.state: dict[str, Any] | None = None
        self.state_seq = 0  # bumped per queue/state received
        self.notice: dict[str, Any] | None = None
        self.alarms: dict[str, dict[str, Any]] = {}
        self.since: dict[str, tuple[str, str | None, float]] = {}  # counter → (state, ticket, since epoch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._board_listeners: set[asyncio.Event] = set()
        self._lock = threading.Lock()
        self._tickets: dict[str, Watched] = {}  # token → watched
        self._by_id: dict[str, str] = {}  # ticket id → token
        self._wake = threading.Condition()
        self._kicked = False
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-refresh")
        self._refresher = threading.Thread(target=self._refresh_loop, name="web-refresher", daemon=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.bus.subscribe("queue/state", self._on_state)
        self.bus.subscribe("queue/calls", self._on_call, dedupe=True)
        self.bus.subscribe("queue/alarms", self._on_alarms)
        self.bus.subscribe("device/+/event", self._on_event, dedupe=True)
        self.bus.subscribe("display/notice", self._on_notice)
        self._refresher.start()

    def close(self) -> None:
        self._stopping.set()
        self._kick_refresher()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ waking pages

    def _wake_pages(self, events: list[asyncio.Event]) -> None:
        if self._loop is None or not events:
            return

        def set_all() -> None:
            for event in events:
                event.set()

        try:
            self._loop.call_soon_threadsafe(set_all)
        except RuntimeError:  # the loop has closed: the server is stopping
            pass

    def board_listener(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._board_listeners.add(event)
        return event

    def drop_board_listener(self, event: asyncio.Event) -> None:
        with self._lock:
            self._board_listeners.discard(event)

    # ------------------------------------------------------------------ bus handlers (network thread)

    def _on_state(self, message: BusMessage) -> None:
        state = message.data.model_dump(mode="json")
        now = time.time()
        with self._lock:
            for cid, counter in state.get("counters", {}).items():
                seen = (counter.get("state"), counter.get("ticket"))
                before = self.since.get(cid)
                if before is None or before[:2] != seen:
                    self.since[cid] = (*seen, now)
                counter["since"] = self.since[cid][2]
            self.state = state
            self.state_seq += 1
            board = list(self._board_listeners)
        self._wake_pages(board)
        self._kick_refresher()  # a general change: tickets not refreshed lately are asked again

    def _on_call(self, message: BusMessage) -> None:
        call = message.data
        with self._lock:
            token = self._by_id.get(call.ticket_id)
            woken: list[asyncio.Event] = []
            if token is not None:
                watched = self._tickets[token]
                watched.status = {**watched.status, "state": "called", "counter": call.counter, "ahead": 0,
                                  "est_wait_s": 0, "recall": call.recall}
                watched.version += 1
                woken += watched.listeners
            for other in self._tickets.values():
                if other is not self._tickets.get(token or "") and other.status.get("service") == call.service \
                        and other.status.get("state") == "waiting":
                    if self._one_fewer_ahead(other, call.recall):
                        woken += other.listeners
                    else:
                        other.urgent = True
            board = list(self._board_listeners)
        self._wake_pages(woken + board)
        self._kick_refresher()

    @staticmethod
    def _one_fewer_ahead(watched: Watched, recall: bool) -> bool:
        """A first call of its service moves a normal ticket up by one at once: whoever was
        called waited before it (a normal ticket counts every waiting one of its service as
        ahead). The engine's figure follows with the next refresh; a priority ticket (which
        counts only priority tickets ahead) waits for that. Returns whether it changed."""
        status = watched.status
        ahead = status.get("ahead") or 0
        if recall or status.get("priority") not in (None, "normal") or ahead <= 0:
            return False
        wait = status.get("est_wait_s") or 0
        watched.status = {**status, "ahead": ahead - 1, "est_wait_s": round(wait * (ahead - 1) / ahead)}
        watched.version += 1  # an engine answer sent before this call must not undo it
        return True

    def _on_event(self, message: BusMessage) -> None:
        event = message.data
        device = message.suffix.split("/")[1]
        key = f"{device}:{event.data.get('key') or event.kind}"
        with self._lock:
            if event.severity == "cleared":
                self.alarms.pop(key, None)
            elif event.severity in ("alarm", "warning"):
                self.alarms[key] = {"device": device, "kind": event.kind, "severity": event.severity,
                                    "message": event.message, "at": event.at}
                while len(self.alarms) > _ALARM_MEMORY:
                    self.alarms.pop(next(iter(self.alarms)))
            board = list(self._board_listeners)
        self._wake_pages(board)

    def _on_alarms(self, message: BusMessage) -> None:
        """The engine's whole set of raised alarms: it replaces the queue alarms the events of
        that device left here (an event missed while this process was away is made good). The
        desks beside the queue on the same device (appeals: `appeal:{ref}`) raise their own and
        are not in the engine's set, so they stay."""
        snapshot = message.data
        device = snapshot.device
        with self._lock:
            for key in [k for k, a in self.alarms.items() if a["device"] == device and not k.startswith(f"{device}:appeal:")]:
                del self.alarms[key]
            for alarm in snapshot.alarms:
                self.alarms[f"{device}:{alarm.key}"] = {"device": device, "kind": alarm.kind, "severity": alarm.severity,
                                                        "message": alarm.message, "at": alarm.raised_at}
            board = list(self._board_listeners)
        self._wake_pages(board)

    def _on_notice(self, message: BusMessage) -> None:
        self.notice = message.data.model_dump(mode="json")

    # ------------------------------------------------------------------ the board

    def board(self) -> dict[str, Any]:
        """What the dashboard shows live: services, counters (with since), alarms."""
        with self._lock:
            state = self.state or {"services": {}, "counters": {}}
            return {"services": state.get("services", {}), "counters": state.get("counters", {}),
                    "alarms": sorted(self.alarms.values(), key=lambda a: a["at"], reverse=True),
                    "day": state.get("day"), "now": time.time()}

    # ------------------------------------------------------------------ tickets

    def ask_status(self, token: str) -> dict[str, Any] | None:
        """The engine's answer for a token (blocking; call from a worker thread), or None."""
        try:
            # Short: a phone waiting longer than this had better show "reconnecting" and retry.
            reply = self.bus.request("queue/req/ticket_status", {"token": token}, timeout_s=3.0)
        except RequestFailed as exc:
            if exc.code in ("unknown_ticket", "bad_request"):
                return None
            raise
        return _ticket_fields(reply["ticket"])

    def follow(self, token: str, status: dict[str, Any]) -> tuple[Watched, asyncio.Event]:
        """Registers a page for a ticket whose status was just read."""
        event = asyncio.Event()
        with self._lock:
            watched = self._tickets.get(token)
            if watched is None:
                watched = self._tickets[token] = Watched(token, status, refreshed=time.monotonic())
                self._by_id[status["id"]] = token
            watched.listeners.add(event)
        return watched, event

    def unfollow(self, watched: Watched, event: asyncio.Event) -> None:
        with self._lock:
            watched.listeners.discard(event)
            if not watched.listeners:
                watched.idle_since = time.monotonic()

    def cached(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            watched = self._tickets.get(token)
            return dict(watched.status) if watched else None

    def watched_count(self) -> int:
        with self._lock:
            return sum(1 for w in self._tickets.values() if w.listeners)

    def _due(self) -> list[tuple[Watched, int]]:
        now = time.monotonic()
        due = []
        with self._lock:
            for token, watched in list(self._tickets.items()):
                if not watched.listeners:
                    if now - watched.idle_since > _FORGET_UNWATCHED_S:
                        del self._tickets[token]
                        self._by_id.pop(watched.status.get("id", ""), None)
                    continue
                if watched.status.get("state") == "done":
                    continue
                stale = watched.seen_seq != self.state_seq and now - watched.refreshed >= self.refresh_s
                if watched.urgent or stale:
                    watched.urgent = False
                    watched.refreshed = now
                    watched.seen_seq = self.state_seq
                    due.append((watched, watched.version))
        return due

    def _kick_refresher(self) -> None:
        with self._wake:
            self._kicked = True
            self._wake.notify_all()

    def _refresh_loop(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                if not self._kicked:
                    self._wake.wait(self.refresh_s)
                self._kicked = False
            if self._stopping.is_set():
                return
            due = self._due()
            if due:
                # In parallel: the engine answers them one by one, but the round trips overlap.
                list(self._pool.map(self._refresh_one, due))

    def _refresh_one(self, item: tuple[Watched, int]) -> None:
        watched, version = item
        try:
            status = self.ask_status(watched.token)
        except BusError as exc:  # engine away: the page keeps its last status and says nothing
            log.debug("ticket refresh failed: %s", exc)
            return
        with self._lock:
            if watched.version != version:
                watched.seen_seq = -1  # a call came in meanwhile: ask again at the next turn
                return
            new = status if status is not None else {**watched.status, "state": "done", "ahead": 0, "est_wait_s": 0}
            if new == watched.status:
                return
            watched.status = new
            listeners = list(watched.listeners)
        self._wake_pages(listeners)
