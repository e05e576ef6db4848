"""Screenshots of every kiosk screen in both languages: `python -m kiosk.screens` → docs/screens/.

For each window size it starts itself under Xvfb (`--tour SIZE`), builds a kiosk on simulated
hardware — the ID-card reader and scanner simulators on pseudo-terminals, the printer
simulator on TCP, the local gateway with its demo data in a temporary folder — and walks
through the flows with the kiosk's own actions, saving the window after each step. The PNGs
are reduced to a palette so they stay small in the repository. docs/screens/README.md lists
them.

    python -m kiosk.screens                      # every size, both languages
    python -m kiosk.screens --sizes 1280x800 --out /tmp/shots
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "screens"
SIZES = ("1280x800", "1920x1080", "800x1280")
FULL_TOUR_SIZE = "1280x800"
# the screens shown at the other sizes: the busiest layouts
SUBSET = ("home", "cert-records", "keypad", "self-item", "self-quote", "guides")


@dataclass(frozen=True)
class Shot:
    name: str
    steps: Callable[[Any], None]


class SampleQueue:
    """Waiting counts for the queue screens (the screenshots run without a queue engine)."""

    def services(self) -> tuple[Any, ...]:
        from kiosk.core import QueueService

        return (QueueService("A", "综合业务", "General", 6, 540, True), QueueService("B", "发票业务", "Invoices", 3, 300, True),
                QueueService("C", "申报纳税", "Tax filing", 11, 1500, True), QueueService("V", "预约", "Appointments", 0, 0, False))

    def take_ticket(self, service: str, priority: str, request_id: str) -> dict[str, Any]:
        return {"id": "20261127-A007", "number": f"{service}007", "service": service, "ahead": 6, "est_wait_s": 540,
                "token": "q9Xb3kLm"}


class Tour:
    """A kiosk on simulators, and the steps that bring it to each screen."""

    def __init__(self, work: Path) -> None:
        from drivers.idcard.reader import ReaderSettings
        from drivers.idcard.simulator import IdReaderSimulator
        from drivers.printer.config import BUILTIN_PROFILES
        from drivers.printer.driver import ReceiptPrinter
        from drivers.printer.monitor import StatusMonitor
        from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
        from drivers.scanner.serial_scanner import SerialScanner
        from drivers.scanner.simulator import ScannerSimulator
        from kiosk.config import KioskSection
        from kiosk.core import Kiosk
        from kiosk.demo_cards import demo_identities
        from kiosk.devices import KioskDevices
        from kiosk.gateway.local import LocalTaxGateway
        from kiosk.guides import GuideBook
        from kiosk.health import HealthBoard
        from kiosk.payment import SimulatedTerminal
        from kiosk.runner import GatewayWatch

        self.reader = IdReaderSimulator(demo_identities(), card=None)
        self.reader.start()
        self.scanner = ScannerSimulator(["-"])
        self.scanner.start()
        self.printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"])
        self.server = SimulatorServer(self.printer).listen_tcp().start()
        receipt = ReceiptPrinter(self.server.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0)
        self.monitor = StatusMonitor(receipt, 60)
        self.board = HealthBoard()
        devices = KioskDevices(self.board, reader=ReaderSettings(self.reader.port, response_timeout_s=1.0, poll_interval_s=0.05),
                               scanner=lambda: SerialScanner(self.scanner.port, 115200), printer=receipt,
                               monitor=self.monitor)
        devices.open()
        self.monitor.poll_now()
        self.gateway = LocalTaxGateway(work / "gateway.sqlite")
        GatewayWatch(self.gateway, self.board, 60).check()
        self.clock_now = 1000.0
        self.kiosk = Kiosk(KioskSection(voice=False), self.gateway, devices, SimulatedTerminal(0.01), self.board,
                           GuideBook(None), queue=SampleQueue(), hall="hall1", device_id="kiosk-01",
                           clock=lambda: self.clock_now)

    def close(self) -> None:
        self.kiosk.devices.close()
        self.server.stop()
        self.reader.stop()
        self.scanner.stop()
        self.gateway.close()

    # -- helpers --------------------------------------------------------------------------

    def card(self, index: int) -> None:
        self.reader.set_card(index)
        self.poll()

    def scan(self, payload: str) -> None:
        self.scanner.send(payload)
        self.poll()

    def poll(self) -> None:
        start = self.kiosk.screen
        for _ in range(20):
            self.kiosk.poll_devices(0.2)
            if self.kiosk.screen != start or self.kiosk.notice is not None:
                return

    def shots(self, lang: str) -> list[Shot]:
        """Each shot's steps, run in order from the home screen of a fresh visit. Each language
        invoices another demo order: an order is invoiced only once."""
        from kiosk.demo_cards import buyer_header_qr, issued_invoice_qr, order_request_qr
        from kiosk.session import Flow, Screen

        k = self.kiosk
        f = k.flows
        LI, CHEN, ZHANG = 1, 2, 3
        order = 0 if lang == "zh" else 2

        def elder(on: bool) -> Callable[[Any], None]:
            return lambda t: k.toggle_elder() if k.elder != on else None

        def go_pay(t: Any) -> None:
            k.go(Screen.SELF_PAY)  # the screen the terminal's payment shows (it passes too fast to catch)
            k.publish()

        def countdown(t: Any) -> None:
            k.open_tile(Flow.GUIDES)
            self.clock_now += k.settings.idle_timeout_s - 12
            k.tick()

        def paper_out(on: bool) -> Callable[[Any], None]:
            def apply(t: Any) -> None:
                self.printer.set_fault("paper_out", on)
                self.monitor.poll_now()
                k.refresh()
            return apply

        return [
            Shot("home", lambda t: None),
            Shot("home-elder", elder(True)),
            Shot("identify", lambda t: (elder(False)(t), k.open_tile(Flow.CERTIFICATE))),
            Shot("cert-period", lambda t: (self.card(LI), f.certificate.toggle_tax_type("iit"))),
            Shot("cert-records", lambda t: f.certificate.search()),
            Shot("cert-done", lambda t: f.certificate.print_certificate()),
            Shot("notice-no-records", lambda t: (k.finish(), k.open_tile(Flow.CERTIFICATE), self.card(CHEN),
                                                 f.certificate.search())),
            Shot("req-scan", lambda t: (k.cancel(), self.reader.set_card(None), k.open_tile(Flow.REQUEST))),
            Shot("notice-wrong-qr", lambda t: self.scan(issued_invoice_qr(0))),
            Shot("buyer", lambda t: (k.dismiss_notice(), self.scan(order_request_qr(order)))),
            Shot("keypad", lambda t: (f.buyer.open_keypad(), [f.buyer.press(c) for c in "91429004MA49XW"])),
            Shot("req-confirm", lambda t: (k.back(), self.scan(buyer_header_qr(2)))),
            Shot("req-done", lambda t: f.request.confirm()),
            Shot("self-identify", lambda t: (k.finish(), k.open_tile(Flow.SELF_INVOICE))),
            Shot("self-item", lambda t: (self.card(ZHANG), self.scan(buyer_header_qr(2)),
                                         f.self_invoice.choose_category("services"),
                                         [f.self_invoice.press(c) for c in "20200"])),
            Shot("self-quote", lambda t: f.self_invoice.compute()),
            Shot("self-pay", go_pay),
            Shot("self-done", lambda t: (k.go(Screen.SELF_QUOTE), f.self_invoice.confirm())),
            Shot("check-scan", lambda t: (k.finish(), self.reader.set_card(None), k.open_tile(Flow.CHECK))),
            Shot("check-genuine", lambda t: self.scan(issued_invoice_qr(0))),
            Shot("check-mismatch", lambda t: (f.check.another(), self.scan(issued_invoice_qr(1).replace(",500.00,", ",510.00,")))),
            Shot("guides", lambda t: (k.finish(), k.open_tile(Flow.GUIDES), f.guides.keyword("发票"))),
            Shot("guide", lambda t: f.guides.open("self-invoice")),
            Shot("queue", lambda t: (k.finish(), k.open_tile(Flow.QUEUE))),
            Shot("queue-done", lambda t: f.queue.take("A")),
            Shot("countdown", lambda t: (k.finish(), countdown(t))),
            Shot("home-paper-out", lambda t: (k.cancel(), paper_out(True)(t))),
            Shot("closed", lambda t: (paper_out(False)(t), k.close_for_service("设备维护中，请使用 2 号自助终端。Under maintenance: "
                                                                               "please use kiosk 2."))),
        ]


def optimise(path: Path) -> None:
    """A palette PNG: the screens use few colours, so 128 keep them sharp at a quarter of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def run_tour(size: str, out: Path, langs: list[str], names: tuple[str, ...] | None) -> int:
    from kiosk.config import KioskSection
    from kiosk.ui import run_window
    from taxhall.touchscreen import save_screenshot

    work = Path(tempfile.mkdtemp(prefix="kiosk-screens-"))
    tour = Tour(work)
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []

    def drive(app: Any) -> Iterator[float]:
        from kivy.core.window import Window

        for lang in langs:
            # each pass starts its visits in its language, as a kiosk configured for it would
            tour.kiosk.settings = tour.kiosk.settings.model_copy(update={"lang": lang})
            tour.kiosk.end_session("language pass")
            tour.kiosk.publish()
            for number, shot in enumerate(tour.shots(lang), 1):
                shot.steps(tour)
                yield 0.6
                if names is None or shot.name in names:
                    suffix = "" if size == FULL_TOUR_SIZE else f"-{size}"
                    path = out / f"{lang}-{number:02d}-{shot.name}{suffix}.png"
                    save_screenshot(Window, str(path))
                    saved.append(path)
            tour.kiosk.reopen()
            yield 0.3

    try:
        run_window(tour.kiosk, None, KioskSection(voice=False), size, False, driver=drive)
    finally:
        tour.close()
    for path in saved:
        optimise(path)
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.screens", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated WxH")
    parser.add_argument("--langs", default="zh,en")
    parser.add_argument("--tour", metavar="SIZE", help=argparse.SUPPRESS)  # the child under Xvfb
    args = parser.parse_args(argv)
    langs = args.langs.split(",")
    if args.tour:
        names = None if args.tour == FULL_TOUR_SIZE else SUBSET
        return run_tour(args.tour, args.out, langs, names)
    status = 0
    for size in args.sizes.split(","):
        width, height = size.split("x")
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {max(int(width), 1920)}x{max(int(height), 1920)}x24",
                   sys.executable, "-m", "kiosk.screens", "--tour", size, "--out", str(args.out), "--langs", args.langs]
        env = {**os.environ, "KIVY_LOG_MODE": "PYTHON", "PYTHONPATH": str(ROOT)}
        result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        print(result.stdout, end="")
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
