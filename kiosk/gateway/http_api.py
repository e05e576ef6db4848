"""The gateway's HTTP API (FastAPI): every `TaxGateway` operation as a JSON endpoint under /v1.

docs/gateway-openapi.yaml is generated from this app (`python -m kiosk.gateway.openapi`).
Identity travels in request bodies only, never in paths or query strings, so access logs
carry no ID numbers. Operations that issue take the client's `request_id` in the body.

Errors are `{"error": {"code", "message", "message_zh"}}` with the status of the code in
`interface.ERRORS` (404 not found, 409 conflict, 422 rejected, 503 unavailable, 500 internal).
A body that does not validate is `invalid_request`, naming the field but never echoing its
value. Unexpected exceptions are logged with ID-shaped numbers masked and answered `internal`.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from taxhall.privacy import mask_text

from kiosk.gateway.interface import ERRORS, GatewayError, TaxGateway, error
from kiosk.gateway.models import (
    Certificate,
    CertificateCheck,
    CertificateIssue,
    CertificateVerify,
    ErrorResponse,
    GatewayHealth,
    Invoice,
    InvoiceCheckResult,
    InvoiceFromRequest,
    InvoiceQrFields,
    InvoiceRequest,
    InvoiceRequestRef,
    PaymentRecord,
    PaymentRecordQuery,
    SelfInvoiceIssue,
    SelfInvoiceQuote,
    SelfInvoiceQuoteRequest,
    Taxpayer,
    TaxpayerQuery,
)

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"

_DESCRIPTION = """The tax gateway of a 24-hour tax service hall: what its kiosks ask the tax back end.

Amounts are integer fen (1 yuan = 100 fen). Taxpayer identity is sent in request bodies and
answered masked. Operations that issue a certificate or an invoice take a client-made
`request_id`: repeating a request with the same id answers the first result again and never
issues twice. Errors: `{"error": {"code", "message", "message_zh"}}`; codes in docs/gateway.md.
"""


def _error_response(status: int, code: str, message: str, message_zh: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "message_zh": message_zh}})


def _status(exc: GatewayError) -> int:
    spec = ERRORS.get(exc.code)
    return spec.status if spec else exc.http_status


def _describe_validation(exc: RequestValidationError) -> str:
    """`buyer.taxpayer_id: <what is wrong>` for the first problem, without the input value."""
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = str(first.get("msg", "not valid")).removeprefix("Value error, ")
    return f"{where}: {message}"


def _gateway(request: Request) -> TaxGateway:
    gateway: TaxGateway | None = request.app.state.gateway
    if gateway is None:
        raise error("unavailable", reason="this server has no gateway behind it")
    return gateway


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in ((404, "not found"), (409, "conflict with an earlier request"), (422, "rejected or invalid"),
                         (500, "internal problem"), (503, "back end unavailable"))
}


def create_app(gateway: TaxGateway | None = None) -> FastAPI:
    """The HTTP API in front of `gateway` (None: for generating the OpenAPI document only)."""
    app = FastAPI(title="taxhall tax gateway", version=API_VERSION, description=_DESCRIPTION,
                  responses=_ERROR_RESPONSES, generate_unique_id_function=lambda route: route.name)
    app.state.gateway = gateway

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        log.info("%s %s → %s", request.method, request.url.path, exc.code)
        return _error_response(_status(exc), exc.code, exc.message, exc.message_zh)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = error("invalid_request", reason=_describe_validation(exc))
        log.info("%s %s → invalid_request (%s)", request.method, request.url.path, problem.message)
        return _error_response(422, problem.code, problem.message, problem.message_zh)

    @app.middleware("http")
    async def _internal(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # A middleware rather than an exception handler: Starlette re-raises after a 500
        # handler and the server would then log the raw traceback, values and all.
        try:
            return await call_next(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log.error("%s %s failed: %s", request.method, request.url.path,
                      mask_text("".join(traceback.format_exception(exc))))
            problem = error("internal")
            return _error_response(500, problem.code, problem.message, problem.message_zh)

    @app.get("/v1/health", response_model=GatewayHealth, tags=["service"])
    def health(gw: TaxGateway = Depends(_gateway)) -> GatewayHealth:
        """Liveness: answers when the gateway and its database can be used."""
        return gw.health()

    @app.post("/v1/taxpayers/find", response_model=Taxpayer, tags=["taxpayers"])
    def find_taxpayer(body: TaxpayerQuery, gw: TaxGateway = Depends(_gateway)) -> Taxpayer:
        """The registered taxpayer with this ID number, masked."""
        return gw.find_taxpayer(body.id_number)

    @app.post("/v1/payment-records/search", response_model=list[PaymentRecord], tags=["certificates"])
    def payment_records(body: PaymentRecordQuery, gw: TaxGateway = Depends(_gateway)) -> list[PaymentRecord]:
        """Payments in the period, oldest first; 404 `no_records` when there are none."""
        return gw.payment_records(body.id_number, body.period_from, body.period_to, body.tax_types)

    @app.post("/v1/certificates", response_model=Certificate, tags=["certificates"])
    def issue_certificate(body: CertificateIssue, gw: TaxGateway = Depends(_gateway)) -> Certificate:
        """Issues a tax payment certificate (完税证明) over the chosen records; idempotent by request_id."""
        return gw.issue_certificate(body.request_id, body.id_number, body.record_ids)

    @app.post("/v1/certificates/verify", response_model=CertificateCheck, tags=["certificates"])
    def verify_certificate(body: CertificateVerify, gw: TaxGateway = Depends(_gateway)) -> CertificateCheck:
        """Whether a certificate number and verification code were issued together."""
        return gw.verify_certificate(body.number, body.verification_code)

    @app.post("/v1/invoice-requests/lookup", response_model=InvoiceRequest, tags=["invoices"])
    def lookup_invoice_request(body: InvoiceRequestRef, gw: TaxGateway = Depends(_gateway)) -> InvoiceRequest:
        """The seller's order behind an invoice-request QR code."""
        return gw.lookup_invoice_request(body)

    @app.post("/v1/invoices/from-request", response_model=Invoice, tags=["invoices"])
    def issue_invoice_from_request(body: InvoiceFromRequest, gw: TaxGateway = Depends(_gateway)) -> Invoice:
        """Issues the invoice of a seller's order to a buyer (扫码开票); idempotent by request_id."""
        return gw.issue_invoice_from_request(body.request_id, body.ref, body.buyer, body.kind)

    @app.post("/v1/self-invoices/quote", response_model=SelfInvoiceQuote, tags=["self-invoicing"])
    def quote_self_invoice(body: SelfInvoiceQuoteRequest, gw: TaxGateway = Depends(_gateway)) -> SelfInvoiceQuote:
        """The taxes on a self-issued invoice (自助代开), line by line."""
        return gw.quote_self_invoice(body.seller_id_number, body.buyer, body.category, body.amount_fen, body.item_name,
                                     body.prefill_id)

    @app.post("/v1/self-invoices", response_model=Invoice, tags=["self-invoicing"])
    def issue_self_invoice(body: SelfInvoiceIssue, gw: TaxGateway = Depends(_gateway)) -> Invoice:
        """Issues the invoice of a paid quote; idempotent by request_id."""
        return gw.issue_self_invoice(body.request_id, body.quote_id, body.payment)

    @app.post("/v1/invoices/check", response_model=InvoiceCheckResult, tags=["invoices"])
    def check_invoice(body: InvoiceQrFields, gw: TaxGateway = Depends(_gateway)) -> InvoiceCheckResult:
        """Whether an invoice was issued as its QR code says (发票查验)."""
        return gw.check_invoice(body)

    return app
