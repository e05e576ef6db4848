"""The queue engine on the hall bus: answers `queue/req/{op}`, publishes `queue/calls`, the
retained `queue/state`, the alarms (`device/{id}/event`) and the retained set of alarms still
raised (`queue/alarms`).

Requests arrive on the bus's network thread, housekeeping on the main loop's; one lock keeps
the engine to one caller at a time. After every change, still under the lock, the committed
events go to the bus outbox in commit order (so displays see calls in `seq` order); a thread
of its own then publishes the new state snapshot, retained (several changes in quick
succession give one publication of the latest state).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any, Callable, Protocol

from taxhall.bus import BusMessage, HallBus, RequestRejected
from taxhall.bus.schemas import QUEUE_OPS, now_iso
from ticketer.engine import Engine
from ticketer.model import OpResult, TicketerError

log = logging.getLogger("ticketer.service")


def _extra(data: Any, name: str) -> Any:
    """An optional field beyond the fixed minimum (e.g. `ticket` on finish), if sent."""
    return (getattr(data, "model_extra", None) or {}).get(name)


def _dispatch(engine: Engine) -> dict[str, Callable[[Any], OpResult]]:
    """One function per op, from the validated request model to the engine call."""
    return {
        "take_ticket": lambda d: engine.take_ticket(d.request_id, d.service, d.source, d.priority, d.appointment),
        "login": lambda d: engine.login(d.request_id, d.counter, d.staff),
        "logout": lambda d: engine.logout(d.request_id, d.counter),
        "pause": lambda d: engine.pause(d.request_id, d.counter, d.reason),
        "resume": lambda d: engine.resume(d.request_id, d.counter),
        "call_next": lambda d: engine.call_next(d.request_id, d.counter),
        "recall": lambda d: engine.recall(d.request_id, d.counter, _extra(d, "ticket")),
        "start": lambda d: engine.start(d.request_id, d.counter, _extra(d, "ticket")),
        "finish": lambda d: engine.finish(d.request_id, d.counter, _extra(d, "ticket")),
        "no_show": lambda d: engine.no_show(d.request_id, d.counter, _extra(d, "ticket")),
        "transfer": lambda d: engine.transfer(d.request_id, d.counter, d.to_service, d.to_counter, _extra(d, "ticket")),
        "rate": lambda d: engine.rate(d.request_id, d.ticket, d.level, _extra(d, "counter")),
        "lease": lambda d: engine.lease(d.request_id, d.source, d.services, d.size),
        "hand_in": lambda d: engine.hand_in(d.request_id, d.source, d.tickets),
        "ticket_status": lambda d: engine.ticket_status(d.token),
        "open_service": lambda d: engine.open_service(d.request_id, d.service, d.by),
        "close_service": lambda d: engine.close_service(d.request_id, d.service, d.by, d.reason),
    }


class Desk(Protocol):
    """A book the ticketer process keeps beside the queue (appointments, appeals). Its requests
    are served under the engine's lock, so a desk may call the engine (a check-in takes a
    ticket) and the tickets' events go out like any other; its `tick` runs with the engine's."""

    def requests(self) -> dict[str, Callable[[BusMessage], dict[str, Any]]]:
        """Topic suffix (registered in taxhall.bus.schemas.TOPICS) → responder returning the
        reply fields; a refusal raises TicketerError (or RequestRejected)."""
        ...

    def tick(self) -> None:
        """Periodic work (deadlines, expiries); runs on the main loop with the lock held."""
        ...

    def close(self) -> None:
        ...


class TicketerService:
    """Serves every `queue/req/{op}` from the engine and publishes what it commits."""

    def __init__(self, engine: Engine, bus: HallBus) -> None:
        self.engine = engine
        self.bus = bus
        self._lock = threading.Lock()
        self._published: dict[str, Any] | None = None
        self._published_alarms: dict[str, Any] | None = None
        self._was_connected = False
        # queue/state is published by a thread of its own: the request path only flags the
        # change, and a burst of changes becomes one publication of the latest state.
        self._state_wanted = threading.Event()
        self._force_state = False
        self._closing = threading.Event()
        self._state_thread = threading.Thread(target=self._state_loop, name="queue-state", daemon=True)
        self._desks: list[Desk] = []
        dispatch = _dispatch(engine)
        for op in QUEUE_OPS:
            bus.serve(f"queue/req/{op}", self._responder(dispatch[op]))

    def add_desk(self, desk: Desk) -> None:
        """Serves a desk's requests beside the queue's; `queue/state` lists it (`desks`)."""
        for suffix, respond in desk.requests().items():
            self.bus.serve(suffix, self._desk_responder(respond))
        with self._lock:
            self._desks.append(desk)
            self._force_state = True
        self._state_wanted.set()

    def _desk_responder(self, respond: Callable[[BusMessage], dict[str, Any]]) -> Callable[[BusMessage], dict[str, Any]]:
        def answer(message: BusMessage) -> dict[str, Any]:
            with self._lock:
                try:
                    reply = respond(message)
                except TicketerError as exc:
                    raise RequestRejected(exc.code, exc.message) from None
                self._publish_changes()  # a desk may have taken a ticket
            return reply

        return answer

    def _responder(self, call: Callable[[Any], OpResult]) -> Callable[[BusMessage], dict[str, Any]]:
        def respond(message: BusMessage) -> dict[str, Any]:
            with self._lock:
                try:
                    result = call(message.data)
                except TicketerError as exc:
                    raise RequestRejected(exc.code, exc.message) from None
                if not result.replayed:
                    self._publish_changes()
            return result.to_reply()

        return respond

    def _publish_changes(self) -> None:
        """Hands committed events to the outbox, in commit order, and asks for the state to
        be published. Called with the lock held."""
        try:
            self.engine.hand_events(self.bus.publish_event)
        except Exception:  # the change is committed; its events stay queued for the next try
            log.exception("handing events to the bus outbox failed; retried with the next change")
        self._state_wanted.set()

    def _publish_state(self) -> None:
        with self._lock:
            snapshot = self.engine.snapshot()
            if self._desks:
                snapshot["desks"] = sorted({suffix.split("/")[0] for desk in self._desks for suffix in desk.requests()})
            alarms = self.engine.alarm_snapshot()
            force, self._force_state = self._force_state, False
        if force or snapshot != self._published:
            self.bus.publish("queue/state", snapshot, qos=1, retain=True)
            self._published = snapshot
        # Retained too: a dashboard started after an alarm was raised shows it at once.
        if force or alarms != self._published_alarms:
            self.bus.publish("queue/alarms", {**alarms, "at": now_iso()}, qos=1, retain=True)
            self._published_alarms = alarms

    def _state_loop(self) -> None:
        while not self._closing.is_set():
            if self._state_wanted.wait(1.0):
                self._state_wanted.clear()
                try:
                    self._publish_state()
                except Exception:  # the next change tries again
                    log.exception("publishing queue/state failed")

    def start(self, wait_s: float = 5.0) -> None:
        """Connects, sends the events a crash left unsent and publishes the recovered state."""
        self.bus.start(wait_s=wait_s)
        with self._lock:
            self.engine.hand_events(self.bus.publish_event)
            self._force_state = True
            self._was_connected = self.bus.connected
        self._publish_state()
        self._state_thread.start()

    def tick(self) -> None:
        """Periodic work: alarms, the day's housekeeping, the state after a reconnect (the
        broker may have lost the retained copy) and a WAL checkpoint off the request path."""
        with self._lock:
            connected = self.bus.connected
            if connected and not self._was_connected:
                self._force_state = True
            self._was_connected = connected
            try:
                for key, severity in self.engine.check_alarms():
                    log.info("alarm %s: %s", severity, key)
                self.engine.housekeeping()
            except (TicketerError, sqlite3.Error) as exc:
                log.error("alarms or housekeeping failed, retried next tick: %s", exc)
            for desk in self._desks:
                try:
                    desk.tick()
                except Exception:  # one desk's failure must not stop the queue's housekeeping
                    log.exception("%s: periodic work failed, retried next tick", type(desk).__name__)
            self._publish_changes()  # estimates and opening hours change with time too
        try:
            self.engine.store.checkpoint()
        except Exception:  # a busy or failing checkpoint is retried next tick
            log.exception("WAL checkpoint failed")

    def close(self) -> None:
        """Hands what is left to the outbox, says offline, and closes the database."""
        self._closing.set()
        self._state_wanted.set()
        if self._state_thread.is_alive():
            self._state_thread.join(timeout=5)
        with self._lock:
            self.engine.hand_events(self.bus.publish_event)
            self.bus.close()
            for desk in self._desks:
                desk.close()
            self.engine.close()
