"""The counter caller reads a pre-filled request code: the request on the counter screen for
staff to confirm (nothing typed), a refused code with its reason, and the request gone from
the screen when the taxpayer's turn ends — against the real queue engine on a real broker; and
the real caller app under Xvfb showing it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from taxhall.bus import HallBus
from taxhall.prefill import Header, Item, SelfInvoiceRequest, encode, public_key_text
from ticketer.counter_desk import CounterDesk
from ticketer.counter_prefill import card_text
from tests.conftest import HALL
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)

NOW = datetime.now(timezone.utc)
REQUEST = SelfInvoiceRequest("张伟", "services", Header("仙桃示范商贸有限公司", "91429004MA49XWY01B"), (
    Item("网站设计", "项", 1000, 300_000, 10, 300_000, 3_000),
    Item("商品摄影", "小时", 2500, 12_000, 10, 30_000, 300),
))


def test_staff_see_the_prefilled_request_of_the_taxpayer_they_serve(ticketer, bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    ticketer()
    hall = Ed25519PrivateKey.generate()
    desk = CounterDesk(bus_factory("counter-2", role="counter"), "2", prefill_keys=(public_key_text(hall.public_key()),))
    dispenser = bus_factory("dispenser-1", role="dispenser")
    assert desk.login("S2001").ok
    dispenser.request("queue/req/take_ticket", {"service": "B", "source": "dispenser-1"})
    assert desk.call_next().state == "calling"

    code = encode(hall, bytes(6), NOW + timedelta(hours=72), request=REQUEST)
    screen = desk.scan_prefill(code)
    card = screen.prefill
    assert screen.ok and card is not None and card.ok and card.reference == "P-00000000"
    text = card_text(card)
    assert text.startswith("自助代开发票申请 P-00000000")
    assert "购买方: 仙桃示范商贸有限公司" in text and "纳税人识别号: 91429004MA49XWY01B" in text
    assert "2. 商品摄影  2.5 小时 × 120.00  金额 300.00  1%  税额 3.00" in text
    assert "价税合计: 3,333.00" in text and "请核验身份证" in text

    # a header in English; the taxpayer's turn ends and the request leaves the screen with them
    desk.lang = "en"
    header = desk.scan_prefill(encode(hall, bytes(6), NOW + timedelta(hours=1), header=Header("李建国"))).prefill
    assert header is not None and card_text(header).splitlines()[:2] == ["Invoice header P-00000000", "Buyer: 李建国"]
    assert desk.start().prefill is not None
    assert desk.finish().prefill is None


def test_a_refused_code_says_why_on_the_counter_screen(bus_factory: Callable[..., HallBus], broker) -> None:  # noqa: ANN001
    hall, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    desk = CounterDesk(bus_factory("counter-4", role="counter"), "4", prefill_keys=(public_key_text(hall.public_key()),))
    expired = encode(hall, bytes(6), NOW - timedelta(minutes=1), header=Header("李建国"))
    screen = desk.scan_prefill(expired)
    assert not screen.ok and screen.message == "预填二维码不能使用"
    assert screen.prefill is not None and "已于" in screen.prefill.lines[0] and "过期" in screen.prefill.lines[0]
    foreign = encode(other, bytes(6), NOW + timedelta(hours=1), header=Header("李建国"))
    assert desk.scan_prefill(foreign).prefill.lines == ("该二维码不是本办税服务厅签发的，请在本厅网站重新生成。",)
    unkeyed = CounterDesk(desk.bus, "4", lang="en")
    assert unkeyed.scan_prefill(foreign).prefill.lines == ("This device has no key to check pre-filled codes with. Please ask staff.",)


def test_the_counter_app_shows_a_scanned_request(ticketer, broker, tmp_path: Path) -> None:  # noqa: F811, ANN001
    """The real `taxhall counter` under Xvfb with a code read at start: the request on screen."""
    ticketer()
    hall = Ed25519PrivateKey.generate()
    config = tmp_path / "counter.toml"
    config.write_text(f'[counter]\nprefill_keys = ["{public_key_text(hall.public_key())}"]\n', encoding="utf-8")
    code = encode(hall, bytes.fromhex("c0ffee000001"), NOW + timedelta(hours=72), request=REQUEST)
    shot = tmp_path / "counter.png"
    done = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", "counter",
         "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "counter-6",
         "--data-dir", str(tmp_path / "counter"), "--counter", "6", "--staff", "S6", "--scan", code,
         "--screenshot", str(shot), "--exit-after", "4"],
        capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in log, log[-3000:]
    assert "counter 6 read pre-filled code P-C0FFEE00" in log and "张伟" not in log
    assert Image.open(shot).size == (1280, 800)
