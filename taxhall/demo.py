"""`taxhall demo`: a whole hall on one machine — the embedded broker plus every device process
that exists, each a child `taxhall <name>` on simulated hardware — and a running account of
what is on the bus. It starts devices only through the command line, as systemd would, so it
imports no application."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from taxhall.broker import BrokerError, BrokerProcess, BrokerSettings, free_port
from taxhall.bus import BusMessage, HallBus
from taxhall.config import DeviceConfig, Overrides, load_config
from taxhall.logs import setup_logging

DEMO_HALL = "demo"  # unless --hall says otherwise


@dataclass
class DemoDevice:
    """One child process of the demo: `taxhall <argv...>` as device `device`."""

    device: str
    argv: list[str]
    what: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log_path: Path = field(default=Path("/dev/null"))


def demo_devices(headless: bool) -> list[DemoDevice]:
    """The device processes the demo runs. Grows as applications are built."""
    return [DemoDevice("ticketer", ["ticketer"], "queue engine (SQLite in <data-dir>/ticketer)")]


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_demo(config: DeviceConfig, args: argparse.Namespace) -> int:
    hall = args.hall or DEMO_HALL
    setup_logging(hall, "demo", config.log.level)
    data_dir = Path(args.data_dir or ".demo").resolve()
    port = args.port or (1883 if _port_is_free(1883) else free_port())
    broker = BrokerProcess(BrokerSettings(port=port, data_dir=data_dir / "broker"))
    try:
        broker.start()
    except BrokerError as exc:
        print(f"taxhall demo: {exc}", file=sys.stderr)
        return 1
    print(f"taxhall demo: started the broker — Mosquitto on {broker.url} (data in {data_dir})", flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    devices = demo_devices(args.headless)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for dev in devices:
        dev.log_path = logs / f"{dev.device}.log"
        _start(dev, broker.url, hall, data_dir)
        print(f"taxhall demo: started {dev.device:12} {dev.what} (log {dev.log_path})", flush=True)
    if not devices:
        print("taxhall demo: no device applications are built yet; the broker runs alone.", flush=True)

    watcher_config = load_config(
        None, "demo", Overrides(broker=broker.url, hall=hall, device="demo-watch", data_dir=str(data_dir))
    )
    watcher = HallBus(watcher_config)
    watcher.subscribe("device/+/status", _print_status)
    watcher.start()
    print(f"taxhall demo: hall '{hall}' is up; Ctrl-C stops everything.", flush=True)

    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while not stop.wait(0.5):
            if deadline and time.monotonic() >= deadline:
                break
            for dev in devices:
                if dev.proc and dev.proc.poll() is not None:
                    print(f"taxhall demo: {dev.device} exited with {dev.proc.returncode}; restarting (see {dev.log_path})", flush=True)
                    dev.restarts += 1
                    _start(dev, broker.url, hall, data_dir)
    finally:
        for dev in devices:
            if dev.proc and dev.proc.poll() is None:
                dev.proc.terminate()
        for dev in devices:
            if dev.proc:
                try:
                    dev.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    dev.proc.kill()
        watcher.close()
        broker.stop()
        print("taxhall demo: stopped.", flush=True)
    return 0


def _start(dev: DemoDevice, broker_url: str, hall: str, data_dir: Path) -> None:
    log_file = dev.log_path.open("ab")
    dev.proc = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", *dev.argv, "--broker", broker_url, "--hall", hall,
         "--device", dev.device, "--data-dir", str(data_dir / dev.device)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()


def _print_status(message: BusMessage) -> None:
    status = message.data
    device = message.suffix.split("/")[1]
    health = ", ".join(f"{name} {c.state}" for name, c in status.components.items()) or "no components"
    print(f"  [bus] {device}: {status.state} ({status.role} {status.version}; {health})", flush=True)
