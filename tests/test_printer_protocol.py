"""Printer protocol, pure: URLs, profiles, DLE EOT / GS r status bytes, the ESC/POS tokenizer
and page builder — all from recorded bytes, exact bytes expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.printer.config import BUILTIN_PROFILES, SECTIONS, UnknownProfile, resolve_profile
from drivers.printer.escpos_parse import Code2D, Control, Raster, TextBytes, Tokenizer, parse_pages
from drivers.printer.simulator import Faults, SimulatedPrinter
from drivers.printer.status import (
    CLEAR_BUFFERS,
    PAPER_SENSOR_REQUEST,
    PrinterStatus,
    changes,
    conditions,
    health,
    parse_paper_sensor,
    parse_status,
    status_bytes,
    status_request,
)
from drivers.printer.url import FileUrl, PrinterUrlError, SerialUrl, TcpUrl, UsbUrl, parse_printer_url
from taxhall.config import ConfigError, load_config

GEN80 = BUILTIN_PROFILES["generic-80"]
LATIN80 = BUILTIN_PROFILES["latin-80"]

# ---------------------------------------------------------------- URLs and config


@pytest.mark.parametrize("text,expected", [
    ("usb:0416:5011", UsbUrl(0x0416, 0x5011)),
    ("usb:04b8:0e15?in_ep=0x81&out_ep=0x02", UsbUrl(0x04B8, 0x0E15, 0x81, 0x02)),
    ("serial:/dev/ttyUSB0?baud=115200", SerialUrl("/dev/ttyUSB0", 115200)),
    ("serial:/dev/ttyS1", SerialUrl("/dev/ttyS1", 9600)),
    ("serial:/dev/ttyS1?baud=19200&flow=rtscts", SerialUrl("/dev/ttyS1", 19200, "rtscts")),
    ("tcp://192.168.1.50:9100", TcpUrl("192.168.1.50", 9100)),
    ("tcp://printer-1", TcpUrl("printer-1", 9100)),
    ("file:/dev/usb/lp0", FileUrl("/dev/usb/lp0")),
])
def test_printer_urls_parse_into_typed_values(text: str, expected: object) -> None:
    assert parse_printer_url(text) == expected


@pytest.mark.parametrize("text,words", [
    ("lpt:1", "unknown scheme"),
    ("usb:0416", "usb:VID:PID"),
    ("usb:xyz:5011", "not a hex number"),
    ("serial:/dev/ttyUSB0?baud=12345", "baud='12345'"),
    ("serial:/dev/ttyUSB0?speed=9600", "unknown option 'speed'"),
    ("serial:ttyUSB0", "device path"),
    ("tcp://host:99999", "port"),
    ("tcp://host:9100/x", "nothing after the port"),
    ("file:lp0", "absolute path"),
    ("", "expected one of"),
])
def test_bad_printer_urls_say_what_is_wrong_in_one_line(text: str, words: str) -> None:
    with pytest.raises(PrinterUrlError) as caught:
        parse_printer_url(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def _config(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "device.toml"
    path.write_text(body, encoding="utf-8")
    return load_config(path, "print", sections=SECTIONS)


def test_printer_section_defaults_and_builtin_profiles(tmp_path: Path) -> None:
    section = _config(tmp_path, "").section("printer")
    assert section.profile == "generic-80" and section.url == ""
    assert section.resolved_profile().width_dots == 576
    assert {p.width_dots for p in BUILTIN_PROFILES.values()} == {384, 576}
    assert not BUILTIN_PROFILES["latin-80"].chinese and not BUILTIN_PROFILES["raster-58"].qr


def test_profiles_of_your_own_in_the_config(tmp_path: Path) -> None:
    config = _config(tmp_path, """
[printer]
url = "tcp://10.0.0.9:9100"
profile = "kiosk-printer"
[printer.profiles.kiosk-printer]
width_dots = 576
chars_per_line = 48
chinese = true
qr = false
cutter = true
""")
    profile = config.section("printer").resolved_profile()
    assert (profile.name, profile.width_dots, profile.chinese, profile.qr, profile.cutter) == ("kiosk-printer", 576, True, False, True)


@pytest.mark.parametrize("body,words", [
    ('[printer]\nprofile = "epson-x"\n', "printer.profile: expected a printer profile, one of: generic-80"),
    ('[printer]\nurl = "lpt:1"\n', "printer.url: expected a printer URL; unknown scheme"),
    ('[printer]\ntimeout_s = "3"\n', "printer.timeout_s: expected a number"),
    ('[printer]\npaper = 1\n', "printer.paper: unknown key"),
])
def test_bad_printer_config_is_one_line(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, body)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_profile_name_is_a_one_line_error() -> None:
    with pytest.raises(UnknownProfile, match="unknown printer profile 'tm-x'; expected one of: generic-80"):
        resolve_profile("tm-x")


# ---------------------------------------------------------------- status bytes


def test_status_requests_are_dle_eot_n() -> None:
    assert [status_request(n) for n in (1, 2, 3, 4)] == [b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x03", b"\x10\x04\x04"]
    assert PAPER_SENSOR_REQUEST == b"\x1d\x72\x01"
    assert CLEAR_BUFFERS == b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08"
    with pytest.raises(ValueError):
        status_request(5)


@pytest.mark.parametrize("replies,expected", [
    # an idle printer with paper (drawer pin high on the first byte, as Epson printers send)
    ({1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12}, PrinterStatus()),
    ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E}, PrinterStatus(paper_near_end=True)),
    ({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E}, PrinterStatus(online=False, paper_out=True, paper_near_end=True)),
    ({1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12}, PrinterStatus(online=False, cover_open=True)),
    ({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12}, PrinterStatus(online=False, cutter_error=True)),
    ({1: 0x3A, 2: 0x12, 3: 0x12, 4: 0x12}, PrinterStatus(online=False)),
    ({1: 0x12, 2: 0x12, 3: 0x52, 4: 0x12}, PrinterStatus(auto_recoverable_error=True)),
])
def test_status_parsed_from_recorded_answers(replies: dict[int, int], expected: PrinterStatus) -> None:
    assert parse_status(replies) == expected


def test_a_byte_that_is_no_status_answer_is_refused() -> None:
    with pytest.raises(ValueError, match="not a DLE EOT"):
        parse_status({1: 0x00})


def test_the_simulators_status_bytes_parse_back_to_the_same_fault() -> None:
    for status in (PrinterStatus(), PrinterStatus(paper_out=True), PrinterStatus(cover_open=True),
                   PrinterStatus(paper_near_end=True), PrinterStatus(cutter_error=True), PrinterStatus(online=False)):
        back = parse_status(status_bytes(status))
        assert back.fault == status.fault and back.paper_near_end == (status.paper_near_end or status.paper_out)


def test_paper_sensor_answer_of_gs_r() -> None:
    assert (parse_paper_sensor(0x00).near_end, parse_paper_sensor(0x00).out) == (False, False)
    assert (parse_paper_sensor(0x03).near_end, parse_paper_sensor(0x03).out) == (True, False)
    assert parse_paper_sensor(0x0F).out
    with pytest.raises(ValueError):
        parse_paper_sensor(0x12)  # a DLE EOT answer, not a GS r one


@pytest.mark.parametrize("status,error,state,detail", [
    (PrinterStatus(), None, "ok", ""),
    (PrinterStatus(paper_near_end=True), None, "degraded", "paper low"),
    (PrinterStatus(online=False, paper_out=True, paper_near_end=True), None, "fault", "paper out"),
    (PrinterStatus(online=False, cover_open=True), None, "fault", "cover open"),
    (PrinterStatus(online=False), None, "fault", "offline"),
    (None, "tcp://10.0.0.9:9100: connection refused", "fault", "unreachable: tcp://10.0.0.9:9100: connection refused"),
    (PrinterStatus(known=False), None, "ok", "status not readable on this link"),
])
def test_status_maps_to_component_health(status: PrinterStatus | None, error: str | None, state: str, detail: str) -> None:
    got = health(status, error)
    assert (got.state, got.detail) == (state, detail)


def test_condition_changes_become_alarms_and_clears() -> None:
    ok, low = conditions(PrinterStatus()), conditions(PrinterStatus(paper_near_end=True))
    out = conditions(PrinterStatus(online=False, paper_out=True, paper_near_end=True))
    assert [(c.kind, c.severity) for c in changes(ok, low)] == [("printer_paper_low", "warning")]
    assert [(c.kind, c.severity) for c in changes(low, out)] == [("printer_paper_out", "alarm"), ("printer_paper_low", "cleared")]
    assert [(c.kind, c.severity) for c in changes(out, ok)] == [("printer_paper_out", "cleared")]
    assert changes(ok, ok) == []


def test_simulated_printer_answers_dle_eot_with_exact_bytes() -> None:
    printer = SimulatedPrinter(GEN80, faults=Faults(paper_out=True))
    printer.receive(b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04")
    assert printer.take_output() == b"\x3a\x32\x12\x7e"
    printer.set_fault("paper_out", False)
    printer.receive(b"\x10\x04\x01\x10\x04\x04\x1d\x72\x01")
    assert printer.take_output() == b"\x12\x12\x00"


def test_a_stopped_printer_answers_gs_r_only_when_it_resumes() -> None:
    printer = SimulatedPrinter(GEN80, faults=Faults(cover_open=True))
    printer.receive(b"\x1b@hello\n\x1d\x72\x01\x10\x04\x02")
    assert printer.take_output() == b"\x16"  # the real-time answer only: cover open
    printer.set_fault("cover_open", False)
    assert printer.take_output() == b"\x00"  # GS r, once the buffered line is printed


# ---------------------------------------------------------------- tokenizer and pages

TICKET_BYTES = (
    b"\x1b@\x1c&"
    b"\x1d!\x11\x1bE\x01\x1ba\x01" + "综合业务".encode("gb18030") + b"\n"
    b"\x1d!\x55\x1ba\x01A042\n"
    b"\x1d!\x00\x1bE\x00\x1ba\x00" + "前面还有 12 人".encode("gb18030") + b"\n"
    b"\x1ba\x01"
    b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x06\x1d(k\x03\x001E1"
    b"\x1d(k\x18\x001P0https://q.example/t/1\x1d(k\x03\x001Q0\n"
    b"\x1bd\x06\x1dV\x00\x1c."
)


def test_tokenizer_reads_a_recorded_ticket() -> None:
    commands = Tokenizer().feed(TICKET_BYTES)
    assert commands[:4] == [Control("init"), Control("chinese_on"), Control("char_size", (0x11,)), Control("bold", (1,))]
    assert TextBytes("综合业务".encode("gb18030")) in commands
    assert Code2D(49, 80, b"0https://q.example/t/1") in commands
    assert commands[-2:] == [Control("cut", (0,)), Control("chinese_off")]


def test_tokenizer_gives_the_same_commands_however_the_bytes_are_split() -> None:
    whole = Tokenizer().feed(TICKET_BYTES)
    for size in (1, 2, 3, 7):
        tokenizer = Tokenizer()
        parts = [c for i in range(0, len(TICKET_BYTES), size) for c in tokenizer.feed(TICKET_BYTES[i : i + size])]
        # text runs may come in pieces; joined they are the same
        assert _joined(parts) == _joined(whole)
        assert tokenizer.pending == 0


def _joined(commands: list) -> list:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    for c in commands:
        if isinstance(c, TextBytes) and out and isinstance(out[-1], TextBytes):
            out[-1] = TextBytes(out[-1].data + c.data)
        else:
            out.append(c)
    return out


def test_dle_eot_inside_picture_data_is_picture_data() -> None:
    picture = b"\x1dv0\x00\x01\x00\x03\x00" + b"\x10\x04\x01"  # 8x3 dots whose rows spell DLE EOT 1
    assert Tokenizer().feed(picture + b"\x10\x04\x04") == [Raster(0, 1, 3, b"\x10\x04\x01"), Control("status_request", (4,))]


def test_pages_from_recorded_bytes() -> None:
    (page,) = parse_pages(TICKET_BYTES, GEN80)
    assert page.text_lines() == ["综合业务", "A042", "前面还有 12 人"]
    assert page.qr_payloads() == ["https://q.example/t/1"]
    assert page.cut == "full" and page.notes == ()


def test_gb18030_four_byte_characters_and_chunk_splits() -> None:
    text = "税€𠀀"  # a GBK character, one from GB18030's 4-byte range, one beyond the BMP
    data = b"\x1c&" + text.encode("gb18030") + b"\n\x1dV\x00"
    assert parse_pages(data, GEN80)[0].text_lines() == [text]
    printer = SimulatedPrinter(GEN80)
    for i in range(len(data)):
        printer.receive(data[i : i + 1])
    assert printer.pages[0].text_lines() == [text]


def test_a_printer_without_chinese_font_prints_gb_bytes_as_code_page_garbage() -> None:
    (page,) = parse_pages(b"\x1c&" + "税".encode("gb18030") + b"\n\x1dV\x00", LATIN80)
    assert page.text_lines() == ["╦░"]
    assert "FS & ignored: this printer has no Chinese font" in page.notes


def test_clear_buffers_abandons_the_page_in_progress() -> None:
    printer = SimulatedPrinter(GEN80, faults=Faults(paper_out=True))
    printer.receive(b"\x1b@\x1c&" + "未打印".encode("gb18030") + b"\n\x1dV\x00")
    printer.receive(CLEAR_BUFFERS)
    printer.set_fault("paper_out", False)
    assert printer.pages == []  # nothing had been printed; the buffered job is gone
    printer.fail_after(10)
    printer.receive(b"\x1b@" + b"printed part\n" + b"lost part\n\x1dV\x00")
    printer.receive(CLEAR_BUFFERS)
    assert [(p.complete, p.text_lines()) for p in printer.pages] == [(False, ["printed "])]
