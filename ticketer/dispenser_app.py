"""`taxhall dispenser`: the queue ticket dispenser at the hall entrance (取号机). A Kivy screen
(dispenser.kv) over Dispensing: a tile per service with live waiting counts, the ticket printed
within a second of the touch, the number shown large whether or not it printed, tickets from
the dispenser's lease while the queue engine is away, and an elder mode with larger text.
The 预约签到 tile opens a keypad for an appointment code; a QR scanner (`[scanner]`, if the
dispenser has one) checks in the code it reads the same way (Dispensing.check_in)."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from dataclasses import asdict, replace
from typing import Any, Callable, Literal

from pydantic import Field

from drivers.printer.config import PrinterSection
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.monitor import StatusMonitor, bus_reporter
from drivers.scanner.config import ScannerSection
from taxhall.bus import HallBus, RequestRejected
from taxhall.commands import serve_command
from taxhall.config import ConfigSection, DeviceConfig
from taxhall.touchscreen import keep_watchdog_fed, prepare_kivy, schedule_exit, screen_bus
from ticketer.dispensing import CheckIn, CodeKeypad, Dispensing, Issued, ServiceTile
from ticketer.offline_book import OfflineBook

log = logging.getLogger("ticketer.dispenser")


class DispenserSection(ConfigSection):
    hall_name: str = Field("办税服务厅", description="hall name printed on tickets, Chinese")
    hall_name_en: str = Field("Tax Service Hall", description="hall name, English")
    follow_url: str = Field("http://127.0.0.1:8080/t/{token}", description="the phone view printed as QR; {token} is the ticket's")
    lang: Literal["zh", "en"] = "zh"
    size: str = Field("1080x1920", pattern=r"^\d{3,4}x\d{3,4}$", description="window size; dispensers stand portrait")
    fullscreen: bool = False
    result_s: float = Field(6.0, gt=0, description="how long the number stays on screen")
    lease_size: int = Field(20, ge=1, le=100, description="numbers per service kept for offline issuing")
    checkin_tile: bool = Field(True, description="show the 预约签到 tile (appointment check-in by code or QR)")
    checkin_service: str = Field("V", description="the service appointment tickets are of; its plain tile is not shown "
                                                  "(a walk-in has nothing to take there); empty: show every tile")


SECTIONS = {"dispenser": DispenserSection, "printer": PrinterSection, "scanner": ScannerSection}
CHECK_IN = "__check_in__"  # the check-in tile's code (no service code has underscores)


def check_in_tile_text(lang: str) -> str:
    zh = lang == "zh"
    return ("预约签到" if zh else "Appointment check-in") + "\n[color=ffd24a]" + \
        ("输入或扫描预约码，优先叫号" if zh else "Type or scan your code — called first") + "[/color]"


def check_in_texts(outcome: CheckIn, lang: str) -> tuple[str, str]:
    """The result panel after a check-in: the number and what to do, or the reason."""
    if outcome.ok and outcome.issued is not None:
        number, detail = result_texts(outcome.issued, lang)
        return number, ("预约签到成功 · 优先叫号\n" if lang == "zh" else "Checked in — you will be called first\n") + detail
    return "", outcome.message


def tile_text(tile: ServiceTile, lang: str) -> str:
    zh = lang == "zh"
    name = tile.name if zh else tile.name_en
    if not tile.open:
        return f"{tile.code}  {name}\n[color=d0d0d0]" + ("暂停取号" if zh else "Closed now") + "[/color]"
    minutes = max(1, round(tile.est_wait_s / 60)) if tile.waiting else 0
    wait = (f"等候 {tile.waiting} 人 · 约 {minutes} 分钟" if tile.waiting else "无需等候") if zh else \
        (f"{tile.waiting} waiting · about {minutes} min" if tile.waiting else "No wait")
    return f"{tile.code}  {name}\n[color=ffd24a]{wait}[/color]"


def result_texts(issued: Issued, lang: str) -> tuple[str, str]:
    zh = lang == "zh"
    if not issued.ok:
        return ("", issued.message)
    if issued.ahead is None:
        ahead = ""
    elif issued.ahead == 0:
        ahead = "前面无人等候" if zh else "You are next"
    else:
        ahead = f"前面还有 {issued.ahead} 人" if zh else f"{issued.ahead} ahead of you"
    return (issued.number or "", "\n".join(p for p in (ahead, issued.message) if p))


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall dispenser", description="the queue ticket dispenser")
    parser.add_argument("--printer", metavar="URL", help="override [printer] url")
    parser.add_argument("--lang", choices=["zh", "en"])
    parser.add_argument("--size")
    parser.add_argument("--screenshot", metavar="PNG")
    parser.add_argument("--exit-after", type=float, metavar="S")
    parser.add_argument("--touch", metavar="SERVICE", help="touch this service's tile 1.5 s after start (checks)")
    parser.add_argument("--check-in", metavar="CODE", help="type this appointment code on the check-in keypad after start (checks)")
    args = parser.parse_args(argv)
    section: DispenserSection = config.section("dispenser")
    printer_section: PrinterSection = config.section("printer")
    url = args.printer or printer_section.url
    printer = ReceiptPrinter(url, printer_section.resolved_profile(), timeout_s=printer_section.timeout_s,
                             job_timeout_s=printer_section.job_timeout_s) if url else None
    monitor = StatusMonitor(printer, printer_section.status_interval_s) if printer else None
    bus = screen_bus(config, components=monitor.components if monitor else None)
    if printer:
        serve_command(bus, "print_test_page", lambda m: _test_page(printer, section), blocking=True)
    book = OfflineBook(config.data_dir / "dispenser-offline.sqlite")
    desk = Dispensing(bus, config.device_id, book, printer, section.hall_name, section.hall_name_en,
                      section.follow_url, args.lang or section.lang, lease_size=section.lease_size)
    bus.subscribe("queue/state", desk.on_state)
    serve_service_commands(bus, desk, config.data_dir / "dispenser-service.json", lambda: desk.on_change())
    shown: list[Callable[[Issued], None]] = []  # the screen, once it exists
    bus.serve(f"device/{config.device_id}/cmd/issue", lambda m: _remote_issue(desk, m.data.args or {}, shown),
              blocking=True)
    scanner_section: ScannerSection = config.section("scanner")
    if monitor:
        monitor.on_change = bus_reporter(bus)
        monitor.start()
    bus.start(wait_s=5)
    stop = threading.Event()
    threading.Thread(target=_keep_up, args=(desk, bus, stop), name="lease", daemon=True).start()
    checked: list[Callable[[CheckIn], None]] = []  # the screen, once it exists
    if scanner_section.kind != "none":
        threading.Thread(target=_scan_check_ins, args=(desk, scanner_section, checked, stop), name="scanner",
                         daemon=True).start()
    try:
        return _run_window(desk, section, args, shown, checked)
    finally:
        stop.set()
        if monitor:
            monitor.stop()
        bus.close()
        book.close()


def _remote_issue(desk: Dispensing, args: dict[str, Any], shown: list[Callable[[Issued], None]]) -> dict[str, Any]:
    """`device/{id}/cmd/issue` {service, priority?}: a ticket as if the tile were touched — for
    staff issuing one for a taxpayer at the door, and for the scripted demo."""
    service = str(args.get("service") or "")
    if not service:
        raise RequestRejected("bad_request", "args.service: the service code, e.g. A")
    issued = desk.take(service, args.get("priority"))
    for show in shown:
        show(issued)
    return {"issued": asdict(issued)}


def _scan_check_ins(desk: Dispensing, section: ScannerSection, checked: list[Callable[[CheckIn], None]],
                     stop: threading.Event) -> None:
    """Every code the scanner reads is an appointment check-in (the confirmation's QR code);
    a scanner that fails is reopened after a pause, without taking the screen down."""
    from drivers.scanner.base import ScannerError
    from drivers.scanner.config import open_scanner

    while not stop.is_set():
        try:
            with open_scanner(section) as scanner:
                while not stop.is_set():
                    scan = scanner.read(1.0)
                    if scan is None:
                        continue
                    outcome = desk.check_in(scan.text)
                    for show in checked:
                        show(outcome)
        except ScannerError as exc:
            log.warning("scanner: %s; trying again in 5 s", exc)
            stop.wait(5.0)


def serve_service_commands(bus: HallBus, desk: Dispensing, state_file: Path, on_change: Callable[[], None]) -> None:
    """`cmd/out_of_service` {message?} and `cmd/in_service`: a dispenser closed from afar shows
    why and issues nothing until reopened; the state outlives a restart (kept in `state_file`)."""
    import json

    def close(message: Any) -> dict[str, Any]:
        text = (message.data.args or {}).get("message", "")
        if not isinstance(text, str) or len(text) > 200:
            raise RequestRejected("bad_request", "args.message: a text of at most 200 characters")
        desk.closed = text
        state_file.write_text(json.dumps({"closed": text}, ensure_ascii=False), encoding="utf-8")
        bus.set_status("out_of_service")
        on_change()
        return {"state": "out_of_service"}

    def reopen(message: Any) -> dict[str, Any]:
        desk.closed = None
        state_file.unlink(missing_ok=True)
        bus.set_status("online")
        on_change()
        return {"state": "online"}

    if state_file.exists():
        desk.closed = str(json.loads(state_file.read_text(encoding="utf-8")).get("closed", ""))
        bus.set_status("out_of_service")
    serve_command(bus, "out_of_service", close)
    serve_command(bus, "in_service", reopen)


def _test_page(printer: ReceiptPrinter, section: DispenserSection) -> dict[str, Any]:
    """`device/{id}/cmd/print_test_page`: a sample ticket, as a technician checks a printer."""
    from drivers.printer.errors import PrinterError
    from drivers.printer.layout import queue_ticket, sample_ticket_info

    try:
        result = printer.print_job(queue_ticket(sample_ticket_info(), section.lang), job_id="test-page")
    except PrinterError as exc:
        raise RequestRejected("printer_fault", str(exc)) from None
    return {"printed": getattr(result, "state", "sent")}


def _keep_up(desk: Dispensing, bus: HallBus, stop: threading.Event) -> None:
    """While the engine is reachable: hand in offline tickets first, then keep the lease full."""
    while not stop.wait(2.0):
        if bus.connected and desk.tiles:
            try:
                desk.hand_in()
                desk.keep_lease()
            except Exception:  # the next round tries again; the book on disk keeps everything
                log.exception("lease upkeep failed")


def _run_window(desk: Dispensing, section: DispenserSection, args: argparse.Namespace,
                shown: list[Callable[[Issued], None]], checked: list[Callable[[CheckIn], None]]) -> int:
    prepare_kivy(args.size or section.size, section.fullscreen)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, NumericProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button

    Builder.load_file(str(Path(__file__).with_name("dispenser.kv")))

    class ServiceTileButton(Button):
        is_open = BooleanProperty(True)
        scale = NumericProperty(1.0)
        code = StringProperty("")

    class DispenserScreen(BoxLayout):
        title_text = StringProperty("")
        hint_text = StringProperty("")
        footer_text = StringProperty("")
        elder_text = StringProperty("")
        lang_text = StringProperty("")
        result_number = StringProperty("")
        result_detail = StringProperty("")
        result_ok = BooleanProperty(True)
        result_visible = BooleanProperty(False)
        busy = BooleanProperty(False)
        columns = NumericProperty(1)
        scale = NumericProperty(1.0)
        keypad_visible = BooleanProperty(False)
        keypad_title = StringProperty("")
        keypad_code = StringProperty("")
        keypad_back_text = StringProperty("")
        keypad_ok_text = StringProperty("")
        offer_text = StringProperty("")
        offer_service = StringProperty("")

        def __init__(self, **kwargs: Any) -> None:
            self.pad = CodeKeypad()  # before super(): Kivy may refresh while building the kv rule
            super().__init__(**kwargs)

        def refresh(self) -> None:
            zh = desk.lang == "zh"
            self.title_text = desk.hall_name if zh else desk.hall_name_en
            self.hint_text = desk.closed_text() if desk.closed is not None else (
                "请选择办理业务，轻触取号" if zh else "Tap a service to take a ticket")
            self.footer_text = "过号请重新取号 · 请留意叫号屏和语音" if zh else "Listen for your number and watch the screen"
            self.elder_text = ("标准字体" if self.scale > 1 else "大字模式") if zh else ("Normal text" if self.scale > 1 else "Large text")
            self.lang_text = "English" if zh else "中文"
            self.columns = 1 if self.height > self.width else 2
            grid = self.ids.tiles
            grid.clear_widgets()
            for tile in desk.tiles.values():
                if section.checkin_tile and tile.code == section.checkin_service:
                    continue  # appointment tickets come from the check-in tile
                shown = tile if desk.closed is None else replace(tile, open=False)  # closed: say so on every tile
                button = ServiceTileButton(text=tile_text(shown, desk.lang), is_open=shown.open, scale=self.scale)
                button.code = tile.code
                button.disabled = not tile.open or desk.closed is not None
                button.bind(on_release=lambda b, code=tile.code: self.press(code))
                grid.add_widget(button)
            if section.checkin_tile and desk.tiles:
                button = ServiceTileButton(text=check_in_tile_text(desk.lang), is_open=desk.closed is None, scale=self.scale)
                button.code = CHECK_IN
                button.disabled = desk.closed is not None
                button.bind(on_release=lambda b: self.open_keypad())
                grid.add_widget(button)
            self.keypad_title = "请输入 9 位预约码" if zh else "Enter your 9-digit appointment code"
            self.keypad_back_text = "返回" if zh else "Back"
            self.keypad_ok_text = "签到" if zh else "Check in"
            self.keypad_code = self.pad.shown()

        def open_keypad(self) -> None:
            self.pad.clear()
            self.keypad_code = self.pad.shown()
            self.keypad_visible = True

        def key(self, key: str) -> None:
            """A keypad key: a digit, ⌫ (back) or C (clear); the code is sent once complete and confirmed."""
            if key == "back":
                self.pad.back()
            elif key == "clear":
                self.pad.clear()
            else:
                self.pad.press(key)
            self.keypad_code = self.pad.shown()

        def confirm_code(self) -> None:
            if not self.pad.complete:
                return
            code, self.keypad_visible, self.busy = self.pad.digits, False, True
            self.pad.clear()
            threading.Thread(target=self._check_in, args=(code,), daemon=True).start()

        def _check_in(self, code: str) -> None:
            outcome = desk.check_in(code)
            Clock.schedule_once(lambda dt: self.show_check_in(outcome))

        def show_check_in(self, outcome: CheckIn) -> None:
            self.keypad_visible = False
            self.result_number, self.result_detail = check_in_texts(outcome, desk.lang)
            self.result_ok = outcome.ok
            self.offer_service = outcome.offer_service or ""
            self.offer_text = ("取普通号" if desk.lang == "zh" else "Take a normal ticket") if outcome.offer_service else ""
            self.result_visible, self.busy = True, False
            Clock.schedule_once(lambda dt: self.hide_result(), section.result_s * (2 if outcome.offer_service else 1))

        def take_offer(self) -> None:
            service, self.offer_service, self.offer_text = self.offer_service, "", ""
            if service:
                self.press(service)

        def hide_result(self) -> None:
            self.result_visible = False
            self.offer_service, self.offer_text = "", ""

        def press(self, code: str) -> None:
            self.busy = True
            threading.Thread(target=self._take, args=(code,), daemon=True).start()

        def _take(self, code: str) -> None:
            issued = desk.take(code)
            Clock.schedule_once(lambda dt: self.show_result(issued))

        def show_result(self, issued: Issued) -> None:
            self.offer_service, self.offer_text = "", ""
            self.result_number, self.result_detail = result_texts(issued, desk.lang)
            self.result_ok = issued.ok and (issued.printed or desk.printer is None)
            self.result_visible, self.busy = True, False
            Clock.schedule_once(lambda dt: setattr(self, "result_visible", False), section.result_s)

        def toggle_elder(self) -> None:
            self.scale = 1.35 if self.scale == 1.0 else 1.0
            self.refresh()

        def toggle_lang(self) -> None:
            desk.lang = "en" if desk.lang == "zh" else "zh"
            self.refresh()

    class TicketDispenserApp(App):  # not "DispenserApp": Kivy would load dispenser.kv a second time
        def touch_tile(self, code: str) -> None:
            """A finger on the tile: a touch down and up at its centre, through Kivy's dispatch."""
            from kivy.tests.common import UnitTestTouch

            tiles = [b for b in self.screen.ids.tiles.children if getattr(b, "code", None) == code]
            if not tiles:
                log.error("--touch %s: no such tile (tiles: %s)", code, ", ".join(desk.tiles) or "none yet")
                return
            x, y = tiles[0].to_window(*tiles[0].center)
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()

        def type_code(self, code: str) -> None:
            """Fingers on the check-in tile, each digit of `code` and 签到, through Kivy's dispatch."""
            from kivy.tests.common import UnitTestTouch

            def tap(widget: Any) -> None:
                x, y = widget.to_window(*widget.center)
                touch = UnitTestTouch(x, y)
                touch.touch_down()
                touch.touch_up()

            self.touch_tile(CHECK_IN)
            # One key per frame, after the keypad has been laid out: a finger, not a paste.
            keys = [*code, "ok"]

            def next_key(dt: float) -> None:
                if not keys:
                    return
                key = keys.pop(0)
                by_key = {getattr(b, "key", None): b for b in self.screen.ids.keypad_keys.children}
                tap(self.screen.ids.keypad_ok if key == "ok" else by_key[key])
                Clock.schedule_once(next_key, 0.1)

            Clock.schedule_once(next_key, 0.5)

        def build(self) -> DispenserScreen:
            self.title = "taxhall — dispenser"
            self.screen = DispenserScreen()
            desk.on_change = lambda: Clock.schedule_once(lambda dt: self.screen.refresh())
            self.screen.bind(size=lambda *a: self.screen.refresh())
            Clock.schedule_once(lambda dt: self.screen.refresh())
            shown.append(lambda issued: Clock.schedule_once(lambda dt: self.screen.show_result(issued)))
            checked.append(lambda outcome: Clock.schedule_once(lambda dt: self.screen.show_check_in(outcome)))
            if args.touch:
                Clock.schedule_once(lambda dt: self.touch_tile(args.touch), 1.5)
            if args.check_in:
                Clock.schedule_once(lambda dt: self.type_code(args.check_in), 1.5)
            keep_watchdog_fed()
            schedule_exit(self, args.screenshot, args.exit_after)
            return self.screen

    TicketDispenserApp().run()
    return 0
