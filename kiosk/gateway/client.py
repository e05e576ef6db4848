"""`HttpTaxGateway`: the `TaxGateway` contract over the HTTP API (httpx, synchronous).

Each attempt has a time-out (a short one for connecting, since a kiosk must tell the
taxpayer quickly that the service is down). Failures that may pass — no connection, no
answer in time, a dropped connection, 502/503/504 — are retried a few times with a short
back-off and the *same* request body, request id included, so a retry after a lost answer
returns the first certificate or invoice instead of issuing a second. When attempts run out
the caller gets `GatewayUnavailable` in plain words. Errors the server answers with come
back as the same `GatewayError` subclass and code the local implementation raises.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any, Sequence, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from taxhall import __version__

from kiosk.gateway.interface import GatewayError, GatewayUnavailable, error, error_from_wire
from kiosk.gateway.models import (
    Certificate,
    CertificateCheck,
    CertificateIssue,
    CertificateVerify,
    GatewayHealth,
    Invoice,
    InvoiceCheckResult,
    InvoiceFromRequest,
    InvoiceHeader,
    InvoiceKind,
    InvoiceQrFields,
    InvoiceRequest,
    InvoiceRequestRef,
    PaymentProof,
    PaymentRecord,
    PaymentRecordQuery,
    SelfInvoiceCategory,
    SelfInvoiceIssue,
    SelfInvoiceQuote,
    SelfInvoiceQuoteRequest,
    TaxType,
    Taxpayer,
    TaxpayerQuery,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)
_RETRY_STATUSES = (502, 503, 504)


class HttpTaxGateway:
    """A `TaxGateway` that calls a gateway's HTTP API at `base_url`."""

    def __init__(self, base_url: str, timeout_s: float = 5.0, connect_timeout_s: float = 1.0, attempts: int = 3,
                 backoff_s: float = 0.2) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=self.base_url,
                                    timeout=httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
                                    headers={"User-Agent": f"taxhall-kiosk/{__version__}"})

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: BaseModel | None, answer: TypeAdapter[T], attempts: int | None = None) -> T:
        payload = body.model_dump(mode="json") if body is not None else None
        reason: tuple[str, str] = ("no attempt was made", "未尝试连接")
        tries = attempts or self.attempts
        for attempt in range(tries):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, path, json=payload)
            except httpx.TimeoutException:
                reason = (f"no answer from {self.base_url} within {self.timeout_s:g} s", f"{self.timeout_s:g}秒内无应答")
            except httpx.ConnectError:
                reason = (f"nothing answers at {self.base_url}", "无法建立连接")
            except httpx.TransportError as exc:
                reason = (f"the connection to {self.base_url} broke ({type(exc).__name__})", "连接中断")
            else:
                if response.status_code in _RETRY_STATUSES:
                    reason = (f"{self.base_url} answered {response.status_code}", f"服务返回{response.status_code}")
                    answered = self._error(response)
                    if attempt == tries - 1 and isinstance(answered, GatewayUnavailable):
                        raise answered  # the server's own words on why it is unavailable
                    log.warning("gateway %s %s: attempt %d of %d: %s", method, path, attempt + 1, tries, answered.code)
                    continue
                if response.status_code >= 400:
                    raise self._error(response)
                try:
                    return answer.validate_python(response.json())
                except (ValueError, ValidationError):
                    raise error("unavailable", reason=(f"the answer from {self.base_url} was not understood",
                                                       "无法识别服务的应答")) from None
            log.warning("gateway %s %s: attempt %d of %d failed: %s", method, path, attempt + 1, tries, reason[0])
        raise error("unavailable", reason=reason)

    @staticmethod
    def _body(model: type[B], **fields: Any) -> B:
        """A request body; arguments it refuses are the caller's mistake, said the server's way."""
        try:
            return model(**fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise error("invalid_request", reason=f"{where}: {first['msg'].removeprefix('Value error, ')}") from None

    def _error(self, response: httpx.Response) -> GatewayError:
        try:
            body = response.json()["error"]
            return error_from_wire(response.status_code, str(body["code"]), str(body["message"]),
                                   str(body.get("message_zh", "")))
        except (ValueError, KeyError, TypeError):
            return error_from_wire(response.status_code, "unavailable" if response.status_code >= 500 else "invalid_request",
                                   f"The tax service answered {response.status_code} without an explanation.",
                                   f"税务服务返回{response.status_code}，没有说明原因。")

    # --- TaxGateway -----------------------------------------------------------------------

    def health(self) -> GatewayHealth:
        # One attempt: callers poll this to enable or disable tiles and must not wait long.
        return self._call("GET", "/v1/health", None, TypeAdapter(GatewayHealth), attempts=1)

    def find_taxpayer(self, id_number: str) -> Taxpayer:
        return self._call("POST", "/v1/taxpayers/find", self._body(TaxpayerQuery, id_number=id_number), TypeAdapter(Taxpayer))

    def payment_records(self, id_number: str, period_from: date, period_to: date,
                        tax_types: Sequence[TaxType] | None = None) -> list[PaymentRecord]:
        query = self._body(PaymentRecordQuery, id_number=id_number, period_from=period_from, period_to=period_to,
                                   tax_types=tuple(tax_types) if tax_types else None)
        return self._call("POST", "/v1/payment-records/search", query, TypeAdapter(list[PaymentRecord]))

    def issue_certificate(self, request_id: str, id_number: str, record_ids: Sequence[str]) -> Certificate:
        body = self._body(CertificateIssue, request_id=request_id, id_number=id_number, record_ids=tuple(record_ids))
        return self._call("POST", "/v1/certificates", body, TypeAdapter(Certificate))

    def verify_certificate(self, number: str, verification_code: str) -> CertificateCheck:
        body = self._body(CertificateVerify, number=number, verification_code=verification_code)
        return self._call("POST", "/v1/certificates/verify", body, TypeAdapter(CertificateCheck))

    def lookup_invoice_request(self, ref: InvoiceRequestRef) -> InvoiceRequest:
        return self._call("POST", "/v1/invoice-requests/lookup", ref, TypeAdapter(InvoiceRequest))

    def issue_invoice_from_request(self, request_id: str, ref: InvoiceRequestRef, buyer: InvoiceHeader,
                                   kind: InvoiceKind = InvoiceKind.DIGITAL_GENERAL) -> Invoice:
        body = self._body(InvoiceFromRequest, request_id=request_id, ref=ref, buyer=buyer, kind=kind)
        return self._call("POST", "/v1/invoices/from-request", body, TypeAdapter(Invoice))

    def quote_self_invoice(self, seller_id_number: str, buyer: InvoiceHeader, category: SelfInvoiceCategory,
                           amount_fen: int, item_name: str | None = None, prefill_id: str | None = None) -> SelfInvoiceQuote:
        body = self._body(SelfInvoiceQuoteRequest, seller_id_number=seller_id_number, buyer=buyer, category=category,
                                       amount_fen=amount_fen, item_name=item_name, prefill_id=prefill_id)
        return self._call("POST", "/v1/self-invoices/quote", body, TypeAdapter(SelfInvoiceQuote))

    def issue_self_invoice(self, request_id: str, quote_id: str, payment: PaymentProof) -> Invoice:
        body = self._body(SelfInvoiceIssue, request_id=request_id, quote_id=quote_id, payment=payment)
        return self._call("POST", "/v1/self-invoices", body, TypeAdapter(Invoice))

    def check_invoice(self, fields: InvoiceQrFields) -> InvoiceCheckResult:
        return self._call("POST", "/v1/invoices/check", fields, TypeAdapter(InvoiceCheckResult))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpTaxGateway:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
