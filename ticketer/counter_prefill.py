"""A pre-filled request code read at a counter (免填单): the scanned text, verified with the
hall's public keys (taxhall/prefill.py), turned into the lines the counter screen shows, so
staff key nothing in and the taxpayer only confirms. A refused code shows why, in the
counter's language.

The counter keeps nothing of it: the card is on screen while its taxpayer is served and goes
when the next ticket is called, the ticket finished, or staff log out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Iterable

from taxhall.prefill import Header, Item, PrefillRefused, Prefilled, keyring, verify

_CATEGORIES = {"goods": ("销售货物", "sale of goods"), "services": ("现代服务、生活服务", "services"),
               "labour": ("劳务报酬", "labour remuneration")}


@dataclass(frozen=True)
class PrefillCard:
    """What the counter screen shows of one scanned code."""

    ok: bool
    title: str
    lines: tuple[str, ...] = ()
    reference: str = ""


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def _rate(item: Item) -> str:
    return f"{format((item.rate * 100).normalize(), 'f')}%"


def _quantity(item: Item) -> str:
    return format(item.quantity, "f") if item.quantity != Decimal(0) else "0"


def _header_lines(header: Header, zh: bool) -> list[str]:
    lines = [f"{'购买方' if zh else 'Buyer'}: {header.name}"]
    if header.taxpayer_id:
        lines.append(f"{'纳税人识别号' if zh else 'Taxpayer id'}: {header.taxpayer_id}")
    if header.address_phone:
        lines.append(f"{'地址电话' if zh else 'Address, phone'}: {header.address_phone}")
    if header.bank_account:
        lines.append(f"{'开户行及账号' if zh else 'Bank, account'}: {header.bank_account}")
    return lines


def card_for(code: Prefilled, lang: str) -> PrefillCard:
    zh = lang == "zh"
    expires = code.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")  # the counter's local time
    if code.header is not None:
        lines = _header_lines(code.header, zh)
        title = f"{'发票抬头' if zh else 'Invoice header'} {code.reference}"
    else:
        request = code.request
        assert request is not None
        category = _CATEGORIES[request.category][0 if zh else 1]
        lines = [f"{'销售方' if zh else 'Seller'}: {request.seller_name}（{'请核验身份证' if zh else 'check the ID card'}）",
                 f"{'类别' if zh else 'Category'}: {category}", *_header_lines(request.buyer, zh)]
        for number, item in enumerate(request.items, 1):
            unit = f" {item.unit}" if item.unit else ""
            lines.append(f"{number}. {item.name}  {_quantity(item)}{unit} × {yuan(item.unit_price_fen)}  "
                         f"{'金额' if zh else 'amount'} {yuan(item.amount_fen)}  {_rate(item)}  {'税额' if zh else 'tax'} {yuan(item.tax_fen)}")
        lines.append(f"{'价税合计' if zh else 'Total incl. tax'}: {yuan(request.total_fen)}")
        title = f"{'自助代开发票申请' if zh else 'Self-invoicing request'} {code.reference}"
    lines.append(f"{'有效期至' if zh else 'Valid until'} {expires}")
    return PrefillCard(True, title, tuple(lines), code.reference)


def card_text(card: PrefillCard | None) -> str:
    """The card as the counter screen's text block; "" when there is none."""
    if card is None:
        return ""
    return "\n".join((card.title, *card.lines))


def read_code(text: str, keys: Iterable[str], now: datetime, lang: str) -> PrefillCard:
    """The card for a scanned text; a refused code's card says why."""
    zh = lang == "zh"
    try:
        code = verify(text, keyring(keys), now)
    except PrefillRefused as exc:
        return PrefillCard(False, "预填二维码不能使用" if zh else "This pre-filled code cannot be used",
                           (exc.message_zh if zh else exc.message_en,))
    return card_for(code, lang)
