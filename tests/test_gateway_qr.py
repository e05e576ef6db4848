"""What the kiosk scans (pure): invoice QR codes, buyers' invoice headers, invoice requests —
good ones, foreign ones (says what it is and what was expected), garbled ones (names the field)."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.gateway import demo_data
from kiosk.gateway.invoice_qr import (
    ForeignQr,
    GarbledQr,
    QrError,
    classify_qr,
    format_header_qr,
    format_invoice_qr,
    format_request_qr,
    parse_header_qr,
    parse_invoice_qr,
    parse_request_qr,
)
from kiosk.gateway.models import InvoiceHeader, InvoiceKind, InvoiceRequestRef

HUAWEI = "914403001922038216"


def test_old_style_general_invoice_with_trailing_comma() -> None:
    fields = parse_invoice_qr("01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,")
    assert fields.kind is InvoiceKind.VAT_GENERAL and fields.kind.zh == "增值税普通发票"
    assert (fields.code, fields.number, fields.amount_fen) == ("4200161350", "00015045", 16_510_600)
    assert fields.issued_on == date(2016, 5, 1) and fields.check_code == "48114255542168294433" and fields.extra == "DBFE"


def test_electronic_general_invoice_with_seven_fields_and_special_invoice_without_check_code() -> None:
    e_general = parse_invoice_qr("01,10,011001605111,80100798,64.9,20161018,85342965681116380258")
    assert e_general.kind is InvoiceKind.E_VAT_GENERAL and e_general.amount_fen == 6_490 and e_general.extra is None
    special = parse_invoice_qr("01,01,1200154130,03630024,94339.62,20160621,,9335,")
    assert special.kind is InvoiceKind.VAT_SPECIAL and special.check_code is None and special.amount_fen == 9_433_962


def test_fully_digital_invoice_round_trips_through_our_own_format() -> None:
    text = format_invoice_qr(InvoiceKind.DIGITAL_GENERAL, None, "26112000000000001001", 30_000, date(2026, 11, 28), None)
    assert text.startswith("01,32,,26112000000000001001,300.00,20261128,,") and text.endswith(",")
    fields = parse_invoice_qr(text)
    assert fields.kind.digital and fields.code is None and fields.check_code is None
    assert (fields.number, fields.amount_fen, fields.issued_on) == ("26112000000000001001", 30_000, date(2026, 11, 28))
    special = parse_invoice_qr("01,31,,26112000000000000102,20000.00,20260803,,1A2B,")
    assert special.kind is InvoiceKind.DIGITAL_SPECIAL and special.kind.zh == "电子发票(增值税专用发票)"


@pytest.mark.parametrize("text, looks_like", [
    ("https://u.wechat.com/abc", "a web link"),
    ("AB112233441151127ABCD00000010", "a Taiwan e-invoice code"),
    ('{"type":"taxhall.invoice-header","v":1,"name":"华为技术有限公司"}', "a buyer's invoice header"),
    ("6901234567892", "a product barcode"),
    ("", "an empty code"),
    ("hello", "some other code"),
])
def test_foreign_codes_say_what_they_are_and_what_was_expected(text: str, looks_like: str) -> None:
    with pytest.raises(ForeignQr) as caught:
        parse_invoice_qr(text)
    assert caught.value.message.startswith(f"This is {looks_like}, not")
    assert "01," in caught.value.message and "发票左上角的二维码" in caught.value.message_zh


def test_a_scanned_id_number_is_named_but_never_repeated() -> None:
    person = demo_data.TAXPAYERS[0]
    with pytest.raises(ForeignQr) as caught:
        parse_invoice_qr(person.id_number)
    assert "an ID number" in caught.value.message
    assert person.id_number not in caught.value.message + caught.value.message_zh


@pytest.mark.parametrize("text, field", [
    ("01,04,4200161350,00015045", "4 fields instead of 7 or 8"),
    ("01,99,4200161350,00015045,1.00,20160501,48114255542168294433,", "invoice type '99'"),
    ("01,04,420016135,00015045,1.00,20160501,48114255542168294433,", "invoice code"),
    ("01,04,4200161350,0001504,1.00,20160501,48114255542168294433,", "invoice number"),
    ("01,04,4200161350,00015045,1.005,20160501,48114255542168294433,", "amount"),
    ("01,04,4200161350,00015045,1.00,20161301,48114255542168294433,", "date"),
    ("01,04,4200161350,00015045,1.00,20160501,4811425554216829443,", "check code"),
    ("01,04,4200161350,00015045,1.00,20160501,,", "check code is missing"),
    ("01,32,4200161350,26112000000000001001,1.00,20261128,,AB,", "no invoice code"),
    ("01,32,,2611200000000000100,1.00,20261128,,AB,", "20 digits"),
])
def test_garbled_invoice_codes_name_the_field(text: str, field: str) -> None:
    with pytest.raises(GarbledQr) as caught:
        parse_invoice_qr(text)
    assert field in caught.value.message and "scan it again" in caught.value.message
    assert caught.value.message_zh


def test_header_in_our_json_form_round_trips() -> None:
    header = demo_data.BUSINESSES[2].header
    assert parse_header_qr(format_header_qr(header)) == header


@pytest.mark.parametrize("text", [
    "名称：华为技术有限公司\n税号：914403001922038216\n地址电话：深圳市龙岗区坂田 0755-28780808\n开户行及账号：招商银行深圳分行 1234567890",
    "名称:华为技术有限公司;纳税人识别号:914403001922038216;地址、电话:深圳市龙岗区坂田 0755-28780808;开户行及帐号:招商银行深圳分行 1234567890",
    "单位名称：华为技术有限公司\r\n统一社会信用代码：914403001922038216\r\n单位地址：深圳市龙岗区坂田\r\n电话号码：0755-28780808\r\n"
    "开户银行：招商银行深圳分行\r\n银行账户：1234567890",
])
def test_headers_in_the_usual_text_forms(text: str) -> None:
    header = parse_header_qr(text)
    assert header == InvoiceHeader(name="华为技术有限公司", taxpayer_id=HUAWEI, address_phone="深圳市龙岗区坂田 0755-28780808",
                                   bank_account="招商银行深圳分行 1234567890")


def test_a_natural_person_header_has_no_tax_id() -> None:
    header = parse_header_qr("名称：李四")
    assert header.natural_person and header.name == "李四"


def test_bad_headers() -> None:
    with pytest.raises(GarbledQr, match="check character"):
        parse_header_qr("名称：华为技术有限公司\n税号：914403001922038217")
    with pytest.raises(GarbledQr, match="name"):
        parse_header_qr("税号：914403001922038216\n地址电话：深圳")
    with pytest.raises(GarbledQr, match="cut off or damaged"):
        parse_header_qr('{"type":"taxhall.invoice-header","v":1,"name":"华为')
    with pytest.raises(ForeignQr, match="an invoice QR code, not a buyer's invoice header"):
        parse_header_qr("01,10,011001605111,80100798,64.9,20161018,85342965681116380258")


def test_invoice_requests_round_trip_and_fail_clearly() -> None:
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_TECH, order_ref="ORD-2026-0002", total_fen=33_200)
    text = format_request_qr(ref)
    assert parse_request_qr(text) == ref and '"amount":"332.00"' in text
    with pytest.raises(GarbledQr, match="amount"):
        parse_request_qr(text.replace("332.00", "3.3.2"))
    with pytest.raises(GarbledQr, match="seller's code"):
        parse_request_qr(text.replace(demo_data.SELLER_TECH, HUAWEI[:-1] + "7"))
    with pytest.raises(ForeignQr, match="an invoice QR code, not a seller's invoice request"):
        parse_request_qr("01,10,011001605111,80100798,64.9,20161018,85342965681116380258")


def test_classify_finds_the_kind_or_says_what_is_accepted() -> None:
    assert classify_qr("01,10,011001605111,80100798,64.9,20161018,85342965681116380258").invoice is not None
    assert classify_qr("名称：华为技术有限公司\n税号：914403001922038216").header is not None
    ref = InvoiceRequestRef(seller_taxpayer_id=demo_data.SELLER_FOOD, order_ref="M-777", total_fen=31_800)
    assert classify_qr(format_request_qr(ref)).request == ref
    with pytest.raises(QrError, match="an invoice, an invoice header or an invoice request"):
        classify_qr("https://example.com")
