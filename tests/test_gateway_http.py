"""The HTTP client against a real `taxhall gateway` process on a free loopback port: the same
answers and errors as the local implementation on the same database, quick and plain failure
when the server is down or hung, and retries after a lost answer that never issue twice."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from kiosk.gateway import demo_data
from kiosk.gateway.client import HttpTaxGateway
from kiosk.gateway.interface import GatewayError, GatewayRejected, GatewayUnavailable, TaxGateway
from kiosk.gateway.invoice_qr import parse_invoice_qr
from kiosk.gateway.local import LocalTaxGateway, china_now
from kiosk.gateway.models import InvoiceHeader, InvoiceRequestRef, PaymentProof, SelfInvoiceCategory, TaxType
from taxhall.broker import free_port

from tests.gateway_support import DroppingProxy, GatewayProcess, SilentServer

WANG, LI, CHEN, ANNA, ZHANG = demo_data.TAXPAYERS
BUYER = demo_data.BUSINESSES[2].header


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("gateway") / "data")
    yield process
    process.stop()


@pytest.fixture
def http(served: GatewayProcess) -> Iterator[HttpTaxGateway]:
    with HttpTaxGateway(served.url, timeout_s=10.0) as client:
        yield client


@pytest.fixture
def local(served: GatewayProcess) -> LocalTaxGateway:
    """The local implementation on the very database the server uses."""
    return LocalTaxGateway(served.db_path)


def failure(call: Callable[[], Any]) -> tuple[type, str, str, str]:
    with pytest.raises(GatewayError) as caught:
        call()
    return type(caught.value), caught.value.code, caught.value.message, caught.value.message_zh


def count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def test_the_client_keeps_the_contract_and_the_server_is_alive(http: HttpTaxGateway) -> None:
    assert isinstance(http, TaxGateway)
    assert http.health().status == "ok"


def test_lookups_answer_exactly_as_the_local_implementation(http: HttpTaxGateway, local: LocalTaxGateway) -> None:
    today = china_now().date()
    assert http.find_taxpayer(WANG.id_number) == local.find_taxpayer(WANG.id_number)
    span = (today - timedelta(days=730), today)
    assert http.payment_records(LI.id_number, *span) == local.payment_records(LI.id_number, *span)
    assert http.payment_records(LI.id_number, *span, [TaxType.VEHICLE_VESSEL]) == \
        local.payment_records(LI.id_number, *span, [TaxType.VEHICLE_VESSEL])
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_TECH, order_ref="ORD-2026-0003", total_fen=500_000)
    assert http.lookup_invoice_request(ref) == local.lookup_invoice_request(ref)
    seeded = demo_data.ISSUED_INVOICES[2]
    fields = parse_invoice_qr(f"01,32,,{seeded.number},200.00,{seeded.issued_on:%Y%m%d},,0000,")
    assert http.check_invoice(fields) == local.check_invoice(fields)
    assert http.check_invoice(fields).genuine
    quoted = [g.quote_self_invoice(ANNA.id_number, BUYER, SelfInvoiceCategory.GOODS, 20_200_000) for g in (http, local)]
    assert quoted[0].model_dump(exclude={"quote_id", "expires_at"}) == quoted[1].model_dump(exclude={"quote_id", "expires_at"})


def test_errors_arrive_as_the_same_class_code_and_words(http: HttpTaxGateway, local: LocalTaxGateway) -> None:
    cases: list[Callable[[TaxGateway], Any]] = [
        lambda g: g.find_taxpayer(demo_data.UNREGISTERED_ID_NUMBER),
        lambda g: g.find_taxpayer("110108195203080043"),
        lambda g: g.payment_records(CHEN.id_number, date(2025, 1, 1), date(2026, 1, 1)),
        lambda g: g.payment_records(WANG.id_number, date(2026, 1, 1), date(2025, 1, 1)),
        lambda g: g.lookup_invoice_request(InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_TECH,
                                                             order_ref="ORD-2026-0001", total_fen=1)),
        lambda g: g.issue_certificate("err-1", WANG.id_number, []),
        lambda g: g.issue_self_invoice("err-2", "Qunknown", PaymentProof(reference="x", amount_fen=0)),
        lambda g: g.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.GOODS, 0),
    ]
    for case in cases:
        assert failure(lambda: case(http)) == failure(lambda: case(local))


def test_issuing_over_http_and_locally_with_one_request_id_gives_one_document(
        served: GatewayProcess, http: HttpTaxGateway, local: LocalTaxGateway) -> None:
    record = local.payment_records(WANG.id_number, date(2025, 1, 1), china_now().date())[1]
    certificate = http.issue_certificate("same-cert", WANG.id_number, [record.id])
    assert local.issue_certificate("same-cert", WANG.id_number, [record.id]) == certificate
    assert http.verify_certificate(certificate.number, certificate.verification_code) == \
        local.verify_certificate(certificate.number, certificate.verification_code)
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_PRINT, order_ref="P-0042", total_fen=101_000)
    invoice = http.issue_invoice_from_request("same-invoice", ref, BUYER)
    assert local.issue_invoice_from_request("same-invoice", ref, BUYER) == invoice
    assert count(served.db_path, "SELECT COUNT(*) FROM requests WHERE request_id IN ('same-cert', 'same-invoice')") == 2


def test_a_body_that_does_not_validate_is_named_but_not_echoed(served: GatewayProcess) -> None:
    response = httpx.post(f"{served.url}/v1/self-invoices/quote", timeout=10, json={
        "seller_id_number": ZHANG.id_number, "category": "goods", "amount_fen": 10.5,
        "buyer": {"name": "x", "taxpayer_id": "914403001922038217"}})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "invalid_request" and "buyer.taxpayer_id" in body["message"]
    assert ZHANG.id_number not in response.text and "914403001922038217" not in response.text


def test_a_server_that_is_down_is_reported_unavailable_quickly() -> None:
    client = HttpTaxGateway(f"http://127.0.0.1:{free_port()}", timeout_s=2.0, attempts=3, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable) as caught:
        client.find_taxpayer(WANG.id_number)
    assert time.monotonic() - started < 3.0
    assert caught.value.code == "unavailable" and "cannot be reached" in caught.value.message
    assert "nothing answers" in caught.value.message and "无法建立连接" in caught.value.message_zh
    client.close()


def test_a_hung_server_times_out_instead_of_hanging_the_kiosk() -> None:
    silent = SilentServer()
    client = HttpTaxGateway(silent.url, timeout_s=0.3, attempts=2, backoff_s=0.05)
    started = time.monotonic()
    try:
        with pytest.raises(GatewayUnavailable, match="no answer .* within 0.3 s"):
            client.issue_certificate("hung-1", WANG.id_number, ["PR00000001"])
        assert time.monotonic() - started < 3.0
    finally:
        client.close()
        silent.close()


def test_a_retry_after_a_lost_answer_returns_the_first_certificate(served: GatewayProcess, local: LocalTaxGateway) -> None:
    record = local.payment_records(ANNA.id_number, date(2025, 1, 1), china_now().date())[0]
    proxy = DroppingProxy(served.port)
    client = HttpTaxGateway(proxy.url, timeout_s=10.0, attempts=3, backoff_s=0.05)
    try:
        before = count(served.db_path, "SELECT COUNT(*) FROM certificates")
        proxy.drop_next(1)
        certificate = client.issue_certificate("lost-answer-1", ANNA.id_number, [record.id])
        assert proxy.dropped == 1  # the server answered once into the void, then again
        assert count(served.db_path, "SELECT COUNT(*) FROM certificates") == before + 1
        assert local.issue_certificate("lost-answer-1", ANNA.id_number, [record.id]) == certificate
    finally:
        client.close()
        proxy.close()


def test_without_retries_a_lost_answer_is_unavailable_and_asking_again_finds_the_first_invoice(
        served: GatewayProcess, local: LocalTaxGateway) -> None:
    proxy = DroppingProxy(served.port)
    once = HttpTaxGateway(proxy.url, timeout_s=10.0, attempts=1)
    try:
        quote = once.quote_self_invoice(ZHANG.id_number, InvoiceHeader(name="赵六"), SelfInvoiceCategory.LABOUR, 300_000)
        payment = PaymentProof(reference="POS-77", amount_fen=quote.tax_due_fen)
        before = count(served.db_path, "SELECT COUNT(*) FROM invoices")
        proxy.drop_next(1)
        with pytest.raises(GatewayUnavailable, match="connection .* broke"):
            once.issue_self_invoice("lost-answer-2", quote.quote_id, payment)
        invoice = once.issue_self_invoice("lost-answer-2", quote.quote_id, payment)  # the kiosk asks again
        assert count(served.db_path, "SELECT COUNT(*) FROM invoices") == before + 1
        assert local.check_invoice(parse_invoice_qr(invoice.qr_payload)).genuine
    finally:
        once.close()
        proxy.close()


def test_a_prefilled_code_is_invoiced_once_over_http(served: GatewayProcess, http: HttpTaxGateway,
                                                     local: LocalTaxGateway) -> None:
    code_id = "ab12cd34ef56"
    quote = http.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 120_000, "详见销货清单",
                                    prefill_id=code_id)
    assert quote.prefill_id == code_id
    invoice = http.issue_self_invoice("http-prefill-1", quote.quote_id,
                                      PaymentProof(reference="POS-90", amount_fen=quote.tax_due_fen))
    assert count(served.db_path, "SELECT COUNT(*) FROM prefill_uses WHERE prefill_id = ? AND invoice_number = ?",
                 code_id, invoice.number) == 1
    quotes_before = count(served.db_path, "SELECT COUNT(*) FROM quotes")
    again = failure(lambda: http.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES, 120_000,
                                                    "详见销货清单", prefill_id=code_id))
    assert again[:2] == (GatewayRejected, "prefill_used") and invoice.number in again[2] and invoice.number in again[3]
    assert again == failure(lambda: local.quote_self_invoice(ZHANG.id_number, BUYER, SelfInvoiceCategory.SERVICES,
                                                             120_000, "详见销货清单", prefill_id=code_id))
    assert count(served.db_path, "SELECT COUNT(*) FROM quotes") == quotes_before
    # what goes over the wire: 409 with the code and both languages; a malformed id is a 422
    body = {"seller_id_number": ZHANG.id_number, "buyer": BUYER.model_dump(mode="json"), "category": "services",
            "amount_fen": 120_000, "prefill_id": code_id}
    with httpx.Client(base_url=served.url) as raw:
        answer = raw.post("/v1/self-invoices/quote", json=body)
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "prefill_used"
        assert invoice.number in answer.json()["error"]["message_zh"]
        malformed = raw.post("/v1/self-invoices/quote", json={**body, "prefill_id": "not an id"})
        assert malformed.status_code == 422 and "prefill_id" in malformed.json()["error"]["message"]
