"""The whole hall end to end, as `make demo` runs it: every device a real process on simulated
hardware over a real broker, the scripted morning driving it through the bus. A touch on the
dispenser prints a ticket whose QR decodes, counters call, the hall screen and the LED board
show it, the voice is written, the rating is stored once; at the kiosk a taxpayer's card on
the reader gets her a genuine certificate, and her name and ID number went to paper only.
From the phone: an appointment booked on the web is checked in at the dispenser's scanner and
called first; opinions filed on the kiosk and the web land in the ticketer's appeal book, one
answered by the supervisor; a request prepared on /prepare becomes a printed invoice at the
kiosk; the web's pages are photographed by headless Chromium."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from PIL import Image
from pyzbar.pyzbar import decode

from display.voice import audio_facts
from drivers.led.bitmap import render_lines
from kiosk.gateway import demo_data
from kiosk.gateway.local import LocalTaxGateway
from taxhall.broker import free_port

WANG = demo_data.TAXPAYERS[0]  # the first demo card: the one lying on the kiosk's reader


def test_scripted_morning_of_a_whole_hall(tmp_path: Path) -> None:
    out, data = tmp_path / "out", tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "taxhall.cli", "demo", "--headless", "--out", str(out), "--data-dir", str(data),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=240,
    )
    log = result.stdout
    assert result.returncode == 0, log + result.stderr
    assert "[morning] all" in log and "devices online" in log

    assert "steps of the morning failed" not in log

    # Touches on the dispenser: eight tickets, the one during the paper-out not printed but shown;
    # then the appointment's ticket, checked in by its code on the dispenser's scanner.
    assert "dispenser: A001 (A) — 请取走号票" in log
    assert "打印机故障，请记住您的号码 B003" in log
    pages = sorted((out / "printouts" / "dispenser-1").glob("page-*.png"))
    assert len(pages) == 8
    first_page = (data / "logs" / "printer-sim-1.log").read_text()
    assert "page-0001.png  示范办税服务厅" in first_page and "/ A001 /" in first_page
    codes = decode(Image.open(pages[0]))
    # The ticket's QR leads to the demo's own web (its port is free-picked with --out).
    web_port = re.search(r"http://127\.0\.0\.1:(\d+)/t/", (data / "dispenser-1.toml").read_text()).group(1)  # type: ignore[union-attr]
    assert codes and codes[0].data.decode().startswith(f"http://127.0.0.1:{web_port}/t/")

    # The appointment: booked on /book (its 9-digit code), checked in, a V ticket marked 预约 whose
    # QR leads to the web, called at counter 1 before the A, B and C tickets taken earlier.
    code = re.search(r"phone: appointment (\d{9}) booked on /book", log).group(1)  # type: ignore[union-attr]
    assert f"dispenser: appointment {code} checked in by its QR code — ticket V001 printed, marked 预约" in log
    appointment_slip = pages[-1].with_suffix(".txt").read_text(encoding="utf-8")
    assert "V001" in appointment_slip and "预约" in appointment_slip
    assert decode(Image.open(pages[-1]))[0].data.decode().startswith(f"http://127.0.0.1:{web_port}/t/")
    assert "counter 1: call_next V001" in log and "counter 1: the appointment's V001 is called before" in log
    with sqlite3.connect(data / "ticketer" / "ticketer" / "appointments.sqlite") as db:
        kept = db.execute("SELECT state, ticket FROM appointments WHERE code = ?", (code,)).fetchall()
    assert kept == [("checked_in", "V001")]

    # Counters call; the hall screen, the LED board and the voice follow.
    assert "counter 1: call_next A001" in log and "counter 1: call_next A003" in log
    frames = sorted((out / "led").glob("led-*.txt"))
    assert tuple(frames[-1].read_text().split()) == render_lines(["请V001号", "1号窗口"], 128, 32).rows
    voices = sorted((out / "audio").glob("*.wav"))
    assert [v.name.split("-")[2] for v in voices if v.name.endswith("-zh.wav")] == ["A001", "A002", "A002", "B001", "A003",
                                                                                   "V001"]
    assert all(audio_facts(v).rms > 300 for v in voices)

    # The rating pad asked after finish; the rating is stored once.
    assert "rating pad: 感谢您的评价！" in log
    assert "a second rating of A001 is refused: already_rated" in log

    # The kiosk: the certificate printed on its own printer, genuine, its QR the verify link.
    number = re.search(r"kiosk: certificate (\d+) printed", log).group(1)  # type: ignore[union-attr]
    kiosk_pages = sorted((out / "printouts" / "kiosk-1").glob("page-*.png"))
    assert len(kiosk_pages) == 3 and "3 printouts kiosk-1" in log  # certificate, 意见簿 slip, invoice
    page_text = kiosk_pages[0].with_suffix(".txt").read_text(encoding="utf-8")
    assert f"证明编号 {number}" in page_text and WANG.name in page_text and WANG.id_number in page_text
    code = re.search(r"验证码 ([A-Z0-9]+)", page_text).group(1)  # type: ignore[union-attr]
    gateway = LocalTaxGateway(data / "gateway" / "gateway.sqlite")  # the demo's gateway, stopped by now
    try:
        assert gateway.verify_certificate(number, code).genuine
    finally:
        gateway.close()
    certificate_qr = [c.data.decode() for c in decode(Image.open(kiosk_pages[0]))]
    assert len(certificate_qr) == 1 and certificate_qr[0].startswith("https://") and number in certificate_qr[0]

    # Opinions: one on the kiosk's 意见簿 tile (its slip printed with the reference), one on the
    # web answered by the duty supervisor — both in the ticketer's appeal book, phones masked.
    slip = kiosk_pages[1].with_suffix(".txt").read_text(encoding="utf-8")
    kiosk_ref = re.search(r"([0-9A-Z]{4})-([0-9A-Z]{4})-([0-9A-Z]{4})", slip)
    assert "意见簿回执" in slip and kiosk_ref
    web_ref = re.search(r"phone: an opinion filed on /appeal — ([0-9A-Z-]+)", log).group(1)  # type: ignore[union-attr]
    assert f"supervisor: appeal {web_ref} answered on /admin/appeals" in log
    with sqlite3.connect(data / "ticketer" / "ticketer" / "appeals.sqlite") as db:
        appeals = {ref: (channel, state, json.loads(tags), phone, by) for ref, channel, state, tags, phone, by in db.execute(
            "SELECT ref, channel, state, tags, phone_masked, answered_by FROM appeals")}
    assert appeals == {"".join(kiosk_ref.groups()): ("kiosk", "open", ["waiting", "waiting.long_wait"], "139****5678", None),
                       web_ref.replace("-", ""): ("web", "answered", ["system", "system.slow"], "", "duty")}

    # The request prepared on /prepare, read from the kiosk's scanner: an invoice to her buyer.
    assert re.search(r"phone: self-invoicing request P-[0-9A-F]{8} prepared on /prepare", log)
    invoice_number = re.search(r"kiosk: invoice (\d+) printed from the pre-filled request", log).group(1)  # type: ignore[union-attr]
    invoice = kiosk_pages[2].with_suffix(".txt").read_text(encoding="utf-8")
    assert invoice_number in invoice and "仙桃示范商贸有限公司" in invoice and "网站设计" in invoice and WANG.name in invoice

    # The web as a phone and the supervisor's browser show it, listed in the summary.
    web_pages = sorted((out / "web").glob("*.png"))
    assert {p.name for p in web_pages} == {"phone-home.png", "phone-ticket.png", "phone-appointment.png",
                                           "phone-appeal.png", "admin.png", "admin-appointments.png", "admin-appeals.png"}
    assert "7 web pages" in log and all(f"       {p.name}" in log for p in web_pages)
    assert all(len(Image.open(p).convert("L").resize((32, 32)).getcolors(1024) or []) > 4 for p in web_pages)

    # Her full name and ID number: on paper only, in no process's log, nowhere in the kiosk's data.
    logs = sorted(data.rglob("*.log"))
    assert {p.name for p in logs} >= {"kiosk-1.log", "gateway.log", "printer-sim-2.log", "idreader-1.log"}
    kiosk_files = [p for p in (data / "kiosk-1").rglob("*") if p.is_file()]
    for path in logs + kiosk_files:
        written = path.read_bytes()
        for secret in (WANG.name, WANG.id_number, "13912345678", "13800138000"):  # and the phones
            assert secret.encode() not in written, f"{secret[:1]}… in {path.relative_to(data)}"

    shots = sorted((out / "screens").glob("*.png"))
    assert {s.name for s in shots} >= {"1-first-calls-display-hall.png", "2-rating-asked-rater-1.png",
                                       "3-paper-out-dispenser-1.png", "4-kiosk-records-kiosk-1.png",
                                       "4-kiosk-certificate-kiosk-1.png", "5-late-morning-counter-1.png",
                                       "0-opening-kiosk-1.png", "6-kiosk-appeal-kiosk-1.png",
                                       "7-kiosk-prefilled-quote-kiosk-1.png", "7-kiosk-prefilled-invoice-kiosk-1.png"}
    assert all(len(Image.open(s).convert("L").resize((32, 32)).getcolors(1024) or []) > 4 for s in shots)
