"""After a certificate and invoices for test identities — over HTTP to a real `taxhall gateway`
logging at DEBUG, and through the embedded local gateway — no full ID number or full name is
in any log line or in any file under the data dir (the database, its WAL, anything)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from kiosk.gateway import demo_data
from kiosk.gateway.client import HttpTaxGateway
from kiosk.gateway.interface import GatewayError, TaxGateway
from kiosk.gateway.local import LocalTaxGateway, china_now
from kiosk.gateway.models import InvoiceHeader, InvoiceRequestRef, PaymentProof, SelfInvoiceCategory

from tests.gateway_support import GatewayProcess

WANG, ZHANG = demo_data.TAXPAYERS[0], demo_data.TAXPAYERS[4]
# A natural-person buyer typed in at the kiosk: a full name the gateway must not keep.
PERSON_BUYER = InvoiceHeader(name="欧阳娜娜")
SECRETS = [WANG.id_number, WANG.name, ZHANG.id_number, ZHANG.name, PERSON_BUYER.name, demo_data.UNREGISTERED_ID_NUMBER]


def exercise(gateway: TaxGateway) -> None:
    """A certificate, an invoice from a request and a self-invoice, plus the error paths."""
    records = gateway.payment_records(WANG.id_number, date(2025, 1, 1), china_now().date())
    gateway.issue_certificate("privacy-cert", WANG.id_number, [r.id for r in records[:2]])
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_FOOD, order_ref="M-777", total_fen=31_800)
    gateway.issue_invoice_from_request("privacy-inv", ref, PERSON_BUYER)
    quote = gateway.quote_self_invoice(ZHANG.id_number, PERSON_BUYER, SelfInvoiceCategory.SERVICES, 20_200_000)
    gateway.issue_self_invoice("privacy-self", quote.quote_id, PaymentProof(reference="POS-1", amount_fen=quote.tax_due_fen))
    for attempt in (lambda: gateway.find_taxpayer(demo_data.UNREGISTERED_ID_NUMBER),
                    lambda: gateway.issue_certificate("privacy-cert", WANG.id_number, ["PR00000002"]),
                    lambda: gateway.payment_records(demo_data.TAXPAYERS[2].id_number, date(2025, 1, 1), date(2025, 2, 1))):
        with pytest.raises(GatewayError):
            attempt()


def leaks(data: bytes) -> list[str]:
    variants = {s for secret in SECRETS for s in (secret, secret.lower())}
    return sorted(s for s in variants if s.encode("utf-8") in data)


def files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_the_served_gateway_logs_and_stores_identity_masked_only(tmp_path: Path) -> None:
    config = tmp_path / "device.toml"
    config.write_text('[log]\nlevel = "DEBUG"\n[gateway]\nlocation = "county_town"\n', encoding="utf-8")
    served = GatewayProcess(tmp_path / "data", config=config)
    try:
        with HttpTaxGateway(served.url, timeout_s=10.0) as client:
            exercise(client)
    finally:
        served.stop()
    log = served.log_path.read_bytes()
    assert "110***********0042".encode() in log  # the log does speak of the taxpayer, masked
    assert b"POST /v1/certificates" in log
    assert leaks(log) == []
    stored = files_under(served.data_dir)
    assert any(path.name == "gateway.sqlite" for path in stored)
    for path in stored:
        assert leaks(path.read_bytes()) == [], path


def test_the_embedded_gateway_logs_and_stores_identity_masked_only(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = LocalTaxGateway(tmp_path / "data" / "gateway.sqlite")
    exercise(gateway)
    assert "110***********0519" in caplog.text
    assert leaks(caplog.text.encode("utf-8")) == []
    for path in files_under(tmp_path / "data"):
        assert leaks(path.read_bytes()) == [], path


def test_request_bodies_show_identity_masked_in_their_repr() -> None:
    from kiosk.gateway.models import CertificateIssue, SelfInvoiceQuoteRequest

    body = CertificateIssue(request_id="r", id_number=WANG.id_number, record_ids=("PR1",))
    quote = SelfInvoiceQuoteRequest(seller_id_number=ZHANG.id_number, buyer=PERSON_BUYER,
                                    category=SelfInvoiceCategory.GOODS, amount_fen=100)
    assert WANG.id_number not in repr(body) and "110***********0042" in repr(body)
    assert ZHANG.id_number not in repr(quote) and ZHANG.id_number not in str(quote)
    assert PERSON_BUYER.name not in repr(quote) and "欧***" in repr(quote)
