"""The whole hall end to end, as `make demo` runs it: every device a real process on simulated
hardware over a real broker, the scripted morning driving it through the bus. A touch on the
dispenser prints a ticket whose QR decodes, counters call, the hall screen and the LED board
show it, the voice is written, the rating is stored once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image
from pyzbar.pyzbar import decode

from display.voice import audio_facts
from drivers.led.bitmap import render_lines
from taxhall.broker import free_port


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
    assert codes and codes[0].data.decode().startswith("http://127.0.0.1:8080/t/")

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

    shots = sorted((out / "screens").glob("*.png"))
    assert {s.name for s in shots} >= {"1-first-calls-display-hall.png", "2-rating-asked-rater-1.png",
                                       "3-paper-out-dispenser-1.png", "4-late-morning-counter-1.png"}
    assert all(len(Image.open(s).convert("L").resize((32, 32)).getcolors(1024) or []) > 4 for s in shots)
