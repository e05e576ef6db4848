"""Preparing a request on /prepare in a real headless Chromium (Debian's /usr/bin/chromium via
Playwright): a wrong taxpayer id shows its error while it is typed, amounts and tax follow
the items as they are typed, and a good form ends in the QR code — which the camera decoder
reads from the page's PNG download and the hall's key verifies."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from drivers.scanner.camera import CodeDecoder
from taxhall.prefill import keyring, verify
from tests.web_support import HallWeb, hall_web, ticketer  # noqa: F401




def test_preparing_a_self_invoicing_request_on_a_phone(hall_web: Callable[..., HallWeb], browser: Any,  # noqa: F811
                                                       tmp_path: Path) -> None:
    hall = hall_web()
    page = browser.new_page(viewport={"width": 375, "height": 667})  # a small phone
    page.goto(f"{hall.url}/prepare")
    page.fill("#seller_name", "张伟")
    page.select_option("#category", "services")
    page.fill("#buyer_name", "仙桃示范商贸有限公司")
    page.type("#buyer_taxpayer_id", "91429004MA49XWY01")
    assert page.inner_text("#err-buyer_taxpayer_id") == "统一社会信用代码应为18位，这里是17位"
    page.type("#buyer_taxpayer_id", "C")  # 18 characters, the wrong check character
    assert page.inner_text("#err-buyer_taxpayer_id") == "统一社会信用代码最后一位校验码不符"
    assert "bad" in (page.get_attribute("#buyer_taxpayer_id", "class") or "")
    page.press("#buyer_taxpayer_id", "Backspace")
    page.type("#buyer_taxpayer_id", "b")  # typed in lower case: still the right code
    assert page.inner_text("#err-buyer_taxpayer_id") == ""

    page.fill("#item0_name", "网站设计")
    page.fill("#item0_quantity", "1")
    page.fill("#item0_price", "3000")
    page.fill("#item1_name", "商品摄影")
    page.fill("#item1_quantity", "2.5")
    page.fill("#item1_unit", "小时")
    page.fill("#item1_price", "120.005")
    assert page.inner_text("#err-item1_price") == "请填写大于0的单价，最多2位小数"
    page.fill("#item1_price", "120")
    assert page.inner_text("#err-item1_price") == ""
    assert page.inner_text(".item[data-index='1'] .amount") == "300.00"
    assert page.inner_text("#sum-tax") == "33.00" and page.inner_text("#sum-total") == "3333.00"
    page.fill("#seller_name", "张伟 110108198805200519")
    assert page.inner_text("#err-seller_name") == "请勿填写身份证号码"
    page.click("#make")  # refused in the page: nothing is sent with a mistake in it
    assert page.inner_text("#form-error") == "请先改正标红的内容" and page.url.endswith("/prepare")
    page.fill("#seller_name", "张伟")

    page.click("#make")
    page.wait_for_selector("#qr svg")
    assert page.inner_text("#reference").startswith("P-")
    assert "自助代开发票" in page.inner_text("#where") and "3,333.00" in page.inner_text("#total")
    png = page.get_attribute("#download", "href")
    assert png is not None and png.startswith("data:image/png;base64,")
    image = tmp_path / "code.png"
    image.write_bytes(base64.b64decode(png.split(",", 1)[1]))
    decoder = CodeDecoder()
    try:
        codes = decoder.decode_file(image)
    finally:
        decoder.close()
    keys = re.findall(r'"(ed25519:[^"]+)"', httpx.get(f"{hall.url}/prepare/key").text)
    found = verify(codes[0].text, keyring(keys), datetime.now(timezone.utc))
    assert found.request is not None and [i.name for i in found.request.items] == ["网站设计", "商品摄影"]
    assert found.request.items[1].unit == "小时" and found.request.total_fen == 333_300


def test_a_buyer_header_in_english(hall_web: Callable[..., HallWeb], browser: Any) -> None:  # noqa: F811
    hall = hall_web()
    page = browser.new_page(viewport={"width": 375, "height": 667})
    page.goto(f"{hall.url}/prepare?kind=header&lang=en")
    page.click("#make")
    assert page.inner_text("#err-buyer_name") == "required" and page.inner_text("#form-error") != ""
    page.type("#buyer_taxpayer_id", "91429004MA49XWY0IB")
    assert page.inner_text("#err-buyer_taxpayer_id") == "a unified social credit code does not use I"
    page.fill("#buyer_taxpayer_id", "")
    page.fill("#buyer_name", "Anna Müller")
    page.click("#make")
    page.wait_for_selector("#qr svg")
    assert "Buyer" in page.inner_text("#where") and "Anna Müller" in page.inner_text("#summary")


BASE = {"seller_name": "张伟", "category": "services", "buyer_name": "仙桃示范商贸有限公司",
        "buyer_taxpayer_id": "91429004MA49XWY01B", "buyer_address_phone": "", "buyer_bank_account": "",
        "item0_name": "网站设计", "item0_unit": "项", "item0_quantity": "1", "item0_price": "3000",
        "item1_name": "", "item1_unit": "", "item1_quantity": "", "item1_price": "",
        "item2_name": "", "item2_unit": "", "item2_quantity": "", "item2_price": ""}
CASES = [
    {},
    {"buyer_taxpayer_id": " 91429004ma49xwy01b "},
    {"buyer_taxpayer_id": "91429004MA49XWY01C"},
    {"buyer_taxpayer_id": "9142900AMA49XWY01B"},
    {"item0_quantity": "0", "item0_price": "1.234"},
    {"item0_price": "1e3", "item1_quantity": "2"},
    {"buyer_bank_account": "工行 110108195203080042"},
    {"buyer_bank_account": "工行 1812020109000012345", "item1_name": "翻译", "item1_quantity": ".5", "item1_price": "80.10"},
    {"item0_quantity": "1000", "item0_price": "600"},
    {"seller_name": " ", "buyer_name": "", "item0_unit": "一二三四五六七八九"},
]


def test_the_page_and_the_server_apply_the_same_rules(hall_web: Callable[..., HallWeb], browser: Any) -> None:  # noqa: F811
    from kiosk.prefill import check_request

    hall = hall_web()
    page = browser.new_page()
    for case in CASES:
        form = {**BASE, **case}
        page.goto(f"{hall.url}/prepare")
        for name, value in form.items():
            if name == "category":
                page.select_option("#category", value)
            else:
                page.fill(f"#{name}", value)
        page.click("#make")
        page.wait_for_load_state()
        in_page = set(page.eval_on_selector_all(
            ".err[id^='err-']", "spans => spans.filter(s => s.textContent.trim()).map(s => s.id.slice(4))"))
        on_server = set((check_request({**form, **{f"item{i}_rate": "10" for i in range(3)}}).errors or {}))
        assert in_page == on_server, (case, in_page, on_server)
        assert (page.query_selector("#qr svg") is not None) == (not on_server), case


def test_leaving_the_code_page_asks_first(hall_web: Callable[..., HallWeb], browser: Any) -> None:  # noqa: F811
    hall = hall_web()
    page = browser.new_page()
    page.goto(f"{hall.url}/prepare?kind=header")
    page.fill("#buyer_name", "李建国")
    page.click("#make")
    page.wait_for_selector("#qr svg")
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    page.click("#lang-switch")  # the language switch would leave the page: the code would be gone
    assert asked and "已下载二维码图片了吗" in asked[0]
    assert page.query_selector("#qr svg") is not None  # still here
