"""Tax rules as versioned tables with effective dates, and the computations on them (pure).

DEMO DATA, NOT LEGAL OR TAX ADVICE. The numbers follow published national rules as we read
them (sources are named on every version and in docs/gateway.md) but simplify them: temporary
reliefs of 2020-2022 are left out, provincial choices are fixed at one value, and the income
tax rates for self-invoicing are made-up examples of the assessed rates provinces set. A
real back end keeps its own tables; these exist so the kiosk can be built and tested.

Two kinds of tables:
- rates (VAT levy rate, surtax rates, assessed income tax): a day outside every version is a
  gap, and a quote for that day is refused (`RuleGap`) rather than guessed;
- reliefs (monthly VAT exemption threshold, the 六税两费 50 % reduction): outside their dates
  no relief applies.

Amounts are integer fen; every line is rounded on its own, half up (`money.round_fen`), and
the total is the sum of the printed lines, so what the taxpayer sees adds up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

from kiosk.gateway.models import InvoiceLine, LocationClass, SelfInvoiceCategory, TaxLine
from kiosk.gateway.money import fen_to_yuan, format_rate, percent_of, split_inclusive


@dataclass(frozen=True)
class RuleVersion:
    """One value of a rule, valid from `valid_from` to `valid_to` (inclusive; None: open)."""

    valid_from: date
    valid_to: date | None
    value: Decimal
    source: str

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class RuleTable:
    """A rule's versions over time, without overlaps."""

    key: str
    name_zh: str
    name_en: str
    unit: str  # "rate" (a fraction) or "yuan"
    versions: tuple[RuleVersion, ...]
    relief: bool = False

    def __post_init__(self) -> None:
        previous: RuleVersion | None = None
        for version in self.versions:
            if version.valid_to is not None and version.valid_to < version.valid_from:
                raise ValueError(f"{self.key}: version from {version.valid_from} ends before it starts")
            if previous is not None:
                if previous.valid_to is None or previous.valid_to >= version.valid_from:
                    raise ValueError(f"{self.key}: versions from {previous.valid_from} and {version.valid_from} overlap")
            previous = version

    def at(self, day: date) -> RuleVersion | None:
        return next((v for v in self.versions if v.covers(day)), None)

    def require(self, day: date) -> RuleVersion:
        version = self.at(day)
        if version is None:
            raise RuleGap(self, day)
        return version

    def rule_id(self, version: RuleVersion) -> str:
        return f"{self.key}@{version.valid_from.isoformat()}"


class RuleGap(LookupError):
    """No version of a rate table covers the day: the rules need updating."""

    def __init__(self, table: RuleTable, day: date) -> None:
        super().__init__(f"{table.key} has no rate for {day.isoformat()}")
        self.table = table
        self.day = day


@dataclass(frozen=True)
class RuleBook:
    """Every table the gateway computes with."""

    vat_small_scale: RuleTable
    monthly_exemption: RuleTable
    umct: Mapping[LocationClass, RuleTable]
    edu_surcharge: RuleTable
    local_edu_surcharge: RuleTable
    small_taxpayer_relief: RuleTable
    iit_assessed: Mapping[SelfInvoiceCategory, RuleTable]

    def tables(self) -> list[RuleTable]:
        return [self.vat_small_scale, self.monthly_exemption, *self.umct.values(), self.edu_surcharge,
                self.local_edu_surcharge, self.small_taxpayer_relief, *self.iit_assessed.values()]


def _v(start: str, end: str | None, value: str, source: str) -> RuleVersion:
    return RuleVersion(date.fromisoformat(start), date.fromisoformat(end) if end else None, Decimal(value), source)


_UMCT_LAW = "城市维护建设税法 (in force 2021-09-01) art. 4; the same rates before it under the 1985 regulations"

DEMO_RULES = RuleBook(
    vat_small_scale=RuleTable(
        "vat_small_scale", "增值税小规模纳税人征收率", "VAT levy rate for small-scale taxpayers", "rate", (
            _v("2019-01-01", "2022-12-31", "0.03", "增值税暂行条例 art. 12 (3%); the 2020-2022 temporary reliefs are not modelled"),
            _v("2023-01-01", "2027-12-31", "0.01", "财政部 税务总局公告2023年第19号: 3% levy rate reduced to 1%"),
            _v("2028-01-01", None, "0.03", "增值税法 (in force 2026-01-01): levy rate 3% for the simplified method"),
        )),
    monthly_exemption=RuleTable(
        "vat_monthly_exemption", "小规模纳税人月销售额免征增值税额度", "monthly sales up to which small-scale VAT is exempt", "yuan", (
            _v("2019-01-01", "2021-03-31", "100000", "财税〔2019〕13号"),
            _v("2021-04-01", "2022-12-31", "150000", "财政部 税务总局公告2021年第11号"),
            _v("2023-01-01", "2027-12-31", "100000", "财政部 税务总局公告2023年第19号"),
        ), relief=True),
    umct=MappingProxyType({
        LocationClass.URBAN: RuleTable("umct_urban", "城市维护建设税(市区)", "urban maintenance and construction tax (city district)",
                                       "rate", (_v("2019-01-01", None, "0.07", _UMCT_LAW),)),
        LocationClass.COUNTY_TOWN: RuleTable("umct_county_town", "城市维护建设税(县城、镇)",
                                             "urban maintenance and construction tax (county seat or town)",
                                             "rate", (_v("2019-01-01", None, "0.05", _UMCT_LAW),)),
        LocationClass.OTHER: RuleTable("umct_other", "城市维护建设税(其他地区)", "urban maintenance and construction tax (elsewhere)",
                                       "rate", (_v("2019-01-01", None, "0.01", _UMCT_LAW),)),
    }),
    edu_surcharge=RuleTable(
        "edu_surcharge", "教育费附加", "education surcharge", "rate",
        (_v("2019-01-01", None, "0.03", "征收教育费附加的暂行规定 (国务院, as amended 2011)"),)),
    local_edu_surcharge=RuleTable(
        "local_edu_surcharge", "地方教育附加", "local education surcharge", "rate",
        (_v("2019-01-01", None, "0.02", "财综〔2010〕98号"),)),
    small_taxpayer_relief=RuleTable(
        "six_taxes_two_fees_relief", "“六税两费”减征比例", "reduction of surtaxes for small taxpayers (六税两费)", "rate", (
            _v("2019-01-01", "2021-12-31", "0.50", "财税〔2019〕13号 (up to 50%, set by each province; 50% assumed)"),
            _v("2022-01-01", "2027-12-31", "0.50", "财政部 税务总局公告2022年第10号, 2023年第12号"),
        ), relief=True),
    iit_assessed=MappingProxyType({
        SelfInvoiceCategory.GOODS: RuleTable(
            "iit_assessed_goods", "个人所得税核定征收率(销售货物)", "assessed income tax rate (sale of goods)", "rate",
            (_v("2019-01-01", None, "0.005", "demo value: provinces set assessed rates for self-invoicing"),)),
        SelfInvoiceCategory.SERVICES: RuleTable(
            "iit_assessed_services", "个人所得税核定征收率(服务)", "assessed income tax rate (services)", "rate",
            (_v("2019-01-01", None, "0.01", "demo value: provinces set assessed rates for self-invoicing"),)),
        SelfInvoiceCategory.LABOUR: RuleTable(
            "iit_assessed_labour", "个人所得税(劳务报酬)", "income tax (labour remuneration)", "rate",
            (_v("2019-01-01", None, "0", "个人所得税法: labour remuneration is withheld by the payer (扣缴义务人)"),)),
    }),
)


@dataclass(frozen=True)
class SelfInvoiceComputation:
    """The result of `compute_self_invoice`; the gateway wraps it in a SelfInvoiceQuote."""

    total_fen: int
    amount_fen: int
    vat_fen: int
    vat_rate: Decimal
    vat_exempt: bool
    sales_fen: int  # this sale, excluding VAT at the levy rate: what counts toward the threshold
    threshold_fen: int | None
    lines: tuple[TaxLine, ...]

    @property
    def tax_due_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def compute_self_invoice(rules: RuleBook, day: date, category: SelfInvoiceCategory, location: LocationClass,
                         total_fen: int, month_sales_before_fen: int) -> SelfInvoiceComputation:
    """The taxes a natural person pays to self-invoice `total_fen` (价税合计) on `day`.

    `month_sales_before_fen` is the seller's self-invoiced sales earlier in the same month: the
    exemption threshold is monthly. When this sale takes the month over the threshold, this
    invoice is taxed in full; earlier invoices of the month are settled at filing, not here.
    Raises RuleGap when a rate table has no version for `day`.
    """
    if total_fen <= 0:
        raise ValueError("the amount must be positive")
    vat_version = rules.vat_small_scale.require(day)
    rate = vat_version.value
    excluding, vat = split_inclusive(total_fen, rate)
    threshold_version = rules.monthly_exemption.at(day)
    threshold_fen = int(threshold_version.value * 100) if threshold_version else None
    month_sales = month_sales_before_fen + excluding
    exempt = threshold_fen is not None and month_sales <= threshold_fen
    lines: list[TaxLine] = []
    if exempt:
        assert threshold_version is not None and threshold_fen is not None
        amount, vat_due = total_fen, 0  # an exempt sale carries no VAT: 金额 = 价税合计
        note_zh = f"本月销售额{fen_to_yuan(month_sales)}元未超过{fen_to_yuan(threshold_fen)}元，免征增值税"
        note_en = f"month's sales {fen_to_yuan(month_sales)} yuan ≤ {fen_to_yuan(threshold_fen)} yuan: exempt"
        rule = rules.monthly_exemption.rule_id(threshold_version)
    else:
        amount, vat_due = excluding, vat
        if threshold_fen is not None:
            note_zh = f"本月销售额{fen_to_yuan(month_sales)}元超过{fen_to_yuan(threshold_fen)}元，按{format_rate(rate)}征收"
            note_en = f"month's sales {fen_to_yuan(month_sales)} yuan > {fen_to_yuan(threshold_fen)} yuan: taxed at {format_rate(rate)}"
        else:
            note_zh, note_en = f"按征收率{format_rate(rate)}征收", f"levy rate {format_rate(rate)}"
        rule = rules.vat_small_scale.rule_id(vat_version)
    lines.append(TaxLine(code="vat", name_zh="增值税", name_en="VAT", base_fen=excluding, rate=rate, amount_fen=vat_due,
                         note_zh=note_zh, note_en=note_en, rule=rule))

    relief = rules.small_taxpayer_relief.at(day)
    for code, table in (("umct", rules.umct[location]), ("edu", rules.edu_surcharge), ("local_edu", rules.local_edu_surcharge)):
        version = table.require(day)
        surtax = percent_of(vat_due, version.value)
        lines.append(TaxLine(code=code, name_zh=table.name_zh, name_en=table.name_en, base_fen=vat_due, rate=version.value,
                             amount_fen=surtax, note_zh="以实缴增值税为计税依据", note_en="on the VAT paid",
                             rule=table.rule_id(version)))
        if relief is not None:
            lines.append(TaxLine(code=f"{code}_relief", name_zh=f"{table.name_zh}减征", name_en=f"{table.name_en}: relief",
                                 base_fen=surtax, rate=relief.value, amount_fen=-percent_of(surtax, relief.value),
                                 note_zh="“六税两费”减半征收", note_en="50% relief for small taxpayers (六税两费)",
                                 rule=rules.small_taxpayer_relief.rule_id(relief)))

    iit_table = rules.iit_assessed[category]
    iit_version = iit_table.require(day)
    if category is SelfInvoiceCategory.LABOUR:
        iit_note_zh, iit_note_en = "劳务报酬由支付方代扣代缴，此处不征收", "withheld by the payer, not collected here"
    else:
        iit_note_zh = f"按核定征收率{format_rate(iit_version.value)}（演示数据）"
        iit_note_en = f"assessed rate {format_rate(iit_version.value)} (demo data)"
    lines.append(TaxLine(code="iit", name_zh="个人所得税", name_en="individual income tax", base_fen=amount,
                         rate=iit_version.value, amount_fen=percent_of(amount, iit_version.value),
                         note_zh=iit_note_zh, note_en=iit_note_en, rule=iit_table.rule_id(iit_version)))
    return SelfInvoiceComputation(total_fen=total_fen, amount_fen=amount, vat_fen=vat_due, vat_rate=rate, vat_exempt=exempt,
                                  sales_fen=excluding, threshold_fen=threshold_fen, lines=tuple(lines))


def line_from_inclusive(name: str, total_fen: int, rate: Decimal) -> InvoiceLine:
    """An invoice line from a tax-inclusive amount at `rate` (general taxpayers' orders)."""
    amount, tax = split_inclusive(total_fen, rate)
    return InvoiceLine(name=name, amount_fen=amount, tax_rate=rate, tax_fen=tax, total_fen=total_fen)

