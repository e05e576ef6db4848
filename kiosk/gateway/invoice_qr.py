"""What the kiosk's scanner reads, turned into typed values (pure): invoice QR codes, buyers'
invoice headers and invoice requests.

1. **The QR printed on a Chinese VAT invoice** (发票左上角二维码): comma-separated fields,
   `01,<type>,<code>,<number>,<amount>,<YYYYMMDD>,<check code>,<extra>` with an optional
   trailing comma. Old kinds (01 专票, 04 普票, 08/10 electronic, 11 roll) have a 10- or
   12-digit invoice code and an 8-digit number; general ones a 20-digit check code (校验码).
   Fully digital invoices (数电票, types 31 and 32) leave the code and check code empty and
   have a 20-digit number. The amount is in yuan with up to two decimals (金额, excluding
   tax). The last field's algorithm is not public: it is kept, never interpreted.
2. **A buyer's invoice header** (发票抬头): our documented JSON form
   `{"type": "taxhall.invoice-header", "v": 1, "name", "taxpayer_id", "address_phone",
   "bank_account"}`, or the text forms phones and invoicing assistants show:
   `名称：…`, `税号：…`, `地址电话：…`, `开户行及账号：…` (and common variants of those keys),
   one per line or separated by `;`.
3. **An invoice request** (开票申请) printed by a seller:
   `{"type": "taxhall.invoice-request", "v": 1, "seller", "order", "amount"}`.

Anything else raises `ForeignQr` (a QR of another kind: says what it looks like and what was
expected) or `GarbledQr` (the right kind, but a field is wrong: names the field). Messages
never repeat the scanned text: it may be someone's identity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from kiosk.gateway.ids import is_valid_id_number, normalize_uscc, uscc_problem
from kiosk.gateway.models import InvoiceHeader, InvoiceKind, InvoiceQrFields, InvoiceRequestRef
from kiosk.gateway.money import fen_to_yuan, yuan_to_fen

HEADER_TYPE = "taxhall.invoice-header"
REQUEST_TYPE = "taxhall.invoice-request"

EXPECT_INVOICE = ("the QR code printed at the top left of a VAT invoice or fully digital invoice (it begins with 01,)",
                  "发票左上角的二维码（以“01,”开头）")
EXPECT_HEADER = ("a buyer's invoice header (名称, 税号, 地址电话, 开户行及账号)",
                 "购买方发票抬头二维码（名称、税号、地址电话、开户行及账号）")
EXPECT_REQUEST = ("a seller's invoice request QR", "销售方的开票申请二维码")


class QrError(ValueError):
    """A scanned code that is not what the flow expected; the message is for the screen."""

    code = "qr_error"

    def __init__(self, message: str, message_zh: str, expected: tuple[str, str], looks_like: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh
        self.expected_en, self.expected_zh = expected
        self.looks_like = looks_like


class ForeignQr(QrError):
    """A code of another kind altogether."""

    code = "foreign_qr"


class GarbledQr(QrError):
    """The expected kind of code, but a field in it is missing or wrong."""

    code = "garbled_qr"


def _foreign(expected: tuple[str, str], looks_like: str, looks_like_zh: str) -> ForeignQr:
    return ForeignQr(f"This is {looks_like}, not {expected[0]}.", f"这是{looks_like_zh}，不是{expected[1]}。",
                     expected, looks_like)


def _garbled(expected: tuple[str, str], what: str, what_zh: str) -> GarbledQr:
    return GarbledQr(f"This looks like {expected[0]}, but {what}. Please scan it again or type it in.",
                     f"这像是{expected[1]}，但{what_zh}。请重新扫描或手工输入。", expected)


# --- what a foreign code looks like ---------------------------------------------------------

_TAIWAN_EINVOICE = re.compile(r"^[A-Z]{2}\d{8}\d{7}[0-9A-Za-z]{4}")


def describe(text: str) -> tuple[str, str, str]:
    """(kind, English, Chinese) words for what a scanned text looks like."""
    value = text.strip()
    if not value:
        return "empty", "an empty code", "空白二维码"
    if value.startswith("01,"):
        return "invoice", "an invoice QR code", "发票二维码"
    if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I):
        return "link", "a web link", "网址链接"
    if value.startswith("{"):
        try:
            kind = json.loads(value).get("type")
        except (ValueError, AttributeError):
            kind = None
        if kind == HEADER_TYPE:
            return "header", "a buyer's invoice header", "发票抬头"
        if kind == REQUEST_TYPE:
            return "request", "an invoice request", "开票申请"
        return "json", "a data code of another application", "其他应用的数据码"
    if _TAIWAN_EINVOICE.match(value):
        return "taiwan_einvoice", "a Taiwan e-invoice code", "台湾电子发票二维码"
    if _looks_like_header_text(value):
        return "header", "a buyer's invoice header", "发票抬头"
    if is_valid_id_number(value):
        return "id_number", "an ID number", "身份证号码"
    if re.fullmatch(r"\d{8,14}", value):
        return "barcode", "a product barcode", "商品条码"
    return "other", "some other code", "其他二维码"


# --- 1. invoice QR -----------------------------------------------------------------------------


def parse_invoice_qr(text: str) -> InvoiceQrFields:
    """The fields of an invoice's QR code; ForeignQr / GarbledQr when it is not one."""
    value = text.strip()
    if not value.startswith("01,"):
        kind, en, zh = describe(value)
        raise _foreign(EXPECT_INVOICE, en, zh)
    fields = value.split(",")
    if fields and fields[-1] == "" and len(fields) in (8, 9):
        fields = fields[:-1]  # the trailing comma many invoices print
    if len(fields) not in (7, 8):
        raise _garbled(EXPECT_INVOICE, f"it has {len(fields)} fields instead of 7 or 8",
                       f"它有{len(fields)}个字段，应为7或8个")
    _, type_code, code, number, amount_text, date_text, check_code = fields[:7]
    extra = fields[7] if len(fields) == 8 and fields[7] else None
    kind = InvoiceKind.from_qr_type(type_code)
    if kind is None:
        raise _garbled(EXPECT_INVOICE, f"its invoice type {type_code!r} is not one we know (01, 04, 08, 10, 11, 31, 32)",
                       f"发票种类代码{type_code!r}无法识别")
    if kind.digital:
        if code:
            raise _garbled(EXPECT_INVOICE, "a fully digital invoice has no invoice code", "数电发票不应有发票代码")
        if not re.fullmatch(r"\d{20}", number):
            raise _garbled(EXPECT_INVOICE, "the invoice number of a fully digital invoice has 20 digits",
                           "数电发票号码应为20位数字")
    else:
        if not re.fullmatch(r"\d{10}|\d{12}", code):
            raise _garbled(EXPECT_INVOICE, "the invoice code should have 10 or 12 digits", "发票代码应为10或12位数字")
        if not re.fullmatch(r"\d{8}", number):
            raise _garbled(EXPECT_INVOICE, "the invoice number should have 8 digits", "发票号码应为8位数字")
    try:
        amount_fen = yuan_to_fen(amount_text)
    except ValueError:
        raise _garbled(EXPECT_INVOICE, "the amount is not a number of yuan", "金额不是有效数字") from None
    issued_on = _yyyymmdd(date_text)
    if issued_on is None:
        raise _garbled(EXPECT_INVOICE, "the date is not a real date (YYYYMMDD)", "开票日期无效（应为年月日8位数字）")
    if check_code and not re.fullmatch(r"\d{20}", check_code):
        raise _garbled(EXPECT_INVOICE, "the check code should have 20 digits", "校验码应为20位数字")
    if kind.has_check_code and not check_code:
        raise _garbled(EXPECT_INVOICE, "a general invoice's check code is missing", "缺少普通发票的校验码")
    if kind.digital and check_code:
        raise _garbled(EXPECT_INVOICE, "a fully digital invoice has no check code", "数电发票不应有校验码")
    return InvoiceQrFields(type_code=type_code, kind=kind, code=code or None, number=number, amount_fen=amount_fen,
                           issued_on=issued_on, check_code=check_code or None, extra=extra)


def _yyyymmdd(text: str) -> date | None:
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE; our own invoices end their QR with it (real ones use their own)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def format_invoice_qr(kind: InvoiceKind, code: str | None, number: str, amount_fen: int, issued_on: date,
                      check_code: str | None) -> str:
    """The QR text for an invoice, in the form `parse_invoice_qr` reads (trailing comma included)."""
    body = ",".join(["01", kind.qr_type, code or "", number, fen_to_yuan(amount_fen), issued_on.strftime("%Y%m%d"),
                     check_code or ""])
    return f"{body},{crc16_ccitt(body.encode('ascii')):04X},"


# --- 2. buyer's invoice header -----------------------------------------------------------------

# Keys seen on header QR codes and invoicing assistants, for each of our fields.
_HEADER_KEY_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("名称", "单位名称", "公司名称", "企业名称", "抬头", "发票抬头", "购买方名称", "购方名称", "name"),
    "taxpayer_id": ("税号", "纳税人识别号", "统一社会信用代码", "信用代码", "识别号", "单位税号", "taxpayer_id", "tax id"),
    "address_phone": ("地址电话", "地址、电话", "地址及电话", "地址和电话", "address_phone"),
    "address": ("地址", "单位地址", "公司地址", "注册地址", "address"),
    "phone": ("电话", "电话号码", "联系电话", "单位电话", "phone"),
    "bank_account": ("开户行及账号", "开户行及帐号", "开户银行及账号", "开户银行及帐号", "开户行及银行账号", "bank_account"),
    "bank": ("开户行", "开户银行", "银行", "bank"),
    "account": ("账号", "帐号", "银行账号", "银行帐号", "银行账户", "银行帐户", "account"),
}
_HEADER_KEYS = {name.lower(): field for field, names in _HEADER_KEY_NAMES.items() for name in names}

_KEY_VALUE = re.compile(r"^\s*([^:：]{1,12}?)\s*[:：]\s*(.*?)\s*$")


def _split_segments(text: str) -> list[str]:
    lines = [line for line in re.split(r"[\r\n]+", text) if line.strip()]
    if len(lines) <= 1:
        lines = [part for part in re.split(r"[;；|]", text) if part.strip()]
    return lines


def _header_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for segment in _split_segments(text):
        match = _KEY_VALUE.match(segment)
        if match:
            field = _HEADER_KEYS.get(match.group(1).strip().lower())
            if field and field not in pairs:
                pairs[field] = match.group(2)
    return pairs


def _looks_like_header_text(text: str) -> bool:
    pairs = _header_pairs(text)
    return "name" in pairs or "taxpayer_id" in pairs


def parse_header_qr(text: str) -> InvoiceHeader:
    """A buyer's invoice header from our JSON form or the usual `名称：…` text forms."""
    value = text.strip()
    if value.startswith("{"):
        data = _json_object(value, HEADER_TYPE, EXPECT_HEADER)
        fields = {k: data.get(k) for k in ("name", "taxpayer_id", "address_phone", "bank_account") if data.get(k) is not None}
    elif _looks_like_header_text(value):
        pairs = _header_pairs(value)
        fields = {"name": pairs.get("name", ""), "taxpayer_id": pairs.get("taxpayer_id")}
        fields["address_phone"] = pairs.get("address_phone") or " ".join(
            p for p in (pairs.get("address", ""), pairs.get("phone", "")) if p)
        fields["bank_account"] = pairs.get("bank_account") or " ".join(
            p for p in (pairs.get("bank", ""), pairs.get("account", "")) if p)
    else:
        _, en, zh = describe(value)
        raise _foreign(EXPECT_HEADER, en, zh)
    if not str(fields.get("name") or "").strip():
        raise _garbled(EXPECT_HEADER, "the buyer's name (名称) is missing", "缺少名称")
    tax_id = fields.get("taxpayer_id")
    if isinstance(tax_id, str) and tax_id.strip():
        problem = uscc_problem(normalize_uscc(tax_id))
        if problem:
            raise _garbled(EXPECT_HEADER, problem[0], problem[1])
    try:
        return InvoiceHeader.model_validate(fields)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise _garbled(EXPECT_HEADER, f"the field {where} is not valid", f"字段{where}无效") from None


# --- 3. invoice request ------------------------------------------------------------------------


def parse_request_qr(text: str) -> InvoiceRequestRef:
    """A seller's invoice request: seller credit code, order number and total."""
    value = text.strip()
    if not value.startswith("{"):
        _, en, zh = describe(value)
        raise _foreign(EXPECT_REQUEST, en, zh)
    data = _json_object(value, REQUEST_TYPE, EXPECT_REQUEST)
    seller, order, amount = data.get("seller"), data.get("order"), data.get("amount")
    if not isinstance(seller, str) or not isinstance(order, str) or not isinstance(amount, str):
        raise _garbled(EXPECT_REQUEST, "seller, order or amount is missing", "缺少销售方、订单号或金额")
    problem = uscc_problem(normalize_uscc(seller))
    if problem:
        raise _garbled(EXPECT_REQUEST, f"the seller's code is wrong: {problem[0]}", f"销售方{problem[1]}")
    try:
        total_fen = yuan_to_fen(amount)
    except ValueError:
        raise _garbled(EXPECT_REQUEST, "the amount is not a number of yuan", "金额不是有效数字") from None
    try:
        return InvoiceRequestRef(seller_taxpayer_id=seller, order_ref=order, total_fen=total_fen)
    except ValidationError:
        raise _garbled(EXPECT_REQUEST, "the order number is not valid", "订单号无效") from None


def format_request_qr(ref: InvoiceRequestRef) -> str:
    """The QR text a seller prints for an order (what `parse_request_qr` reads)."""
    return json.dumps({"type": REQUEST_TYPE, "v": 1, "seller": ref.seller_taxpayer_id, "order": ref.order_ref,
                       "amount": fen_to_yuan(ref.total_fen)}, ensure_ascii=False, separators=(",", ":"))


def format_header_qr(header: InvoiceHeader) -> str:
    """Our JSON header form (what `parse_header_qr` reads)."""
    data: dict[str, Any] = {"type": HEADER_TYPE, "v": 1, "name": header.name}
    if header.taxpayer_id:
        data["taxpayer_id"] = header.taxpayer_id
    if header.address_phone:
        data["address_phone"] = header.address_phone
    if header.bank_account:
        data["bank_account"] = header.bank_account
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _json_object(value: str, kind: str, expected: tuple[str, str]) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError:
        raise _garbled(expected, "its data is cut off or damaged", "数据不完整或已损坏") from None
    if not isinstance(data, dict):
        raise _garbled(expected, "its data is not a record", "数据格式不对")
    if data.get("type") != kind:
        _, en, zh = describe(value)
        raise _foreign(expected, en, zh)
    if data.get("v") != 1:
        raise _garbled(expected, f"its version {data.get('v')!r} is not one we read (1)", "版本无法识别")
    return data


# --- anything --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scanned:
    """What `classify_qr` found: exactly one of the three is set."""

    invoice: InvoiceQrFields | None = None
    header: InvoiceHeader | None = None
    request: InvoiceRequestRef | None = None


def classify_qr(text: str) -> Scanned:
    """For a tile that accepts several kinds: parses whichever this is, or raises ForeignQr."""
    kind, en, zh = describe(text)
    if kind == "invoice":
        return Scanned(invoice=parse_invoice_qr(text))
    if kind == "header":
        return Scanned(header=parse_header_qr(text))
    if kind == "request":
        return Scanned(request=parse_request_qr(text))
    expected = ("an invoice, an invoice header or an invoice request", "发票、发票抬头或开票申请二维码")
    raise _foreign(expected, en, zh)
