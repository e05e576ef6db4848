"""`taxhall ticketer`: the queue engine process (and `taxhall ticketer stats`).

The command line has set up logging already. The process runs until SIGTERM (systemd) or
SIGINT (Ctrl-C), then sends what its outbox holds, says offline and closes the database.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from taxhall.bus import HallBus
from taxhall.config import ConfigError, DeviceConfig
from taxhall.watchdog import Watchdog
from taxhall.commands import serve_standard_commands
from ticketer.calendar import business_day, day_from_iso, resolve_tz
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.appointments import appointment_desks
from ticketer.appeals import appeals_desk
from ticketer.service import Desk, TicketerService
from ticketer.stats import day_stats, render_csv, render_text
from ticketer.store import Store

log = logging.getLogger("ticketer")


def database_path(config: DeviceConfig) -> Path:
    return config.data_dir / "ticketer" / "queue.sqlite"


def hall_desks(config: DeviceConfig, engine: Engine, bus: HallBus) -> list[Desk]:
    """The books kept beside the queue, each from its own config section."""
    return [
        *appointment_desks(config, engine),
        appeals_desk(config, bus.publish_event),
    ]


def run_ticketer(config: DeviceConfig, args: argparse.Namespace) -> int:
    section: TicketerSection = config.section("ticketer")
    if getattr(args, "action", "run") == "stats":
        return print_stats(config, section, getattr(args, "date", None), getattr(args, "csv", False))
    return serve_queue(config, section)


def serve_queue(config: DeviceConfig, section: TicketerSection) -> int:
    # A call event goes from the request handler (bus network thread) through the bus's
    # outbox sender thread back to the network thread. With Python's default 5 ms GIL switch
    # interval each hop can wait up to 5 ms behind a busy thread; 1 ms keeps call latency low.
    sys.setswitchinterval(0.001)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    path = database_path(config)
    try:
        engine = Engine(section, Store(path), event_topic=f"device/{config.device_id}/event")
    except (sqlite3.Error, OSError) as exc:
        log.error("cannot open the queue database %s: %s", path, exc)
        return 1
    service = TicketerService(engine, HallBus(config, figures=engine.figures))
    serve_standard_commands(service.bus)
    try:
        for desk in hall_desks(config, engine, service.bus):
            service.add_desk(desk)
    except (sqlite3.Error, OSError, ConfigError) as exc:
        log.error("cannot open the ticketer's books beside the queue: %s", exc)
        engine.close()
        return 1
    # systemd (Type=notify, WatchdogSec=): ready once serving, then a keep-alive per loop
    # turn, so an engine whose loop hangs is restarted; a no-op outside systemd.
    watchdog = Watchdog.from_env()
    try:
        service.start()
        log.info("queue engine of hall %s: services %s, %d counters, database %s", config.hall,
                 ", ".join(engine.services), len(engine.counters), path)
        watchdog.ready(f"serving hall {config.hall}")
        while not stop.wait(min(section.alarm_check_s, watchdog.kick_every_s)):
            service.tick()
            watchdog.kick()
        log.info("stopping")
        watchdog.stopping()
    finally:
        service.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def print_stats(config: DeviceConfig, section: TicketerSection, date: str | None, as_csv: bool) -> int:
    tz = resolve_tz(section.timezone)
    try:
        day = day_from_iso(date) if date else business_day(time.time(), tz, section.reset_minute)
    except ValueError:
        print(f"taxhall ticketer stats: --date wants YYYY-MM-DD, got {date!r}", file=sys.stderr)
        return 2
    path = database_path(config)
    if not path.exists():
        print(f"taxhall ticketer stats: no queue database at {path}", file=sys.stderr)
        return 1
    rows = day_stats(path, day, tz)
    sys.stdout.write(render_csv(rows) if as_csv else render_text(rows, day))
    return 0
