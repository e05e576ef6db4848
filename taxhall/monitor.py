"""`taxhall monitor`: the health of every device of a hall — or of every hall on the broker with
`--fleet` — from the retained status topics, telemetry, events, queue states and the queue
engine's retained set of raised alarms: role, state, last seen, printer paper, version, active
alarms, queue lengths; devices that went silent are flagged. A live terminal view (rich),
`--json` for scripts, `--prometheus HOST:PORT` for Prometheus. FleetModel holds it all as plain
data, so tests and the benchmark drive it directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from taxhall.bus import BusMessage, HallBus
from taxhall.config import DeviceConfig
from taxhall.watchdog import Watchdog
from taxhall.commands import serve_standard_commands

SILENT_AFTER_S = 90.0  # three telemetry intervals without a word
# Alarms the appeals desk raises by events on the engine's device: not in the engine's
# `queue/alarms` set, so a snapshot of that set must leave them alone (as web/bridge.py does).
DESK_ALARM_PREFIXES = ("appeal:",)


@dataclass
class DeviceRow:
    hall: str
    device: str
    role: str = "?"
    state: str = "unknown"
    version: str = ""
    components: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (state, detail)
    alarms: dict[str, str] = field(default_factory=dict)  # alarm key (the event's data.key, else its kind) → message
    figures: dict[str, Any] = field(default_factory=dict)
    last_seen: float = 0.0

    def health(self, now: float, silent_after_s: float) -> str:
        """The state to show: the device's own, or `silent` when an online device stopped talking."""
        if self.state in ("online", "degraded") and now - self.last_seen > silent_after_s:
            return "silent"
        return self.state

    def paper(self) -> str:
        printer = self.components.get("printer")
        if printer is None:
            return ""
        return printer[1] or printer[0]


@dataclass
class FleetModel:
    silent_after_s: float = SILENT_AFTER_S
    devices: dict[tuple[str, str], DeviceRow] = field(default_factory=dict)
    waiting: dict[str, dict[str, int]] = field(default_factory=dict)  # hall → service → waiting
    messages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _row(self, hall: str, device: str) -> DeviceRow:
        row = self.devices.get((hall, device))
        if row is None:
            row = self.devices[(hall, device)] = DeviceRow(hall, device)
        return row

    def on_message(self, message: BusMessage) -> None:
        """One handler for every topic the monitor follows."""
        now = time.monotonic()
        parts = message.suffix.split("/")
        with self._lock:
            self.messages += 1
            if parts[0] == "queue" and parts[1:] == ["state"]:
                self.waiting[message.hall] = {code: s.waiting for code, s in message.data.services.items()}
                return
            if parts[0] == "queue" and parts[1:] == ["alarms"]:
                self._replace_queue_alarms(message.hall, message.data)
                return
            if parts[0] != "device" or len(parts) < 3:
                return
            row = self._row(message.hall, parts[1])
            row.last_seen = now
            kind, data = parts[2], message.data
            if kind == "status":
                row.role, row.state, row.version = data.role, data.state, data.version
                row.components = {name: (c.state, c.detail) for name, c in data.components.items()}
            elif kind == "telemetry":
                row.figures = dict(data.figures)
            elif kind == "event":
                # Keyed like the engine's snapshot, so an event and the snapshot name one alarm
                # alike and two overdue tickets are two alarms, cleared one by one.
                key = str(data.data.get("key") or data.kind)
                if data.severity in ("alarm", "warning"):
                    row.alarms[key] = data.message
                elif data.severity == "cleared":
                    row.alarms.pop(key, None)

    def _replace_queue_alarms(self, hall: str, snapshot: Any) -> None:
        """The engine's whole set of raised alarms (retained `queue/alarms`): it replaces the
        alarms its device's events left here, so a monitor started after an alarm was raised
        shows it and one that missed a `cleared` event drops it. The desks' own alarms on that
        device (`appeal:*`) are raised by events only and stay. Caller holds the lock."""
        row = self._row(hall, snapshot.device)
        # last_seen is left alone: a retained snapshot may be hours old and says nothing of
        # whether the engine is talking now.
        kept = {key: text for key, text in row.alarms.items() if key.startswith(DESK_ALARM_PREFIXES)}
        row.alarms = kept | {alarm.key: alarm.message for alarm in snapshot.alarms}

    def rows(self) -> list[DeviceRow]:
        with self._lock:
            return sorted(self.devices.values(), key=lambda r: (r.hall, r.role, r.device))

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Everything, as JSON-ready data (`--json`)."""
        now = time.monotonic() if now is None else now
        return {
            "devices": [
                {"hall": r.hall, "device": r.device, "role": r.role, "state": r.health(now, self.silent_after_s),
                 "version": r.version, "last_seen_s": round(now - r.last_seen, 1) if r.last_seen else None, "paper": r.paper(),
                 "components": {k: {"state": s, "detail": d} for k, (s, d) in r.components.items()},
                 "alarms": dict(r.alarms), "figures": dict(r.figures)}
                for r in self.rows()
            ],
            "waiting": {hall: dict(services) for hall, services in self.waiting.items()},
        }

    def counts(self, now: float | None = None) -> dict[str, int]:
        now = time.monotonic() if now is None else now
        totals: dict[str, int] = {}
        for row in self.rows():
            state = row.health(now, self.silent_after_s)
            totals[state] = totals.get(state, 0) + 1
        return totals


def follow(bus: HallBus, model: FleetModel, fleet: bool) -> None:
    for topic in ("device/+/status", "device/+/telemetry", "device/+/event", "queue/state", "queue/alarms"):
        bus.subscribe(topic, model.on_message, all_halls=fleet, qos=0 if topic.endswith("telemetry") else 1)


# ---------------------------------------------------------------- the terminal view

_STYLES = {"online": "green", "degraded": "yellow", "out_of_service": "magenta", "offline": "red", "silent": "bold red",
           "unknown": "dim"}


def render(model: FleetModel, title: str, limit: int = 60) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    now = time.monotonic()
    table = Table(title=title, expand=True, header_style="bold")
    for column in ("hall", "device", "role", "state", "last seen", "printer", "version", "alarms"):
        table.add_column(column, overflow="fold")
    rows = model.rows()
    # Trouble first: a supervisor looks for what is wrong, not at 10,000 green lines; an
    # online engine with alarms raised is trouble too.
    rows.sort(key=lambda r: (r.health(now, model.silent_after_s) == "online" and not r.alarms, r.hall, r.device))
    for row in rows[:limit]:
        state = row.health(now, model.silent_after_s)
        table.add_row(row.hall, row.device, row.role, Text(state, style=_STYLES.get(state, "")),
                      f"{now - row.last_seen:.0f} s ago" if row.last_seen else "", row.paper(), row.version, "; ".join(row.alarms.values()))
    counts = model.counts(now)
    summary = "  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no devices seen yet"
    queues = "  ".join(f"{hall}: " + " ".join(f"{c}={n}" for c, n in sorted(s.items())) for hall, s in model.waiting.items())
    lines = [Text(summary)]
    if queues:
        lines.append(Text(f"waiting — {queues}"))
    if len(rows) > limit:
        lines.append(Text(f"… and {len(rows) - limit} more (all well first hidden; use --json for everything)", style="dim"))
    return Group(table, *lines)


# ---------------------------------------------------------------- Prometheus


class FleetCollector:
    """Prometheus metrics built from the model on every scrape."""

    def __init__(self, model: FleetModel) -> None:
        self.model = model

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = time.monotonic()
        up = GaugeMetricFamily("taxhall_device_up", "1 when the device is online or degraded and talking",
                               labels=["hall", "device", "role"])
        seen = GaugeMetricFamily("taxhall_device_last_seen_seconds", "seconds since the device last said anything",
                                 labels=["hall", "device"])
        alarms = GaugeMetricFamily("taxhall_device_alarms", "active alarms", labels=["hall", "device"])
        waiting = GaugeMetricFamily("taxhall_queue_waiting", "people waiting", labels=["hall", "service"])
        for row in self.model.rows():
            state = row.health(now, self.model.silent_after_s)
            up.add_metric([row.hall, row.device, row.role], 1.0 if state in ("online", "degraded") else 0.0)
            if row.last_seen:  # a device known only from the engine's alarm snapshot has said nothing yet
                seen.add_metric([row.hall, row.device], now - row.last_seen)
            alarms.add_metric([row.hall, row.device], float(len(row.alarms)))
        for hall, services in self.model.waiting.items():
            for code, count in services.items():
                waiting.add_metric([hall, code], float(count))
        yield from (up, seen, alarms, waiting)


def serve_prometheus(model: FleetModel, address: str) -> None:
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    host, _, port = address.rpartition(":")
    REGISTRY.register(FleetCollector(model))
    start_http_server(int(port), addr=host or "127.0.0.1")


# ---------------------------------------------------------------- the command


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall monitor", description="device health of a hall or a fleet")
    parser.add_argument("--fleet", action="store_true", help="every hall on this broker, not only --hall")
    parser.add_argument("--json", action="store_true", help="print one JSON snapshot after --wait seconds and exit")
    parser.add_argument("--wait", type=float, default=2.0, help="--json: how long to listen first")
    parser.add_argument("--prometheus", metavar="HOST:PORT", help="also serve Prometheus metrics here")
    parser.add_argument("--silent-after", type=float, default=SILENT_AFTER_S, help="seconds without a word that make a device silent")
    args = parser.parse_args(argv)
    if args.json:
        logging.getLogger().setLevel(logging.WARNING)  # stdout carries the JSON alone
    model = FleetModel(silent_after_s=args.silent_after)
    bus = HallBus(config)
    follow(bus, model, args.fleet)
    serve_standard_commands(bus)
    bus.start(wait_s=5)
    if not bus.connected:
        print(f"taxhall monitor: cannot reach the broker {config.bus.broker}", file=sys.stderr)
        bus.close()
        return 1
    try:
        if args.json:
            time.sleep(args.wait)
            print(json.dumps(model.snapshot(), ensure_ascii=False, indent=2))
            return 0
        if args.prometheus:
            serve_prometheus(model, args.prometheus)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        watchdog = Watchdog.from_env()
        watchdog.ready()
        title = "all halls" if args.fleet else f"hall {config.hall}"
        if not sys.stdout.isatty():
            # Under systemd: a line a minute for the journal, not a redrawn table.
            last = 0.0
            while not stop.wait(1.0):
                watchdog.kick()
                if time.monotonic() - last >= 60:
                    last = time.monotonic()
                    counts = "  ".join(f"{k}: {v}" for k, v in sorted(model.counts().items())) or "no devices yet"
                    logging.getLogger("taxhall.monitor").info("%s — %s", title, counts)
            return 0
        from rich.live import Live

        with Live(render(model, title), refresh_per_second=2, screen=False) as live:
            while not stop.wait(1.0):
                watchdog.kick()
                live.update(render(model, title))
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        bus.close()
