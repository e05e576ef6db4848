"""`taxhall kiosk`: the 24-hour self-service kiosk.

    taxhall kiosk [--lang zh|en] [--size 1280x800] [--fullscreen] [--printer URL] [--reader PORT]
                  [--scanner PORT] [--screenshot PNG --exit-after S] [--script FILE]

It builds the kiosk from the device config — `[kiosk]`, the hardware of `[printer]`,
`[idreader]`, `[scanner]` and the tax gateway of `[gateway]` — joins the hall bus, and runs
the Kivy screen until the window closes (or SIGTERM). `--printer/--reader/--scanner` stand
in for the config's devices (the simulators' URLs and ports in tests and demos); `--script`
taps through the app with touch events (kiosk.tapscript).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from drivers.idcard.config import IdReaderSection
from drivers.idcard.reader import ReaderSettings
from drivers.printer.config import PrinterSection
from drivers.scanner.config import ScannerSection
from kiosk.config import KioskSection
from taxhall.config import DeviceConfig
from taxhall.commands import serve_standard_commands

log = logging.getLogger("kiosk")

STARTED_AT = time.time()  # module import ≈ process start, for the first-frame log line


@dataclass(frozen=True)
class Overrides:
    printer: str | None = None
    reader: str | None = None
    scanner: str | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxhall kiosk", description="the 24-hour self-service kiosk")
    parser.add_argument("--lang", choices=["zh", "en"], help="language a visit starts in (overrides [kiosk] lang)")
    parser.add_argument("--size", help="window size WxH, e.g. 1280x800 or 1080x1920 (portrait)")
    parser.add_argument("--fullscreen", action="store_true", help="fill the screen")
    parser.add_argument("--printer", metavar="URL", help="printer URL instead of [printer] url")
    parser.add_argument("--reader", metavar="PORT", help="ID-card reader port instead of [idreader] port")
    parser.add_argument("--scanner", metavar="PORT", help="a serial scanner on PORT instead of [scanner]")
    parser.add_argument("--screenshot", metavar="PNG", help="save the window to PNG at --exit-after")
    parser.add_argument("--exit-after", type=float, metavar="S", help="quit after S seconds")
    parser.add_argument("--script", metavar="FILE", help="JSON steps to tap through (tests)")
    return parser


def scanner_factory(section: ScannerSection, port: str | None) -> Callable[[], Any] | None:
    if port:
        from drivers.scanner.serial_scanner import SerialScanner

        return lambda: SerialScanner(port, 115200)
    if section.kind == "none":
        return None
    from drivers.scanner.config import open_scanner

    return lambda: open_scanner(section)


def reader_settings(section: IdReaderSection, port: str | None) -> ReaderSettings | None:
    chosen = port or section.port
    if not chosen:
        return None
    return ReaderSettings(chosen, section.baud, section.response_timeout_s, section.poll_interval_s)


def printer_parts(section: PrinterSection, url: str | None) -> tuple[Any, Any]:
    chosen = url or section.url
    if not chosen:
        return None, None
    from drivers.printer.driver import ReceiptPrinter
    from drivers.printer.monitor import StatusMonitor

    printer = ReceiptPrinter(chosen, section.resolved_profile(), timeout_s=section.timeout_s,
                             job_timeout_s=section.job_timeout_s)
    return printer, StatusMonitor(printer, section.status_interval_s)


def run(config: DeviceConfig, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    section: KioskSection = config.section("kiosk")
    updates = {k: v for k, v in (("lang", args.lang), ("size", args.size)) if v}
    if args.fullscreen:
        updates["fullscreen"] = True
    section = section.model_copy(update=updates)
    script = None
    if args.script:
        from kiosk.tapscript import load_script

        script = load_script(args.script)
    # SIGTERM (systemd's stop or restart) may come at any moment of the start-up, even while
    # Kivy is still importing or making its window: the handler only raises a flag, and the
    # screen's own clock stops the app once its loop turns (a clean exit 0, offline on the bus).
    # Touching Kivy from the handler crashed such a start (a half-imported kivy.app, an app
    # stopped before its window existed).
    stop_requested = threading.Event()
    stop_signal = signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    try:
        parts = assemble(config, section, Overrides(args.printer, args.reader, args.scanner))
        try:
            if stop_requested.is_set():
                log.info("stopped before the screen came up")
                return 0
            from kiosk.ui import run_window

            return run_window(parts.kiosk, parts.runner, section, section.size, section.fullscreen,
                              screenshot=args.screenshot, exit_after=args.exit_after, script=script,
                              started_at=STARTED_AT, stop_requested=stop_requested)
        finally:
            parts.close()
    finally:
        signal.signal(signal.SIGTERM, stop_signal)


@dataclass
class Parts:
    """Everything a running kiosk holds, for closing in order."""

    kiosk: Any
    runner: Any
    bus: Any
    watch: Any
    monitor: Any
    speaker: Any
    gateway: Any

    def close(self) -> None:
        self.runner.stop()
        self.watch.stop()
        if self.monitor is not None:
            self.monitor.stop()
        self.kiosk.devices.close()
        if self.speaker is not None:
            self.speaker.close()
        self.bus.close()
        self.gateway.close()


def assemble(config: DeviceConfig, section: KioskSection, overrides: Overrides) -> Parts:
    """Builds and starts the kiosk's parts (not the window)."""
    from kiosk.core import Kiosk
    from kiosk.devices import KioskDevices
    from kiosk.gateway.config import open_gateway
    from kiosk.guides import BUILTIN, GuideBook
    from kiosk.health import HealthBoard
    from kiosk.payment import SimulatedTerminal
    from kiosk.appeal import BusAppeals
    from kiosk.remote import BusQueue, KioskRemote, load_service_state
    from kiosk.runner import ActionRunner, GatewayWatch
    from kiosk.tapscript import script_responder
    from kiosk.voice import Speaker
    from taxhall.bus import HallBus
    from taxhall.commands import serve_command
    from taxhall.touchscreen import screenshot_responder

    data_dir = config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    board = HealthBoard()
    printer, monitor = printer_parts(config.section("printer"), overrides.printer)
    devices = KioskDevices(board, reader=reader_settings(config.section("idreader"), overrides.reader),
                           scanner=scanner_factory(config.section("scanner"), overrides.scanner),
                           printer=printer, monitor=monitor, retry_s=section.device_retry_s)
    devices.open()
    gateway = open_gateway(config.section("gateway"), data_dir)
    guides = GuideBook(data_dir / "guides.json", Path(section.guides_file) if section.guides_file else BUILTIN)
    speaker = Speaker(section.voice_player, section.voice_volume) if section.voice else None
    bus = HallBus(config, components=board.components)
    serve_standard_commands(bus)
    queue = BusQueue(bus) if section.queue != "off" else None
    terminal = SimulatedTerminal(section.payment_sim_delay_s, section.payment_sim_result)
    kiosk = Kiosk(section, gateway, devices, terminal, board, guides, queue=queue, speaker=speaker,
                  hall=config.hall, device_id=config.device_id, appeals=BusAppeals(bus))
    runner = ActionRunner(kiosk)
    state_path = data_dir / "kiosk-service.json"

    def close(message: str) -> None:
        kiosk.close_for_service(message)
        remote.report()

    def reopen() -> None:
        kiosk.reopen()
        remote.report()

    remote = KioskRemote(bus, board, guides, runner.submit, close, reopen, lambda: kiosk.closed, state_path)
    remote.on_guides = lambda: runner.submit(kiosk.refresh)
    board.on_change = lambda: (runner.submit(kiosk.refresh), remote.report())
    if queue is not None:
        queue.on_change = lambda: runner.submit(kiosk.refresh)
        queue.attach()
    remote.attach()
    if printer is not None:
        remote.serve_test_page(devices.print_layout, printer.status, section.hall_name, section.hall_name_en, section.lang)
    # the screen's own commands: answered on a bus worker thread, done on the Kivy thread
    serve_command(bus, "screenshot", screenshot_responder(), blocking=True)
    serve_command(bus, "script", script_responder(), blocking=True)
    if monitor is not None:
        monitor.on_change = lambda new, old: (remote.printer_changed(new, old), runner.submit(kiosk.refresh))
    saved = load_service_state(state_path)
    if saved.closed:
        kiosk.close_for_service(saved.message)
    runner.start()
    watch = GatewayWatch(gateway, board, section.gateway_check_s).start()
    if monitor is not None:
        monitor.start()
    bus.start(wait_s=None)  # the screen comes first; the bus connects in the background
    log.info("kiosk %s of hall %s started (printer %s, reader %s, scanner %s)", config.device_id, config.hall,
             "yes" if printer else "no", "yes" if devices.has_reader else "no", "yes" if devices.has_scanner else "no")
    return Parts(kiosk, runner, bus, watch, monitor, speaker, gateway)

