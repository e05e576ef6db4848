"""Tax rules (pure): line-by-line self-invoicing quotes in integer fen, the monthly exemption,
effective dates of the rule tables, rounding half up, money parsing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.gateway.models import LocationClass, SelfInvoiceCategory
from kiosk.gateway.money import fen_to_yuan, format_rate, split_inclusive, yuan_to_fen
from kiosk.gateway.rules import DEMO_RULES, RuleGap, RuleTable, RuleVersion, compute_self_invoice

SERVICES, GOODS, LABOUR = SelfInvoiceCategory.SERVICES, SelfInvoiceCategory.GOODS, SelfInvoiceCategory.LABOUR
URBAN = LocationClass.URBAN
DAY = date(2026, 11, 27)


def amounts(computation: object) -> dict[str, int]:
    return {line.code: line.amount_fen for line in computation.lines}  # type: ignore[attr-defined]


def test_under_the_monthly_threshold_vat_and_surtaxes_are_exempt_and_only_income_tax_is_due() -> None:
    quote = compute_self_invoice(DEMO_RULES, DAY, SERVICES, URBAN, total_fen=1_010_000, month_sales_before_fen=0)
    assert quote.vat_exempt and quote.vat_fen == 0
    assert quote.amount_fen == 1_010_000  # an exempt sale carries no VAT: 金额 = 价税合计
    assert amounts(quote) == {"vat": 0, "umct": 0, "umct_relief": 0, "edu": 0, "edu_relief": 0, "local_edu": 0,
                              "local_edu_relief": 0, "iit": 10_100}
    assert quote.tax_due_fen == 10_100
    vat_line = quote.lines[0]
    assert "免征" in vat_line.note_zh and "exempt" in vat_line.note_en
    assert vat_line.rule == "vat_monthly_exemption@2023-01-01"


def test_over_the_threshold_every_line_is_computed_and_the_total_is_their_sum() -> None:
    # 202,000.00 yuan incl. 1 % VAT: 200,000.00 + 2,000.00 VAT; urban surtaxes halved.
    quote = compute_self_invoice(DEMO_RULES, DAY, SERVICES, URBAN, total_fen=20_200_000, month_sales_before_fen=0)
    assert not quote.vat_exempt
    assert (quote.amount_fen, quote.vat_fen) == (20_000_000, 200_000)
    assert amounts(quote) == {"vat": 200_000, "umct": 14_000, "umct_relief": -7_000, "edu": 6_000, "edu_relief": -3_000,
                              "local_edu": 4_000, "local_edu_relief": -2_000, "iit": 200_000}
    assert quote.tax_due_fen == 412_000 == sum(amounts(quote).values())
    assert [line.rule for line in quote.lines][:2] == ["vat_small_scale@2023-01-01", "umct_urban@2019-01-01"]


def test_the_threshold_is_monthly_and_inclusive() -> None:
    # 100,000.00 yuan of sales in the month is still exempt; one fen more is not.
    at = compute_self_invoice(DEMO_RULES, DAY, GOODS, URBAN, total_fen=101_000, month_sales_before_fen=9_900_000)
    over = compute_self_invoice(DEMO_RULES, DAY, GOODS, URBAN, total_fen=101_001, month_sales_before_fen=9_900_000)
    assert at.vat_exempt and at.sales_fen == 100_000
    assert not over.vat_exempt and (over.amount_fen, over.vat_fen) == (100_001, 1_000)
    assert "超过" in over.lines[0].note_zh and "taxed at 1%" in over.lines[0].note_en


def test_surtax_rate_follows_the_halls_location() -> None:
    rates = {location: compute_self_invoice(DEMO_RULES, DAY, SERVICES, location, 20_200_000, 0).lines[1].rate
             for location in LocationClass}
    assert rates == {LocationClass.URBAN: Decimal("0.07"), LocationClass.COUNTY_TOWN: Decimal("0.05"),
                     LocationClass.OTHER: Decimal("0.01")}


def test_labour_remuneration_has_no_income_tax_here_because_the_payer_withholds_it() -> None:
    quote = compute_self_invoice(DEMO_RULES, DAY, LABOUR, URBAN, 1_010_000, 0)
    iit = quote.lines[-1]
    assert iit.code == "iit" and iit.amount_fen == 0 and "代扣代缴" in iit.note_zh
    assert quote.tax_due_fen == 0


def test_each_line_rounds_half_up_on_its_own() -> None:
    # VAT 3.50 yuan: 7 % is 24.5 fen → 25 (banker's rounding would say 24); the relief
    # is half of 25 = 12.5 → 13.
    quote = compute_self_invoice(DEMO_RULES, DAY, GOODS, URBAN, total_fen=35_350, month_sales_before_fen=10_000_000)
    assert quote.vat_fen == 350
    assert amounts(quote)["umct"] == 25 and amounts(quote)["umct_relief"] == -13
    assert amounts(quote)["edu"] == 11 and amounts(quote)["edu_relief"] == -6  # 10.5 → 11, 5.5 → 6
    assert amounts(quote)["local_edu"] == 7 and amounts(quote)["local_edu_relief"] == -4  # 7, 3.5 → 4
    assert amounts(quote)["iit"] == 175  # 0.5 % of 35,000 fen


def test_the_reduced_rate_ends_with_2027_and_the_statutory_rate_applies_from_2028() -> None:
    last = compute_self_invoice(DEMO_RULES, date(2027, 12, 31), SERVICES, URBAN, 20_200_000, 0)
    first = compute_self_invoice(DEMO_RULES, date(2028, 1, 1), SERVICES, URBAN, 20_200_000, 0)
    assert last.vat_rate == Decimal("0.01") and first.vat_rate == Decimal("0.03")
    assert (first.amount_fen, first.vat_fen) == (19_611_650, 588_350)
    # The reliefs end with 2027 too: no exemption threshold, no 六税两费 lines.
    assert last.threshold_fen == 10_000_000 and first.threshold_fen is None
    assert "umct_relief" in amounts(last) and "umct_relief" not in amounts(first)
    small = compute_self_invoice(DEMO_RULES, date(2028, 1, 1), SERVICES, URBAN, 1_030_000, 0)
    assert not small.vat_exempt and small.vat_fen == 30_000
    assert first.lines[0].rule == "vat_small_scale@2028-01-01"


def test_the_2023_change_moves_both_rate_and_threshold() -> None:
    # 120,000 yuan of sales in a month: exempt under the 150,000 threshold of 2022, taxed at
    # 1 % under the 100,000 threshold of 2023.
    before = compute_self_invoice(DEMO_RULES, date(2022, 12, 31), GOODS, URBAN, 12_360_000, 0)
    after = compute_self_invoice(DEMO_RULES, date(2023, 1, 1), GOODS, URBAN, 12_120_000, 0)
    assert before.vat_exempt and before.vat_rate == Decimal("0.03") and before.threshold_fen == 15_000_000
    assert not after.vat_exempt and after.vat_rate == Decimal("0.01") and after.vat_fen == 120_000


def test_a_day_no_rate_covers_is_refused_not_guessed() -> None:
    with pytest.raises(RuleGap) as caught:
        compute_self_invoice(DEMO_RULES, date(2018, 12, 31), SERVICES, URBAN, 10_000, 0)
    assert caught.value.table.key == "vat_small_scale"


def test_rule_tables_refuse_overlapping_versions() -> None:
    with pytest.raises(ValueError, match="overlap"):
        RuleTable("x", "x", "x", "rate", (
            RuleVersion(date(2020, 1, 1), date(2021, 1, 1), Decimal("0.01"), "a"),
            RuleVersion(date(2021, 1, 1), None, Decimal("0.02"), "b"),
        ))
    for table in DEMO_RULES.tables():  # and the shipped tables are consistent
        assert table.versions and all(v.source for v in table.versions)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**11), st.sampled_from(["0.01", "0.03", "0.06", "0.09", "0.13"]))
def test_splitting_a_tax_inclusive_amount_always_adds_up(total: int, rate: str) -> None:
    amount, tax = split_inclusive(total, Decimal(rate))
    assert amount + tax == total and 0 <= tax <= amount


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50_000_000), st.integers(0, 20_000_000), st.sampled_from(list(SelfInvoiceCategory)),
       st.sampled_from(list(LocationClass)))
def test_quotes_add_up_for_any_amount(total: int, before: int, category: SelfInvoiceCategory, location: LocationClass) -> None:
    quote = compute_self_invoice(DEMO_RULES, DAY, category, location, total, before)
    assert quote.amount_fen + quote.vat_fen == total
    assert quote.tax_due_fen == sum(line.amount_fen for line in quote.lines) >= 0
    assert all(isinstance(line.amount_fen, int) for line in quote.lines)


def test_money_is_parsed_exactly_and_refused_when_ambiguous() -> None:
    assert yuan_to_fen("64.9") == 6_490 and yuan_to_fen("165106.00") == 16_510_600 and yuan_to_fen("0.01") == 1
    for bad in ("12.345", "-1", "1,000.00", "", "abc", "NaN", "1e3x"):
        with pytest.raises(ValueError):
            yuan_to_fen(bad)
    assert fen_to_yuan(123_456_789, grouping=True) == "1,234,567.89" and fen_to_yuan(-5) == "-0.05"
    assert format_rate(Decimal("0.015")) == "1.5%" and format_rate(Decimal("0.13")) == "13%"
