"""Typed values at the gateway boundary (pydantic): what goes in and out of `TaxGateway`.

Money is `int` fen everywhere (strict: a float is refused, never rounded). Taxpayer identity
leaves the gateway masked only (`110***********1234`, `张*`): the kiosk already holds the
full name and number from the ID card for the length of a session, and prints them from
there. Request bodies that carry a full ID number mask it in their repr, so an exception
or a debug print cannot leak it.

Tax types, self-invoicing categories, hall locations and invoice kinds carry Chinese and
English names for screens and printouts.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from kiosk.gateway.ids import normalize_uscc, uscc_problem
from taxhall.privacy import mask_id_number, mask_name

Fen = Annotated[int, Strict(), Field(ge=0, description="an amount in fen (1 yuan = 100 fen)")]
SignedFen = Annotated[int, Strict(), Field(description="an amount in fen; negative for reductions")]


class TaxType(StrEnum):
    """Tax and fee types (税费种) a payment record can have."""

    VAT = "vat"
    IIT = "iit"
    CIT = "cit"
    UMCT = "umct"
    EDU_SURCHARGE = "edu_surcharge"
    LOCAL_EDU_SURCHARGE = "local_edu_surcharge"
    STAMP = "stamp"
    PROPERTY = "property"
    LAND_USE = "land_use"
    VEHICLE_VESSEL = "vehicle_vessel"
    DEED = "deed"

    @property
    def zh(self) -> str:
        return _TAX_TYPE_NAMES[self][0]

    @property
    def en(self) -> str:
        return _TAX_TYPE_NAMES[self][1]


_TAX_TYPE_NAMES: dict[TaxType, tuple[str, str]] = {
    TaxType.VAT: ("增值税", "Value-added tax"),
    TaxType.IIT: ("个人所得税", "Individual income tax"),
    TaxType.CIT: ("企业所得税", "Enterprise income tax"),
    TaxType.UMCT: ("城市维护建设税", "Urban maintenance and construction tax"),
    TaxType.EDU_SURCHARGE: ("教育费附加", "Education surcharge"),
    TaxType.LOCAL_EDU_SURCHARGE: ("地方教育附加", "Local education surcharge"),
    TaxType.STAMP: ("印花税", "Stamp duty"),
    TaxType.PROPERTY: ("房产税", "Property tax"),
    TaxType.LAND_USE: ("城镇土地使用税", "Urban land use tax"),
    TaxType.VEHICLE_VESSEL: ("车船税", "Vehicle and vessel tax"),
    TaxType.DEED: ("契税", "Deed tax"),
}


class SelfInvoiceCategory(StrEnum):
    """What a natural person sells when invoicing for themselves (自助代开)."""

    GOODS = "goods"
    SERVICES = "services"
    LABOUR = "labour"

    @property
    def zh(self) -> str:
        return _CATEGORY_NAMES[self][0]

    @property
    def en(self) -> str:
        return _CATEGORY_NAMES[self][1]

    @property
    def item_class(self) -> str:
        """The short class printed between asterisks on the invoice line (`*现代服务*…`)."""
        return _CATEGORY_NAMES[self][2]

    @property
    def default_item(self) -> str:
        return _CATEGORY_NAMES[self][3]


_CATEGORY_NAMES: dict[SelfInvoiceCategory, tuple[str, str, str, str]] = {
    SelfInvoiceCategory.GOODS: ("销售货物", "Sale of goods", "货物", "商品"),
    SelfInvoiceCategory.SERVICES: ("现代服务、生活服务", "Services (modern and everyday)", "现代服务", "服务费"),
    SelfInvoiceCategory.LABOUR: ("劳务报酬", "Labour remuneration (design, lectures, translation…)", "劳务", "劳务费"),
}


class LocationClass(StrEnum):
    """Where the seller is, for the urban maintenance and construction tax rate."""

    URBAN = "urban"
    COUNTY_TOWN = "county_town"
    OTHER = "other"

    @property
    def zh(self) -> str:
        return {"urban": "市区", "county_town": "县城、镇", "other": "其他地区"}[self.value]

    @property
    def en(self) -> str:
        return {"urban": "city district", "county_town": "county seat or town", "other": "elsewhere"}[self.value]


class InvoiceKind(StrEnum):
    """Invoice kinds, with the type code their QR carries in its second field."""

    VAT_SPECIAL = "vat_special"
    VAT_GENERAL = "vat_general"
    E_VAT_SPECIAL = "e_vat_special"
    E_VAT_GENERAL = "e_vat_general"
    VAT_ROLL = "vat_roll"
    DIGITAL_SPECIAL = "digital_special"
    DIGITAL_GENERAL = "digital_general"

    @property
    def qr_type(self) -> str:
        return _KIND_INFO[self][0]

    @property
    def zh(self) -> str:
        return _KIND_INFO[self][1]

    @property
    def en(self) -> str:
        return _KIND_INFO[self][2]

    @property
    def digital(self) -> bool:
        """Fully digital (数电) invoices have a 20-digit number and no invoice code."""
        return self in (InvoiceKind.DIGITAL_SPECIAL, InvoiceKind.DIGITAL_GENERAL)

    @property
    def special(self) -> bool:
        """Special VAT invoices (专票) let the buyer deduct input VAT; they need a buyer tax id."""
        return self in (InvoiceKind.VAT_SPECIAL, InvoiceKind.E_VAT_SPECIAL, InvoiceKind.DIGITAL_SPECIAL)

    @property
    def has_check_code(self) -> bool:
        """General invoices of the old kinds print a 20-digit check code (校验码)."""
        return self in (InvoiceKind.VAT_GENERAL, InvoiceKind.E_VAT_GENERAL, InvoiceKind.VAT_ROLL)

    @classmethod
    def from_qr_type(cls, code: str) -> InvoiceKind | None:
        return next((kind for kind, info in _KIND_INFO.items() if info[0] == code), None)


_KIND_INFO: dict[InvoiceKind, tuple[str, str, str]] = {
    InvoiceKind.VAT_SPECIAL: ("01", "增值税专用发票", "VAT special invoice (paper)"),
    InvoiceKind.VAT_GENERAL: ("04", "增值税普通发票", "VAT general invoice (paper)"),
    InvoiceKind.E_VAT_SPECIAL: ("08", "增值税电子专用发票", "electronic VAT special invoice"),
    InvoiceKind.E_VAT_GENERAL: ("10", "增值税电子普通发票", "electronic VAT general invoice"),
    InvoiceKind.VAT_ROLL: ("11", "增值税普通发票(卷票)", "VAT general invoice (roll)"),
    InvoiceKind.DIGITAL_SPECIAL: ("31", "电子发票(增值税专用发票)", "fully digital invoice (special VAT)"),
    InvoiceKind.DIGITAL_GENERAL: ("32", "电子发票(普通发票)", "fully digital invoice (general)"),
}


class GatewayModel(BaseModel):
    """Base of every boundary model: unknown fields are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityRequest(GatewayModel):
    """Base of request bodies holding a full ID number: their repr shows it masked."""

    masked_fields: ClassVar[tuple[str, ...]] = ("id_number", "seller_id_number")

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            if key in self.masked_fields and isinstance(value, str):
                yield key, mask_id_number(value)
            else:
                yield key, value


# --- taxpayers and payments -------------------------------------------------------------


class Taxpayer(GatewayModel):
    """A registered taxpayer, as the gateway shows one: masked, with an opaque reference."""

    ref: str = Field(description="the gateway's own reference, e.g. TP000001")
    masked_id_number: str = Field(description="e.g. 110***********1234")
    masked_name: str = Field(description="e.g. 张*")
    kind: Literal["resident", "foreigner"]
    authority: str = Field(description="主管税务机关, the tax office in charge")


class PaymentRecord(GatewayModel):
    """One tax payment (one line of a 完税证明)."""

    id: str
    tax_type: TaxType
    period_start: date = Field(description="税款所属期 from")
    period_end: date = Field(description="税款所属期 to")
    amount_fen: Fen
    paid_on: date = Field(description="入(退)库日期, the day the payment reached the treasury")
    ticket_number: str = Field(description="电子税票号码, the electronic tax receipt number")
    authority: str = Field(description="征收税务机关, the office that collected it")


class Certificate(GatewayModel):
    """A tax payment certificate (税收完税证明) as issued; identity masked."""

    number: str
    verification_code: str
    verify_url: str
    qr_payload: str = Field(description="what the certificate's QR code holds (the verify URL)")
    taxpayer: Taxpayer
    records: tuple[PaymentRecord, ...]
    total_fen: Fen
    issued_at: datetime
    authority: str


class CertificateCheck(GatewayModel):
    """Whether a certificate number and verification code belong together."""

    genuine: bool
    number: str
    issued_at: datetime | None = None
    masked_name: str | None = None
    total_fen: Fen | None = None


# --- invoices ----------------------------------------------------------------------------


class InvoiceHeader(GatewayModel):
    """A buyer's invoice header (发票抬头). No taxpayer id means a natural person."""

    name: str = Field(min_length=1, max_length=100, description="名称")
    taxpayer_id: str | None = Field(None, description="纳税人识别号 / 统一社会信用代码 (GB 32100, 18 characters)")
    address_phone: str = Field("", max_length=120, description="地址、电话")
    bank_account: str = Field("", max_length=120, description="开户行及账号")

    @field_validator("name", "address_phone", "bank_account")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value:
            raise ValueError("the buyer's name (名称) is empty")
        return value

    @field_validator("taxpayer_id", mode="before")
    @classmethod
    def _credit_code(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value  # pydantic then reports the wrong type
        code = normalize_uscc(value)
        problem = uscc_problem(code)
        if problem:
            raise ValueError(problem[0])
        return code

    @property
    def natural_person(self) -> bool:
        return self.taxpayer_id is None

    def __repr_args__(self) -> Any:
        # A natural person's name is identity: masked in reprs like an ID number.
        for key, value in super().__repr_args__():
            yield key, mask_name(value) if key == "name" and self.natural_person and isinstance(value, str) else value


class Party(GatewayModel):
    """A seller or buyer as printed on an invoice; a natural person's name and id masked."""

    name: str
    taxpayer_id: str
    natural_person: bool = False


class InvoiceLine(GatewayModel):
    """One line of goods or services (货物或应税劳务、服务名称)."""

    name: str
    amount_fen: Fen = Field(description="金额, excluding tax")
    tax_rate: Decimal = Field(description="税率/征收率, e.g. 0.13; 0 with tax_exempt for 免税")
    tax_exempt: bool = False
    tax_fen: Fen
    total_fen: Fen = Field(description="价税合计 of this line")


_ORDER_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class InvoiceRequestRef(GatewayModel):
    """What an invoice-request QR holds: which seller's order, and its total."""

    seller_taxpayer_id: str
    order_ref: str
    total_fen: Fen

    @field_validator("seller_taxpayer_id")
    @classmethod
    def _seller_code(cls, value: str) -> str:
        code = normalize_uscc(value)
        problem = uscc_problem(code)
        if problem:
            raise ValueError(problem[0])
        return code

    @field_validator("order_ref")
    @classmethod
    def _order(cls, value: str) -> str:
        if not _ORDER_REF.match(value):
            raise ValueError("an order number of 1-40 letters, digits, '-' or '_'")
        return value


class InvoiceRequest(GatewayModel):
    """A seller's order waiting for its invoice (开票申请), as the gateway knows it."""

    seller: Party
    order_ref: str
    lines: tuple[InvoiceLine, ...]
    amount_fen: Fen
    tax_fen: Fen
    total_fen: Fen
    created_on: date
    invoiced_number: str | None = Field(None, description="set once the order has its invoice")


class Invoice(GatewayModel):
    """An issued invoice, everything the kiosk prints."""

    kind: InvoiceKind
    number: str
    code: str | None = Field(None, description="发票代码; none on fully digital invoices")
    issued_on: date
    issued_at: datetime
    seller: Party
    buyer: InvoiceHeader
    lines: tuple[InvoiceLine, ...]
    amount_fen: Fen = Field(description="合计金额, excluding tax")
    tax_fen: Fen = Field(description="合计税额")
    total_fen: Fen = Field(description="价税合计")
    check_code: str | None = Field(None, description="校验码 (20 digits) on general invoices of the old kinds")
    qr_payload: str
    remarks: str = Field("", description="备注")
    issuer: str = Field(description="开票人 / issuing office")


class TaxLine(GatewayModel):
    """One line of a tax computation, shown to the taxpayer before they confirm."""

    code: str = Field(description="vat, umct, umct_relief, edu, edu_relief, local_edu, local_edu_relief, iit")
    name_zh: str
    name_en: str
    base_fen: SignedFen
    rate: Decimal
    amount_fen: SignedFen
    note_zh: str = ""
    note_en: str = ""
    rule: str = Field(description="the rule table and version used, e.g. vat_small_scale@2023-01-01")


class SelfInvoiceQuote(GatewayModel):
    """The taxes on a self-issued invoice, line by line, valid until `expires_at`."""

    quote_id: str
    seller: Party
    buyer: InvoiceHeader
    category: SelfInvoiceCategory
    item_name: str
    location: LocationClass
    total_fen: Fen = Field(description="价税合计: what the buyer pays")
    amount_fen: Fen = Field(description="the invoice's amount excluding VAT")
    vat_fen: Fen
    vat_exempt: bool
    lines: tuple[TaxLine, ...]
    tax_due_fen: Fen = Field(description="what the seller pays now: the sum of the lines")
    month_sales_before_fen: Fen = Field(description="this seller's self-invoiced sales earlier this month")
    exemption_threshold_fen: Fen | None = Field(description="monthly sales up to this are VAT-exempt; none if no relief applies")
    computed_on: date
    expires_at: datetime
    prefill_id: str | None = Field(None, description="the pre-filled code this sale came from; it gets one invoice only")


class PaymentProof(GatewayModel):
    """What the payment terminal reported for the tax due on a quote."""

    reference: str = Field(min_length=1, max_length=64)
    amount_fen: Fen


class InvoiceQrFields(GatewayModel):
    """The fields of the QR code printed on a Chinese VAT or fully digital invoice."""

    type_code: str = Field(description="second field: 01, 04, 08, 10, 11, 31, 32")
    kind: InvoiceKind
    code: str | None = Field(None, description="发票代码 (10 or 12 digits); none on fully digital invoices")
    number: str = Field(description="发票号码: 8 digits, or 20 on fully digital invoices")
    amount_fen: Fen = Field(description="the amount on the QR (金额, excluding tax)")
    issued_on: date
    check_code: str | None = Field(None, description="校验码, 20 digits, on general invoices of the old kinds")
    extra: str | None = Field(None, description="the trailing field some invoices carry (kept, not interpreted)")


class InvoiceSummary(GatewayModel):
    kind: InvoiceKind
    number: str
    code: str | None
    issued_on: date
    seller_name: str
    buyer_name: str
    amount_fen: Fen
    tax_fen: Fen
    total_fen: Fen


class InvoiceCheckResult(GatewayModel):
    """The answer of an invoice check (发票查验). Only a genuine invoice shows its summary."""

    status: Literal["genuine", "not_found", "mismatch"]
    genuine: bool
    message_en: str
    message_zh: str
    mismatched: tuple[str, ...] = ()
    invoice: InvoiceSummary | None = None


class GatewayHealth(GatewayModel):
    status: Literal["ok"] = "ok"
    service: str = "taxhall-gateway"
    version: str
    time: datetime


# --- request bodies of the HTTP API ------------------------------------------------------------

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN, description="client-made id; repeating it never issues twice")]
PrefillId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN,
                                 description="the id of the pre-filled code (THQ1) a request came from; one invoice per code")]


def request_id_problem(value: str) -> str | None:
    """None for a usable request id, else what is wrong (the local gateway checks as the API does)."""
    if re.fullmatch(REQUEST_ID_PATTERN, value):
        return None
    return "a request id is 1-64 letters, digits, '.', '_', ':' or '-'"


def prefill_id_problem(value: str) -> str | None:
    """None for a usable pre-filled code id, else what is wrong (the API checks the same pattern)."""
    if re.fullmatch(REQUEST_ID_PATTERN, value):
        return None
    return "a pre-filled code id is 1-64 letters, digits, '.', '_', ':' or '-'"


class TaxpayerQuery(IdentityRequest):
    id_number: str = Field(min_length=1, max_length=64)


class PaymentRecordQuery(IdentityRequest):
    id_number: str = Field(min_length=1, max_length=64)
    period_from: date
    period_to: date
    tax_types: tuple[TaxType, ...] | None = Field(None, description="none: every tax type")


class CertificateIssue(IdentityRequest):
    request_id: RequestId
    id_number: str = Field(min_length=1, max_length=64)
    record_ids: tuple[str, ...]


class CertificateVerify(GatewayModel):
    number: str = Field(min_length=1, max_length=40)
    verification_code: str = Field(min_length=1, max_length=40)


class InvoiceFromRequest(GatewayModel):
    request_id: RequestId
    ref: InvoiceRequestRef
    buyer: InvoiceHeader
    kind: InvoiceKind = InvoiceKind.DIGITAL_GENERAL


class SelfInvoiceQuoteRequest(IdentityRequest):
    seller_id_number: str = Field(min_length=1, max_length=64)
    buyer: InvoiceHeader
    category: SelfInvoiceCategory
    amount_fen: Fen = Field(description="价税合计, what the buyer pays")
    item_name: str | None = Field(None, max_length=40)
    prefill_id: PrefillId | None = None


class SelfInvoiceIssue(GatewayModel):
    request_id: RequestId
    quote_id: str = Field(min_length=1, max_length=64)
    payment: PaymentProof


class ErrorBody(GatewayModel):
    code: str
    message: str
    message_zh: str = ""


class ErrorResponse(GatewayModel):
    error: ErrorBody
