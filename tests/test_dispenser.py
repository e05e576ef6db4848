"""The dispenser over a real broker, the real queue engine and the ESC/POS printer simulator
on a TCP socket: a touch gives a printed ticket; a printer fault still gives the number."""

from __future__ import annotations

from pathlib import Path
from typing import Callable


from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.simulator import SimulatorServer
from taxhall.bus import HallBus
from ticketer.dispensing import Dispensing
from ticketer.offline_book import OfflineBook
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import wait_for


def make_dispenser(bus: HallBus, server: SimulatorServer, tmp_path: Path) -> Dispensing:
    printer = ReceiptPrinter(server.url, BUILTIN_PROFILES["generic-80"], timeout_s=2.0, job_timeout_s=5.0)
    desk = Dispensing(bus, "dispenser-1", OfflineBook(tmp_path / "book.sqlite"), printer,
                      follow_url="https://hall.example/q/{token}")
    bus.subscribe("queue/state", desk.on_state)
    return desk


def test_a_touch_prints_a_ticket_with_its_number_and_qr(ticketer, printer_sim: SimulatorServer, tmp_path: Path,  # noqa: F811
                                                        bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    desk = make_dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, tmp_path)
    assert wait_for(lambda: "A" in desk.tiles)
    first = desk.take("A")
    second = desk.take("A")
    assert first.ok and first.printed and first.number == "A001" and first.ahead == 0
    assert second.number == "A002" and second.ahead == 1
    pages = printer_sim.printer.wait_for_pages(2, timeout=10)
    lines = pages[1].text_lines()
    assert "综合业务" in lines and "A002" in "".join(lines) and "前面还有 1 人" in lines
    assert pages[1].qr_payloads()[0].startswith("https://hall.example/q/") and len(pages[1].qr_payloads()[0]) > 30


def test_paper_out_still_gives_the_taxpayer_a_number(ticketer, printer_sim: SimulatorServer, tmp_path: Path,  # noqa: F811
                                                     bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    desk = make_dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, tmp_path)
    assert wait_for(lambda: "B" in desk.tiles)
    printer_sim.printer.set_fault("paper_out", True)
    issued = desk.take("B")
    assert issued.ok and issued.number == "B001" and not issued.printed
    assert issued.message == "打印机故障，请记住您的号码 B001"


def test_closed_or_unknown_service_is_refused_in_words(ticketer, printer_sim: SimulatorServer, tmp_path: Path,  # noqa: F811
                                                       bus_factory: Callable[..., HallBus]) -> None:
    ticketer()
    desk = make_dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, tmp_path)
    refused = desk.take("Q")
    assert not refused.ok and refused.message == "没有这项业务"
    assert printer_sim.printer.pages == []


def test_without_engine_or_lease_tickets_are_paused_clearly(printer_sim: SimulatorServer, tmp_path: Path,
                                                            bus_factory: Callable[..., HallBus]) -> None:
    desk = make_dispenser(bus_factory("dispenser-1", role="dispenser"), printer_sim, tmp_path)
    desk.timeout_s = 0.3
    issued = desk.take("A")
    assert not issued.ok and "暂停取号" in issued.message
    assert printer_sim.printer.pages == []


def test_a_finger_on_the_tile_of_the_real_app_prints_the_ticket(ticketer, printer_sim: SimulatorServer, tmp_path: Path,  # noqa: F811
                                                                broker, bus_factory: Callable[..., HallBus]) -> None:
    import subprocess
    import sys

    from PIL import Image
    from pyzbar.pyzbar import decode

    ticketer()
    shot = tmp_path / "dispenser.png"
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 540x960x24", sys.executable, "-m", "taxhall.cli", "dispenser",
         "--printer", printer_sim.url, "--touch", "C", "--size", "540x960", "--screenshot", str(shot), "--exit-after", "5",
         "--broker", broker.url, "--hall", "test-hall", "--device", "dispenser-9", "--data-dir", str(tmp_path / "d9")],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    pages = printer_sim.printer.wait_for_pages(1, timeout=5)
    assert "C001" in "".join(pages[0].text_lines()) and "申报纳税" in pages[0].text_lines()
    assert decode(Image.open(sorted((tmp_path / "pages").glob("page-*.png"))[0]))[0].data.decode().startswith("http://")
    assert Image.open(shot).size == (540, 960)


def test_a_dispenser_closed_from_afar_issues_nothing_until_reopened(ticketer, printer_sim: SimulatorServer,  # noqa: F811
                                                                    tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    from taxhall.commands import send_command
    from ticketer.dispenser_app import serve_service_commands

    ticketer()
    bus = bus_factory("dispenser-1", role="dispenser")
    desk = make_dispenser(bus, printer_sim, tmp_path)
    state = tmp_path / "service.json"
    serve_service_commands(bus, desk, state, lambda: None)
    operator = bus_factory("ops-li", role="operator")
    statuses: list[str] = []
    operator.subscribe("device/dispenser-1/status", lambda m: statuses.append(m.data.state))

    assert send_command(operator, "dispenser-1", "out_of_service", {"message": "设备维护中，请到3号窗口取号"})["state"] == "out_of_service"
    refused = desk.take("A")
    assert not refused.ok and refused.message == "设备维护中，请到3号窗口取号"
    assert wait_for(lambda: statuses and statuses[-1] == "out_of_service")

    restarted = bus_factory("dispenser-1-restarted", role="dispenser")  # a restart keeps it closed
    again = Dispensing(restarted, "dispenser-1", OfflineBook(tmp_path / "book2.sqlite"))
    serve_service_commands(restarted, again, state, lambda: None)
    assert again.closed == "设备维护中，请到3号窗口取号"

    send_command(operator, "dispenser-1", "in_service")
    assert wait_for(lambda: statuses[-1] == "online")
    assert desk.take("A").ok and printer_sim.printer.pages == printer_sim.printer.wait_for_pages(1, timeout=5)
