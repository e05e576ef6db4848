"""Appointment check-in on the kiosk's queue tile (预约签到): the kiosk's flow object — no
window — on a real broker with the ticketer's appointment desk, the kiosk's real devices
(printer simulator on a TCP socket, serial scanner simulator) and a clock the test moves.
A code typed on the keypad and the booking's QR code read by the scanner take the same way;
inside the window a priority ticket marked 预约 is printed, outside it the screen says when
and offers a normal ticket of the booked service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kiosk.remote import BusQueue
from kiosk.session import Flow, Screen
from kiosk.words import checkin_refusal
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig
from ticketer.appointment_codes import format_code
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store
from tests.kiosk_support import Rig, make_rig, wait_for
from tests.test_appointments import Hall, hall  # noqa: F401  (the ticketer with its appointment desk)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    yield made
    made.close()


def on_the_hall(rig: Rig, bus: HallBus) -> BusQueue:
    queue = BusQueue(bus)
    queue.on_change = rig.kiosk.refresh
    queue.attach()
    rig.kiosk.queue = queue
    assert wait_for(lambda: queue.services() is not None, 20), "no queue state from the ticketer"
    rig.kiosk.refresh()
    return queue


def open_checkin(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.QUEUE)
    rig.kiosk.flows.queue.open_checkin()
    assert rig.screen == Screen.QUEUE_CHECKIN and rig.kiosk.notice is None


def type_code(rig: Rig, typed: str) -> None:
    for key in typed:
        rig.kiosk.flows.queue.press(key)
    rig.kiosk.flows.queue.check_in()


def test_a_typed_code_inside_its_window_prints_a_priority_ticket_once(
        rig: Rig, hall: Callable[..., Hall], bus_factory: Callable[..., HallBus],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    on_the_hall(rig, bus_factory("kiosk-t", role="kiosk"))
    h.clock.set("2026-11-30 09:45")
    open_checkin(rig)

    for key in code[:4] + "x":  # a letter is no digit of a code
        rig.kiosk.flows.queue.press(key)
    assert rig.view.session.checkin_digits == code[:4]
    rig.kiosk.flows.queue.press("del")
    type_code(rig, code[3:])
    view = rig.view
    assert view.notice is None and view.screen == Screen.QUEUE_DONE
    ticket = view.session.ticket
    assert ticket.number == "V001" and ticket.slot == "10:00" and ticket.printed and ticket.service_name == "发票业务"
    lines = rig.pages(1)[0].text_lines()
    assert "预约 10:00  优先叫号" in lines and "发票业务" in lines and "V001" in "".join(lines)
    assert h.ask("lookup", code=code)["appointment"]["state"] == "checked_in"

    # the request id is kept for the visit: asked again with it, the desk repeats the first answer
    kept = view.session.request_id(f"checkin:{code}")
    assert kept is not None
    again = h.ask("check_in", via=h.dispenser, code=code, source="kiosk-t", request_id=kept)
    assert again["ok"] and again["ticket"]["number"] == "V001"

    rig.kiosk.finish()  # a new visit: the code is spent
    open_checkin(rig)
    type_code(rig, code)
    notice = rig.kiosk.notice
    assert notice is not None and notice.title.zh == "该预约已签到，号码 V001"
    assert rig.screen == Screen.QUEUE_CHECKIN and len(rig.printer.pages) == 1
    # the code is its holder's key to the appointment: the kiosk's log never holds it whole
    kiosk_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("kiosk"))
    assert "appointment checked in: ticket V001" in kiosk_log
    assert code not in kiosk_log and format_code(code) not in kiosk_log


def test_the_scanned_qr_code_checks_in_in_english_and_elder_mode(
        rig: Rig, hall: Callable[..., Hall], bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    on_the_hall(rig, bus_factory("kiosk-t", role="kiosk"))
    h.clock.set("2026-11-30 09:40")
    rig.kiosk.toggle_lang()
    rig.kiosk.toggle_elder()
    open_checkin(rig)
    assert rig.kiosk.wants_devices()  # the scanner is read on this screen

    view = rig.scan(f"https://hall.example/book/{code}")
    assert view.notice is None and view.screen == Screen.QUEUE_DONE
    assert view.session.ticket.number == "V001" and view.session.ticket.service_name_en
    lines = rig.pages(1)[0].text_lines()
    assert "Appointment 10:00 — called first" in lines and "V001" in "".join(lines)
    assert h.ask("lookup", code=code)["appointment"]["state"] == "checked_in"


def test_too_early_or_too_late_says_when_and_offers_a_normal_ticket(
        rig: Rig, hall: Callable[..., Hall], bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    h = hall(checkin_before_min=30, checkin_after_min=15)
    code = h.book("10:00")["appointment"]["code"]
    on_the_hall(rig, bus_factory("kiosk-t", role="kiosk"))

    h.clock.set("2026-11-30 09:10")
    open_checkin(rig)
    type_code(rig, code)
    view = rig.view
    refusal = view.session.checkin_refusal
    assert view.notice is None and view.screen == Screen.QUEUE_CHECKIN and refusal is not None
    assert (refusal.reason, refusal.checkin_from, refusal.checkin_until, refusal.service) == ("too_early", "09:30", "10:15", "B")
    words = checkin_refusal(refusal.reason, refusal.slot, refusal.checkin_from, refusal.checkin_until)
    assert words.zh == "还未到签到时间：10:00 的预约请在 09:30–10:15 签到。如现在办理，可取普通号。"
    assert words.en.startswith("Too early: the 10:00 appointment checks in between 09:30 and 10:15.")
    assert rig.printer.pages == []
    rig.kiosk.flows.queue.take_offered()  # the taxpayer takes the normal ticket offered
    view = rig.view
    assert view.screen == Screen.QUEUE_DONE and view.session.ticket.number == "B001" and view.session.ticket.slot is None
    lines = rig.pages(1)[0].text_lines()
    assert "B001" in "".join(lines) and not any("预约" in line for line in lines)

    rig.kiosk.finish()
    h.clock.set("2026-11-30 10:20")
    rig.kiosk.toggle_lang()
    open_checkin(rig)
    type_code(rig, code)
    refusal = rig.view.session.checkin_refusal
    assert refusal is not None and refusal.reason == "too_late" and refusal.checkin_until == "10:15"
    words = checkin_refusal(refusal.reason, refusal.slot, refusal.checkin_from, refusal.checkin_until)
    assert words.en.startswith("Too late: check-in for the 10:00 appointment closed at 10:15")
    assert h.ask("lookup", code=code)["appointment"]["state"] == "booked"
    rig.kiosk.back()  # leaving the screen drops what was typed and refused
    assert rig.screen == Screen.QUEUE and rig.view.session.checkin_refusal is None and rig.view.session.checkin_digits == ""


def test_a_mistyped_or_unknown_code_is_refused_in_words(
        rig: Rig, hall: Callable[..., Hall], bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    on_the_hall(rig, bus_factory("kiosk-t", role="kiosk"))
    h.clock.set("2026-11-30 09:50")
    open_checkin(rig)

    type_code(rig, code[:-1] + str((int(code[-1]) + 1) % 10))  # the check digit catches it
    notice = rig.kiosk.notice
    assert notice is not None and notice.title.zh == "预约码有误" and "9 位数字" in notice.next_step.zh
    rig.kiosk.dismiss_notice()
    rig.kiosk.flows.queue.press("clear")
    type_code(rig, "000000000")  # a valid check digit, but nobody's code
    notice = rig.kiosk.notice
    assert notice is not None and notice.title.zh == "没有找到该预约" and notice.title.en == "No appointment with this code"
    assert h.ask("lookup", code=code)["appointment"]["state"] == "booked"
    assert rig.printer.pages == []


def test_the_real_kiosk_checks_in_a_code_tapped_on_its_keypad(
        hall: Callable[..., Hall], broker, tmp_path: Path) -> None:  # noqa: F811, ANN001
    """`taxhall kiosk` under Xvfb, tapped through with Kivy touch events: queue tile, 预约签到,
    the code on the digit pad, 签到 — and the priority ticket comes out of the printer."""
    import json
    import subprocess
    import sys

    from PIL import Image

    from drivers.printer.config import BUILTIN_PROFILES
    from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
    from tests.conftest import HALL

    h = hall()
    code = h.book("10:00")["appointment"]["code"]
    h.clock.set("2026-11-30 09:55")
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"])
    server = SimulatorServer(printer).listen_tcp().start()
    shot, done = tmp_path / "checkin.png", tmp_path / "checked-in.png"
    script = [{"wait": "home"}, {"tap": "tile_queue"}, {"wait": "queue"}, {"tap": "checkin"}, {"wait": "queue_checkin"},
              *({"tap": f"key_{digit}"} for digit in code), {"screenshot": str(shot)}, {"tap": "checkin_go"},
              {"wait": "queue_done"}, {"screenshot": str(done)}, {"tap": "finish"}, {"wait": "home"}, {"quit": True}]
    (tmp_path / "script.json").write_text(json.dumps(script), encoding="utf-8")
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\nsize = "1280x800"\n[printer]\nstatus_interval_s = 1.0\n', encoding="utf-8")
    try:
        result = subprocess.run(
            ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", "kiosk",
             "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "kiosk-x",
             "--data-dir", str(tmp_path / "data"), "--printer", server.url, "--script", str(tmp_path / "script.json")],
            capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in log, log[-4000:]
    lines = printer.wait_for_pages(1, 5)[0].text_lines()
    assert "预约 10:00  优先叫号" in lines and "V001" in "".join(lines)
    assert h.ask("lookup", code=code)["appointment"]["state"] == "checked_in"
    assert Image.open(shot).size == (1280, 800) and Image.open(done).size == (1280, 800)


def test_without_an_appointment_desk_the_kiosk_says_so_and_keeps_the_request_id(
        rig: Rig, device_config: Callable[..., DeviceConfig], bus_factory: Callable[..., HallBus],
        tmp_path: Path) -> None:
    """A ticketer whose appointment desk is not open: nobody answers `check_in`; the kiosk says
    check-in is unavailable and keeps the visit's request id, so the taxpayer's second try is
    the same request (never a second ticket)."""
    engine = Engine(TicketerSection.model_validate({"timezone": "Asia/Shanghai"}), Store(tmp_path / "q" / "queue.sqlite"))
    service = TicketerService(engine, HallBus(device_config("ticketer", "ticketer")))
    service.start()
    try:
        queue = BusQueue(bus_factory("kiosk-t", role="kiosk"), timeout_s=0.5)
        queue.on_change = rig.kiosk.refresh
        queue.attach()
        rig.kiosk.queue = queue
        assert wait_for(lambda: queue.services() is not None, 20), "no queue state from the ticketer"
        rig.kiosk.refresh()
        open_checkin(rig)
        type_code(rig, "000-000-000")
        notice = rig.kiosk.notice
        assert notice is not None and notice.title.zh == "预约签到暂不可用" and notice.title.en == "Check-in is not available now"
        kept = rig.view.session.request_id("checkin:000000000")
        assert kept is not None
        rig.kiosk.dismiss_notice()
        rig.kiosk.flows.queue.check_in()
        assert rig.kiosk.notice is not None and rig.view.session.request_id("checkin:000000000") == kept
        assert rig.printer.pages == []
    finally:
        service.close()
