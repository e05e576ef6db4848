"""Check digits: resident ID numbers (GB 11643) and unified social credit codes (GB 32100)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.gateway import demo_data
from kiosk.gateway.ids import (
    USCC_ALPHABET,
    id_check_char,
    id_number_problem,
    is_valid_id_number,
    is_valid_uscc,
    uscc_check_char,
    uscc_problem,
)


def test_the_standards_own_example_and_every_demo_identity_pass() -> None:
    assert is_valid_id_number("11010519491231002X")
    assert is_valid_id_number("11010519491231002x")  # readers and people type a lower-case x
    for person in demo_data.TAXPAYERS:
        assert is_valid_id_number(person.id_number), person.ref


@pytest.mark.parametrize("value, words", [
    ("110105194912310021", "check digit"),
    ("11010519491231002", "18 characters"),
    ("11010519491331002X", "birth date"),
    ("1101051949123100AX", "17 digits"),
])
def test_bad_id_numbers_say_what_is_wrong_without_repeating_the_number(value: str, words: str) -> None:
    problem = id_number_problem(value)
    assert problem is not None and words in problem[0]
    assert value not in problem[0] and value not in problem[1]


def test_published_credit_codes_and_the_demo_businesses_pass() -> None:
    for code in ("914403001922038216", "91110000802100433B"):
        assert is_valid_uscc(code), code
    for business in demo_data.BUSINESSES:
        assert business.header.taxpayer_id and is_valid_uscc(business.header.taxpayer_id)


@pytest.mark.parametrize("value, words", [
    ("914403001922038217", "check character"),
    ("91440300192203821", "18 characters"),
    ("91440300192203821I", "except I, O, Z, S, V"),
    ("9144AB001922038216", "region code"),
])
def test_bad_credit_codes_say_what_is_wrong(value: str, words: str) -> None:
    problem = uscc_problem(value)
    assert problem is not None and words in problem[0]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=6, max_size=6), st.dates(date(1900, 1, 1), date(2099, 12, 31)), st.text(alphabet="0123456789", min_size=3, max_size=3),
       st.sampled_from("0123456789X"))
def test_exactly_one_check_character_fits_any_id_body(region: str, born: object, sequence: str, last: str) -> None:
    body = f"{region}{born:%Y%m%d}{sequence}"
    assert is_valid_id_number(body + last) == (last == id_check_char(body))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17), st.sampled_from(USCC_ALPHABET))
def test_exactly_one_check_character_fits_any_credit_code_body(body: str, last: str) -> None:
    body = body[:2] + "110108" + body[8:]
    assert is_valid_uscc(body + last) == (last == uscc_check_char(body))
