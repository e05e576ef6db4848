"""The two paths a taxpayer feels, end to end through the real pieces on loopback:

1. touch → ticket: a dispenser touch (Dispensing.take: take_ticket over the bus, layout,
   ESC/POS bytes to the printer simulator on TCP, printed-confirmation) — target p99 ≤ 300 ms;
2. call → boards: a counter's `call_next` sent → the LED window board's frame written by the
   LED simulator (Alpha protocol over a pty) and the hall screen's model updated — target
   p99 ≤ 50 ms.

    .venv/bin/python bench/call_path.py [--runs 1000]

Starts its own Mosquitto, queue engine and simulators; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from display.hall_app import DisplayHallSection, HallController
from display.led_service import DisplayLedSection, LedDisplay
from drivers.led.board import LedSection
from drivers.led.simulator import BoardState, LedSimulator
from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import Overrides, load_config
from ticketer.config import TicketerSection
from ticketer.dispensing import Dispensing
from ticketer.engine import Engine
from ticketer.offline_book import OfflineBook
from ticketer.service import TicketerService
from ticketer.store import Store


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples: list[float], target_ms: float) -> None:
    ms = [s * 1000 for s in samples]
    p99 = percentile(ms, 0.99)
    print(f"{name:34} n={len(ms):5d}  p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  "
          f"max {max(ms):7.2f} ms   target p99 ≤ {target_ms:g} ms: {'met' if p99 <= target_ms else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=folder / "broker", persistence=False)).start()

        def config(name: str, role: str):  # type: ignore[no-untyped-def]
            return load_config(None, role, Overrides(broker=broker.url, hall="bench", device=name, data_dir=str(folder / name)))

        engine = Engine(TicketerSection(), Store(folder / "queue.sqlite"), event_topic="device/ticketer/event")
        service = TicketerService(engine, HallBus(config("ticketer", "ticketer")))
        service.start()

        printer_sim = SimulatorServer(SimulatedPrinter(BUILTIN_PROFILES["generic-80"])).listen_tcp().start()
        printer = ReceiptPrinter(printer_sim.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0, job_timeout_s=5.0)
        dispenser_bus = HallBus(config("dispenser-1", "dispenser")).start()
        desk = Dispensing(dispenser_bus, "dispenser-1", OfflineBook(folder / "book.sqlite"), printer)
        dispenser_bus.subscribe("queue/state", desk.on_state)

        board = BoardState(128, 32, folder / "led")
        led_sim = LedSimulator(board)
        led_path = led_sim.open_pty()
        led_sim.start()
        leds = LedDisplay(config("display-led", "display-led"),
                          DisplayLedSection(boards=[LedSection(port=led_path, baud=115200, counter="1")])).start()
        hall = HallController(config("display-hall", "display-hall"), DisplayHallSection(voice=False), None).start()
        counter = HallBus(config("counter-1", "counter")).start()
        counter.request("queue/req/login", {"counter": "1", "staff": "S1"})
        time.sleep(0.5)

        touches = []
        for run in range(args.runs):
            started = time.perf_counter()
            issued = desk.take("ABC"[run % 3])  # three services: 1,000 stay within A001–A999
            touches.append(time.perf_counter() - started)
            if not issued.printed:
                print("a ticket was not printed:", issued.message)
        report("touch → ticket printed", touches, 300)

        calls = []
        for _ in range(args.runs):
            frames_before = len(board.shown)
            hall.changed.clear()
            started = time.perf_counter()
            counter.request("queue/req/call_next", {"counter": "1"})
            deadline = started + 5
            while (len(board.shown) == frames_before or not hall.changed.is_set()) and time.perf_counter() < deadline:
                time.sleep(0.0005)
            calls.append(time.perf_counter() - started)
            counter.request("queue/req/finish", {"counter": "1"})
        report("call_next → LED frame + hall screen", calls, 50)

        for closer in (hall.close, leds.close, counter.close, dispenser_bus.close, service.close, led_sim.stop,
                       printer_sim.stop, broker.stop):
            closer()


if __name__ == "__main__":
    main()
