"""The pre-filled request code (taxhall/prefill.py) and the rules of a request (kiosk/prefill.py):
round trips of both kinds, every refusal with its reason (altered, expired, another hall, an
unknown version, damaged, not ours), the QR size of a typical request, keys in config and on
disk, the form's rules, and no personal data in reprs."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from kiosk.config import KioskSection
from kiosk.prefill import check_header, check_request, holds_id_number, line_amounts
from taxhall.prefill import (
    MAGIC, Header, Item, PrefillRefused, SelfInvoiceRequest, b45decode, b45encode, encode, keyring, public_key_text,
    verify,
)
from taxhall.prefill_keys import SigningKeyError, load_or_create_signing_key
from ticketer.counter_app import CounterSection

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
CODE_ID = bytes.fromhex("0123456789ab")
BUYER = Header("仙桃示范商贸有限公司", "91429004MA49XWY01B", "仙桃市示范路1号 0728-3300000", "中国工商银行仙桃支行 1812020109000012345")
ITEMS = (
    Item("网站设计", "项", 1000, 300_000, 10, 300_000, 3_000),
    Item("商品摄影", "小时", 2500, 12_000, 10, 30_000, 300),
    Item("宣传册排版", "页", 12_000, 8_000, 10, 96_000, 960),
)
REQUEST = SelfInvoiceRequest("张伟", "services", BUYER, ITEMS)


@pytest.fixture(scope="module")
def hall_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def keys_of(*keys: Ed25519PrivateKey) -> dict[bytes, object]:
    return keyring([public_key_text(key.public_key()) for key in keys])  # type: ignore[return-value]


def refusal(text: str, keys: dict[bytes, object], now: datetime = NOW) -> PrefillRefused:
    with pytest.raises(PrefillRefused) as caught:
        verify(text, keys, now)  # type: ignore[arg-type]
    return caught.value


def test_a_self_invoicing_request_and_a_header_round_trip(hall_key: Ed25519PrivateKey) -> None:
    expires = NOW + timedelta(hours=72)
    code = encode(hall_key, CODE_ID, expires, request=REQUEST)
    assert code.startswith("THQ1")
    found = verify(code, keys_of(hall_key), NOW)  # type: ignore[arg-type]
    assert found.request == REQUEST and found.header is None and found.expires_at == expires
    assert found.reference == "P-01234567" and found.request.total_fen == 430_260
    assert found.request.items[1].quantity == 2.5

    header = Header("李建国")  # a private person: a name and nothing else
    found = verify(encode(hall_key, CODE_ID, expires, header=header), keys_of(hall_key), NOW)  # type: ignore[arg-type]
    assert found.header == header and found.request is None


def test_a_typical_request_fits_a_qr_a_phone_shows_and_a_camera_reads(hall_key: Ed25519PrivateKey) -> None:
    code = encode(hall_key, CODE_ID, NOW + timedelta(hours=72), request=REQUEST)
    assert set(code) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")  # QR alphanumeric mode throughout
    qr = segno.make(code, error="m", boost_error=False)
    # three items, a company buyer with address and bank account: 12 (65×65 modules) at level M
    assert qr.mode == "alphanumeric" and qr.version <= 12, (len(code), qr.version)
    header = encode(hall_key, CODE_ID, NOW + timedelta(hours=72), header=BUYER)
    assert segno.make(header, error="m", boost_error=False).version <= 10  # with address and bank account


def test_every_changed_byte_is_refused_as_altered(hall_key: Ed25519PrivateKey) -> None:
    code = encode(hall_key, CODE_ID, NOW + timedelta(hours=1), request=REQUEST)
    data = b45decode(code[len(MAGIC):])
    keys = keys_of(hall_key)
    for position in range(4, len(data)):  # past the key id: body and signature alike
        changed = bytearray(data)
        changed[position] ^= 0x40
        found = refusal(MAGIC + b45encode(bytes(changed)), keys)  # type: ignore[arg-type]
        assert found.code == "tampered", position
    assert found.message_en == "This code has been altered since the hall signed it, so it cannot be used."
    assert found.message_zh == "该二维码签发后被改动过，不能使用。"


def test_an_expired_code_says_when_it_expired(hall_key: Ed25519PrivateKey) -> None:
    expires = NOW + timedelta(hours=72)
    code = encode(hall_key, CODE_ID, expires, header=BUYER)
    keys = keys_of(hall_key)
    assert verify(code, keys, expires - timedelta(minutes=1)).header == BUYER  # type: ignore[arg-type]
    found = refusal(code, keys, expires)  # type: ignore[arg-type]
    assert found.code == "expired"
    china = timezone(timedelta(hours=8))
    found = refusal(code, keys, (expires + timedelta(days=1)).astimezone(china))  # type: ignore[arg-type]
    assert "2026-12-01 17:30" in found.message_en and "过期" in found.message_zh  # in the reader's time zone


def test_a_code_of_another_hall_an_unknown_version_and_other_codes(hall_key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    code = encode(other, CODE_ID, NOW + timedelta(hours=1), header=BUYER)
    keys = keys_of(hall_key)
    assert refusal(code, keys).code == "other_hall"  # type: ignore[arg-type]
    assert "another tax hall" in refusal(code, keys).message_en  # type: ignore[arg-type]
    # a hall that rotated its key reads both while old codes are valid
    assert verify(code, keys_of(hall_key, other), NOW).header == BUYER  # type: ignore[arg-type]

    newer = "THQ2" + code[4:]
    found = refusal(newer, keys)  # type: ignore[arg-type]
    assert found.code == "unknown_version" and "THQ2" in found.message_en and "THQ1" in found.message_zh
    assert refusal('{"type":"taxhall.invoice-header"}', keys).code == "not_prefill"  # type: ignore[arg-type]
    assert refusal(code[:60], keys).code == "damaged"  # type: ignore[arg-type]
    assert refusal(code + "a", keys).code == "damaged"  # type: ignore[arg-type]
    assert refusal(code, {}).code == "no_keys"


def test_base45_is_rfc_9285() -> None:
    assert b45encode(b"AB") == "BB8" and b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45decode("QED8WEX0") == b"ietf!"
    for bad in ("GGW", "ZZ", "A"):  # out of range, out of range, a lone character
        with pytest.raises(ValueError):
            b45decode(bad)


def test_keys_in_config_are_checked_when_the_file_is_loaded(hall_key: Ed25519PrivateKey) -> None:
    good = public_key_text(hall_key.public_key())
    assert KioskSection.model_validate({"prefill_keys": [good]}).prefill_keys == [good]
    assert CounterSection.model_validate({"prefill_keys": [good]}).prefill_keys == [good]
    with pytest.raises(ValidationError, match="taxhall web shows it at /prepare/key"):
        KioskSection.model_validate({"prefill_keys": [good[len("ed25519:"):]]})
    with pytest.raises(ValidationError, match="has 32 bytes, this one 24"):
        CounterSection.model_validate({"prefill_keys": [good[:40]]})


def test_the_signing_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "web" / "prefill-ed25519.pem"
    made = load_or_create_signing_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_signing_key(path)
    assert public_key_text(again.public_key()) == public_key_text(made.public_key())
    path.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        load_or_create_signing_key(path)


def test_reprs_of_a_request_mask_private_persons() -> None:
    shown = repr(REQUEST) + repr(Header("李建国"))
    assert "张伟" not in shown and "李建国" not in shown and "张*" in shown and "李**" in shown
    assert "仙桃示范商贸有限公司" in repr(BUYER)  # a company's name is no secret


FORM = {"seller_name": "张伟", "category": "services", "buyer_name": "仙桃示范商贸有限公司",
        "buyer_taxpayer_id": "91429004ma49xwy01b", "item0_name": "网站设计", "item0_unit": "项", "item0_quantity": "1",
        "item0_price": "3000", "item0_rate": "10", "item1_name": "", "item1_quantity": "", "item1_price": "", "item1_rate": "10"}


def test_the_rules_of_a_request() -> None:
    checked = check_request(FORM)
    assert checked.errors is None and checked.request is not None
    assert checked.request.buyer.taxpayer_id == "91429004MA49XWY01B" and len(checked.request.items) == 1  # blank row dropped
    assert checked.request.items[0] == Item("网站设计", "项", 1000, 300_000, 10, 300_000, 3_000)

    errors = check_request({**FORM, "buyer_taxpayer_id": "91429004MA49XWY01C", "category": "lottery",
                            "item0_quantity": "0", "item1_name": "翻译", "item1_price": "1e3", "item1_rate": "60",
                            "seller_name": ""}).errors
    assert errors is not None and set(errors) == {"buyer_taxpayer_id", "category", "item0_quantity", "item1_quantity",
                                                  "item1_price", "item1_rate", "seller_name"}
    assert errors["buyer_taxpayer_id"][1] == "统一社会信用代码最后一位校验码不符"
    assert check_request({**FORM, "item0_name": "", "item0_quantity": "", "item0_price": ""}).errors == {
        "items": ("at least one item", "请至少填写一项货物或服务")}
    too_much = check_request({**FORM, "item0_quantity": "1000", "item0_price": "600"}).errors
    assert too_much is not None and "500000.00" in too_much["items"][0]
    header = check_header({"buyer_name": "李建国", "buyer_taxpayer_id": " "})
    assert header.header == Header("李建国") and header.errors is None


def test_amounts_round_half_up_to_the_fen() -> None:
    assert line_amounts(2500, 12_000, 10) == (30_000, 300)
    assert line_amounts(333, 100, 30) == (33, 1)  # 0.333 × 1.00 = 0.333 → 0.33; × 3 % = 0.99 fen → 1
    assert line_amounts(1000, 50, 10) == (50, 1)  # 0.5 fen of tax rounds up


def test_no_id_numbers_in_a_code() -> None:
    assert holds_id_number("张伟 110108198805200519") and holds_id_number("11010519681001013x")
    assert not holds_id_number("中国工商银行 1812020109000012345")  # a bank account is not an ID number
    errors = check_request({**FORM, "buyer_address_phone": "仙桃市 110108195203080042"}).errors
    assert errors == {"buyer_address_phone": ("no ID numbers here: the code must not carry them", "请勿填写身份证号码")}


def test_the_key_command_prints_the_line_devices_need(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from taxhall.prefill_keys import main

    path = tmp_path / "prefill-ed25519.pem"
    assert main([str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith('prefill_keys = ["ed25519:') and KioskSection.model_validate(
        {"prefill_keys": [line.split('"')[1]]}).prefill_keys
    assert main([str(path)]) == 0 and capsys.readouterr().out.strip() == line  # the same key the second time


def test_every_word_of_the_prepare_pages_has_both_languages() -> None:
    from web.prepare import WORDS

    assert set(WORDS["zh"]) == set(WORDS["en"])
    assert all(WORDS["zh"].values()) and all(WORDS["en"].values())
