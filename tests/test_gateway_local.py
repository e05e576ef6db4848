"""The local gateway on a real SQLite file: demo data, clear errors, idempotency by request id,
invoice issuing and checking, the self-invoicing flow with its threshold and expiry."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.gateway import demo_data
from kiosk.gateway.interface import GatewayNotFound, GatewayRejected, TaxGateway
from kiosk.gateway.invoice_qr import parse_invoice_qr
from kiosk.gateway.local import CHINA_TZ, GatewaySettings, LocalTaxGateway
from kiosk.gateway.models import (
    InvoiceHeader,
    InvoiceKind,
    InvoiceRequestRef,
    PaymentProof,
    SelfInvoiceCategory,
    TaxType,
)

WANG, LI, CHEN, ANNA, ZHANG = demo_data.TAXPAYERS
BUYER = demo_data.BUSINESSES[2].header
NOW = datetime(2026, 11, 20, 10, 30, tzinfo=CHINA_TZ)


class Clock:
    """A settable clock: the gateway takes time as a function, so tests can move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def gateway(tmp_path: Path, clock: Clock) -> LocalTaxGateway:
    return LocalTaxGateway(tmp_path / "gateway.sqlite", clock=clock)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_it_keeps_the_contract(gateway: LocalTaxGateway) -> None:
    assert isinstance(gateway, TaxGateway)
    assert gateway.health().status == "ok"


def test_demo_taxpayers_are_found_and_shown_masked(gateway: LocalTaxGateway) -> None:
    found = gateway.find_taxpayer(WANG.id_number)
    assert (found.ref, found.masked_id_number, found.masked_name) == ("TP000001", "110***********0042", "王**")
    assert gateway.find_taxpayer(ANNA.id_number.lower()).kind == "foreigner"
    with pytest.raises(GatewayNotFound) as missing:
        gateway.find_taxpayer(demo_data.UNREGISTERED_ID_NUMBER)
    assert missing.value.code == "taxpayer_not_found" and "counter" in missing.value.message
    with pytest.raises(GatewayRejected) as invalid:
        gateway.find_taxpayer("110108195203080043")
    assert invalid.value.code == "invalid_id_number" and "check digit" in invalid.value.message
    assert "校验码" in invalid.value.message_zh


def test_payment_records_cover_the_last_24_months_oldest_first_and_filter_by_tax_type(gateway: LocalTaxGateway) -> None:
    records = gateway.payment_records(LI.id_number, NOW.date() - timedelta(days=730), NOW.date())
    assert len(records) >= 24 and [r.paid_on for r in records] == sorted(r.paid_on for r in records)
    assert {r.tax_type for r in records} >= {TaxType.IIT, TaxType.VEHICLE_VESSEL}
    assert all(isinstance(r.amount_fen, int) and r.amount_fen > 0 and len(r.ticket_number) == 18 for r in records)
    vehicle = gateway.payment_records(LI.id_number, NOW.date() - timedelta(days=730), NOW.date(), [TaxType.VEHICLE_VESSEL])
    assert vehicle and all(r.tax_type is TaxType.VEHICLE_VESSEL for r in vehicle)


def test_no_records_is_a_clear_not_found_not_an_empty_list(gateway: LocalTaxGateway) -> None:
    with pytest.raises(GatewayNotFound) as caught:
        gateway.payment_records(CHEN.id_number, date(2025, 1, 1), date(2026, 11, 1))
    assert caught.value.code == "no_records"
    assert "2025-01-01 to 2026-11-01" in caught.value.message and "longer period" in caught.value.message
    with pytest.raises(GatewayRejected, match="start is after its end"):
        gateway.payment_records(WANG.id_number, date(2026, 2, 1), date(2026, 1, 1))


def test_a_repeated_request_id_returns_the_same_certificate_and_a_new_id_a_new_one(gateway: LocalTaxGateway) -> None:
    records = gateway.payment_records(WANG.id_number, date(2025, 1, 1), NOW.date())
    chosen = [r.id for r in records[:3]]
    first = gateway.issue_certificate("kiosk1-0001", WANG.id_number, chosen)
    again = gateway.issue_certificate("kiosk1-0001", WANG.id_number, list(reversed(chosen)))
    assert again == first
    assert first.total_fen == sum(r.amount_fen for r in records[:3]) and first.taxpayer.masked_name == "王**"
    assert first.qr_payload == first.verify_url and first.verification_code in first.verify_url
    other = gateway.issue_certificate("kiosk1-0002", WANG.id_number, chosen)
    assert other.number != first.number
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM certificates") == [(2,)]
    with pytest.raises(GatewayRejected) as reused:
        gateway.issue_certificate("kiosk1-0001", WANG.id_number, chosen[:1])
    assert reused.value.code == "request_id_reused"


def test_certificates_survive_a_restart_and_can_be_verified(tmp_path: Path, clock: Clock) -> None:
    gateway = LocalTaxGateway(tmp_path / "g.sqlite", clock=clock)
    record = gateway.payment_records(LI.id_number, date(2025, 1, 1), NOW.date())[0]
    issued = gateway.issue_certificate("r-1", LI.id_number, [record.id])
    reopened = LocalTaxGateway(tmp_path / "g.sqlite", clock=clock)
    assert reopened.issue_certificate("r-1", LI.id_number, [record.id]) == issued
    assert rows(reopened.db_path, "SELECT COUNT(*) FROM taxpayers") == [(len(demo_data.TAXPAYERS),)]  # seeded once
    check = reopened.verify_certificate(issued.number, issued.verification_code.lower())
    assert check.genuine and check.total_fen == record.amount_fen and check.masked_name == "李**"
    assert not reopened.verify_certificate(issued.number, "WRONG123").genuine
    assert not reopened.verify_certificate("00000000000000", issued.verification_code).genuine


def test_certificate_requests_that_cannot_be_done(gateway: LocalTaxGateway) -> None:
    someone_elses = gateway.payment_records(LI.id_number, date(2025, 1, 1), NOW.date())[0].id
    mine = gateway.payment_records(WANG.id_number, date(2025, 1, 1), NOW.date())[0].id
    with pytest.raises(GatewayNotFound) as caught:
        gateway.issue_certificate("r-x", WANG.id_number, [mine, someone_elses])
    assert caught.value.code == "records_not_found" and "1 of the chosen" in caught.value.message
    with pytest.raises(GatewayRejected, match="at least one"):
        gateway.issue_certificate("r-y", WANG.id_number, [])
    with pytest.raises(GatewayRejected) as bad_id:
        gateway.issue_certificate("bad id with spaces", WANG.id_number, [mine])
    assert bad_id.value.code == "invalid_request"


def test_concurrent_repeats_of_one_request_issue_one_certificate(gateway: LocalTaxGateway) -> None:
    record = gateway.payment_records(ANNA.id_number, date(2025, 1, 1), NOW.date())[0]
    start = threading.Barrier(6)
    numbers: list[str] = []

    def issue() -> None:
        start.wait()
        numbers.append(gateway.issue_certificate("same-id", ANNA.id_number, [record.id]).number)

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(numbers) == 6 and len(set(numbers)) == 1
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM certificates") == [(1,)]


def test_an_order_is_invoiced_once_whatever_the_request_id(gateway: LocalTaxGateway) -> None:
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_TECH, order_ref="ORD-2026-0002", total_fen=33_200)
    order = gateway.lookup_invoice_request(ref)
    assert [line.tax_fen for line in order.lines] == [2_600, 600] and order.invoiced_number is None
    invoice = gateway.issue_invoice_from_request("inv-1", ref, BUYER)
    assert invoice.kind is InvoiceKind.DIGITAL_GENERAL and len(invoice.number) == 20 and invoice.number.startswith("2611")
    assert (invoice.amount_fen, invoice.tax_fen, invoice.total_fen) == (30_000, 3_200, 33_200)
    assert gateway.issue_invoice_from_request("inv-1", ref, BUYER) == invoice
    with pytest.raises(GatewayRejected) as twice:
        gateway.issue_invoice_from_request("inv-2", ref, BUYER)
    assert twice.value.code == "already_invoiced" and invoice.number in twice.value.message
    assert gateway.lookup_invoice_request(ref).invoiced_number == invoice.number


def test_invoice_requests_that_cannot_be_done(gateway: LocalTaxGateway) -> None:
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_TECH, order_ref="ORD-2026-0001", total_fen=1_060_000)
    with pytest.raises(GatewayRejected) as mismatch:
        gateway.lookup_invoice_request(ref.model_copy(update={"total_fen": 1_000}))
    assert mismatch.value.code == "order_mismatch" and "10600.00 yuan" in mismatch.value.message
    with pytest.raises(GatewayNotFound, match="ORD-9"):
        gateway.lookup_invoice_request(ref.model_copy(update={"order_ref": "ORD-9"}))
    person = InvoiceHeader(name="赵六")
    with pytest.raises(GatewayRejected) as special:
        gateway.issue_invoice_from_request("inv-3", ref, person, InvoiceKind.DIGITAL_SPECIAL)
    assert special.value.code == "buyer_tax_id_required"
    to_person = gateway.issue_invoice_from_request("inv-4", ref, person)
    assert to_person.buyer.name == "赵*"  # a natural person is kept masked


def test_check_invoice_says_genuine_altered_or_unknown(gateway: LocalTaxGateway) -> None:
    seeded = demo_data.ISSUED_INVOICES[0]
    fields = parse_invoice_qr(f"01,04,{seeded.code},{seeded.number},1000.00,20260115,{seeded.check_code},ABCD,")
    genuine = gateway.check_invoice(fields)
    assert genuine.genuine and genuine.status == "genuine" and genuine.invoice is not None
    assert genuine.invoice.seller_name == "北京中关村示范科技有限公司" and genuine.invoice.total_fen == 113_000
    altered = gateway.check_invoice(fields.model_copy(update={"amount_fen": 200_000, "issued_on": date(2026, 1, 16)}))
    assert altered.status == "mismatch" and altered.mismatched == ("amount", "date") and altered.invoice is None
    assert "金额、开票日期" in altered.message_zh
    unknown = gateway.check_invoice(fields.model_copy(update={"number": "99999999"}))
    assert unknown.status == "not_found" and not unknown.genuine
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_FOOD, order_ref="M-777", total_fen=31_800)
    issued = gateway.issue_invoice_from_request("inv-5", ref, BUYER)
    assert gateway.check_invoice(parse_invoice_qr(issued.qr_payload)).genuine


def test_self_invoice_under_the_threshold_then_over_it(gateway: LocalTaxGateway) -> None:
    small = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 9_999_900, "设计费")
    assert small.vat_exempt and small.tax_due_fen == 99_999 and small.month_sales_before_fen == 0
    assert small.seller.name == "张*" and small.seller.taxpayer_id == "110***********0519"
    with pytest.raises(GatewayRejected) as wrong_amount:
        gateway.issue_self_invoice("self-1", small.quote_id, PaymentProof(reference="T-1", amount_fen=1))
    assert wrong_amount.value.code == "payment_mismatch" and "999.99 yuan" in wrong_amount.value.message
    paid = PaymentProof(reference="T-1", amount_fen=small.tax_due_fen)
    invoice = gateway.issue_self_invoice("self-1", small.quote_id, paid)
    assert invoice.lines[0].tax_exempt and invoice.lines[0].name == "*现代服务*设计费" and invoice.tax_fen == 0
    assert invoice.seller.natural_person and "代开" in invoice.remarks
    assert gateway.issue_self_invoice("self-1", small.quote_id, paid) == invoice
    with pytest.raises(GatewayRejected) as used:
        gateway.issue_self_invoice("self-2", small.quote_id, paid)
    assert used.value.code == "quote_used"
    # Sales count excluding VAT at the levy rate: 99,999.00 / 1.01 = 99,008.91 yuan this month,
    # so the next 1,010.00 yuan (1,000.00 of sales) takes the month over 100,000.
    over = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 101_000)
    assert not over.vat_exempt and over.month_sales_before_fen == 9_900_891 and over.vat_fen == 1_000
    second = gateway.issue_self_invoice("self-3", over.quote_id, PaymentProof(reference="T-2", amount_fen=over.tax_due_fen))
    assert second.tax_fen == 1_000 and second.lines[0].tax_rate == Decimal("0.01")
    # What was paid shows up as payment records, ready for a certificate.
    paid_now = gateway.payment_records(ZHANG.id_number, NOW.date(), NOW.date())
    assert sum(r.amount_fen for r in paid_now) == small.tax_due_fen + over.tax_due_fen


def test_a_quote_expires_and_one_overtaken_by_another_invoice_is_refused(gateway: LocalTaxGateway, clock: Clock) -> None:
    first = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 5_000_000)
    second = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 6_000_000)
    gateway.issue_self_invoice("a", first.quote_id, PaymentProof(reference="P1", amount_fen=first.tax_due_fen))
    # second was computed while the month was empty; now 50,000 yuan went before it.
    with pytest.raises(GatewayRejected) as overtaken:
        gateway.issue_self_invoice("b", second.quote_id, PaymentProof(reference="P2", amount_fen=second.tax_due_fen))
    assert overtaken.value.code == "quote_expired"
    third = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 100_000)
    clock.now += timedelta(seconds=GatewaySettings().quote_ttl_s + 1)
    with pytest.raises(GatewayRejected, match="expired"):
        gateway.issue_self_invoice("c", third.quote_id, PaymentProof(reference="P3", amount_fen=third.tax_due_fen))
    with pytest.raises(GatewayNotFound):
        gateway.issue_self_invoice("d", "Qnope", PaymentProof(reference="P4", amount_fen=0))
    with pytest.raises(GatewayRejected) as too_much:
        gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 10**12)
    assert too_much.value.code == "amount_out_of_range"


def test_a_day_past_the_rule_tables_is_refused_with_words(tmp_path: Path) -> None:
    gateway = LocalTaxGateway(tmp_path / "g.sqlite", clock=Clock(datetime(2018, 6, 1, tzinfo=CHINA_TZ)))
    with pytest.raises(GatewayRejected) as caught:
        gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 10_000)
    assert caught.value.code == "rules_outdated" and "2018-06-01" in caught.value.message


def test_a_prefilled_code_gets_one_invoice_and_a_second_quote_names_it(gateway: LocalTaxGateway, tmp_path: Path) -> None:
    code_id = "0a1b2c3d4e5f"
    quote = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 333_300, "详见销货清单",
                                       prefill_id=code_id)
    assert quote.prefill_id == code_id
    with pytest.raises(GatewayRejected) as unpaid:  # an issue that fails records nothing of the code
        gateway.issue_self_invoice("pre-0", quote.quote_id, PaymentProof(reference="T-0", amount_fen=1))
    assert unpaid.value.code == "payment_mismatch"
    assert rows(gateway.db_path, "SELECT * FROM prefill_uses") == []
    paid = PaymentProof(reference="T-1", amount_fen=quote.tax_due_fen)
    invoice = gateway.issue_self_invoice("pre-1", quote.quote_id, paid)
    assert rows(gateway.db_path, "SELECT prefill_id, invoice_number FROM prefill_uses") == [(code_id, invoice.number)]
    # the same code in a later visit: refused at the quote, before anything is paid, with the number
    records_before = rows(gateway.db_path, "SELECT COUNT(*) FROM payment_records")
    reopened = LocalTaxGateway(gateway.db_path, clock=Clock(NOW + timedelta(days=3)))  # kept in the file
    with pytest.raises(GatewayRejected) as again:
        reopened.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 333_300, "详见销货清单",
                                    prefill_id=code_id)
    assert again.value.code == "prefill_used"
    assert invoice.number in again.value.message and invoice.number in again.value.message_zh
    assert "one invoice" in again.value.message and "只能开具一张发票" in again.value.message_zh
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM quotes") == [(1,)]  # no quote made for it
    assert rows(gateway.db_path, "SELECT COUNT(*) FROM payment_records") == records_before
    # the issue's request id still answers its invoice; other codes and typed requests go on
    assert reopened.issue_self_invoice("pre-1", quote.quote_id, paid) == invoice
    assert reopened.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 10_000,
                                       prefill_id="ffffffffffff").prefill_id == "ffffffffffff"
    assert reopened.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 10_000).prefill_id is None
    with pytest.raises(GatewayRejected) as bad:
        reopened.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 10_000, prefill_id="no spaces")
    assert bad.value.code == "invalid_request" and "prefill_id" in bad.value.message


def test_two_quotes_of_one_code_give_one_invoice(gateway: LocalTaxGateway) -> None:
    """Two kiosks scanned the same code before either issued: the first issue wins."""
    first = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.LABOUR, 50_000, prefill_id="c0ffee000001")
    second = gateway.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.LABOUR, 50_000, prefill_id="c0ffee000001")
    invoice = gateway.issue_self_invoice("k1", first.quote_id, PaymentProof(reference="P1", amount_fen=first.tax_due_fen))
    with pytest.raises(GatewayRejected) as late:
        gateway.issue_self_invoice("k2", second.quote_id, PaymentProof(reference="P2", amount_fen=second.tax_due_fen))
    assert late.value.code == "prefill_used" and invoice.number in late.value.message
    assert rows(gateway.db_path, "SELECT number FROM invoices WHERE seller_ref IS NOT NULL") == [(invoice.number,)]
    assert rows(gateway.db_path, "SELECT request_id FROM requests WHERE operation = 'self_invoice'") == [("k1",)]
