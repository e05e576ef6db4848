"""Printable layouts, pure: a small description of a ticket or receipt — lines of text with
size, bold and alignment, a big number, label/value rows, QR codes, rules and a cut — that
`escpos_render` turns into ESC/POS bytes and `preview` into a PNG.

The two layouts of the hall are here: the queue ticket (取号凭条) and the tax payment
receipt (完税证明凭条), Chinese first with an English version (`lang="en"`) for taxpayers who
read no Chinese. Sizes are multiples of the printer's 24-dot font, so one description fits
58 mm and 80 mm paper; the renderers shrink or wrap what does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Literal, Sequence

from taxhall.privacy import mask_id_number, mask_name

Align = Literal["left", "center", "right"]
Lang = Literal["zh", "en"]
QrLevel = Literal["L", "M", "Q", "H"]

MAX_SIZE = 8  # ESC/POS character magnification goes to 8×


@dataclass(frozen=True)
class Text:
    """One paragraph; wrapped by the renderer when longer than a line. `size` 1–8 is the
    magnification of the 24-dot font (native printing shrinks it if a line would not fit)."""

    text: str
    size: int = 1
    bold: bool = False
    align: Align = "left"

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"text size must be 1-{MAX_SIZE}, got {self.size}")


@dataclass(frozen=True)
class Row:
    """A label on the left and a value on the right of the same line (amounts, dates)."""

    label: str
    value: str
    bold: bool = False


@dataclass(frozen=True)
class Qr:
    """A QR code; `module` is the dot size of one QR module (1–16)."""

    payload: str
    module: int = 6
    level: QrLevel = "M"
    align: Align = "center"

    def __post_init__(self) -> None:
        if not 1 <= self.module <= 16:
            raise ValueError(f"QR module size must be 1-16 dots, got {self.module}")
        if not self.payload:
            raise ValueError("a QR code needs a payload")


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the paper."""


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    """End of the slip: feed past the cutter and cut (tear-off printers just feed)."""


Block = Text | Row | Qr | Rule | Feed | Cut


@dataclass(frozen=True)
class Layout:
    blocks: tuple[Block, ...]
    name: str = ""

    def texts(self) -> list[str]:
        """Every piece of text in print order (rows as 'label value'): what tests compare."""
        found: list[str] = []
        for block in self.blocks:
            if isinstance(block, Text):
                found.append(block.text)
            elif isinstance(block, Row):
                found.append(f"{block.label} {block.value}")
        return found

    def qr_payloads(self) -> list[str]:
        return [b.payload for b in self.blocks if isinstance(b, Qr)]


# A Latin word with the spaces before it, a run of spaces, or any other single character
# (Chinese is broken between any two characters).
_TOKEN = re.compile(r"\s*[\x21-\x7e]+|\s+|.", re.S)


def wrap(text: str, measure: Callable[[str], float], width: float) -> list[str]:
    """Splits `text` into lines no wider than `width` (as `measure` counts), breaking Latin
    text at spaces and anything else between characters; a word longer than a line is
    broken too."""
    fits = lambda s: measure(s) <= width  # noqa: E731
    lines: list[str] = []
    current = ""
    for token in _TOKEN.findall(text):
        if fits(current + token):
            current += token
            continue
        if current.strip():
            lines.append(current.rstrip())
        current = token.lstrip()
        while len(current) > 1 and not fits(current):
            cut = 1
            while cut < len(current) and fits(current[: cut + 1]):
                cut += 1
            lines.append(current[:cut])
            current = current[cut:]
    if current.strip() or not lines:
        lines.append(current.rstrip())
    return lines


def wrap_balanced(text: str, measure: Callable[[str], float], width: int) -> list[str]:
    """Like `wrap`, with the lines as even as possible: a centred title broken in two reads
    better as two halves than as a full line and a stub."""
    lines = wrap(text, measure, width)
    if len(lines) < 2:
        return lines
    low, high = 1, width  # the narrowest width that needs no more lines than `width` does
    while low < high:
        middle = (low + high) // 2
        if len(wrap(text, measure, middle)) <= len(lines):
            high = middle
        else:
            low = middle + 1
    return wrap(text, measure, high)


def align_offset(align: Align, content: int, width: int) -> int:
    """Where something `content` dots wide starts on paper `width` dots wide."""
    if align == "center":
        return max(0, (width - content) // 2)
    if align == "right":
        return max(0, width - content)
    return 0


def big_number(text: str) -> Text:
    """The ticket number as the eye catches it first: as large and bold as the paper allows."""
    return Text(text, size=6, bold=True, align="center")


# ---------------------------------------------------------------- the queue ticket


@dataclass(frozen=True)
class TicketInfo:
    """What a queue ticket shows; from the ticketer's take_ticket answer and the hall config."""

    hall_name: str
    service_name: str
    number: str
    ahead: int
    est_wait_s: int | None
    issued_at: datetime
    follow_url: str  # the taxpayer's phone view of the queue (carries the ticket token)
    hall_name_en: str = ""
    service_name_en: str = ""


def _wait_minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def queue_ticket(info: TicketInfo, lang: Lang = "zh") -> Layout:
    """The queue ticket: hall, service, big number, people ahead, wait, time, QR, notes."""
    zh = lang == "zh"
    hall = info.hall_name if zh or not info.hall_name_en else info.hall_name_en
    service = info.service_name if zh or not info.service_name_en else info.service_name_en
    when = info.issued_at.strftime("%Y-%m-%d %H:%M")
    if zh:
        ahead = f"前面还有 {info.ahead} 人" if info.ahead else "前面无人等候"
        wait = f"预计等候约 {_wait_minutes(info.est_wait_s)} 分钟" if info.est_wait_s else ""
        lines = (f"取号时间 {when}", "手机扫码查看排队进度", "请留意叫号，过号请重新取号")
    else:
        ahead = f"{info.ahead} ahead of you" if info.ahead else "You are next"
        wait = f"Estimated wait: about {_wait_minutes(info.est_wait_s)} min" if info.est_wait_s else ""
        lines = (f"Taken at {when}", "Scan to follow the queue on your phone", "Please listen for your number")
    blocks: list[Block] = [
        Text(hall, bold=True, align="center"),
        Rule(),
        Text(service, size=2, align="center"),
        big_number(info.number),
        Text(ahead, size=2, bold=True, align="center"),
    ]
    if wait:
        blocks.append(Text(wait, align="center"))
    blocks += [
        Text(lines[0], align="center"),
        Rule(),
        Qr(info.follow_url, module=6, level="M"),
        Text(lines[1], align="center"),
        Text(lines[2], align="center"),
        Cut(),
    ]
    return Layout(tuple(blocks), name=f"ticket {info.number}")


# ---------------------------------------------------------------- the tax payment receipt


@dataclass(frozen=True)
class TaxItem:
    name: str  # 税种/品目, e.g. 个人所得税
    period: str  # 所属时期, e.g. 2025-01
    amount: Decimal


@dataclass(frozen=True)
class ReceiptInfo:
    """A tax payment certificate slip (完税证明凭条). The taxpayer's name and ID number are
    printed masked unless `full_identity` is set by a flow that really needs them."""

    hall_name: str
    certificate_no: str
    taxpayer_name: str
    id_number: str
    items: Sequence[TaxItem]
    issued_at: datetime
    verify_url: str
    full_identity: bool = False
    hall_name_en: str = ""
    extra: tuple[str, ...] = field(default=())


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01')):,}"


def tax_receipt(info: ReceiptInfo, lang: Lang = "zh") -> Layout:
    """The certificate slip: title, number, taxpayer (masked), items, total, verification QR."""
    zh = lang == "zh"
    name = info.taxpayer_name if info.full_identity else mask_name(info.taxpayer_name)
    id_number = info.id_number if info.full_identity else mask_id_number(info.id_number)
    total = sum((item.amount for item in info.items), Decimal(0))
    hall = info.hall_name if zh or not info.hall_name_en else info.hall_name_en
    t = _RECEIPT_WORDS["zh" if zh else "en"]
    blocks: list[Block] = [
        Text(hall, bold=True, align="center"),
        Text(t["title"], size=2, bold=True, align="center"),
        Text(f"{t['no']} {info.certificate_no}", align="center"),
        Rule(),
        Row(t["taxpayer"], name),
        Row(t["id"], id_number),
        Rule(),
    ]
    for item in info.items:
        blocks.append(Row(item.name, f"￥{_money(item.amount)}"))
        blocks.append(Text(f"  {t['period']} {item.period}"))
    blocks += [
        Rule(),
        Row(t["total"], f"￥{_money(total)}", bold=True),
        Text(f"{t['issued']} {info.issued_at.strftime('%Y-%m-%d %H:%M')}"),
        *(Text(line) for line in info.extra),
        Qr(info.verify_url, module=5, level="M"),
        Text(t["verify"], align="center"),
        Text(t["note"], align="center"),
        Cut(),
    ]
    return Layout(tuple(blocks), name=f"receipt {info.certificate_no}")


_RECEIPT_WORDS = {
    "zh": {"title": "税收完税证明", "no": "证明编号", "taxpayer": "纳税人", "id": "证件号码", "period": "所属时期",
           "total": "合计", "issued": "开具时间", "verify": "扫码验证真伪",
           "note": "本凭条为缴税凭据，请妥善保管"},
    "en": {"title": "Tax Payment Certificate", "no": "No.", "taxpayer": "Taxpayer", "id": "ID number",
           "period": "period", "total": "Total", "issued": "Issued", "verify": "Scan to verify this certificate",
           "note": "Keep this slip as proof of payment"},
}


def sample_ticket_info(now: datetime | None = None) -> TicketInfo:
    """The sample ticket `taxhall print test-ticket` prints and the bench measures."""
    return TicketInfo(
        hall_name="国家税务总局示范市税务局第一办税服务厅",
        hall_name_en="Tax Service Hall No. 1",
        service_name="综合业务",
        service_name_en="General Services",
        number="A042",
        ahead=12,
        est_wait_s=25 * 60,
        issued_at=now or datetime(2026, 11, 27, 9, 30),
        follow_url="https://q.taxhall.example.cn/t/hall1/A042?k=7f3a9c2e",
    )


def sample_receipt_info(now: datetime | None = None) -> ReceiptInfo:
    return ReceiptInfo(
        hall_name="国家税务总局示范市税务局第一办税服务厅",
        hall_name_en="Tax Service Hall No. 1",
        certificate_no="326011260000012345",
        taxpayer_name="张三丰",
        id_number="110101199003071234",
        items=(TaxItem("个人所得税", "2026-10", Decimal("1234.56")), TaxItem("印花税", "2026-10", Decimal("30"))),
        issued_at=now or datetime(2026, 11, 27, 9, 42),
        verify_url="https://etax.example.cn/verify?no=00012345&c=3b7e",
    )
