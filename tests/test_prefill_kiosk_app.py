"""The real `taxhall kiosk` under Xvfb reads a pre-filled self-invoicing code on the scanner
simulator: the quote screen lists the items, one tap pays and prints the invoice with its list
of items — and the seller's name, on the code and the card, is in no log line."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drivers.idcard.simulator import IdReaderSimulator
from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from drivers.scanner.simulator import ScannerSimulator
from kiosk.demo_cards import demo_identities
from taxhall.broker import BrokerProcess
from taxhall.prefill import Header, Item, SelfInvoiceRequest, encode, public_key_text
from tests.conftest import HALL

REQUEST = SelfInvoiceRequest("张伟", "services", Header("仙桃示范商贸有限公司", "91429004MA49XWY01B"), (
    Item("网站设计", "项", 1000, 300_000, 10, 300_000, 3_000),
    Item("商品摄影", "小时", 2500, 12_000, 10, 30_000, 300),
))


def test_the_kiosk_app_fills_in_a_prefilled_request(broker: BrokerProcess, tmp_path: Path) -> None:
    hall = Ed25519PrivateKey.generate()
    code = encode(hall, bytes.fromhex("a1b2c3d4e5f6"), datetime.now(timezone.utc) + timedelta(hours=72), request=REQUEST)
    reader = IdReaderSimulator(demo_identities(), card=3)  # 张伟's card lies on the reader
    reader.start()
    scanner = ScannerSimulator(["-"])
    scanner.start()
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"], out_dir=tmp_path / "pages")
    server = SimulatorServer(printer).listen_tcp().start()
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\npayment_sim_delay_s = 0.2\nsize = "1280x800"\n'
                      f'prefill_keys = ["{public_key_text(hall.public_key())}"]\n'
                      '[printer]\nstatus_interval_s = 1.0\n', encoding="utf-8")
    shot = tmp_path / "quote.png"
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"wait": "home"}, {"tap": "tile_self_invoice"}, {"wait": "buyer"}, {"wait": "self_quote"},
        {"screenshot": str(shot)}, {"tap": "pay"}, {"wait": "self_done", "timeout": 30}, {"tap": "finish"},
        {"wait": "home"}, {"quit": True},
    ]), encoding="utf-8")
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", "kiosk",
         "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "kiosk-p",
         "--data-dir", str(tmp_path / "data"), "--printer", server.url, "--reader", reader.port, "--scanner", scanner.port,
         "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def follow() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "kiosk: screen buyer" in line:
                time.sleep(0.3)
                scanner.send(code)  # the phone held to the scanner

    reading = threading.Thread(target=follow, daemon=True)
    reading.start()
    try:
        proc.wait(timeout=120)
        reading.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
        reader.stop()
        scanner.stop()
    log = "".join(lines)
    assert proc.returncode == 0, log[-4000:]
    assert "Traceback" not in log and "pre-filled request P-A1B2C3D4: 2 items, 3333.00 yuan" in log
    assert shot.stat().st_size > 10_000
    pages = printer.wait_for_pages(2, 5)
    invoice_text, list_text = ("\n".join(page.text_lines()) for page in pages[:2])
    assert "*现代服务*详见销货清单" in invoice_text and "张伟" in invoice_text  # the taxpayer's proof: full name on paper
    assert "网站设计" in list_text and "2.5 小时 × 120.00" in list_text
    assert "张伟" not in log  # the name from the card and the code: only ever on paper
