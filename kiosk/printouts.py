"""What the kiosk prints, as `drivers.printer.layout` blocks (pure): the tax payment
certificate (税收完税证明) with its number, verification code and verification QR; an invoice
with its number and QR; the queue ticket (the dispenser's layout).

Chinese by default, English for a taxpayer who chose English. The certificate and a
self-issued invoice are the taxpayer's proof, so they carry the full name and ID number from
the visit's `Person` (`full_identity`, the `[kiosk] print_full_identity` key); the paper is
the only place they are written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from drivers.printer.layout import Block, Cut, Feed, Layout, Qr, Row, Rule, Text, TicketInfo, queue_ticket
from kiosk.gateway.models import Certificate, Invoice, InvoiceHeader
from kiosk.gateway.money import fen_to_yuan, format_rate
from kiosk.session import Person, Ticket
from taxhall.privacy import mask_id_number, mask_name

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def amount_in_words_zh(fen: int) -> str:
    """123450 → 壹仟贰佰叁拾肆元伍角整: the capital-figure amount (大写) of Chinese forms."""
    if fen < 0:
        raise ValueError("a negative amount has no 大写 form here")
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    words = _integer_words(yuan) + "元" if yuan else ""
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan and fen_digit:
        words += "零"
    if fen_digit:
        words += _DIGITS[fen_digit] + "分"
    if not words:
        return "零元整"
    return words if fen_digit else words + "整"


def _integer_words(number: int) -> str:
    groups: list[int] = []
    while number:
        number, group = divmod(number, 10_000)
        groups.append(group)
    text = ""
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(text)
            continue
        if text and (need_zero or group < 1000):
            text += "零"
        text += _group_words(group) + _SECTIONS[index]
        need_zero = False
    return text


def _group_words(group: int) -> str:
    digits = [int(d) for d in f"{group:04d}"]
    text = ""
    zero = False
    started = False
    for position, digit in enumerate(digits):
        if digit == 0:
            zero = started
            continue
        if zero:
            text += "零"
            zero = False
        text += _DIGITS[digit] + _UNITS[3 - position]
        started = True
    return text


def money(fen: int) -> str:
    return f"￥{fen_to_yuan(fen, grouping=True)}"


_CERT_WORDS = {
    "zh": {"title": "税收完税证明", "no": "证明编号", "code": "验证码", "taxpayer": "纳税人", "id": "证件号码",
           "tax_office": "主管税务机关", "period": "所属期", "paid": "入库日期", "ticket": "税票号码", "total": "金额合计",
           "words": "大写", "issued": "开具时间", "issuer": "开具机关", "verify": "扫码或凭编号、验证码验证真伪",
           "note": "本证明仅证明所列税款已缴纳入库"},
    "en": {"title": "Tax Payment Certificate", "no": "No.", "code": "Verification code", "taxpayer": "Taxpayer",
           "id": "ID number", "tax_office": "Tax office", "period": "period", "paid": "paid", "ticket": "receipt",
           "total": "Total", "words": "In words", "issued": "Issued", "issuer": "Issued by",
           "verify": "Scan, or use the number and code, to verify", "note": "Proves only that the taxes listed were paid"},
}


def _identity(person: Person | None, masked_name: str, masked_id: str, full: bool) -> tuple[str, str]:
    if person is None:
        return masked_name, masked_id
    if full:
        return person.name, person.id_number
    return mask_name(person.name), mask_id_number(person.id_number)


def certificate_slip(cert: Certificate, person: Person | None, hall_name: str, lang: str = "zh",
                     full_identity: bool = True) -> Layout:
    """The certificate: number, verification code, taxpayer, one entry per payment, total, QR."""
    w = _CERT_WORDS["en" if lang == "en" else "zh"]
    name, id_number = _identity(person, cert.taxpayer.masked_name, cert.taxpayer.masked_id_number, full_identity)
    blocks: list[Block] = [
        Text(hall_name, bold=True, align="center"),
        Text(w["title"], size=2, bold=True, align="center"),
        Text(f"{w['no']} {cert.number}", align="center"),
        Text(f"{w['code']} {cert.verification_code}", bold=True, align="center"),
        Rule(),
        Row(w["taxpayer"], name),
        Row(w["id"], id_number),
        Row(w["tax_office"], cert.taxpayer.authority),
        Rule(),
    ]
    for record in cert.records:
        blocks.append(Row(record.tax_type.en if lang == "en" else record.tax_type.zh, money(record.amount_fen)))
        blocks.append(Text(f"  {w['period']} {record.period_start.isoformat()}~{record.period_end.isoformat()}"))
        blocks.append(Text(f"  {w['paid']} {record.paid_on.isoformat()}  {w['ticket']} {record.ticket_number}"))
    blocks += [
        Rule(),
        Row(w["total"], money(cert.total_fen), bold=True),
    ]
    if lang != "en":
        blocks.append(Text(f"{w['words']} 人民币{amount_in_words_zh(cert.total_fen)}"))
    blocks += [
        Text(f"{w['issued']} {_when(cert.issued_at)}"),
        Text(f"{w['issuer']} {cert.authority}"),
        Feed(),
        Qr(cert.qr_payload, module=5, level="M"),
        Text(w["verify"], align="center"),
        Text(w["note"], align="center"),
        Cut(),
    ]
    return Layout(tuple(blocks), name=f"certificate {cert.number}")


_INVOICE_WORDS = {
    "zh": {"no": "发票号码", "code": "发票代码", "date": "开票日期", "buyer": "购买方", "seller": "销售方",
           "tax_id": "纳税人识别号", "address": "地址电话", "bank": "开户行及账号", "amount": "金额", "rate": "税率",
           "tax": "税额", "sum_amount": "合计金额", "sum_tax": "合计税额", "total": "价税合计", "words": "大写",
           "exempt": "免税", "check": "校验码", "remarks": "备注", "issuer": "开票人", "verify": "扫码查验发票"},
    "en": {"no": "Invoice No.", "code": "Invoice code", "date": "Date", "buyer": "Buyer", "seller": "Seller",
           "tax_id": "Taxpayer id", "address": "Address, phone", "bank": "Bank, account", "amount": "amount",
           "rate": "rate", "tax": "tax", "sum_amount": "Amount", "sum_tax": "Tax", "total": "Total incl. tax",
           "words": "In words", "exempt": "exempt", "check": "Check code", "remarks": "Remarks", "issuer": "Issued by",
           "verify": "Scan to check this invoice"},
}


def _party_rows(label: str, name: str, tax_id: str, w: dict[str, str]) -> list[Block]:
    return [Row(label, name, bold=True), Row(w["tax_id"], tax_id or "—")]


def _buyer_rows(buyer: InvoiceHeader, w: dict[str, str]) -> list[Block]:
    rows = _party_rows(w["buyer"], buyer.name, buyer.taxpayer_id or "", w)
    if buyer.address_phone:
        rows.append(Text(f"{w['address']} {buyer.address_phone}"))
    if buyer.bank_account:
        rows.append(Text(f"{w['bank']} {buyer.bank_account}"))
    return rows


def invoice_slip(invoice: Invoice, lang: str = "zh", seller: Person | None = None, full_identity: bool = True,
                 buyer: InvoiceHeader | None = None) -> Layout:
    """An invoice: kind, number, parties, lines, totals and its QR. `seller` is the visit's
    person when they issued it for themselves (self-invoicing), `buyer` the header the
    taxpayer gave: both printed from memory, as the gateway answers a private person masked."""
    w = _INVOICE_WORDS["en" if lang == "en" else "zh"]
    seller_name, seller_id = invoice.seller.name, invoice.seller.taxpayer_id
    if seller is not None and invoice.seller.natural_person:
        seller_name, seller_id = _identity(seller, seller_name, seller_id, full_identity)
    blocks: list[Block] = [
        Text(invoice.kind.en if lang == "en" else invoice.kind.zh, size=2, bold=True, align="center"),
        Text(f"{w['no']} {invoice.number}", bold=True, align="center"),
    ]
    if invoice.code:
        blocks.append(Text(f"{w['code']} {invoice.code}", align="center"))
    blocks += [Text(f"{w['date']} {invoice.issued_on.isoformat()}", align="center"), Rule()]
    shown_buyer = buyer if buyer is not None and invoice.buyer.natural_person else invoice.buyer
    blocks += _buyer_rows(shown_buyer, w)
    blocks += _party_rows(w["seller"], seller_name, seller_id, w)
    blocks.append(Rule())
    for line in invoice.lines:
        rate = w["exempt"] if line.tax_exempt else format_rate(line.tax_rate)
        blocks.append(Text(line.name, bold=True))
        blocks.append(Row(f"  {w['amount']} {fen_to_yuan(line.amount_fen, grouping=True)}  {w['rate']} {rate}",
                          f"{w['tax']} {fen_to_yuan(line.tax_fen, grouping=True)}"))
    blocks += [
        Rule(),
        Row(w["sum_amount"], money(invoice.amount_fen)),
        Row(w["sum_tax"], money(invoice.tax_fen)),
        Row(w["total"], money(invoice.total_fen), bold=True),
    ]
    if lang != "en":
        blocks.append(Text(f"{w['words']} {amount_in_words_zh(invoice.total_fen)}"))
    if invoice.check_code:
        blocks.append(Text(f"{w['check']} {invoice.check_code}"))
    if invoice.remarks:
        blocks.append(Text(f"{w['remarks']} {invoice.remarks}"))
    blocks += [
        Text(f"{w['issuer']} {invoice.issuer}"),
        Feed(),
        Qr(invoice.qr_payload, module=5, level="M"),
        Text(w["verify"], align="center"),
        Cut(),
    ]
    return Layout(tuple(blocks), name=f"invoice {invoice.number}")


def ticket_slip(ticket: Ticket, token: str, hall: str, hall_name: str, hall_name_en: str, follow_url: str,
                lang: str, issued_at: datetime) -> Layout:
    """The queue ticket, in the dispenser's layout, with the follow-the-queue QR (and the
    预约 mark with the slot time when it is an appointment's check-in)."""
    url = follow_url.format(hall=hall, number=ticket.number, token=token or "-")
    info = TicketInfo(hall_name=hall_name, hall_name_en=hall_name_en, service_name=ticket.service_name,
                      service_name_en=ticket.service_name_en, number=ticket.number, ahead=ticket.ahead,
                      est_wait_s=ticket.est_wait_s, issued_at=issued_at, follow_url=url)
    layout = queue_ticket(info, "en" if lang == "en" else "zh")
    if not ticket.slot:
        return layout
    # an appointment's check-in: marked as the dispenser marks it, right under the service
    # name, where the counter staff look first
    mark = Text(f"预约 {ticket.slot}  优先叫号" if lang != "en" else f"Appointment {ticket.slot} — called first",
                bold=True, align="center")
    return replace(layout, blocks=layout.blocks[:3] + (mark,) + layout.blocks[3:])


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
