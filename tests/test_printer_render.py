"""Layouts into ESC/POS bytes and PNG previews: native Chinese and QR where the profile has
them, raster where it does not, nothing cut off, taxpayers masked, tickets within 2 KB."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.escpos_parse import parse_pages
from drivers.printer.escpos_render import columns, fit_size, render
from drivers.printer.layout import Cut, Layout, Qr, Text, queue_ticket, sample_receipt_info, sample_ticket_info, tax_receipt, wrap
from drivers.printer.preview import save_preview
from drivers.printer.sim_page import PageRenderer, overflowing_lines

GEN80, GEN58 = BUILTIN_PROFILES["generic-80"], BUILTIN_PROFILES["generic-58"]
LATIN80, RASTER58 = BUILTIN_PROFILES["latin-80"], BUILTIN_PROFILES["raster-58"]
TICKET = queue_ticket(sample_ticket_info())
TICKET_ZH = ["国家税务总局示范市税务局第一办税服务厅", "综合业务", "A042", "前面还有 12 人", "预计等候约 25 分钟",
             "取号时间 2026-11-27 09:30", "手机扫码查看排队进度", "请留意叫号，过号请重新取号"]


def test_the_ticket_layout_says_what_a_taxpayer_needs() -> None:
    assert TICKET.texts() == TICKET_ZH
    assert TICKET.qr_payloads() == ["https://q.taxhall.example.cn/t/hall1/A042?k=7f3a9c2e"]
    english = queue_ticket(sample_ticket_info(), "en").texts()
    assert english[:4] == ["Tax Service Hall No. 1", "General Services", "A042", "12 ahead of you"]
    first = queue_ticket(sample_ticket_info().__class__(**{**sample_ticket_info().__dict__, "ahead": 0, "est_wait_s": None}))
    assert "前面无人等候" in first.texts() and not any("预计" in t for t in first.texts())


def test_exact_bytes_of_a_small_native_layout() -> None:
    layout = Layout((Text("票号 A1", size=2, bold=True, align="center"), Qr("T1", module=4, level="L"), Cut()))
    assert render(layout, GEN80).data == (
        b"\x1b@\x1c&"
        b"\x1d!\x11\x1bE\x01\x1ba\x01" + "票号 A1".encode("gb18030") + b"\n"
        b"\x1ba\x01\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x04\x1d(k\x03\x001E0\x1d(k\x05\x001P0T1\x1d(k\x03\x001Q0\n"
        b"\x1d!\x00\x1bE\x00\x1ba\x00\x1bd\x06\x1dV\x00"
        b"\x1c."
    )


def test_native_chinese_ticket_is_small_and_in_the_printers_font() -> None:
    rendered = render(TICKET, GEN80)
    assert len(rendered.data) <= 2048
    assert rendered.raster_pictures == 0 and rendered.native_qr == 1
    assert b"\x1c&" in rendered.data and "综合业务".encode("gb18030") in rendered.data
    assert b"\x1dv0" not in rendered.data
    (page,) = parse_pages(rendered.data, GEN80)
    assert [line for line in page.text_lines() if not line.startswith("---")] == TICKET_ZH
    assert page.qr_payloads() == TICKET.qr_payloads()


def test_without_chinese_font_chinese_goes_as_pictures_and_qr_stays_native() -> None:
    rendered = render(TICKET, LATIN80)
    assert b"\x1c&" not in rendered.data and "综合".encode("gb18030") not in rendered.data
    assert rendered.raster_pictures == 7 and rendered.native_qr == 1
    (page,) = parse_pages(rendered.data, LATIN80)
    assert "A042" in page.text_lines() and page.notes == ()


def test_without_qr_command_the_qr_is_a_picture_and_no_cut_without_cutter() -> None:
    rendered = render(TICKET, RASTER58)
    assert b"\x1d(k" not in rendered.data and b"\x1dV" not in rendered.data
    (page,) = parse_pages(rendered.data, RASTER58)
    assert page.qr_payloads() == [] and len(page.pictures) == 8


def test_all_raster_mode_is_one_picture() -> None:
    rendered = render(TICKET, GEN80, mode="raster")
    assert rendered.raster_pictures == 1 and rendered.native_lines == 0
    assert len(rendered.data) > 20 * len(render(TICKET, GEN80).data)


@pytest.mark.parametrize("profile", list(BUILTIN_PROFILES.values()), ids=list(BUILTIN_PROFILES))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_nothing_is_cut_off_and_the_qr_reads_back(profile, lang: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for layout in (queue_ticket(sample_ticket_info(), lang), tax_receipt(sample_receipt_info(), lang)):  # type: ignore[arg-type]
        (page,) = parse_pages(render(layout, profile).data, profile)
        assert overflowing_lines(page, profile.width_dots) == []
        assert all(p.width_bytes * 8 <= profile.width_dots for p in page.pictures)
        image = PageRenderer(profile.width_dots).page(page)
        assert [c.data.decode() for c in decode(image)] == layout.qr_payloads()


def test_receipts_print_the_taxpayer_masked_unless_the_flow_needs_the_full_identity() -> None:
    info = sample_receipt_info()
    data = render(tax_receipt(info), GEN80).data
    assert "张三丰".encode("gb18030") not in data and b"110101199003071234" not in data
    assert "张**".encode("gb18030") in data and b"110***********1234" in data
    full = tax_receipt(info.__class__(**{**info.__dict__, "full_identity": True}))
    assert any("张三丰" in t for t in full.texts()) and any("110101199003071234" in t for t in full.texts())


def test_big_text_shrinks_to_fit_and_long_text_wraps() -> None:
    assert columns("A042") == 4 and columns("综合业务") == 8
    assert fit_size("A042", 6, 48) == 6 and fit_size("A042", 6, 32) == 6 and fit_size("VIP1234", 6, 32) == 4
    assert fit_size("国家税务总局示范市税务局", 2, 32) == 1
    assert wrap("Scan to follow the queue on your phone", len, 16) == ["Scan to follow", "the queue on", "your phone"]


def test_preview_png_shows_the_ticket_and_its_qr(tmp_path: Path) -> None:
    path = save_preview(TICKET, tmp_path / "ticket.png", 384)
    image = Image.open(path)
    assert image.width == 384 and 500 < image.height < 1200
    assert [c.data.decode() for c in decode(image)] == TICKET.qr_payloads()


def test_dates_come_from_the_ticket() -> None:
    info = sample_ticket_info(datetime(2027, 1, 2, 8, 5))
    assert "取号时间 2027-01-02 08:05" in queue_ticket(info).texts()
