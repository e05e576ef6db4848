"""The real `taxhall kiosk` under Xvfb, tapped through with Kivy touch events (--script): a tax
payment certificate and a self-issued invoice for a test identity on the simulated ID-card
reader, scanner and printer, with the embedded local gateway and a real broker. Then what the
printer simulator printed — the certificate number and verification code the gateway calls
genuine, QR codes that decode — and that neither the full name nor the ID number is in the
app's log, its data dir or anything it said on the bus."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image
from pyzbar.pyzbar import decode

from drivers.idcard.simulator import IdReaderSimulator
from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from drivers.scanner.simulator import ScannerSimulator
from kiosk.demo_cards import buyer_header_qr, demo_identities
from kiosk.gateway import demo_data
from kiosk.gateway.invoice_qr import parse_invoice_qr
from kiosk.gateway.local import LocalTaxGateway
from taxhall.broker import BrokerProcess
from tests.conftest import HALL

ZHANG = demo_data.TAXPAYERS[4]
SCRIPT = [
    {"wait": "home"}, {"tap": "tile_certificate"}, {"wait": "cert_period"}, {"tap": "period_last_36m"},
    {"tap": "search"}, {"wait": "cert_records"}, {"tap": "print"}, {"wait": "cert_done"}, {"tap": "finish"},
    {"wait": "home"}, {"tap": "tile_self_invoice"}, {"wait": "buyer"}, {"wait": "self_item"}, {"tap": "cat_services"},
    {"tap": "key_5"}, {"tap": "key_0"}, {"tap": "key_0"}, {"tap": "key_0"}, {"tap": "compute"}, {"wait": "self_quote"},
    {"tap": "pay"}, {"wait": "self_done", "timeout": 30}, {"tap": "finish"}, {"wait": "home"}, {"quit": True},
]


class BusRecorder:
    """Every byte published in the hall, as a raw MQTT client sees it."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.payloads: list[str] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.payloads.append(f"{m.topic} {m.payload.decode('utf-8', 'replace')}")
        self.client.connect("127.0.0.1", broker.settings.port)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_tapping_through_a_certificate_and_a_self_invoice(broker: BrokerProcess, tmp_path: Path) -> None:
    data_dir, pages = tmp_path / "data", tmp_path / "pages"
    reader = IdReaderSimulator(demo_identities(), card=3)  # 张伟's card lies on the reader
    reader.start()
    scanner = ScannerSimulator(["-"])
    scanner.start()
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"], out_dir=pages)
    server = SimulatorServer(printer).listen_tcp().start()
    recorder = BusRecorder(broker)
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\npayment_sim_delay_s = 0.2\nsize = "1280x800"\n'
                      '[printer]\nstatus_interval_s = 1.0\n', encoding="utf-8")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT), encoding="utf-8")
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", "kiosk",
         "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "kiosk-x",
         "--data-dir", str(data_dir), "--printer", server.url, "--reader", reader.port, "--scanner", scanner.port,
         "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def follow() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "kiosk: screen buyer" in line:
                time.sleep(0.3)
                scanner.send(buyer_header_qr(2))  # the buyer's header QR, when the kiosk asks for it

    reading = threading.Thread(target=follow, daemon=True)
    reading.start()
    try:
        proc.wait(timeout=120)
        reading.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        recorder.close()
        server.stop()
        reader.stop()
        scanner.stop()
    log = "".join(lines)
    assert proc.returncode == 0, log[-4000:]
    assert "Traceback" not in log and "first frame drawn" in log

    # what the printer printed: the certificate, then the invoice
    printed = printer.wait_for_pages(2, 5)
    assert len(printed) == 2, log[-3000:]
    certificate_text = "\n".join(printed[0].text_lines())
    number = re.search(r"证明编号 (\d+)", certificate_text).group(1)
    code = re.search(r"验证码 ([A-Z0-9]+)", certificate_text).group(1)
    gateway = LocalTaxGateway(data_dir / "gateway.sqlite")
    assert gateway.verify_certificate(number, code).genuine
    page_files = sorted(pages.glob("page-*.png"))
    certificate_qr = [c.data.decode() for c in decode(Image.open(page_files[0]))]
    assert len(certificate_qr) == 1 and certificate_qr[0].startswith("https://") and number in certificate_qr[0]
    invoice_text = "\n".join(printed[1].text_lines())
    invoice_qr = [c.data.decode() for c in decode(Image.open(page_files[1]))]
    fields = parse_invoice_qr(invoice_qr[0])
    assert fields.number in invoice_text and "仙桃示范商贸有限公司" in invoice_text and ZHANG.name in invoice_text
    assert gateway.check_invoice(fields).genuine
    gateway.close()

    # privacy: the full name and ID number only ever went to paper
    secrets = (ZHANG.name, ZHANG.id_number)
    for secret in secrets:
        assert secret not in log, f"{secret[:1]}… in the kiosk's log"
        assert not any(secret in payload for payload in recorder.payloads), "identity on the bus"
        for path in data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"identity in {path.name}"
    assert any("device/kiosk-x/status" in p for p in recorder.payloads)


def test_the_kiosk_says_ready_and_keeps_the_watchdog_fed(tmp_path: Path) -> None:
    """Under systemd (taxhall-kiosk.service is Type=notify, WatchdogSec=): READY=1 once the
    screen's loop turns, then WATCHDOG=1 from the Kivy clock — here on a real datagram socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.2)
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\nsize = "800x600"\n', encoding="utf-8")
    # the socket for the kiosk alone: Xvfb speaks sd_notify too, and would answer for it
    notify = ["env", f"NOTIFY_SOCKET={tmp_path / 'notify'}", "WATCHDOG_USEC=1000000"]
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 800x600x24", *notify, sys.executable, "-m", "taxhall.cli", "kiosk",
         "--config", str(config), "--broker", "mqtt://127.0.0.1:9", "--hall", HALL, "--device", "kiosk-wd",
         "--data-dir", str(tmp_path / "data"), "--exit-after", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and got.count("WATCHDOG=1") < 3:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                continue
    finally:
        proc.terminate()
        proc.wait(20)
        sock.close()
    assert got and got[0].startswith("READY=1"), got
    assert got.count("WATCHDOG=1") >= 3, got


def _private_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """An X server of the test's own (its display number from -displayfd): the kiosk is the
    direct child then, and the test's SIGTERM reaches it as systemd's would."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        return xvfb, f":{numbers.readline().strip()}"


@pytest.mark.parametrize("stop_at", ["kiosk: kiosk kiosk-stop of hall", "kivy: Factory:", "kivy: Window: Provider"],
                         ids=["before-kivy", "kivy-importing", "window-being-made"])
def test_a_stop_during_start_up_is_a_clean_exit_and_says_offline(broker: BrokerProcess, tmp_path: Path,
                                                                  stop_at: str) -> None:
    """systemctl stop/restart while the screen is still coming up (SIGTERM right after a line
    of the start-up): exit 0 — not a traceback and exit 1, which systemd counts as a failure —
    and the retained status on the bus says offline."""
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\nsize = "800x600"\n', encoding="utf-8")
    said_online = threading.Event()
    watcher = _status_watcher(broker, "kiosk-stop", lambda state: said_online.set() if state == "online" else None)
    xvfb, display = _private_xvfb()
    proc = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", "kiosk", "--config", str(config), "--broker", broker.url, "--hall", HALL,
         "--device", "kiosk-stop", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "DISPLAY": display})
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if stop_at in line:
                # once it has said online (its bus connects beside the screen, in milliseconds on
                # loopback): a device that never said online has nothing to take back
                said_online.wait(10)
                proc.send_signal(signal.SIGTERM)
                break
        lines += proc.stdout.readlines()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        xvfb.terminate()
        xvfb.wait(10)
        watcher.loop_stop()
        watcher.disconnect()
    log = "".join(lines)
    assert any(stop_at in line for line in lines), log[-3000:]
    assert said_online.is_set(), log[-3000:]
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    state = _retained_state(broker, "kiosk-stop")
    assert state == "offline", f"the status left on the bus: {state}"


def _status_watcher(broker: BrokerProcess, device: str, on_state: Any) -> Any:
    """A raw MQTT client calling `on_state(state)` for each `device/{device}/status`."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, message: on_state(json.loads(message.payload)["state"])
    client.connect("127.0.0.1", broker.settings.port)
    client.subscribe(f"taxhall/v1/{HALL}/device/{device}/status", qos=1)
    client.loop_start()
    return client


def _retained_state(broker: BrokerProcess, device: str) -> str | None:
    """The state in the retained `device/{device}/status`, as a fresh subscriber gets it."""
    got: list[str] = []
    arrived = threading.Event()
    client = _status_watcher(broker, device, lambda state: (got.append(state), arrived.set()))
    try:
        arrived.wait(5)
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0] if got else None
