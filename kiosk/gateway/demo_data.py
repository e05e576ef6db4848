"""The demo back end's contents: test identities, businesses, orders and issued invoices.

Everything here is invented. ID numbers and credit codes are built to pass their check digits
(GB 11643, GB 32100) so the kiosk's validation accepts them, but belong to nobody. The full
names and ID numbers exist only in this source file — the tests and the demo type them in as
an ID card reader would deliver them; the gateway's database keeps them masked and hashed.

`payment_history` makes each taxpayer's payments over the 24 months before a given day, from a
fixed seed per taxpayer, so two databases created on the same day hold the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from kiosk.gateway.models import InvoiceHeader, InvoiceKind, TaxType

HAIDIAN = "国家税务总局北京市海淀区税务局"
CHAOYANG = "国家税务总局北京市朝阳区税务局"
XIANTAO = "国家税务总局仙桃市税务局"


@dataclass(frozen=True)
class DemoTaxpayer:
    ref: str
    name: str
    id_number: str
    kind: str  # "resident" or "foreigner"
    authority: str
    profile: str  # which payments `payment_history` makes: retiree, employee, expat, freelancer, none
    about: str


TAXPAYERS: tuple[DemoTaxpayer, ...] = (
    DemoTaxpayer("TP000001", "王秀英", "110108195203080042", "resident", HAIDIAN, "retiree",
                 "retired, lets a flat: quarterly property tax and income tax on rent, yearly vehicle tax"),
    DemoTaxpayer("TP000002", "李建国", "11010519681001013X", "resident", CHAOYANG, "employee",
                 "employee: monthly income tax withheld on wages, yearly vehicle tax, deed tax once"),
    DemoTaxpayer("TP000003", "陈静", "429004199506180225", "resident", XIANTAO, "none",
                 "newly registered: no payments (the 'no records' path)"),
    DemoTaxpayer("TP000004", "Anna Müller", "911276198504120074", "foreigner", CHAOYANG, "expat",
                 "foreign resident (2023 permanent-residence ID): monthly income tax"),
    DemoTaxpayer("TP000005", "张伟", "110108198805200519", "resident", HAIDIAN, "freelancer",
                 "freelance designer who self-invoices: VAT, surtaxes and income tax now and then"),
)

# A valid ID number nobody registered: the example of GB 11643 itself.
UNREGISTERED_ID_NUMBER = "11010519491231002X"


@dataclass(frozen=True)
class DemoBusiness:
    header: InvoiceHeader
    general_taxpayer: bool  # general VAT taxpayer (一般纳税人) or small-scale


BUSINESSES: tuple[DemoBusiness, ...] = (
    DemoBusiness(InvoiceHeader(name="北京中关村示范科技有限公司", taxpayer_id="91110108MA0BCDEF2N",
                               address_phone="北京市海淀区中关村大街1号 010-62000001",
                               bank_account="中国工商银行北京海淀支行 0200000000000000001"), True),
    DemoBusiness(InvoiceHeader(name="北京海淀示范图文印刷店", taxpayer_id="92110108L12345678J",
                               address_phone="北京市海淀区学院路2号 010-62000002",
                               bank_account="中国建设银行北京学院路支行 11000000000000000002"), False),
    DemoBusiness(InvoiceHeader(name="仙桃示范商贸有限公司", taxpayer_id="91429004MA49XWY01B",
                               address_phone="湖北省仙桃市仙桃大道西段3号 0728-8000003",
                               bank_account="中国农业银行仙桃支行 17000000000000000003"), True),
    DemoBusiness(InvoiceHeader(name="沈阳示范餐饮有限公司", taxpayer_id="91210100MA0QRTU129",
                               address_phone="辽宁省沈阳市和平区示范路4号 024-23000004",
                               bank_account="盛京银行和平支行 0100000000000000004"), True),
)

SELLER_TECH, SELLER_PRINT, BUYER_TRADE, SELLER_FOOD = (b.header.taxpayer_id or "" for b in BUSINESSES)


@dataclass(frozen=True)
class DemoOrder:
    """A seller's order waiting for its invoice; lines are (name, tax-inclusive fen, rate)."""

    seller: str
    order_ref: str
    created_on: date
    lines: tuple[tuple[str, int, Decimal], ...]

    @property
    def total_fen(self) -> int:
        return sum(line[1] for line in self.lines)


ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder(SELLER_TECH, "ORD-2026-0001", date(2026, 3, 2), (("*信息技术服务*软件维护服务", 1_060_000, Decimal("0.06")),)),
    DemoOrder(SELLER_TECH, "ORD-2026-0002", date(2026, 5, 18), (("*计算机配套产品*键盘", 22_600, Decimal("0.13")),
                                                                 ("*信息技术服务*安装调试", 10_600, Decimal("0.06")))),
    DemoOrder(SELLER_TECH, "ORD-2026-0003", date(2026, 9, 9), (("*信息技术服务*数据处理服务", 500_000, Decimal("0.06")),)),
    DemoOrder(SELLER_PRINT, "P-0042", date(2026, 10, 20), (("*印刷品*宣传册印刷", 101_000, Decimal("0.01")),)),
    DemoOrder(SELLER_FOOD, "M-777", date(2026, 11, 1), (("*餐饮服务*餐费", 31_800, Decimal("0.06")),)),
)


@dataclass(frozen=True)
class DemoInvoice:
    """An invoice issued before the demo began, for the invoice check."""

    kind: InvoiceKind
    code: str | None
    number: str
    issued_on: date
    seller: str
    buyer: str
    line_name: str
    total_fen: int
    rate: Decimal
    check_code: str | None


ISSUED_INVOICES: tuple[DemoInvoice, ...] = (
    DemoInvoice(InvoiceKind.VAT_GENERAL, "1100261320", "00012345", date(2026, 1, 15), SELLER_TECH, BUYER_TRADE,
                "*计算机配套产品*显示器", 113_000, Decimal("0.13"), "48114255542168294433"),
    DemoInvoice(InvoiceKind.E_VAT_GENERAL, "011002600411", "01234567", date(2025, 12, 8), SELLER_FOOD, BUYER_TRADE,
                "*餐饮服务*餐费", 53_000, Decimal("0.06"), "85342965681116380258"),
    DemoInvoice(InvoiceKind.DIGITAL_GENERAL, None, "26112000000000000101", date(2026, 6, 18), SELLER_PRINT, BUYER_TRADE,
                "*印刷品*名片印刷", 20_200, Decimal("0.01"), None),
    DemoInvoice(InvoiceKind.DIGITAL_SPECIAL, None, "26112000000000000102", date(2026, 8, 3), SELLER_TECH, BUYER_TRADE,
                "*信息技术服务*软件开发服务", 2_120_000, Decimal("0.06"), None),
)


@dataclass(frozen=True)
class DemoPayment:
    tax_type: TaxType
    period_start: date
    period_end: date
    amount_fen: int
    paid_on: date


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month(day: date) -> date:
    return _month_start(_month_start(day) - timedelta(days=1))


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def payment_history(taxpayer: DemoTaxpayer, today: date) -> list[DemoPayment]:
    """The taxpayer's payments that reached the treasury in the 24 months before `today`."""
    rng = random.Random(f"taxhall-demo-{taxpayer.ref}")  # own generator: same data every time
    earliest = today - timedelta(days=730)
    payments: list[DemoPayment] = []
    month = _previous_month(today)
    months: list[date] = []
    while month >= _month_start(earliest):
        months.append(month)
        month = _previous_month(month)
    months.reverse()
    for period in months:
        paid_on = _month_end(period) + timedelta(days=rng.randint(8, 15))
        if taxpayer.profile in ("employee", "expat"):
            amount = rng.randint(80_000, 260_000) if taxpayer.profile == "employee" else rng.randint(300_000, 900_000)
            payments.append(DemoPayment(TaxType.IIT, period, _month_end(period), amount, paid_on))
        if taxpayer.profile == "retiree" and period.month in (3, 6, 9, 12):
            quarter = period.replace(month=period.month - 2)
            payments.append(DemoPayment(TaxType.PROPERTY, quarter, _month_end(period), rng.randint(40_000, 60_000), paid_on))
            payments.append(DemoPayment(TaxType.IIT, quarter, _month_end(period), rng.randint(60_000, 90_000), paid_on))
        if taxpayer.profile in ("retiree", "employee") and period.month == 4:
            year = period.replace(month=1)
            payments.append(DemoPayment(TaxType.VEHICLE_VESSEL, year, year.replace(month=12, day=31), 48_000, paid_on))
        if taxpayer.profile == "freelancer" and rng.random() < 0.4:
            vat = rng.randint(5_000, 30_000)
            payments.append(DemoPayment(TaxType.VAT, period, _month_end(period), vat, paid_on))
            payments.append(DemoPayment(TaxType.UMCT, period, _month_end(period), vat * 7 // 200, paid_on))
            payments.append(DemoPayment(TaxType.IIT, period, _month_end(period), vat, paid_on))
    if taxpayer.profile == "employee" and len(months) > 14:
        deed_month = months[-14]
        payments.append(DemoPayment(TaxType.DEED, deed_month, deed_month, 1_350_000, deed_month + timedelta(days=20)))
    return sorted((p for p in payments if earliest <= p.paid_on < today), key=lambda p: (p.paid_on, p.tax_type.value))
