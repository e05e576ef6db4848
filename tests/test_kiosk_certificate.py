"""The tax payment certificate flow without a window: ID card on the simulated reader (or the
e-tax app's QR on the simulated scanner), period and tax types, records from the real local
gateway, the certificate printed on the simulated printer over TCP — and the failures."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from kiosk.core import china_now
from kiosk.demo_cards import etax_qr
from kiosk.gateway import demo_data
from kiosk.gateway.models import TaxType
from kiosk.session import Flow, Screen
from tests.kiosk_support import CHEN, LI, WANG, Rig, make_rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    yield made
    made.close()


def start_certificate(rig: Rig, card: int | None) -> None:
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    assert rig.screen == Screen.IDENTIFY
    rig.card(card)
    rig.poll()


def test_card_period_records_print_and_reprint(rig: Rig) -> None:
    start_certificate(rig, LI)
    assert rig.screen == Screen.CERT_PERIOD and rig.view.notice is None
    assert rig.view.session.person is not None and rig.view.session.taxpayer.masked_name == "李**"

    rig.kiosk.flows.certificate.choose_period("last_36m")
    rig.kiosk.flows.certificate.toggle_tax_type(TaxType.IIT)
    rig.kiosk.flows.certificate.search()
    view = rig.view
    assert view.screen == Screen.CERT_RECORDS and view.notice is None
    assert len(view.session.records) >= 20 and {r.tax_type for r in view.session.records} == {TaxType.IIT}

    rig.kiosk.flows.certificate.print_certificate()
    view = rig.view
    cert = view.session.certificate
    assert view.screen == Screen.CERT_DONE and view.notice is None and cert is not None
    assert cert.total_fen == sum(r.amount_fen for r in view.session.records)
    page = rig.pages(1)[0]
    text = "\n".join(page.text_lines())
    assert cert.number in text and cert.verification_code in text
    assert "税收完税证明" in text and "李建国" in text and demo_data.TAXPAYERS[1].id_number in text
    assert page.qr_payloads() == [cert.qr_payload]
    assert rig.gateway.verify_certificate(cert.number, cert.verification_code).genuine

    rig.kiosk.flows.reprint()  # the same certificate again, within the visit
    second = rig.pages(2)[1]
    assert cert.number in "\n".join(second.text_lines()) and rig.view.session.prints == 2

    rig.kiosk.finish()
    assert rig.screen == Screen.HOME and rig.view.session.person is None and rig.view.session.certificate is None


def test_english_slip_and_back_to_the_period(rig: Rig) -> None:
    rig.kiosk.toggle_lang()
    start_certificate(rig, WANG)
    rig.kiosk.flows.certificate.search()
    assert rig.screen == Screen.CERT_RECORDS
    rig.kiosk.back()
    assert rig.screen == Screen.CERT_PERIOD and rig.view.session.records == ()
    rig.kiosk.flows.certificate.choose_period("last_year")
    rig.kiosk.flows.certificate.search()
    rig.kiosk.flows.certificate.print_certificate()
    text = "\n".join(rig.pages(1)[0].text_lines())
    assert "Tax Payment Certificate" in text and "Property tax" in text and "Tax Service Hall No. 1" in text


def test_no_records_is_a_clear_message_not_an_empty_page(rig: Rig) -> None:
    start_certificate(rig, CHEN)  # newly registered: no payments at all
    rig.kiosk.flows.certificate.search()
    view = rig.view
    assert view.screen == Screen.CERT_PERIOD and view.notice is not None
    assert view.notice.title.zh == "没有查到缴税记录" and "更长的期间" in view.notice.body.zh
    assert "No payments found" == view.notice.title.en
    rig.kiosk.dismiss_notice()
    assert rig.view.notice is None and rig.screen == Screen.CERT_PERIOD
    assert rig.printer.pages == []


def test_etax_app_qr_instead_of_the_card(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.scan(etax_qr(demo_data.TAXPAYERS[0], china_now()))
    assert rig.screen == Screen.CERT_PERIOD and rig.view.session.person.source == "etax"


def test_wrong_or_stale_qr_says_what_was_expected(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.scan("https://example.com/promo")
    notice = rig.view.notice
    assert rig.screen == Screen.IDENTIFY and notice is not None
    assert notice.title.zh == "这个二维码不对" and "网址链接" in notice.body.zh
    assert "e-tax app" in notice.next_step.en
    rig.scan(etax_qr(demo_data.TAXPAYERS[0], china_now(), valid_s=-10))
    assert rig.screen == Screen.IDENTIFY and "expired" in rig.view.notice.body.en
    # a good card afterwards clears the message and goes on
    rig.card(WANG)
    rig.poll()
    assert rig.screen == Screen.CERT_PERIOD and rig.view.notice is None


def test_no_card_keeps_waiting_and_an_unregistered_person_is_told(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.poll(timeout_s=0.6)
    assert rig.screen == Screen.IDENTIFY and rig.view.notice is None  # nothing placed: still waiting
    from kiosk.demo_cards import demo_identity

    stranger = demo_data.DemoTaxpayer("X", "赵六", demo_data.UNREGISTERED_ID_NUMBER, "resident", "", "none", "")
    rig.reader.identities.append(demo_identity(stranger))
    rig.card(len(rig.reader.identities) - 1)
    rig.poll()
    assert rig.screen == Screen.IDENTIFY and rig.view.notice.title.en == "You are not registered as a taxpayer"


def test_a_broken_reader_is_reported_and_the_card_tiles_follow(rig: Rig) -> None:
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.reader.set_fault("garbage")
    rig.card(WANG)
    rig.poll()
    assert rig.view.notice is not None and rig.view.notice.title.en == "The ID card reader did not work"
    assert rig.board.snapshot()["idreader"].state == "fault"
    rig.kiosk.cancel()
    tiles = {t.flow: t for t in rig.view.tiles}
    assert not tiles[Flow.SELF_INVOICE].enabled and tiles[Flow.SELF_INVOICE].reason.en.startswith("ID card reader")
    assert tiles[Flow.CERTIFICATE].enabled  # the e-tax QR still identifies


def test_paper_out_disables_printing_tiles_and_the_issued_certificate_is_kept(rig: Rig) -> None:
    start_certificate(rig, WANG)
    rig.kiosk.flows.certificate.search()
    rig.printer.set_fault("paper_out", True)
    rig.kiosk.flows.certificate.print_certificate()
    view = rig.view
    assert view.screen == Screen.CERT_DONE and view.session.certificate is not None and view.session.print_failed
    assert view.notice.title.zh == "打印失败：打印机缺纸" and "不会丢失" in view.notice.next_step.zh
    tiles = {t.flow: t for t in view.tiles}
    assert not tiles[Flow.CERTIFICATE].enabled and tiles[Flow.CERTIFICATE].reason.zh == "打印机缺纸，暂停使用"
    assert tiles[Flow.CHECK].enabled and tiles[Flow.GUIDES].enabled
    number = view.session.certificate.number

    rig.printer.set_fault("paper_out", False)  # paper changed: print again, same certificate
    rig.kiosk.dismiss_notice()
    rig.kiosk.flows.reprint()
    assert rig.view.notice is None and number in "\n".join(rig.pages(1)[0].text_lines())
    rig.kiosk.finish()
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    assert rig.screen == Screen.IDENTIFY  # enabled again once the monitor saw the paper
