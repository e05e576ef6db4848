"""Invoices without a window: from a seller's request QR, self-invoicing with the tax shown
line by line and paid on the simulated terminal, and the invoice check — on the real local
gateway, the simulated scanner and printer; with the failures (foreign QR, gateway down,
payment declined, paid but not issued)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from kiosk.demo_cards import buyer_header_qr, issued_invoice_qr, order_request_qr
from kiosk.gateway import demo_data
from kiosk.gateway.client import HttpTaxGateway
from kiosk.gateway.invoice_qr import parse_invoice_qr
from kiosk.gateway.models import SelfInvoiceCategory
from kiosk.payment import SimulatedTerminal
from kiosk.session import Flow, Screen
from taxhall.broker import free_port
from tests.kiosk_support import WANG, ZHANG, Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path, pages_dir=tmp_path / "pages")
    yield made
    made.close()


def printed_text(rig: Rig, count: int = 1) -> str:
    return "\n".join(rig.pages(count)[count - 1].text_lines())


def test_invoice_from_a_request_then_the_header(rig: Rig, tmp_path: Path) -> None:
    rig.kiosk.open_tile(Flow.REQUEST)
    assert rig.screen == Screen.REQ_SCAN
    rig.scan(order_request_qr(1))
    view = rig.view
    assert view.screen == Screen.BUYER and view.session.order.total_fen == 33_200
    rig.scan(buyer_header_qr(2))
    view = rig.view
    assert view.screen == Screen.REQ_CONFIRM and view.session.buyer.name == "仙桃示范商贸有限公司"
    rig.kiosk.flows.request.confirm()
    view = rig.view
    invoice = view.session.invoice
    assert view.screen == Screen.REQ_DONE and view.notice is None and invoice is not None
    text = printed_text(rig)
    assert invoice.number in text and "仙桃示范商贸有限公司" in text and "北京中关村示范科技有限公司" in text
    # the printed QR is the invoice's own, and the gateway calls it genuine
    page_png = sorted((tmp_path / "pages").glob("page-*.png"))[0]
    codes = [c.data.decode() for c in decode(Image.open(page_png))]
    assert codes == [invoice.qr_payload]
    assert rig.gateway.check_invoice(parse_invoice_qr(codes[0])).genuine
    # the same order cannot be invoiced twice
    rig.kiosk.finish()
    rig.kiosk.open_tile(Flow.REQUEST)
    rig.scan(order_request_qr(1))
    assert rig.view.notice.title.en == "This order already has its invoice" and invoice.number in rig.view.notice.body.zh


def test_header_first_then_the_request_and_an_individual_buyer(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.REQUEST)
    rig.scan(buyer_header_qr(0))
    assert rig.screen == Screen.REQ_SCAN and rig.view.session.buyer is not None  # now the order
    rig.scan(order_request_qr(4))
    assert rig.screen == Screen.REQ_CONFIRM
    rig.kiosk.back()  # change the buyer
    assert rig.screen == Screen.BUYER and rig.view.session.buyer is None
    rig.kiosk.flows.buyer.individual()
    assert rig.screen == Screen.REQ_CONFIRM and rig.view.session.buyer.natural_person
    rig.kiosk.flows.request.confirm()
    assert rig.screen == Screen.REQ_DONE and "个人" in printed_text(rig)


def test_foreign_and_garbled_qr_say_what_was_expected(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.REQUEST)
    rig.scan(issued_invoice_qr(0))
    notice = rig.view.notice
    assert rig.screen == Screen.REQ_SCAN and notice.body.en.startswith("This is an invoice QR code, not a seller's invoice request")
    assert "开票申请" in notice.next_step.zh
    rig.scan('{"type":"taxhall.invoice-request","v":1,"seller":"91110108MA0BCDEF2N","order":"ORD-2026-0002"}')
    assert "missing" in rig.view.notice.body.en and rig.screen == Screen.REQ_SCAN
    rig.scanner.send_raw(b"\xff\xfe\x00garbage\r\n")
    rig.poll()
    assert rig.view.notice is not None and rig.screen == Screen.REQ_SCAN


def test_self_invoice_with_the_tax_line_by_line_and_payment(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.SELF_INVOICE)
    rig.card(ZHANG)
    rig.poll()
    assert rig.screen == Screen.BUYER
    rig.scan(buyer_header_qr(2))
    assert rig.screen == Screen.SELF_ITEM
    flow = rig.kiosk.flows.self_invoice
    flow.compute()
    assert rig.view.notice.title.en == "Choose what you sold"
    rig.kiosk.dismiss_notice()
    flow.choose_category(SelfInvoiceCategory.SERVICES)
    for key in "0202000.505":  # a leading zero is replaced, a third decimal refused
        flow.press(key)
    assert rig.view.session.amount_text == "202000.50"
    flow.press("del")
    flow.press("del")
    flow.press("del")
    assert rig.view.session.amount_text == "202000"
    flow.compute()
    view = rig.view
    quote = view.session.quote
    assert view.screen == Screen.SELF_QUOTE and quote is not None and not quote.vat_exempt
    assert [line.code for line in quote.lines][:2] == ["vat", "umct"] and quote.tax_due_fen == 412_000
    assert rig.printer.pages == []  # nothing before the taxpayer confirms

    flow.confirm()
    view = rig.view
    invoice = view.session.invoice
    assert view.screen == Screen.SELF_DONE and view.notice is None and invoice is not None
    assert rig.terminal.payments[-1].approved and rig.terminal.payments[-1].amount_fen == 412_000
    text = printed_text(rig)
    assert invoice.number in text and "张伟" in text and demo_data.TAXPAYERS[4].id_number in text
    assert "价税合计" in text and "贰拾万贰仟元整" in text


def test_payment_declined_changes_nothing_and_the_keypad_buyer(rig: Rig) -> None:
    rig.terminal.result = "decline"
    rig.kiosk.open_tile(Flow.SELF_INVOICE)
    rig.card(WANG)
    rig.poll()
    buyer = rig.kiosk.flows.buyer
    buyer.open_keypad()
    assert rig.screen == Screen.BUYER_KEYPAD
    for key in "91429004MA49XWY01C":  # wrong check character
        buyer.press(key)
    buyer.focus("name")
    for key in "XIANTAO TRADE":
        buyer.press("space" if key == " " else key)
    buyer.done()
    assert rig.view.notice is not None and "税号有误" in rig.view.notice.title.zh
    buyer.focus("taxpayer_id")
    buyer.press("del")
    buyer.press("B")
    buyer.done()
    assert rig.screen == Screen.SELF_ITEM and rig.view.session.buyer.taxpayer_id == "91429004MA49XWY01B"
    flow = rig.kiosk.flows.self_invoice
    flow.choose_category("goods")
    for key in "120000":
        flow.press(key)
    flow.compute()
    flow.confirm()
    view = rig.view
    assert view.screen == Screen.SELF_QUOTE and view.notice.title.en.startswith("The payment did not go through")
    assert view.session.invoice is None and view.session.payment is None and rig.printer.pages == []


def test_exempt_sale_needs_no_payment(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.SELF_INVOICE)
    rig.card(WANG)
    rig.poll()
    rig.kiosk.flows.buyer.individual()
    flow = rig.kiosk.flows.self_invoice
    flow.choose_category("labour")
    for key in "3000":
        flow.press(key)
    flow.compute()
    assert rig.view.session.quote.tax_due_fen == 0 and rig.view.session.quote.vat_exempt
    flow.confirm()
    assert rig.screen == Screen.SELF_DONE and rig.terminal.payments == []


def test_check_genuine_mismatch_and_not_found(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.CHECK)
    rig.scan(issued_invoice_qr(0))
    view = rig.view
    assert view.screen == Screen.CHECK_RESULT and view.session.check_result.genuine
    assert view.session.check_fields.number == "00012345"
    rig.kiosk.flows.check.another()
    assert rig.screen == Screen.CHECK_SCAN and rig.view.session.check_result is None
    rig.scan(issued_invoice_qr(0).replace(",1000.00,", ",1001.00,"))
    assert rig.view.session.check_result.status == "mismatch" and "amount" in rig.view.session.check_result.mismatched
    rig.kiosk.back()
    rig.scan("01,32,,26112000000000000999,200.00,20260618,,603B,")
    assert rig.view.session.check_result.status == "not_found"
    rig.kiosk.back()
    rig.scan(order_request_qr(0))
    assert rig.view.notice.title.en == "That is not the right QR code" and "top left" in rig.view.notice.next_step.en


def test_gateway_down_disables_its_tiles_and_says_so(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, gateway=HttpTaxGateway(f"http://127.0.0.1:{free_port()}", timeout_s=0.5, attempts=1))
    try:
        tiles = {t.flow: t for t in rig.view.tiles}
        assert not tiles[Flow.CHECK].enabled and tiles[Flow.CHECK].reason.zh == "税务系统暂时无法连接"
        assert tiles[Flow.GUIDES].enabled
        rig.kiosk.open_tile(Flow.CERTIFICATE)
        assert rig.screen == Screen.HOME and rig.view.notice.title.en == "This service is not available now"
        assert rig.view.notice.body.en == "Tax service unreachable for now"
        assert rig.board.snapshot()["gateway"].state == "fault"
    finally:
        rig.close()


def test_paid_but_gateway_gone_keeps_the_payment_and_retries_with_the_same_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import gateway_support
    from tests.gateway_support import GatewayProcess

    server = GatewayProcess(tmp_path / "gw")
    terminal = SimulatedTerminal(delay_s=0.05)
    rig = make_rig(tmp_path, gateway=HttpTaxGateway(server.url, timeout_s=2.0, attempts=1), payment=terminal)
    try:
        rig.kiosk.open_tile(Flow.SELF_INVOICE)
        rig.card(ZHANG)
        rig.poll()
        rig.kiosk.flows.buyer.individual()
        flow = rig.kiosk.flows.self_invoice
        flow.choose_category("services")
        for key in "150000":
            flow.press(key)
        flow.compute()
        due = rig.view.session.quote.tax_due_fen
        server.stop()  # the back end goes away while the taxpayer pays
        flow.confirm()
        view = rig.view
        assert view.screen == Screen.SELF_PAY and view.session.payment.amount_fen == due and view.session.invoice is None
        assert view.notice.title.en == "The tax service cannot be reached"
        monkeypatch.setattr(gateway_support, "free_port", lambda: server.port)
        server2 = GatewayProcess(tmp_path / "gw")  # the same database, on the same port, comes back
        try:
            rig.kiosk.dismiss_notice()
            flow.retry_issue()
            assert rig.screen == Screen.SELF_DONE and rig.view.session.invoice is not None
            assert len(terminal.payments) == 1  # paid once
        finally:
            server2.stop()
    finally:
        rig.close()
