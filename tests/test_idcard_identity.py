"""The card's identity block: field layout from a hand-built block, GB 11643 check digits,
and masking wherever an identity is shown."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from drivers.idcard.identity import (
    ETHNICITY, Identity, IdentityFormatError, InvalidIdNumber, UnsupportedCard, check_digit, encode_text,
    is_valid_id_number, mask_address, parse_text,
)


def block(name: str = "张三丰", sex: str = "1", nation: str = "01", birth: str = "19900307",
          address: str = "北京市东城区景山前街4号", id_number: str = "110101199003071233",
          authority: str = "北京市公安局东城分局", start: str = "20150601", end: str = "20350601",
          kind: str = " ") -> bytes:
    """A text block laid out by hand, field by field, as the card stores it."""
    reserved = " " * 14 + kind + " " * 3
    text = (name.ljust(15) + sex + nation + birth + address.ljust(35) + id_number + authority.ljust(15)
            + start + end.ljust(8) + reserved)
    assert len(text) == 128
    return text.encode("utf-16-le")


def test_check_digits_from_the_standard() -> None:
    # GB 11643-1999's worked examples.
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")
    assert not is_valid_id_number("11010519491231002x")  # lower case is not on a card
    assert not is_valid_id_number("1101051949123100")


def test_block_bytes_are_ucs2_little_endian() -> None:
    raw = block()
    assert len(raw) == 256
    assert raw[:2] == "张".encode("utf-16-le") == b"\x20\x5f"
    assert raw[30:32] == b"1\x00"  # sex, the 16th character


def test_parse_fields() -> None:
    identity = parse_text(block(), photo=b"\x01" * 1024)
    assert identity.name == "张三丰"
    assert identity.sex == "男" and identity.sex_code == "1"
    assert identity.ethnicity == "汉" and identity.ethnicity_code == "01"
    assert identity.birth_date == date(1990, 3, 7)
    assert identity.address == "北京市东城区景山前街4号"
    assert identity.id_number == "110101199003071233"
    assert identity.authority == "北京市公安局东城分局"
    assert identity.valid_from == date(2015, 6, 1) and identity.valid_until == date(2035, 6, 1)
    assert identity.card_type == "resident"
    assert len(identity.photo) == 1024


def test_permanent_validity_and_x_check_digit() -> None:
    identity = parse_text(block(birth="19491231", id_number="11010519491231002X", end="长期", sex="2"))
    assert identity.valid_until is None and identity.sex == "女"
    assert not identity.expired(date(2099, 1, 1))
    assert identity.as_dict(masked=False)["valid_until"] == "长期"


def test_ethnicity_table_is_complete() -> None:
    assert len([code for code in ETHNICITY if code <= "56"]) == 56
    assert ETHNICITY["05"] == "维吾尔" and ETHNICITY["56"] == "基诺" and ETHNICITY["98"] == "外国血统中国籍人士"
    assert parse_text(block(nation="05")).ethnicity == "维吾尔"


def test_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidIdNumber, match="check digit"):
        parse_text(block(id_number="110101199003071234"))


def test_id_number_must_carry_the_birth_date() -> None:
    with pytest.raises(InvalidIdNumber, match="birth date"):
        parse_text(block(birth="19900308"))


@pytest.mark.parametrize("kwargs, match", [
    ({"birth": "19901307"}, "birth date"),
    ({"start": "2015AB01"}, "validity start"),
    ({"sex": "5"}, "sex code"),
    ({"id_number": "11010119900307123 "}, "17 digits"),
])
def test_malformed_fields(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(IdentityFormatError, match=match):
        parse_text(block(**kwargs))


def test_errors_never_carry_the_id_number() -> None:
    with pytest.raises(IdentityFormatError) as caught:
        parse_text(block(id_number="110101199003071234"))
    assert "1101011990" not in str(caught.value)


def test_wrong_size_and_foreigner_card() -> None:
    with pytest.raises(IdentityFormatError, match="256 expected"):
        parse_text(block()[:200])
    with pytest.raises(UnsupportedCard):
        parse_text(block(kind="I"))
    assert parse_text(block(kind="J")).card_type == "gat_resident"


def test_repr_and_masked_forms_hide_the_person() -> None:
    identity = parse_text(block(), photo=b"\x02" * 1024)
    shown = repr(identity) + str(identity) + str(identity.masked()) + f"{identity}"
    for secret in ("张三丰", "三丰", "110101199003071233", "景山前街", "1990-03-07", "\x02"):
        assert secret not in shown
    masked = identity.masked()
    assert masked["name"] == "张**"
    assert masked["id_number"] == "110***********1233"
    assert masked["address"] == "北京市东城区******"
    assert masked["birth_date"] == "1990-**-**"
    assert masked["photo_bytes"] == 1024
    full = identity.as_dict(masked=False)
    assert full["name"] == "张三丰" and full["id_number"] == "110101199003071233"
    assert "photo" not in full  # the photo never leaves memory as data


def test_mask_address() -> None:
    assert mask_address("北京市东城区") == "北京市东城区"
    assert mask_address("  上海市黄浦区人民大道200号 ") == "上海市黄浦区" + "*" * 8


_cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    birth = draw(st.dates(date(1900, 1, 1), date(2024, 12, 31)))
    first17 = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True)) + birth.strftime("%Y%m%d") + draw(
        st.from_regex(r"[0-9]{3}", fullmatch=True))
    start = draw(st.dates(date(2004, 1, 1), date(2030, 1, 1)))
    return Identity(
        name=draw(st.text(_cjk, min_size=1, max_size=15)),
        sex_code=draw(st.sampled_from("0129")),
        ethnicity_code=draw(st.sampled_from(sorted(ETHNICITY))),
        birth_date=birth,
        address=draw(st.text(_cjk | st.sampled_from("0123456789号-"), min_size=1, max_size=35)),
        id_number=first17 + check_digit(first17),
        authority=draw(st.text(_cjk, min_size=1, max_size=15)),
        valid_from=start,
        valid_until=draw(st.none() | st.dates(date(2030, 1, 2), date(2060, 1, 1))),
        card_type=draw(st.sampled_from(["resident", "gat_resident"])),
    )


@settings(deadline=None)  # timing is not the point; a loaded CI machine must not fail it
@given(identities())
def test_encode_parse_round_trip(identity: Identity) -> None:
    raw = encode_text(identity)
    assert len(raw) == 256
    assert parse_text(raw) == identity


@settings(deadline=None)  # timing is not the point; a loaded CI machine must not fail it
@given(st.from_regex(r"[0-9]{17}", fullmatch=True), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_error_breaks_the_check_digit(first17: str, at: int, delta: int) -> None:
    number = first17 + check_digit(first17)
    wrong = number[:at] + str((int(number[at]) + delta) % 10) + number[at + 1:]
    assert not is_valid_id_number(wrong)
