"""The contract between the kiosk and the tax back end: `TaxGateway` and its errors.

Two implementations keep it: `local.LocalTaxGateway` (SQLite, demo data) and
`client.HttpTaxGateway` (the HTTP API of docs/gateway-openapi.yaml). The kiosk codes against
this Protocol only.

Every failure is a `GatewayError` with a stable `code` and a plain-language message in
English and Chinese, fit for a screen: `GatewayNotFound` (nothing matches), `GatewayRejected`
(the request cannot be done as asked), `GatewayUnavailable` (try again later). The codes are
listed once, in `ERRORS`, which the HTTP layer and docs/gateway.md follow.

Operations that issue something take a client-made `request_id`: repeating a request with the
same id returns the first answer and never issues a second certificate or invoice. A
pre-filled code (taxhall.prefill) gets one self-issued invoice: its id goes with the quote
and is recorded with the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, Sequence, runtime_checkable

from kiosk.gateway.models import (
    Certificate,
    CertificateCheck,
    GatewayHealth,
    Invoice,
    InvoiceCheckResult,
    InvoiceHeader,
    InvoiceKind,
    InvoiceQrFields,
    InvoiceRequest,
    InvoiceRequestRef,
    PaymentProof,
    PaymentRecord,
    SelfInvoiceCategory,
    SelfInvoiceQuote,
    TaxType,
    Taxpayer,
)


class GatewayError(Exception):
    """A gateway failure with a stable code and words for the taxpayer."""

    http_status = 500

    def __init__(self, code: str, message: str, message_zh: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.message_zh = message_zh or message


class GatewayNotFound(GatewayError):
    """Nothing matches: no such taxpayer, no records in the period, unknown order."""

    http_status = 404


class GatewayRejected(GatewayError):
    """The request cannot be done as asked; asking again the same way will not help."""

    http_status = 422


class GatewayUnavailable(GatewayError):
    """The back end cannot be reached or answered nothing usable; trying later may help."""

    http_status = 503


@dataclass(frozen=True)
class ErrorSpec:
    kind: type[GatewayError]
    status: int
    en: str
    zh: str


def _spec(kind: type[GatewayError], en: str, zh: str, status: int | None = None) -> ErrorSpec:
    return ErrorSpec(kind, status or kind.http_status, en, zh)


# Every code the gateway can answer with. Messages may hold {placeholders} filled by `error()`.
ERRORS: dict[str, ErrorSpec] = {
    "invalid_id_number": _spec(GatewayRejected, "The ID number is not valid: {reason}.",
                               "证件号码无效：{reason}。"),
    "taxpayer_not_found": _spec(GatewayNotFound, "No taxpayer with this ID number is registered. Please ask at a counter.",
                                "未找到该证件号码登记的纳税人，请到窗口咨询。"),
    "no_records": _spec(GatewayNotFound, "No tax payments were found from {start} to {end}. Try a longer period or other tax types.",
                        "{start}至{end}期间没有查到缴税记录，请选择更长的期间或其他税种。"),
    "bad_period": _spec(GatewayRejected, "The period is not valid: {reason}.", "查询期间无效：{reason}。"),
    "no_records_chosen": _spec(GatewayRejected, "Choose at least one payment record for the certificate.",
                               "请至少选择一条缴税记录。"),
    "records_not_found": _spec(GatewayNotFound, "{count} of the chosen payment records do not belong to this taxpayer.",
                               "所选缴税记录中有{count}条不属于该纳税人。"),
    "order_not_found": _spec(GatewayNotFound, "The seller has no order {order} waiting for an invoice.",
                             "销售方没有待开票的订单{order}。"),
    "order_mismatch": _spec(GatewayRejected, "The scanned request does not match the seller's order ({reason}).",
                            "扫描的开票申请与销售方订单不符（{reason}）。"),
    "already_invoiced": _spec(GatewayRejected, "This order already has an invoice, No. {number}.",
                              "该订单已开具发票，号码{number}。", 409),
    "buyer_tax_id_required": _spec(GatewayRejected, "A special VAT invoice needs the buyer's taxpayer id.",
                                   "开具增值税专用发票需要购买方纳税人识别号。"),
    "taxpayer_is_not_seller": _spec(GatewayRejected, "The seller of an invoice cannot also be its buyer.",
                                    "销售方与购买方不能相同。"),
    "amount_out_of_range": _spec(GatewayRejected, "The amount must be between {low} and {high} yuan.",
                                 "金额须在{low}元至{high}元之间。"),
    "rules_outdated": _spec(GatewayRejected, "The tax rules here do not cover {day}. Please ask at a counter.",
                            "本系统的税收规则未覆盖{day}，请到窗口办理。"),
    "quote_not_found": _spec(GatewayNotFound, "This tax computation is unknown. Please start again.",
                             "未找到该税款计算结果，请重新开始。"),
    "prefill_used": _spec(GatewayRejected, "This pre-filled request already has its invoice, No. {number}; a code gives one"
                          " invoice only. Check or reprint that invoice, or ask at a counter.",
                          "该预填申请已开具过发票，号码{number}；每个预填二维码只能开具一张发票。请查验或补打该发票，或到窗口咨询。", 409),
    "quote_expired": _spec(GatewayRejected, "This tax computation has expired. Please start again.",
                           "税款计算结果已过期，请重新开始。"),
    "quote_used": _spec(GatewayRejected, "An invoice was already issued for this computation, No. {number}.",
                        "该计算结果已开具发票，号码{number}。", 409),
    "payment_mismatch": _spec(GatewayRejected, "The payment ({paid} yuan) does not match the tax due ({due} yuan).",
                              "支付金额（{paid}元）与应缴税款（{due}元）不符。"),
    "request_id_reused": _spec(GatewayRejected, "This request id was already used for a different request.",
                               "该请求编号已用于另一笔业务。", 409),
    "invalid_request": _spec(GatewayRejected, "The request is not valid: {reason}.", "请求无效：{reason}。"),
    "unavailable": _spec(GatewayUnavailable, "The tax service cannot be reached right now ({reason}). Please try again later or ask at a counter.",
                         "暂时无法连接税务服务（{reason}），请稍后再试或到窗口办理。"),
    "internal": _spec(GatewayError, "The tax service had an internal problem. Please try again or ask at a counter.",
                      "税务服务出现内部错误，请重试或到窗口办理。"),
}


def error(code: str, **values: Any) -> GatewayError:
    """The GatewayError of `code` from ERRORS, with its placeholders filled in.

    A value may be an (English, Chinese) pair: each message then gets its own language.
    """
    spec = ERRORS[code]
    en = {k: v[0] if isinstance(v, tuple) else v for k, v in values.items()}
    zh = {k: v[1] if isinstance(v, tuple) else v for k, v in values.items()}
    return spec.kind(code, spec.en.format(**en), spec.zh.format(**zh))


def error_from_wire(status: int, code: str, message: str, message_zh: str = "") -> GatewayError:
    """Rebuilds an error received over HTTP: the class follows the code, else the status."""
    spec = ERRORS.get(code)
    if spec is not None:
        kind: type[GatewayError] = spec.kind
    elif status == 404:
        kind = GatewayNotFound
    elif status in (502, 503, 504):
        kind = GatewayUnavailable
    elif 400 <= status < 500:
        kind = GatewayRejected
    else:
        kind = GatewayError
    return kind(code, message, message_zh)


@runtime_checkable
class TaxGateway(Protocol):
    """What the kiosk asks the tax back end. Amounts are int fen; identity comes back masked."""

    def health(self) -> GatewayHealth:
        """Cheap liveness check; raises GatewayUnavailable when the back end is down."""
        ...

    def find_taxpayer(self, id_number: str) -> Taxpayer:
        """The registered taxpayer with this ID number (GB 11643), masked."""
        ...

    def payment_records(self, id_number: str, period_from: date, period_to: date,
                        tax_types: Sequence[TaxType] | None = None) -> list[PaymentRecord]:
        """Payments that reached the treasury in [period_from, period_to], oldest first.

        Raises GatewayNotFound("no_records") rather than answering an empty list.
        """
        ...

    def issue_certificate(self, request_id: str, id_number: str, record_ids: Sequence[str]) -> Certificate:
        """A tax payment certificate (完税证明) over the chosen records."""
        ...

    def verify_certificate(self, number: str, verification_code: str) -> CertificateCheck:
        """Whether a printed certificate is one this back end issued."""
        ...

    def lookup_invoice_request(self, ref: InvoiceRequestRef) -> InvoiceRequest:
        """The seller's order behind an invoice-request QR, to show before issuing."""
        ...

    def issue_invoice_from_request(self, request_id: str, ref: InvoiceRequestRef, buyer: InvoiceHeader,
                                   kind: InvoiceKind = InvoiceKind.DIGITAL_GENERAL) -> Invoice:
        """The invoice for a seller's order, to the buyer of the header (扫码开票)."""
        ...

    def quote_self_invoice(self, seller_id_number: str, buyer: InvoiceHeader, category: SelfInvoiceCategory,
                           amount_fen: int, item_name: str | None = None, prefill_id: str | None = None) -> SelfInvoiceQuote:
        """The taxes on a self-issued invoice (自助代开), line by line, before paying.

        `prefill_id` is the id of the pre-filled code the sale came from: a code that already
        has an invoice is refused here, before anything is paid (GatewayRejected("prefill_used")).
        """
        ...

    def issue_self_invoice(self, request_id: str, quote_id: str, payment: PaymentProof) -> Invoice:
        """The invoice of a quote whose tax has been paid; a quote's code id is recorded with it."""
        ...

    def check_invoice(self, fields: InvoiceQrFields) -> InvoiceCheckResult:
        """Whether the invoice a QR describes was issued as printed (发票查验)."""
        ...

    def close(self) -> None:
        """Releases connections; the object is not used afterwards."""
        ...
