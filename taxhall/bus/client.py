"""HallBus: the one MQTT 5 client every taxhall process uses.

What it adds to paho-mqtt, and why:
- birth and will: a retained `device/{id}/status` that says `online` on connect and that the
  broker turns `offline` when the process dies;
- its own network thread with capped exponential back-off and jitter, reconnecting forever and
  restoring subscriptions (paho's loop_start has been seen to give up after long outages,
  paho-mqtt #785, and its back-off has no jitter, so a whole hall would reconnect in lock-step);
- a disk outbox for QoS 1 events with our own in-flight window, so nothing is dropped when
  paho's queue or the broker's receive maximum is reached (paho #24, #856) and nothing is lost
  when the broker or the device crashes;
- request/response over MQTT 5 (response topic + correlation data) with time-outs;
- schema validation of every incoming message; bad messages are answered or logged and never
  raise into paho's loop;
- TCP_NODELAY on the socket: without it a QoS 1 round trip costs ~88 ms (Nagle + delayed ACK).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel, ValidationError

from taxhall import __version__
from taxhall.bus.errors import BusError, BusUnavailable, RequestFailed, RequestRejected, RequestTimeout
from taxhall.bus.outbox import Outbox
from taxhall.bus.schemas import ComponentHealth, DeviceStatus, Message, Reply, Telemetry, now_iso, spec_for
from taxhall.config import DeviceConfig

log = logging.getLogger("taxhall.bus")

ROOT = "taxhall/v1"
# Our own cap on unacknowledged QoS 1 publishes; lowered to the broker's Receive Maximum.
OUTBOX_WINDOW = 500
_DEDUPE_MEMORY = 50_000
_HELD_MAX = 20_000  # messages kept for handlers not yet subscribed
DEADLINE_SKEW_S = 0.5  # clock difference between two hall devices we tolerate


class _Gate:
    """One route's delivery: closed until the messages held for it have gone through, so a
    handler sees held and live messages in arrival order, one at a time."""

    def __init__(self, callback: Callable[[mqtt.MQTTMessage], None]) -> None:
        self.callback = callback
        self.lock = threading.Lock()
        self.waiting: list[mqtt.MQTTMessage] | None = []  # None once open

    def deliver(self, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if self.waiting is not None:
                self.waiting.append(msg)
                return
            self._call(msg)

    def open(self, held: list[mqtt.MQTTMessage]) -> None:
        with self.lock:
            for msg in [*held, *(self.waiting or [])]:
                self._call(msg)
            self.waiting = None

    def _call(self, msg: mqtt.MQTTMessage) -> None:
        try:
            self.callback(msg)
        except Exception:  # never into paho's loop
            log.exception("handler for %s failed", msg.topic)


@dataclass(frozen=True)
class BusMessage:
    """An incoming message after validation."""

    topic: str
    suffix: str  # the topic below taxhall/v1/{hall}/
    data: Any  # the validated model, or the parsed JSON when the topic has no schema
    retained: bool
    response_topic: str | None = None
    correlation: bytes | None = None
    hall: str = ""  # the hall the topic belongs to (fleet subscriptions span halls)


Handler = Callable[[BusMessage], None]
Responder = Callable[[BusMessage], "dict[str, Any] | BaseModel"]


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None


class _Backoff:
    """Capped exponential back-off with equal jitter: half the delay fixed, half random."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * (2**self.attempt))
        self.attempt += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.attempt = 0


class _BadMessageLog:
    """Logs bad messages without letting a flood of them flood the journal: the first per
    topic in each window in full, then one line with the count."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self.total = 0
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}

    def report(self, topic: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.total += 1
            started, suppressed = self._seen.get(topic, (0.0, 0))
            if now - started >= self.window_s:
                if suppressed:
                    log.warning("%d more bad messages on %s in the last %.0f s", suppressed, topic, self.window_s)
                self._seen[topic] = (now, 0)
                log.warning("bad message on %s: %s", topic, reason)
            else:
                self._seen[topic] = (started, suppressed + 1)


class HallBus:
    """The hall bus for one device process. Start it, use it from any thread, close it."""

    def __init__(
        self,
        config: DeviceConfig,
        *,
        components: Callable[[], dict[str, ComponentHealth]] | None = None,
        figures: Callable[[], dict[str, float | int | str]] | None = None,
        outbox_path: Path | None = None,
    ) -> None:
        self.config = config
        self.hall = config.hall
        self.device = config.device_id
        self.role = config.role
        self.root = f"{ROOT}/{self.hall}"
        self.address = config.broker_address
        self._components = components or (lambda: {})
        self._app_figures = figures or (lambda: {})
        self._state = "online"
        self._outbox = Outbox(outbox_path or config.data_dir / f"outbox-{self.device}.sqlite")
        self.bad_messages = _BadMessageLog()

        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"taxhall-{self.hall}-{self.device}",
            protocol=mqtt.MQTTv5,
        )
        self._client.max_inflight_messages_set(OUTBOX_WINDOW * 2)
        self._client.max_queued_messages_set(0)  # unlimited: our outbox window bounds it
        if config.bus.username:
            password = Path(config.bus.password_file).read_text().strip() if config.bus.password_file else None
            self._client.username_pw_set(config.bus.username, password)
        if self.address.tls:
            # The hall CA when given (a hall broker's certificate is not from a public CA), and
            # a client certificate for brokers that identify devices by certificate.
            bus = config.bus
            self._client.tls_set(ca_certs=bus.ca_file or None, certfile=bus.cert_file or None,
                                 keyfile=bus.key_file or None)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_socket_open = self._on_socket_open
        self._client.on_message = self._on_unrouted
        self._held: collections.deque[mqtt.MQTTMessage] = collections.deque(maxlen=_HELD_MAX)
        self._held_lock = threading.Lock()
        self._client.on_subscribe = self._on_subscribe
        self._subacks = threading.Condition()
        self._subacked: set[int] = set()

        self._subscriptions: dict[str, int] = {}
        self._pending: dict[bytes, _Pending] = {}
        self._pending_lock = threading.Lock()
        self.reply_topic = f"{self.root}/device/{self.device}/reply"

        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._net_thread = threading.Thread(target=self._network_loop, name=f"bus-{self.device}", daemon=True)
        self._sender = threading.Thread(target=self._outbox_sender, name=f"outbox-{self.device}", daemon=True)
        self._telemetry = threading.Thread(target=self._telemetry_loop, name=f"telemetry-{self.device}", daemon=True)
        self._wake = threading.Condition()
        self._acks: collections.deque[int] = collections.deque()
        self._outbox_dirty = True  # the outbox may hold events from before a restart
        self._window = OUTBOX_WINDOW
        self._seen_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._seen_lock = threading.Lock()
        self.started_at = time.monotonic()

        self._blocking_worker: ThreadPoolExecutor | None = None
        self._add_route(self.reply_topic, self._on_reply, qos=1)

    # ------------------------------------------------------------------ lifecycle

    def topic(self, suffix: str) -> str:
        return f"{self.root}/{suffix}"

    @property
    def status_topic(self) -> str:
        return self.topic(f"device/{self.device}/status")

    def start(self, wait_s: float | None = 5.0) -> "HallBus":
        """Starts the network and outbox threads; waits up to `wait_s` for the first connection
        (returns either way: the bus keeps trying in the background)."""
        self._client.connect_async(
            self.address.host, self.address.port, self.config.bus.keepalive_s,
            clean_start=False, properties=self._connect_properties(),
        )
        # paho writes from the caller's thread when it thinks no network thread exists, which
        # races with our loop and can reorder packets; naming our thread makes every other
        # thread only queue and wake it, as under paho's own loop_start.
        self._client._thread = self._net_thread  # noqa: SLF001
        self._net_thread.start()
        self._sender.start()
        self._telemetry.start()
        if wait_s:
            self._connected.wait(wait_s)
        return self

    def close(self, drain_s: float = 2.0) -> None:
        """Says `offline`, sends what the outbox holds (for up to `drain_s`) and disconnects."""
        if self._stopping.is_set():
            return
        deadline = time.monotonic() + drain_s
        while self._connected.is_set() and self._outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._client.disconnect()
        self._net_thread.join(timeout=3)
        self._sender.join(timeout=3)
        if self._blocking_worker is not None:
            self._blocking_worker.shutdown(wait=False, cancel_futures=True)
        self._outbox.close()

    def __enter__(self) -> "HallBus":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """The bus's own threads are running (for a process's watchdog); says nothing of the broker."""
        return self._net_thread.is_alive() and self._sender.is_alive()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def outbox_pending(self) -> int:
        return self._outbox.pending()

    # ------------------------------------------------------------------ status

    def _status_payload(self, state: str) -> bytes:
        status = DeviceStatus(
            state=state, role=self.role, version=__version__, components=self._components(), at=now_iso()
        )
        return status.model_dump_json().encode()

    def set_status(self, state: str) -> None:
        """Sets and publishes the device state (online, degraded, out_of_service) with the
        current component health; the birth message after each reconnect repeats it."""
        self._state = state
        if self._connected.is_set():
            self._client.publish(self.status_topic, self._status_payload(state), qos=1, retain=True)

    # ------------------------------------------------------------------ network thread

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.bus.session_expiry_s
        return props

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # TLS wrappers or unix sockets
            pass

    def _network_loop(self) -> None:
        backoff = _Backoff(self.config.bus.reconnect_min_s, self.config.bus.reconnect_max_s)
        socket_open = False
        unreachable_logged = False
        while not self._stopping.is_set():
            if not socket_open:
                self._client.will_set(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
                try:
                    rc = self._client.reconnect()
                    socket_open = rc == MQTTErrorCode.MQTT_ERR_SUCCESS
                except (OSError, mqtt.WebsocketConnectionError) as exc:
                    if not unreachable_logged:
                        log.warning("broker %s unreachable (%s); retrying with back-off", self.config.bus.broker, exc)
                        unreachable_logged = True
                if not socket_open:
                    self._stopping.wait(backoff.next())
                    continue
            try:
                rc = self._client.loop(timeout=1.0)
            except Exception:  # paho bugs must not kill the network thread
                log.exception("MQTT network loop failed; reconnecting")
                rc = MQTTErrorCode.MQTT_ERR_UNKNOWN
            if self._connected.is_set():
                backoff.reset()
                unreachable_logged = False
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                socket_open = False
                self._mark_disconnected()
                if not self._stopping.is_set():
                    self._stopping.wait(backoff.next())
        self._mark_disconnected()

    def _mark_disconnected(self) -> None:
        if self._connected.is_set():
            self._connected.clear()
            if not self._stopping.is_set():
                log.warning("lost the broker %s; events go to the outbox until it is back", self.config.bus.broker)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.config.bus.broker, reason)
            return
        receive_max = getattr(properties, "ReceiveMaximum", None)
        self._window = min(OUTBOX_WINDOW, receive_max) if receive_max else OUTBOX_WINDOW
        if self._subscriptions:
            client.subscribe([(f, SubscribeOptions(qos=q)) for f, q in self._subscriptions.items()])
        client.publish(self.status_topic, self._status_payload(self._state), qos=1, retain=True)
        log.info("connected to broker %s as %s (%s)", self.config.bus.broker, self.device, self.role)
        self._connected.set()
        with self._wake:
            self._wake.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._mark_disconnected()

    # ------------------------------------------------------------------ outbox

    def publish_event(self, suffix: str, payload: dict[str, Any] | BaseModel, *, retain: bool = False) -> str:
        """Publishes a QoS 1 event durably: written to the outbox first, sent when the broker is
        there, removed when acknowledged. Adds an `id` (if absent) that receivers dedupe on."""
        data = payload.model_dump(mode="json", exclude_none=True) if isinstance(payload, BaseModel) else dict(payload)
        data.setdefault("id", uuid.uuid4().hex)
        self._outbox.add(self.topic(suffix), json.dumps(data, ensure_ascii=False).encode(), retain)
        with self._wake:
            self._outbox_dirty = True
            self._wake.notify()
        return str(data["id"])

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        # Called by paho with its message lock held: only hand the ack to the sender thread.
        self._acks.append(mid)
        with self._wake:
            self._wake.notify()

    def _outbox_sender(self) -> None:
        handed_up_to = 0  # outbox row handed to paho last; paho itself resends what is in flight
        in_flight: dict[int, int] = {}  # mid → outbox row
        while not self._stopping.is_set():
            with self._wake:
                while not self._stopping.is_set() and not self._acks and not (
                    self._outbox_dirty and self._connected.is_set() and len(in_flight) < self._window
                ):
                    self._wake.wait(1.0)
                # Cleared before reading, so an event added while we read sets it again.
                self._outbox_dirty = False
            done = []
            while self._acks:
                row = in_flight.pop(self._acks.popleft(), None)
                if row is not None:
                    done.append(row)
            try:
                self._outbox.remove(done)
                room = self._window - len(in_flight)
                if self._connected.is_set() and room > 0:
                    entries = self._outbox.after(handed_up_to, room)
                    for entry in entries:
                        info = self._client.publish(entry.topic, entry.payload, qos=1, retain=entry.retain)
                        in_flight[info.mid] = entry.row
                        handed_up_to = entry.row
                    if len(entries) == room:
                        self._outbox_dirty = True  # more waiting behind a full window
                else:
                    self._outbox_dirty = True
            except Exception:  # a closed database at shutdown, or a paho error: keep going
                if self._stopping.is_set():
                    return
                log.exception("outbox sender failed; retrying")
                self._outbox_dirty = True
                time.sleep(0.5)

    # ------------------------------------------------------------------ publishing

    def publish(self, suffix: str, payload: dict[str, Any] | BaseModel, *, qos: int = 0, retain: bool = False) -> None:
        """Publishes directly (telemetry, state snapshots): lost if the broker is away."""
        body = payload.model_dump_json(exclude_none=True) if isinstance(payload, BaseModel) else json.dumps(payload, ensure_ascii=False)
        self._client.publish(self.topic(suffix), body.encode(), qos=qos, retain=retain)

    # ------------------------------------------------------------------ subscribing

    def _add_route(self, full_filter: str, callback: Callable[[mqtt.MQTTMessage], None], qos: int) -> None:
        gate = _Gate(callback)
        self._client.message_callback_add(full_filter, lambda client, userdata, msg: gate.deliver(msg))
        # Messages the broker kept for our session arrive right after connecting, perhaps
        # before this route existed: they were held (see _on_unrouted) and go first, in order.
        with self._held_lock:
            early = [m for m in self._held if mqtt.topic_matches_sub(full_filter, m.topic)]
            if early:
                taken = {id(m) for m in early}  # by identity: MQTTMessage equality compares mids only
                self._held = collections.deque((m for m in self._held if id(m) not in taken), maxlen=_HELD_MAX)
        gate.open(early)
        self._subscriptions[full_filter] = qos
        if self._connected.is_set():
            _, mid = self._client.subscribe(full_filter, options=SubscribeOptions(qos=qos))
            if threading.current_thread() is not self._net_thread:
                # Once subscribe() returns, the broker holds the subscription (and keeps it in
                # the persistent session through an outage).
                with self._subacks:
                    self._subacks.wait_for(lambda: mid in self._subacked or not self._connected.is_set(), timeout=5)
                    self._subacked.discard(mid)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        with self._subacks:
            self._subacked.add(mid)
            if len(self._subacked) > 1000:  # acks nobody waited for (resubscribe after reconnect)
                self._subacked.clear()
            self._subacks.notify_all()

    def _on_unrouted(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # A persistent session delivers what the broker queued as soon as we connect, which
        # may be before the application has subscribed its handlers: keep it for them.
        with self._held_lock:
            if len(self._held) == _HELD_MAX:
                self.bad_messages.report(self._held[0].topic, "no handler took it before the hold was full")
            self._held.append(msg)

    def _decode(self, msg: mqtt.MQTTMessage) -> BusMessage:
        """Parses and validates; raises ValueError with a readable reason."""
        hall, suffix = split_topic(msg.topic)
        try:
            raw = json.loads(msg.payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"bad_json: not JSON ({exc})") from None
        spec = spec_for(suffix)
        data: Any = raw
        if spec is not None:
            if not isinstance(raw, dict):
                raise ValueError(f"bad_request: expected a JSON object, got {type(raw).__name__}")
            try:
                data = spec.model.model_validate(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(map(str, first["loc"])) or "payload"
                raise ValueError(f"bad_request: {where}: {first['msg']}") from None
        props = getattr(msg, "properties", None)
        return BusMessage(
            topic=msg.topic,
            suffix=suffix,
            data=data,
            retained=bool(msg.retain),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation=getattr(props, "CorrelationData", None),
            hall=hall,
        )

    def subscribe(self, suffix_filter: str, handler: Handler, *, qos: int = 1, dedupe: bool = False,
                  all_halls: bool = False) -> None:
        """Calls `handler` with each valid message on topics matching `suffix_filter` (below the
        hall root). With `dedupe`, events whose `id` was seen before are dropped; with
        `all_halls`, the same topics of every hall on this broker (a fleet monitor, a central
        broker) — `BusMessage.hall` says whose."""

        def on_raw(msg: mqtt.MQTTMessage) -> None:
            try:
                message = self._decode(msg)
            except ValueError as exc:
                self.bad_messages.report(msg.topic, str(exc))
                return
            if dedupe and not self._first_time(message.data):
                return
            handler(message)

        self._add_route(f"{ROOT}/+/{suffix_filter}" if all_halls else self.topic(suffix_filter), on_raw, qos)

    def _first_time(self, data: Any) -> bool:
        event_id = getattr(data, "id", None) if not isinstance(data, dict) else data.get("id")
        if event_id is None:
            return True
        with self._seen_lock:
            if event_id in self._seen_ids:
                return False
            self._seen_ids[event_id] = None
            if len(self._seen_ids) > _DEDUPE_MEMORY:
                self._seen_ids.popitem(last=False)
        return True

    # ------------------------------------------------------------------ request/response

    def serve(self, suffix_filter: str, responder: Responder, *, blocking: bool = False) -> None:
        """Answers requests on `suffix_filter`: `responder` returns the reply fields (ok is
        added), or raises RequestRejected(code, message). Malformed requests are answered with
        bad_json / bad_request without reaching the responder.

        A responder that waits — on a request of its own, a printer, a screen — says
        `blocking=True` and runs on a worker thread, in arrival order, so the network thread
        keeps receiving (its answer may be the very message it waits for)."""

        def on_raw(msg: mqtt.MQTTMessage) -> None:
            props = getattr(msg, "properties", None)
            response_topic = getattr(props, "ResponseTopic", None)
            correlation = getattr(props, "CorrelationData", None)
            request_id = _peek_request_id(msg.payload)
            late = _seconds_past_deadline(props)
            if late > DEADLINE_SKEW_S:
                # The requester has given up: acting now would, say, issue a ticket nobody holds.
                log.info("dropped %s request %s: it expired %.1f s ago", msg.topic.rsplit("/", 1)[-1], request_id, late)
                return
            try:
                message = self._decode(msg)
            except ValueError as exc:
                code, _, text = str(exc).partition(": ")
                self.bad_messages.report(msg.topic, str(exc))
                self._answer(response_topic, correlation, _error(request_id, code, text))
                return
            try:
                result = responder(message)
                body = result.model_dump(mode="json", exclude_none=True) if isinstance(result, BaseModel) else dict(result)
                body.setdefault("ok", True)
                body.setdefault("request_id", request_id)
            except RequestRejected as exc:
                body = _error(request_id, exc.code, exc.message)
            except Exception as exc:
                log.exception("request on %s failed", msg.topic)
                body = _error(request_id, "internal_error", f"{type(exc).__name__}: {exc}")
            self._answer(response_topic, correlation, body)

        if blocking:
            worker = self._worker()
            self._add_route(self.topic(suffix_filter), lambda msg: worker.submit(on_raw, msg), qos=1)
        else:
            self._add_route(self.topic(suffix_filter), on_raw, qos=1)

    def _worker(self) -> ThreadPoolExecutor:
        # One thread: blocking requests are answered one after another, as a device does.
        if self._blocking_worker is None:
            self._blocking_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serve-{self.device}")
        return self._blocking_worker

    def _answer(self, response_topic: str | None, correlation: bytes | None, body: dict[str, Any]) -> None:
        if not response_topic:
            return  # fire-and-forget request: the outcome is logged or in state
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        self._client.publish(response_topic, json.dumps(body, ensure_ascii=False).encode(), qos=1, properties=props)

    def request_retried(self, suffix: str, payload: dict[str, Any] | BaseModel, *, timeout_s: float | None = None,
                        tries: int = 2) -> dict[str, Any]:
        """`request` without `check`, tried up to `tries` times with one request id: an answer
        lost on the way is fetched again, and the server's request-id memory makes sure the
        act (a ticket, a rating, an appeal) happens once. Raises the last RequestTimeout, or
        another BusError at once."""
        body = payload.model_dump(mode="json", exclude_none=True) if isinstance(payload, BaseModel) else dict(payload)
        body.setdefault("request_id", uuid.uuid4().hex)
        for attempt in range(1, tries + 1):
            try:
                return self.request(suffix, body, timeout_s=timeout_s, check=False)
            except RequestTimeout:
                if attempt == tries:
                    raise
        raise ValueError(f"tries: at least 1, got {tries}")

    def request(
        self, suffix: str, payload: dict[str, Any] | BaseModel, *, timeout_s: float | None = None, check: bool = True
    ) -> dict[str, Any]:
        """Sends a request and waits for its answer. Raises RequestTimeout, BusUnavailable, or
        (with `check`) RequestFailed for `ok: false`."""
        if threading.current_thread() is self._net_thread:
            raise BusError("request() from a bus callback would wait on itself; answer from another thread")
        timeout = timeout_s if timeout_s is not None else self.config.bus.request_timeout_s
        deadline = time.monotonic() + timeout
        body = payload.model_dump(mode="json", exclude_none=True) if isinstance(payload, BaseModel) else dict(payload)
        body.setdefault("request_id", uuid.uuid4().hex)
        topic = self.topic(suffix)
        if not self._connected.wait(timeout):
            raise BusUnavailable(f"no broker at {self.config.bus.broker} within {timeout:g} s")
        correlation = uuid.uuid4().bytes
        pending = _Pending()
        with self._pending_lock:
            self._pending[correlation] = pending
        try:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.reply_topic
            props.CorrelationData = correlation
            # The broker drops a request nobody took in time: a late take_ticket must not
            # print a ticket for a taxpayer who has walked away.
            props.MessageExpiryInterval = max(1, math.ceil(timeout))
            # The broker counts expiry in whole seconds; the server also checks this deadline
            # to the millisecond (hall clocks are NTP-synchronised), see serve().
            props.UserProperty = [("deadline", f"{time.time() + timeout:.3f}")]
            self._client.publish(topic, json.dumps(body, ensure_ascii=False).encode(), qos=1, properties=props)
            if not pending.done.wait(max(0.0, deadline - time.monotonic())):
                raise RequestTimeout(topic, timeout)
        finally:
            with self._pending_lock:
                self._pending.pop(correlation, None)
        reply = pending.reply or {}
        if check and not reply.get("ok", False):
            error = reply.get("error") or {}
            raise RequestFailed(str(error.get("code", "unknown")), str(error.get("message", "")), reply)
        return reply

    def _on_reply(self, msg: mqtt.MQTTMessage) -> None:
        correlation = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        with self._pending_lock:
            pending = self._pending.get(correlation) if correlation else None
        if pending is None:
            return  # the requester gave up already
        try:
            reply = Reply.model_validate(json.loads(msg.payload)).model_dump(mode="json", exclude_none=True)
        except (ValueError, ValidationError) as exc:
            reply = _error(None, "bad_reply", f"the server's answer was malformed: {exc}")
        pending.reply = reply
        pending.done.set()

    # ------------------------------------------------------------------ telemetry

    def figures(self) -> dict[str, float | int | str]:
        """The bus's own health figures plus the application's."""
        return {
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "outbox_pending": self._outbox.pending(),
            "bad_messages": self.bad_messages.total,
            **self._app_figures(),
        }

    def _telemetry_loop(self) -> None:
        interval = self.config.bus.telemetry_interval_s
        while not self._stopping.wait(interval):
            if self._connected.is_set():
                try:
                    self.publish(f"device/{self.device}/telemetry", Telemetry(at=now_iso(), figures=self.figures()))
                except Exception:  # a figure that failed to compute must not end telemetry
                    log.exception("telemetry failed")


def split_topic(topic: str) -> tuple[str, str]:
    """`taxhall/v1/{hall}/{suffix}` → (hall, suffix); other topics → ("", topic)."""
    if topic.startswith(ROOT + "/"):
        hall, _, suffix = topic[len(ROOT) + 1 :].partition("/")
        return hall, suffix
    return "", topic


def _error(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "request_id": request_id, "error": {"code": code, "message": message}}


def _seconds_past_deadline(props: Any) -> float:
    """How long ago the request's `deadline` user property passed (≤ 0: still wanted)."""
    for key, value in getattr(props, "UserProperty", None) or []:
        if key == "deadline":
            try:
                return time.time() - float(value)
            except ValueError:
                return 0.0
    return 0.0


def _peek_request_id(payload: bytes) -> str | None:
    """The request id of a payload, if there is a readable one, for answering bad requests."""
    try:
        value = json.loads(payload).get("request_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


__all__ = ["HallBus", "BusMessage", "Message"]
