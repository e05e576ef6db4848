"""Appointment check-in at the dispenser (预约签到): the dispenser's logic object on a real
broker with the ticketer's appointment desk, the ESC/POS printer simulator on a TCP socket and
a clock the test moves. A typed code and a scanned QR code take the same way; inside the window
a priority ticket marked 预约 is printed, outside it the screen says why and offers a normal
ticket of the booked service."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.simulator import SimulatorServer
from ticketer.appointment_codes import format_code
from ticketer.dispensing import CodeKeypad, Dispensing
from ticketer.offline_book import OfflineBook
from tests.test_appointments import Hall, hall  # noqa: F401  (the ticketer with its appointment desk)


def dispenser(h: Hall, server: SimulatorServer, tmp_path: Path, lang: str = "zh") -> Dispensing:
    printer = ReceiptPrinter(server.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0, job_timeout_s=5.0)
    return Dispensing(h.dispenser, "dispenser-1", OfflineBook(tmp_path / f"book-{lang}.sqlite"), printer,
                      follow_url="https://hall.example/q/{token}", lang=lang)


def test_the_keypad_keeps_nine_digits_in_groups() -> None:
    pad = CodeKeypad()
    for key in "1234x":
        pad.press(key)
    assert pad.shown() == "123-4__-___" and not pad.complete
    pad.back()
    for key in "56789012":
        pad.press(key)
    assert pad.digits == "123567890" and pad.complete and pad.shown() == "123-567-890"
    pad.clear()
    assert pad.digits == ""


def test_a_typed_or_scanned_code_inside_its_window_prints_a_priority_ticket(
        hall: Callable[..., Hall], printer_sim: SimulatorServer, tmp_path: Path) -> None:  # noqa: F811
    h = hall()
    typed = h.book("10:00")["appointment"]["code"]
    scanned = h.book("10:00", taxpayer="13800000001")["appointment"]["code"]
    desk = dispenser(h, printer_sim, tmp_path)
    h.clock.set("2026-11-30 09:45")

    pad = CodeKeypad()
    for key in typed:
        pad.press(key)
    first = desk.check_in(pad.digits)
    assert first.ok and first.issued is not None and first.issued.printed and first.issued.number == "V001"
    second = desk.check_in(f"https://hall.example/book/{scanned}")  # the QR code of the confirmation
    assert second.ok and second.issued is not None and second.issued.number == "V002"

    pages = printer_sim.printer.wait_for_pages(2, timeout=10)
    lines = pages[0].text_lines()
    assert "发票业务" in lines and "预约 10:00  优先叫号" in lines and "V001" in "".join(lines)
    assert pages[0].qr_payloads()[0].startswith("https://hall.example/q/")

    again = desk.check_in(format_code(typed))
    assert not again.ok and again.message == "该预约已签到，号码 V001" and again.offer_service is None
    assert len(printer_sim.printer.pages) == 2


def test_too_early_or_too_late_says_when_and_offers_a_normal_ticket(
        hall: Callable[..., Hall], printer_sim: SimulatorServer, tmp_path: Path) -> None:  # noqa: F811
    h = hall(checkin_before_min=30, checkin_after_min=15)
    code = h.book("10:00")["appointment"]["code"]
    desk = dispenser(h, printer_sim, tmp_path)

    h.clock.set("2026-11-30 09:10")
    early = desk.check_in(code)
    assert not early.ok and early.offer_service == "B"
    assert early.message.startswith("还未到签到时间：请在 09:30–10:15 签到。")
    instead = desk.take(early.offer_service)  # the taxpayer takes the normal ticket offered
    assert instead.ok and instead.number == "B001"

    h.clock.set("2026-11-30 10:20")
    english = dispenser(h, printer_sim, tmp_path, lang="en")
    late = english.check_in(code)
    assert not late.ok and late.offer_service == "B"
    assert late.message.startswith("Too late: check-in closed at 10:15")
    assert h.ask("lookup", code=code)["appointment"]["state"] == "booked"


def test_a_mistyped_or_unknown_code_is_refused_in_words(
        hall: Callable[..., Hall], printer_sim: SimulatorServer, tmp_path: Path) -> None:  # noqa: F811
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    desk = dispenser(h, printer_sim, tmp_path)
    h.clock.set("2026-11-30 09:50")
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    mistyped = desk.check_in(wrong)
    assert not mistyped.ok and mistyped.message == "预约码有误，请核对 9 位数字"
    unknown = desk.check_in("000000000")  # a valid check digit, but nobody's code
    assert not unknown.ok and unknown.message == "没有找到该预约，请核对预约码" and unknown.offer_service is None
    desk.closed = "设备维护中"
    assert desk.check_in(code).message == "设备维护中"
    assert printer_sim.printer.pages == []


def test_the_real_dispenser_checks_in_a_code_typed_on_its_keypad(
        hall: Callable[..., Hall], printer_sim: SimulatorServer, tmp_path: Path, broker) -> None:  # noqa: F811, ANN001
    import subprocess
    import sys

    from PIL import Image

    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    h.clock.set("2026-11-30 09:55")
    shot = tmp_path / "checked-in.png"
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 540x960x24", sys.executable, "-m", "taxhall.cli", "dispenser",
         "--printer", printer_sim.url, "--check-in", code, "--size", "540x960", "--screenshot", str(shot), "--exit-after", "5",
         "--broker", broker.url, "--hall", "test-hall", "--device", "dispenser-9", "--data-dir", str(tmp_path / "d9")],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    pages = printer_sim.printer.wait_for_pages(1, timeout=5)
    lines = pages[0].text_lines()
    assert "V001" in "".join(lines) and "预约 10:00  优先叫号" in lines
    assert h.ask("lookup", code=code)["appointment"]["state"] == "checked_in"
    assert Image.open(shot).size == (540, 960)


def test_the_real_dispenser_checks_in_the_qr_code_its_scanner_reads(
        hall: Callable[..., Hall], printer_sim: SimulatorServer, tmp_path: Path, broker) -> None:  # noqa: F811, ANN001
    import os
    import signal
    import subprocess
    import sys

    from drivers.scanner.simulator import ScannerSimulator
    from tests.ticketer_helpers import wait_for

    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    h.clock.set("2026-11-30 09:40")
    with ScannerSimulator([f"https://hall.example/book/{code}"]) as scanner:
        config = tmp_path / "dispenser.toml"
        config.write_text(f'[scanner]\nkind = "serial"\ndevice = "{scanner.port}"\n', encoding="utf-8")
        app = subprocess.Popen(
            ["xvfb-run", "-a", "-s", "-screen 0 540x960x24", sys.executable, "-m", "taxhall.cli", "dispenser",
             "--config", str(config), "--printer", printer_sim.url, "--size", "540x960", "--exit-after", "20",
             "--broker", broker.url, "--hall", "test-hall", "--device", "dispenser-8", "--data-dir", str(tmp_path / "d8")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            # Scan every half second until the dispenser is up and reading (a second scan of a
            # checked-in code prints nothing: it is refused as already checked in).
            for _ in range(60):
                scanner.send_next()
                if wait_for(lambda: bool(printer_sim.printer.pages), timeout=0.5):
                    break
        finally:
            os.killpg(app.pid, signal.SIGTERM)
            output = app.communicate(timeout=30)[0]
    pages = printer_sim.printer.wait_for_pages(1, timeout=5)
    assert "预约 10:00  优先叫号" in pages[0].text_lines(), output[-2000:]
    assert h.ask("lookup", code=code)["appointment"]["state"] == "checked_in"
    assert len(printer_sim.printer.pages) == 1
