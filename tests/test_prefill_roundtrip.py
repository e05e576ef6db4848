"""A pre-filled request from end to end, on real parts: the form POSTed to `taxhall web`'s
/prepare, the QR PNG it answers decoded by the camera decoder from the image file, the text
sent by the scanner simulator to the kiosk, the invoice issued by the local gateway and printed
on the printer simulator — with the items on paper. And refused codes: altered, expired, from
another hall, already invoiced (scanned again in a later visit), with the reason on the kiosk's
screen; a form with mistakes answered with them."""

from __future__ import annotations

import base64
import logging
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from drivers.scanner.camera import CodeDecoder
from kiosk.session import Flow, Screen
from taxhall.prefill import MAGIC, b45decode, b45encode
from tests.kiosk_support import ZHANG, Rig, make_rig
from tests.web_support import HallWeb, hall_web, ticketer  # noqa: F401

SELF_INVOICE_FORM = {
    "kind": "request", "seller_name": "张伟", "category": "services",
    "buyer_name": "仙桃示范商贸有限公司", "buyer_taxpayer_id": "91429004ma49xwy01b",
    "buyer_address_phone": "仙桃市示范路1号 0728-3300000", "buyer_bank_account": "",
    "item0_name": "网站设计", "item0_unit": "项", "item0_quantity": "1", "item0_price": "3000", "item0_rate": "10",
    "item1_name": "商品摄影", "item1_unit": "小时", "item1_quantity": "2.5", "item1_price": "120.00", "item1_rate": "10",
    "item2_name": "", "item2_unit": "", "item2_quantity": "", "item2_price": "", "item2_rate": "10",  # a blank row
}
# 3000.00 + 30.00 tax, 300.00 + 3.00 tax
TOTAL_FEN = 333_300


@pytest.fixture
def web(hall_web: Callable[..., HallWeb]) -> HallWeb:  # noqa: F811
    return hall_web()


def prepare_png(web: HallWeb, form: dict[str, str]) -> tuple[bytes, str]:
    """The PNG the page offers for download, and the keys line for devices."""
    with httpx.Client(base_url=web.url) as client:
        answer = client.post("/prepare", data=form)
        assert answer.status_code == 200, answer.text
        found = re.search(r'id="download" download="[^"]+" href="data:image/png;base64,([^"]+)"', answer.text)
        assert found is not None and "<svg" in answer.text
        keys = client.get("/prepare/key").text
    return base64.b64decode(found.group(1)), keys


def keys_of(line: str) -> list[str]:
    return re.findall(r'"(ed25519:[^"]+)"', line)


@pytest.fixture
def made(web: HallWeb, tmp_path: Path) -> tuple[str, list[str]]:
    """A code made by the form, as the kiosk camera decodes it from the PNG file; the hall's keys."""
    png, keys_line = prepare_png(web, SELF_INVOICE_FORM)
    image = tmp_path / "prefill.png"
    image.write_bytes(png)
    decoder = CodeDecoder()
    try:
        codes = decoder.decode_file(image)
    finally:
        decoder.close()
    assert len(codes) == 1 and codes[0].text.startswith(MAGIC)
    return codes[0].text, keys_of(keys_line)


@pytest.fixture
def kiosk_factory(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def start(keys: list[str]) -> Rig:
        rig = make_rig(tmp_path / f"kiosk{len(rigs)}", pages_dir=tmp_path / f"pages{len(rigs)}",
                       settings={"prefill_keys": keys})
        rigs.append(rig)
        return rig

    yield start
    for rig in rigs:
        rig.close()


def invoice_count(rig: Rig) -> int:
    """Invoices in the kiosk's gateway database (the local gateway on its SQLite file)."""
    with sqlite3.connect(rig.gateway.db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0])


def at_buyer_screen(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.SELF_INVOICE)
    rig.card(ZHANG)  # 张伟, the demo freelancer: the name the form was filled in with
    rig.poll()
    assert rig.screen == Screen.BUYER


def test_form_to_qr_image_to_kiosk_to_printed_invoice(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig],
                                                      tmp_path: Path) -> None:
    code, keys = made
    rig = kiosk_factory(keys)
    at_buyer_screen(rig)
    rig.scan(code)
    view = rig.view
    assert view.notice is None, view.notice
    quote = view.session.quote
    # everything filled in from the code: the taxpayer only checks and confirms
    assert view.screen == Screen.SELF_QUOTE and quote is not None
    assert quote.total_fen == TOTAL_FEN and quote.item_name == "详见销货清单"
    assert view.session.buyer is not None and view.session.buyer.taxpayer_id == "91429004MA49XWY01B"
    assert [item.name for item in view.session.prefill.items] == ["网站设计", "商品摄影"]
    assert rig.printer.pages == []  # nothing printed before the confirmation

    rig.kiosk.flows.self_invoice.confirm()
    view = rig.view
    invoice = view.session.invoice
    assert view.screen == Screen.SELF_DONE and view.notice is None and invoice is not None
    assert invoice.total_fen == TOTAL_FEN and invoice.buyer.name == "仙桃示范商贸有限公司"
    pages = rig.pages(2)
    invoice_text, list_text = ("\n".join(page.text_lines()) for page in pages[:2])
    assert invoice.number in invoice_text and "*现代服务*详见销货清单" in invoice_text and "仙桃示范商贸有限公司" in invoice_text
    # the list of items that goes with it: each item with quantity, price and amount
    assert "销售货物或者提供应税劳务、服务清单" in list_text and invoice.number in list_text
    assert "网站设计" in list_text and "3,000.00" in list_text
    assert "商品摄影" in list_text and "2.5 小时 × 120.00" in list_text and "300.00" in list_text
    assert "3,333.00" in list_text  # 价税合计 of the items
    rig.kiosk.finish()
    assert rig.view.session.prefill is None

    # the same code again, in a new visit: it has its invoice — refused on the screen where it
    # was scanned, with that invoice's number, before anything is paid or printed
    paid_before, printed_before = len(rig.terminal.payments), len(rig.printer.pages)
    invoices_before = invoice_count(rig)
    at_buyer_screen(rig)
    rig.scan(code)
    view = rig.view
    notice = view.notice
    assert view.screen == Screen.BUYER and notice is not None
    assert notice.title.zh == "这个预填申请已开过发票" and notice.title.en == "This pre-filled request already has its invoice"
    assert invoice.number in notice.body.zh and invoice.number in notice.body.en
    assert "发票查验" in notice.next_step.zh
    session = view.session
    assert session.prefill is None and session.buyer is None and session.quote is None
    assert session.category is None and session.amount_text == "" and session.payment is None and session.invoice is None
    rig.kiosk.flows.self_invoice.confirm()  # nothing to confirm: no quote was made
    assert rig.screen == Screen.BUYER
    assert len(rig.terminal.payments) == paid_before and invoice_count(rig) == invoices_before
    assert len(rig.printer.pages) == printed_before


def test_back_from_a_prefilled_quote_drops_the_request(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig]) -> None:
    code, keys = made
    rig = kiosk_factory(keys)
    at_buyer_screen(rig)
    rig.scan(code)
    assert rig.screen == Screen.SELF_QUOTE
    rig.kiosk.back()
    view = rig.view
    assert view.screen == Screen.BUYER and view.session.prefill is None and view.session.buyer is None
    assert view.session.quote is None and view.session.amount_text == ""


def test_an_altered_code_is_refused_with_the_reason(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig]) -> None:
    code, keys = made
    data = bytearray(b45decode(code[len(MAGIC):]))
    data[20] ^= 0x01  # one bit of the request's body
    rig = kiosk_factory(keys)
    at_buyer_screen(rig)
    rig.scan(MAGIC + b45encode(bytes(data)))
    notice = rig.view.notice
    assert rig.screen == Screen.BUYER and notice is not None
    assert notice.title.zh == "这个预填二维码不能使用"
    assert notice.body.en == "This code has been altered since the hall signed it, so it cannot be used."
    assert "被改动" in notice.body.zh and rig.view.session.prefill is None


def test_an_expired_code_is_refused_with_the_reason(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig]) -> None:
    code, keys = made
    rig = kiosk_factory(keys)
    at_buyer_screen(rig)
    real_now = rig.kiosk.now
    rig.kiosk.now = lambda: real_now() + timedelta(hours=72, minutes=1)  # [web] prefill_valid_hours = 72
    rig.scan(code)
    notice = rig.view.notice
    assert rig.screen == Screen.BUYER and notice is not None
    assert notice.body.en.startswith("This code expired on ") and "过期" in notice.body.zh
    assert rig.view.session.quote is None


def test_a_code_of_another_hall_and_a_kiosk_without_keys(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig],
                                                         hall_web: Callable[..., HallWeb], tmp_path: Path) -> None:  # noqa: F811
    code, keys = made
    other_rig = kiosk_factory(["ed25519:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")])
    at_buyer_screen(other_rig)
    other_rig.scan(code)
    assert other_rig.view.notice.body.en.startswith("This code was signed by another tax hall")
    bare = kiosk_factory([])
    at_buyer_screen(bare)
    bare.scan(code)
    assert "no key to check" in bare.view.notice.body.en


def test_a_self_invoicing_code_prepared_for_someone_else(web: HallWeb, kiosk_factory: Callable[..., Rig],
                                                         tmp_path: Path) -> None:
    with httpx.Client(base_url=web.url) as client:
        answer = client.post("/prepare", data={**SELF_INVOICE_FORM, "seller_name": "李建国"},
                             headers={"Accept": "application/json"})
        keys = keys_of(client.get("/prepare/key").text)
    code = answer.json()["code"]
    rig = kiosk_factory(keys)
    at_buyer_screen(rig)  # 张伟's card
    rig.scan(code)
    assert rig.screen == Screen.BUYER and rig.view.notice.title.en == "This request was prepared for another seller"


def test_a_prefilled_header_at_the_invoice_from_request_tile(web: HallWeb, kiosk_factory: Callable[..., Rig]) -> None:
    from kiosk.demo_cards import order_request_qr

    with httpx.Client(base_url=web.url) as client:
        answer = client.post("/prepare", data={"kind": "header", "buyer_name": "仙桃示范商贸有限公司",
                                               "buyer_taxpayer_id": "91429004MA49XWY01B"},
                             headers={"Accept": "application/json"})
        keys = keys_of(client.get("/prepare/key").text)
    body: dict[str, Any] = answer.json()
    assert body["ok"] and body["kind"] == "header" and body["qr_version"] <= 8
    rig = kiosk_factory(keys)
    rig.kiosk.open_tile(Flow.REQUEST)
    rig.scan(body["code"])  # the header first, then the seller's request
    assert rig.screen == Screen.REQ_SCAN and rig.view.session.buyer.taxpayer_id == "91429004MA49XWY01B"
    rig.scan(order_request_qr(1))
    assert rig.screen == Screen.REQ_CONFIRM
    rig.kiosk.flows.request.confirm()
    assert rig.screen == Screen.REQ_DONE and "仙桃示范商贸有限公司" in "\n".join(rig.pages(1)[0].text_lines())
    # a whole self-invoicing request is not for this tile: it says which one
    rig.kiosk.finish()
    rig.kiosk.open_tile(Flow.REQUEST)
    with httpx.Client(base_url=web.url) as client:
        request_code = client.post("/prepare", data=SELF_INVOICE_FORM, headers={"Accept": "application/json"}).json()["code"]
    rig.scan(request_code)
    assert rig.view.notice.title.en == "This is a pre-filled self-invoicing request"


def test_the_server_refuses_a_form_with_mistakes_and_keeps_what_was_typed(web: HallWeb) -> None:
    bad = {**SELF_INVOICE_FORM, "buyer_taxpayer_id": "91429004MA49XWY01C", "item1_price": "120.005",
           "seller_name": "张伟 110108198805200519"}
    with httpx.Client(base_url=web.url) as client:
        answer = client.post("/prepare", data=bad, headers={"Accept": "application/json"})
        assert answer.status_code == 422
        errors = answer.json()["errors"]
        assert set(errors) == {"buyer_taxpayer_id", "item1_price", "seller_name"}
        assert errors["buyer_taxpayer_id"]["zh"] == "统一社会信用代码最后一位校验码不符"
        assert errors["seller_name"]["en"].startswith("no ID numbers")
        page = client.post("/prepare", data=bad)
        assert page.status_code == 422
        assert 'value="网站设计"' in page.text and 'value="91429004MA49XWY01C"' in page.text  # nothing typed is lost
        assert "统一社会信用代码最后一位校验码不符" in page.text and "单价最多2位小数" in page.text
        english = client.post("/prepare?lang=en", data=bad)
        assert "at most 2 decimals (fen)" in english.text


def test_a_broken_key_file_stops_prepare_not_the_hall_pages(hall_web: Callable[..., HallWeb], tmp_path: Path) -> None:  # noqa: F811
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key", encoding="utf-8")
    hall = hall_web(prefill_key_file=str(broken))
    with httpx.Client(base_url=hall.url) as client:
        assert client.get("/prepare").status_code == 503
        assert client.post("/prepare", data=SELF_INVOICE_FORM).status_code == 503
        assert client.get("/prepare/key").status_code == 503
        assert client.get("/").status_code == 200  # the queue pages go on
    assert broken.read_text(encoding="utf-8") == "not a key"  # never overwritten


def test_the_web_logs_the_reference_not_the_request(web: HallWeb, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="web"), httpx.Client(base_url=web.url) as client:
        answer = client.post("/prepare", data=SELF_INVOICE_FORM, headers={"Accept": "application/json"}).json()
    logged = caplog.text
    assert f"prepared {answer['reference']}: request, 2 items" in logged
    for private in ("张伟", "网站设计", "0728-3300000"):
        assert private not in logged


def test_a_code_the_gateway_will_not_quote_leaves_nothing_behind(kiosk_factory: Callable[..., Rig]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from taxhall.prefill import Header, Item, SelfInvoiceRequest, encode, public_key_text

    hall = Ed25519PrivateKey.generate()
    huge = SelfInvoiceRequest("张伟", "goods", Header("仙桃示范商贸有限公司", "91429004MA49XWY01B"),
                              (Item("设备", "台", 1000, 60_000_000, 10, 60_000_000, 600_000),))  # over the gateway's limit
    rig = kiosk_factory([public_key_text(hall.public_key())])
    at_buyer_screen(rig)
    rig.scan(encode(hall, bytes(6), datetime.now(timezone.utc) + timedelta(hours=1), request=huge))
    view = rig.view
    assert view.screen == Screen.BUYER and "500000.00" in view.notice.body.en
    assert view.session.prefill is None and view.session.buyer is None and view.session.amount_text == ""
    rig.kiosk.dismiss_notice()
    rig.kiosk.flows.buyer.individual()  # the keypad path instead: nothing of the code in it
    assert rig.screen == Screen.SELF_ITEM and rig.view.session.category is None


def test_two_kiosks_scanning_one_code_give_one_invoice(made: tuple[str, list[str]], kiosk_factory: Callable[..., Rig],
                                                       tmp_path: Path) -> None:
    """Both quoted before either issued: the first confirmation gets the invoice; the second has
    paid for nothing and is told so, with its payment reference, and sent to a counter."""
    from kiosk.gateway.local import LocalTaxGateway

    code, keys = made
    first = kiosk_factory(keys)
    second = make_rig(tmp_path / "kiosk-shared", pages_dir=tmp_path / "pages-shared", settings={"prefill_keys": keys},
                      gateway=LocalTaxGateway(first.gateway.db_path))  # one hall gateway for both
    try:
        for rig in (first, second):
            at_buyer_screen(rig)
            rig.scan(code)
            assert rig.screen == Screen.SELF_QUOTE and rig.view.notice is None
        before = invoice_count(first)
        first.kiosk.flows.self_invoice.confirm()
        invoice = first.view.session.invoice
        assert first.screen == Screen.SELF_DONE and invoice is not None
        second.kiosk.flows.self_invoice.confirm()
        view = second.view
        payment = view.session.payment
        assert payment is not None and view.session.invoice is None and view.screen != Screen.SELF_DONE
        assert view.notice.title.zh.startswith(f"已付款（交易号 {payment.reference}）")
        assert invoice.number in view.notice.body.en and "refund" in view.notice.next_step.en
        assert invoice_count(second) == before + 1 and second.printer.pages == []
    finally:
        second.close()
