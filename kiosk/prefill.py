"""The rules of a pre-filled request (pure): what `/prepare` accepts before the hall signs a
code (taxhall/prefill.py), and what the kiosk makes of a verified code.

The web form checks the same rules as it is typed (web/templates/prepare.html, in JavaScript)
and again here on the server before signing: required fields, the buyer's credit code and its
check character (kiosk.gateway.ids, GB 32100), quantities and prices, and each line's amount
and tax — amount = quantity × unit price, tax = amount × rate, each rounded half up to the fen,
as invoicing software does. No free-text field may hold an ID number: a code carries no more
personal data than the request needs.

The kiosk side: a code's buyer as the gateway's `InvoiceHeader`, the item name the invoice line
carries, and the list of items (销货清单) printed with an invoice of several items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Mapping

from drivers.printer.layout import Block, Cut, Row, Rule, Text
from kiosk.gateway.ids import is_valid_id_number, normalize_uscc, uscc_problem
from kiosk.gateway.models import InvoiceHeader
from kiosk.gateway.money import fen_to_yuan, format_rate, percent_of, round_fen
from taxhall.prefill import CATEGORY_CODES, Header, Item, SelfInvoiceRequest

_ID_SHAPED = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")

MAX_ITEMS = 8  # the lines a paper invoice has room for; the code stays a QR a phone shows well
MAX_TOTAL_FEN = 50_000_000  # the local gateway's default self-invoicing limit (500,000 yuan)
MAX_QUANTITY = Decimal(1_000_000)
RATES_PERMILLE = (10, 30)  # the small-scale levy rates a person's self-invoice is taxed at: 1 %, 3 %
LIMITS = {"name": 100, "seller_name": 40, "address_phone": 120, "bank_account": 120, "item_name": 40, "unit": 8}
LIST_LINE_NAME = "详见销货清单"  # what the invoice line says when a list of items goes with it

Problem = tuple[str, str]  # (English, Chinese)


@dataclass(frozen=True)
class Checked:
    """The outcome of checking a form: the value to sign, or what is wrong with which field."""

    header: Header | None = None
    request: SelfInvoiceRequest | None = None
    errors: Mapping[str, Problem] | None = None


REQUIRED: Problem = ("required", "必填")


def holds_id_number(text: str) -> bool:
    """Whether free text holds a resident ID number (a valid one: bank accounts of 18 digits pass)."""
    return any(is_valid_id_number(found.upper()) for found in _ID_SHAPED.findall(text))


def _text(form: Mapping[str, str], field: str, limit_key: str, errors: dict[str, Problem], required: bool) -> str:
    value = " ".join(str(form.get(field, "")).split())
    if required and not value:
        errors[field] = REQUIRED
    elif len(value) > LIMITS[limit_key]:
        errors[field] = (f"at most {LIMITS[limit_key]} characters", f"最多{LIMITS[limit_key]}个字")
    elif holds_id_number(value):
        errors[field] = ("no ID numbers here: the code must not carry them", "请勿填写身份证号码")
    return value


def _header(form: Mapping[str, str], prefix: str, errors: dict[str, Problem]) -> Header:
    name = _text(form, f"{prefix}name", "name", errors, required=True)
    tax_id = normalize_uscc(str(form.get(f"{prefix}taxpayer_id", "")))
    if tax_id:
        trouble = uscc_problem(tax_id)
        if trouble:
            errors[f"{prefix}taxpayer_id"] = trouble
    return Header(name=name, taxpayer_id=tax_id,
                  address_phone=_text(form, f"{prefix}address_phone", "address_phone", errors, required=False),
                  bank_account=_text(form, f"{prefix}bank_account", "bank_account", errors, required=False))


def check_header(form: Mapping[str, str]) -> Checked:
    """A buyer's header from the form fields buyer_name, buyer_taxpayer_id, buyer_address_phone,
    buyer_bank_account (the same fields as the buyer of a request)."""
    errors: dict[str, Problem] = {}
    header = _header(form, "buyer_", errors)
    return Checked(errors=errors) if errors else Checked(header=header)


_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def _decimal(text: str) -> Decimal | None:
    """Plain digits with an optional point only (no signs, exponents or separators), as the
    page's script reads them."""
    value = text.strip()
    if not _PLAIN_NUMBER.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def line_amounts(quantity_milli: int, unit_price_fen: int, rate_permille: int) -> tuple[int, int]:
    """(amount excluding tax, tax) of a line, each rounded half up to the fen."""
    amount = round_fen(Decimal(quantity_milli) * unit_price_fen / 1000)
    return amount, percent_of(amount, Decimal(rate_permille) / 1000)


def _item(form: Mapping[str, str], index: int, errors: dict[str, Problem]) -> Item | None:
    key = f"item{index}_"
    name = _text(form, f"{key}name", "item_name", errors, required=True)
    unit = _text(form, f"{key}unit", "unit", errors, required=False)
    quantity = _decimal(str(form.get(f"{key}quantity", "")))
    if quantity is None or quantity <= 0 or quantity > MAX_QUANTITY:
        errors[f"{key}quantity"] = ("a quantity above 0", "请填写大于0的数量")
    elif quantity != quantity.quantize(Decimal("0.001")):
        errors[f"{key}quantity"] = ("at most 3 decimals", "最多3位小数")
    price = _decimal(str(form.get(f"{key}price", "")))
    if price is None or price <= 0:
        errors[f"{key}price"] = ("a unit price above 0 yuan", "请填写大于0的单价（元）")
    elif price != price.quantize(Decimal("0.01")):
        errors[f"{key}price"] = ("at most 2 decimals (fen)", "单价最多2位小数（分）")
    rate_text = str(form.get(f"{key}rate", ""))
    rate = int(rate_text) if rate_text.isdigit() else -1
    if rate not in RATES_PERMILLE:
        errors[f"{key}rate"] = ("choose 1 % or 3 %", "请选择征收率1%或3%")
    if any(field.startswith(key) for field in errors) or quantity is None or price is None:
        return None
    quantity_milli, price_fen = int(quantity * 1000), int(price * 100)
    amount, tax = line_amounts(quantity_milli, price_fen, rate)
    return Item(name, unit, quantity_milli, price_fen, rate, amount, tax)


def item_indexes(form: Mapping[str, str]) -> list[int]:
    """The item rows a form has (fields item<N>_name), in order; a row left wholly blank
    (no name, quantity or price) is not an item."""
    found = set()
    for field in form:
        if field.startswith("item") and field.endswith("_name") and field[4:-5].isdigit():
            key = field[:-4]
            if any(str(form.get(key + part, "")).strip() for part in ("name", "quantity", "price")):
                found.add(int(field[4:-5]))
    return sorted(found)


def check_request(form: Mapping[str, str]) -> Checked:
    """A self-invoicing request from the form: seller_name, category, buyer_* and item<N>_*."""
    errors: dict[str, Problem] = {}
    seller = _text(form, "seller_name", "seller_name", errors, required=True)
    category = str(form.get("category", ""))
    if category not in CATEGORY_CODES:
        errors["category"] = ("choose what you sold", "请选择销售类别")
    buyer = _header(form, "buyer_", errors)
    indexes = item_indexes(form)
    if not indexes:
        errors["items"] = ("at least one item", "请至少填写一项货物或服务")
    elif len(indexes) > MAX_ITEMS:
        errors["items"] = (f"at most {MAX_ITEMS} items", f"最多{MAX_ITEMS}项")
    items = [item for item in (_item(form, i, errors) for i in indexes[:MAX_ITEMS]) if item is not None]
    total = sum(item.total_fen for item in items)
    if not errors and total > MAX_TOTAL_FEN:
        errors["items"] = (f"the total may be at most {fen_to_yuan(MAX_TOTAL_FEN)} yuan",
                           f"价税合计不能超过{fen_to_yuan(MAX_TOTAL_FEN)}元")
    if errors:
        return Checked(errors=errors)
    return Checked(request=SelfInvoiceRequest(seller, category, buyer, tuple(items)))


# --- at the kiosk ----------------------------------------------------------------------------------


def invoice_header(header: Header) -> InvoiceHeader:
    """The gateway's header for a code's buyer (validated again by the model)."""
    return InvoiceHeader(name=header.name, taxpayer_id=header.taxpayer_id or None, address_phone=header.address_phone,
                         bank_account=header.bank_account)


def line_name(request: SelfInvoiceRequest) -> str:
    """The item name of the invoice's one line: the item itself, or "see the list"."""
    return request.items[0].name if len(request.items) == 1 else LIST_LINE_NAME


def same_person(name_on_code: str, name_on_card: str) -> bool:
    return "".join(name_on_code.split()) == "".join(name_on_card.split())


def quantity_text(item: Item) -> str:
    return format(item.quantity, "f")


_LIST_WORDS = {
    "zh": dict(title="销售货物或者提供应税劳务、服务清单", invoice="所属发票号码", qty="数量", price="单价", amount="金额",
               rate="征收率", tax="税额", total="价税合计", note="注：金额、税额以所附发票为准"),
    "en": dict(title="List of goods and services", invoice="Belongs to invoice", qty="qty", price="unit price",
               amount="amount", rate="rate", tax="tax", total="Total incl. tax",
               note="The attached invoice's amount and tax are binding"),
}


def items_list_blocks(request: SelfInvoiceRequest, invoice_number: str, lang: str) -> tuple[Block, ...]:
    """The list of items (销货清单) that goes with an invoice whose line says "see the list"."""
    w = _LIST_WORDS["en" if lang == "en" else "zh"]
    blocks: list[Block] = [Text(w["title"], bold=True, align="center"), Text(f"{w['invoice']} {invoice_number}",
                                                                             align="center"), Rule()]
    for number, item in enumerate(request.items, 1):
        unit = f" {item.unit}" if item.unit else ""
        blocks.append(Text(f"{number}. {item.name}", bold=True))
        blocks.append(Row(f"  {w['qty']} {quantity_text(item)}{unit} × {fen_to_yuan(item.unit_price_fen, grouping=True)}",
                          f"{w['amount']} {fen_to_yuan(item.amount_fen, grouping=True)}"))
        blocks.append(Row(f"  {w['rate']} {format_rate(item.rate)}", f"{w['tax']} {fen_to_yuan(item.tax_fen, grouping=True)}"))
    blocks += [Rule(), Row(w["total"], fen_to_yuan(request.total_fen, grouping=True), bold=True), Text(w["note"]), Cut()]
    return tuple(blocks)
