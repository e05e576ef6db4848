"""The whole hall end to end, as `make demo` runs it: every device a real process on simulated
hardware over a real broker, the scripted morning driving it through the bus. A touch on the
dispenser prints a ticket whose QR decodes, counters call, the hall screen and the LED board
show it, the voice is written, the rating is stored once; at the kiosk a taxpayer's card on
the reader gets her a genuine certificate, and her name and ID number went to paper only."""

from __future__ import annotations

import re
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

    # Touches on the dispenser: eight tickets, the one during the paper-out not printed but shown.
    assert "dispenser: A001 (A) — 请取走号票" in log
    assert "打印机故障，请记住您的号码 B003" in log
    pages = sorted((out / "printouts" / "dispenser-1").glob("page-*.png"))
    assert len(pages) == 7
    first_page = (data / "logs" / "printer-sim-1.log").read_text()
    assert "page-0001.png  示范办税服务厅" in first_page and "/ A001 /" in first_page
    codes = decode(Image.open(pages[0]))
    # The ticket's QR leads to the demo's own web (its port is free-picked with --out).
    web_port = re.search(r"http://127\.0\.0\.1:(\d+)/t/", (data / "dispenser-1.toml").read_text()).group(1)  # type: ignore[union-attr]
    assert codes and codes[0].data.decode().startswith(f"http://127.0.0.1:{web_port}/t/")

    # Counters call; the hall screen, the LED board and the voice follow.
    assert "counter 1: call_next A001" in log and "counter 1: call_next A003" in log
    frames = sorted((out / "led").glob("led-*.txt"))
    assert tuple(frames[-1].read_text().split()) == render_lines(["请A003号", "1号窗口"], 128, 32).rows
    voices = sorted((out / "audio").glob("*.wav"))
    assert [v.name.split("-")[2] for v in voices if v.name.endswith("-zh.wav")] == ["A001", "A002", "A002", "B001", "A003"]
    assert all(audio_facts(v).rms > 300 for v in voices)

    # The rating pad asked after finish; the rating is stored once.
    assert "rating pad: 感谢您的评价！" in log
    assert "a second rating of A001 is refused: already_rated" in log

    # The kiosk: the certificate printed on its own printer, genuine, its QR the verify link.
    number = re.search(r"kiosk: certificate (\d+) printed", log).group(1)  # type: ignore[union-attr]
    kiosk_pages = sorted((out / "printouts" / "kiosk-1").glob("page-*.png"))
    assert len(kiosk_pages) == 1 and "1 printouts kiosk-1" in log
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

    # Her full name and ID number: on paper only, in no process's log, nowhere in the kiosk's data.
    logs = sorted(data.rglob("*.log"))
    assert {p.name for p in logs} >= {"kiosk-1.log", "gateway.log", "printer-sim-2.log", "idreader-1.log"}
    kiosk_files = [p for p in (data / "kiosk-1").rglob("*") if p.is_file()]
    for path in logs + kiosk_files:
        written = path.read_bytes()
        for secret in (WANG.name, WANG.id_number):
            assert secret.encode() not in written, f"{secret[:1]}… in {path.relative_to(data)}"

    shots = sorted((out / "screens").glob("*.png"))
    assert {s.name for s in shots} >= {"1-first-calls-display-hall.png", "2-rating-asked-rater-1.png",
                                       "3-paper-out-dispenser-1.png", "4-kiosk-records-kiosk-1.png",
                                       "4-kiosk-certificate-kiosk-1.png", "5-late-morning-counter-1.png",
                                       "0-opening-kiosk-1.png"}
    assert all(len(Image.open(s).convert("L").resize((32, 32)).getcolors(1024) or []) > 4 for s in shots)
