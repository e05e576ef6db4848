"""ReceiptPrinter against the simulator on real transports — a TCP socket, a pseudo-terminal
opened with pyserial, a FIFO — including the faults: paper out mid-job, cover open, offline,
a silent printer, refused connections and unplugged links. Typed errors, no hang."""

from __future__ import annotations

import os
import socket
import time
import tty
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from drivers.printer.config import BUILTIN_PROFILES, PrinterProfile
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.errors import (
    CoverOpen,
    PaperOut,
    PrinterDisconnected,
    PrinterError,
    PrinterOffline,
    PrinterTimeout,
    PrinterUnreachable,
)
from drivers.printer.escpos_render import render_bytes
from drivers.printer.layout import queue_ticket, sample_ticket_info
from drivers.printer.simulator import Faults, SimulatedPrinter, SimulatorServer

GEN80 = BUILTIN_PROFILES["generic-80"]
GEN58 = BUILTIN_PROFILES["generic-58"]
TICKET = queue_ticket(sample_ticket_info())
TICKET_ZH = ["国家税务总局示范市税务局第一办税服务厅", "综合业务", "A042", "前面还有 12 人", "预计等候约 25 分钟",
             "取号时间 2026-11-27 09:30", "手机扫码查看排队进度", "请留意叫号，过号请重新取号"]
TIMEOUT = 1.0  # the driver's read time-out in these tests; generous for a loaded machine
NO_HANG = 6.0  # a call that must fail fast has to be done well within this


def _serve(kind: str, profile: PrinterProfile, out: Path, faults: Faults = Faults()) -> SimulatorServer:
    printer = SimulatedPrinter(profile, faults=faults, out_dir=out)
    server = SimulatorServer(printer)
    return (server.listen_tcp() if kind == "tcp" else server.open_pty()).start()


@pytest.fixture(params=["tcp", "pty"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimulatorServer]:
    """The simulator on a TCP port (an 80 mm printer with cutter) or on a pseudo-terminal
    (a 58 mm tear-off printer at 115200 baud)."""
    server = _serve(request.param, GEN80 if request.param == "tcp" else GEN58, tmp_path / "pages")
    yield server
    server.stop()


def _printer(server: SimulatorServer, timeout_s: float = TIMEOUT) -> ReceiptPrinter:
    url = server.url + ("?baud=115200" if server.url.startswith("serial:") else "")
    return ReceiptPrinter(url, server.printer.profile, timeout_s=timeout_s, job_timeout_s=10)


def _lines(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in page.text_lines() if not line.startswith("---")]


def _expected(profile: PrinterProfile) -> list[str]:
    """The ticket's lines as printed: on 58 mm paper the hall name takes two lines."""
    if profile.width_dots >= 576:
        return TICKET_ZH
    return ["国家税务总局示范市税", "务局第一办税服务厅", *TICKET_ZH[1:]]


def test_a_chinese_ticket_prints_and_its_png_shows_it(sim: SimulatorServer, tmp_path: Path) -> None:
    with _printer(sim) as printer:
        result = printer.print_job(TICKET, job_id="t-1")
    assert result.printed and result.job_id == "t-1" and result.bytes_sent <= 2048
    (page,) = sim.printer.wait_for_pages(1, timeout=5)
    assert page.complete and _lines(page) == _expected(sim.printer.profile)
    png = tmp_path / "pages" / "page-0001.png"
    assert png.exists()
    image = Image.open(png)
    assert image.width == sim.printer.profile.width_dots
    assert [code.data.decode() for code in decode(image)] == TICKET.qr_payloads()


def test_status_on_demand_and_paper_low_still_prints(sim: SimulatorServer) -> None:
    with _printer(sim) as printer:
        assert printer.status().ready
        sim.printer.set_fault("paper_near_end", True)
        status = printer.status()
        assert status.ready and status.paper_near_end
        result = printer.print_job(TICKET)
    assert result.printed and result.status is not None and result.status.paper_near_end


def test_paper_out_mid_job_marks_the_job_unprinted_and_drops_its_rest(sim: SimulatorServer) -> None:
    sim.printer.fail_after(200)  # the status request goes through; the paper ends in the ticket
    with _printer(sim) as printer:
        started = time.monotonic()
        with pytest.raises(PaperOut) as caught:
            printer.print_job(TICKET, job_id="t-2")
        assert time.monotonic() - started < NO_HANG
        job = caught.value.job
        assert job is not None and job.state == "unprinted" and not job.printed and job.job_id == "t-2"
        assert job.bytes_sent > 0 and "paper out" in str(caught.value)
        (partial,) = sim.printer.wait_for_pages(1, timeout=5)
        assert not partial.complete  # the printer's buffer was cleared: the rest never comes out
        sim.printer.set_fault("paper_out", False)  # new roll
        assert printer.print_job(TICKET).printed
    pages = sim.printer.wait_for_pages(2, timeout=5)
    assert [p.complete for p in pages] == [False, True] and _lines(pages[1]) == _expected(sim.printer.profile)


def test_cover_open_prints_nothing(sim: SimulatorServer) -> None:
    sim.printer.set_fault("cover_open", True)
    with _printer(sim) as printer, pytest.raises(CoverOpen) as caught:
        printer.print_job(TICKET)
    assert caught.value.job is not None and caught.value.job.bytes_sent == 0
    assert caught.value.status is not None and caught.value.status.cover_open
    assert sim.printer.pages == []


def test_cover_opened_mid_job(sim: SimulatorServer) -> None:
    sim.printer.fail_after(150, "cover_open")
    with _printer(sim) as printer, pytest.raises(CoverOpen) as caught:
        printer.print_job(TICKET)
    assert caught.value.job is not None and caught.value.job.state == "unprinted"


def test_offline_printer_is_a_typed_fault(sim: SimulatorServer) -> None:
    sim.printer.set_fault("offline", True)
    with _printer(sim) as printer, pytest.raises(PrinterOffline, match="offline"):
        printer.print_job(TICKET)


def test_silent_printer_times_out_without_hanging(sim: SimulatorServer) -> None:
    sim.printer.set_fault("silent", True)
    printer = _printer(sim, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(PrinterTimeout) as caught:
        printer.print_job(TICKET)
    assert time.monotonic() - started < NO_HANG
    assert caught.value.job is not None and caught.value.job.state == "unprinted"
    with pytest.raises(PrinterTimeout):
        printer.status()
    printer.close()


def test_printer_going_silent_mid_job_times_out(sim: SimulatorServer) -> None:
    sim.printer.fail_after(100, "silent")
    printer = _printer(sim, timeout_s=0.5)
    printer.job_timeout_s = 1.0
    started = time.monotonic()
    with pytest.raises(PrinterTimeout) as caught:
        printer.print_job(TICKET)
    assert time.monotonic() - started < NO_HANG and caught.value.job.state == "unprinted"  # type: ignore[union-attr]
    printer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_unreachable() -> None:
    printer = ReceiptPrinter(f"tcp://127.0.0.1:{_free_port()}", GEN80, timeout_s=TIMEOUT)
    with pytest.raises(PrinterUnreachable, match="connection refused") as caught:
        printer.print_job(TICKET)
    assert caught.value.job is not None and caught.value.job.state == "unprinted"
    with pytest.raises(PrinterUnreachable):
        printer.status()


def test_network_printer_dropping_the_connection_then_coming_back(tmp_path: Path) -> None:
    server = _serve("tcp", GEN80, tmp_path)
    try:
        printer = _printer(server)
        assert printer.print_job(TICKET).printed
        server.drop_client()  # the printer lost its link: our socket is dead
        with pytest.raises(PrinterDisconnected) as caught:
            printer.print_job(TICKET)
        assert caught.value.job is not None and caught.value.job.state == "unprinted"
        assert printer.print_job(TICKET).printed  # reconnects by itself
        printer.close()
    finally:
        server.stop()


def test_serial_printer_unplugged(tmp_path: Path) -> None:
    server = _serve("pty", GEN58, tmp_path)
    printer = _printer(server)
    assert printer.print_job(TICKET).printed
    server.stop()  # the USB-serial adapter is pulled: the port is gone
    started = time.monotonic()
    with pytest.raises((PrinterDisconnected, PrinterTimeout)):
        printer.print_job(TICKET)
    with pytest.raises(PrinterUnreachable, match="no such device"):
        printer.status()
    assert time.monotonic() - started < NO_HANG


def test_missing_serial_port_and_usb_printer_are_unreachable() -> None:
    with pytest.raises(PrinterUnreachable, match="no such device"):
        ReceiptPrinter("serial:/dev/ttyUSB-none", GEN80, timeout_s=TIMEOUT).status()
    with pytest.raises(PrinterUnreachable, match="usb:0416:5011"):
        ReceiptPrinter("usb:0416:5011", GEN80, timeout_s=TIMEOUT).status()


def test_device_file_printer_through_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    server = SimulatorServer(SimulatedPrinter(GEN80)).open_fifo(str(fifo)).start()
    try:
        printer = ReceiptPrinter(f"file:{fifo}", GEN80, timeout_s=TIMEOUT)
        assert not printer.status().known  # a device file cannot answer
        result = printer.print_job(TICKET)
        assert result.state == "sent" and not result.printed
        printer.close()
        (page,) = server.printer.wait_for_pages(1, timeout=5)
        assert _lines(page) == TICKET_ZH
    finally:
        server.stop()


def test_device_file_nobody_reads_or_missing_is_unreachable(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    with pytest.raises(PrinterUnreachable, match="nobody is reading"):
        ReceiptPrinter(f"file:{fifo}", GEN80, timeout_s=TIMEOUT).print_job(TICKET)
    with pytest.raises(PrinterUnreachable, match="no such device"):
        ReceiptPrinter(f"file:{tmp_path / 'lp9'}", GEN80, timeout_s=TIMEOUT).print_job(TICKET)
    assert not (tmp_path / "lp9").exists()  # not created as a plain file by python-escpos


def test_every_driver_error_is_a_printer_error() -> None:
    for kind in (PaperOut, CoverOpen, PrinterOffline, PrinterTimeout, PrinterDisconnected, PrinterUnreachable):
        assert issubclass(kind, PrinterError)


def test_a_printer_that_takes_no_more_data_is_a_write_timeout() -> None:
    """A serial printer whose buffer stays full (nobody reads the pty): every write has a
    time-out too. Its profile asks no status, so the write is what must give up."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        printer = ReceiptPrinter(f"serial:{os.ttyname(slave)}?baud=115200", replace(GEN80, status=False), timeout_s=0.5)
        job = render_bytes(TICKET, GEN80, mode="raster") * 8  # far more than the pty buffers
        started = time.monotonic()
        with pytest.raises(PrinterTimeout, match="took no data") as caught:
            printer.print_job(job)
        assert time.monotonic() - started < NO_HANG + 4  # the wire time of what was written is allowed too
        assert caught.value.job is not None and 0 < caught.value.job.bytes_sent < len(job)
        printer.close()
    finally:
        os.close(master)
        os.close(slave)
