"""Real pieces for the kiosk tests: the kiosk's logic wired to the local gateway on a fresh
SQLite file, the ID-card reader and scanner simulators on pseudo-terminals, and the printer
simulator on a TCP port — the same drivers as in the field, no mocks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from drivers.idcard.reader import ReaderSettings
from drivers.idcard.simulator import IdReaderSimulator
from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.escpos_parse import Page
from drivers.printer.monitor import StatusMonitor
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from drivers.scanner.serial_scanner import SerialScanner
from drivers.scanner.simulator import ScannerSimulator
from kiosk.config import KioskSection
from kiosk.core import Kiosk, View
from kiosk.demo_cards import demo_identities
from kiosk.devices import KioskDevices
from kiosk.gateway.interface import TaxGateway
from kiosk.gateway.local import LocalTaxGateway
from kiosk.guides import GuideBook
from kiosk.health import HealthBoard
from kiosk.payment import SimulatedTerminal
from kiosk.runner import GatewayWatch
from kiosk.session import Screen

WANG, LI, CHEN, ZHANG = range(4)  # card indexes of demo_identities(): 王秀英 李建国 陈静 张伟


class Clock:
    """A monotonic clock the test moves (for idle time-outs)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Rig:
    kiosk: Kiosk
    gateway: TaxGateway
    reader: IdReaderSimulator
    scanner: ScannerSimulator
    printer: SimulatedPrinter
    printer_server: SimulatorServer
    monitor: StatusMonitor
    terminal: SimulatedTerminal
    board: HealthBoard
    clock: Clock
    data_dir: Path
    views: list[View] = field(default_factory=list)

    @property
    def view(self) -> View:
        return self.kiosk.view

    @property
    def screen(self) -> Screen:
        return self.kiosk.view.screen

    def poll(self, timeout_s: float = 5.0) -> View:
        """Lets the kiosk read its devices until the screen changes or a notice shows."""
        start = self.kiosk.screen
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.kiosk.poll_devices(0.2)
            if self.kiosk.screen != start or self.kiosk.notice is not None:
                break
        return self.view

    def scan(self, text: str, timeout_s: float = 5.0) -> View:
        self.scanner.send(text)
        return self.poll(timeout_s)

    def card(self, index: int | None) -> None:
        self.reader.set_card(index)

    def pages(self, count: int, timeout_s: float = 10.0) -> list[Page]:
        return self.printer.wait_for_pages(count, timeout_s)

    def close(self) -> None:
        self.kiosk.devices.close()
        self.monitor.stop()
        self.printer_server.stop()
        self.reader.stop()
        self.scanner.stop()
        self.gateway.close()


def make_rig(tmp_path: Path, gateway: TaxGateway | None = None, settings: dict[str, Any] | None = None,
             queue: Any = None, speaker: Any = None, pages_dir: Path | None = None,
             payment: SimulatedTerminal | None = None) -> Rig:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    gateway = gateway or LocalTaxGateway(data_dir / "gateway.sqlite")
    reader = IdReaderSimulator(demo_identities(), card=None)
    reader.start()
    scanner = ScannerSimulator(["-"])
    scanner.start()
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"], out_dir=pages_dir)
    server = SimulatorServer(printer).listen_tcp().start()
    receipt = ReceiptPrinter(server.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0, job_timeout_s=10.0)
    monitor = StatusMonitor(receipt, interval_s=30.0)
    board = HealthBoard()
    devices = KioskDevices(board, reader=ReaderSettings(reader.port, response_timeout_s=1.0, poll_interval_s=0.05),
                           scanner=lambda: SerialScanner(scanner.port, 115200), printer=receipt, monitor=monitor,
                           retry_s=0.5)
    devices.open()
    monitor.poll_now()
    clock = Clock()
    terminal = payment or SimulatedTerminal(delay_s=0.05)
    section = KioskSection.model_validate({"voice": speaker is not None, "voice_player": "", **(settings or {})})
    kiosk = Kiosk(section, gateway, devices, terminal, board, GuideBook(data_dir / "guides.json"), queue=queue,
                  speaker=speaker, hall="test-hall", device_id="kiosk-t", clock=clock)
    GatewayWatch(gateway, board, 60).check()
    rig = Rig(kiosk, gateway, reader, scanner, printer, server, monitor, terminal, board, clock, data_dir)
    kiosk.on_change = rig.views.append
    kiosk.publish()
    return rig


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
