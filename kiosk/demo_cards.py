"""ID cards and QR codes for the demo taxpayers of the local gateway, for the simulators
(`taxhall sim idreader --identity`, the tests, the screenshots and the bench).

The people are the gateway's invented demo taxpayers (kiosk.gateway.demo_data); their cards
get made-up addresses and dates so the reader simulator can answer with real frames.

    python -m kiosk.demo_cards --identity-file > cards.json   # for taxhall sim idreader --identity

lets a tool that must not import the kiosk (the core's `taxhall demo`) make the cards file.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta

from drivers.idcard.identity import Identity
from drivers.idcard.simulator import identity_from_dict
from kiosk.gateway import demo_data
from kiosk.gateway.invoice_qr import format_header_qr, format_invoice_qr, format_request_qr
from kiosk.gateway.models import InvoiceRequestRef
from kiosk.identify import format_etax_qr


def _birth(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def demo_identity(taxpayer: demo_data.DemoTaxpayer) -> Identity:
    """The resident ID card of a demo taxpayer (valid until 2040)."""
    female = int(taxpayer.id_number[16]) % 2 == 0
    return identity_from_dict({
        "name": taxpayer.name, "sex": "女" if female else "男", "ethnicity": "汉",
        "birth_date": _birth(taxpayer.id_number).isoformat(), "address": "北京市海淀区示范路1号",
        "id_number": taxpayer.id_number, "authority": "北京市公安局海淀分局",
        "valid_from": "2020-01-01", "valid_until": "2040-01-01",
    })


def demo_identities() -> list[Identity]:
    """Cards of the resident demo taxpayers, in demo_data order (Anna Müller's foreigner's
    card has another layout the reader does not read, so she is not among them)."""
    return [demo_identity(t) for t in demo_data.TAXPAYERS if t.kind == "resident"]


def identity_file_json() -> str:
    """The same cards as an identity file for `taxhall sim idreader --identity FILE`."""
    entries = []
    for identity in demo_identities():
        entry = identity.as_dict(masked=False)
        entry.pop("card_type", None)
        entry.pop("photo_bytes", None)
        entries.append(entry)
    return json.dumps(entries, ensure_ascii=False, indent=1)


def etax_qr(taxpayer: demo_data.DemoTaxpayer, now: datetime, valid_s: int = 300) -> str:
    return format_etax_qr(taxpayer.name, taxpayer.id_number, now + timedelta(seconds=valid_s))


def buyer_header_qr(index: int = 2) -> str:
    """A demo business's invoice header QR (default: the buyer 仙桃示范商贸有限公司)."""
    return format_header_qr(demo_data.BUSINESSES[index].header)


def order_request_qr(index: int = 1) -> str:
    """A demo seller's invoice request QR (default: ORD-2026-0002, 332.00 yuan)."""
    order = demo_data.ORDERS[index]
    return format_request_qr(InvoiceRequestRef(seller_taxpayer_id=order.seller, order_ref=order.order_ref,
                                               total_fen=order.total_fen))


def issued_invoice_qr(index: int = 0) -> str:
    """The QR of an invoice issued before the demo began (for the invoice check)."""
    inv = demo_data.ISSUED_INVOICES[index]
    from kiosk.gateway.money import split_inclusive

    amount, _ = split_inclusive(inv.total_fen, inv.rate)
    return format_invoice_qr(inv.kind, inv.code, inv.number, amount, inv.issued_on, inv.check_code)


def main(argv: list[str] | None = None) -> int:
    """`python -m kiosk.demo_cards --identity-file`: the cards file on stdout, UTF-8."""
    parser = argparse.ArgumentParser(prog="python -m kiosk.demo_cards",
                                     description="the demo taxpayers' ID cards, for the reader simulator")
    parser.add_argument("--identity-file", action="store_true", required=True,
                        help="print the cards as an identity file for `taxhall sim idreader --identity FILE` "
                             "(the first card is the one on the reader)")
    parser.parse_args(argv)
    # bytes, not text: the names are Chinese whatever the locale of the caller's pipe
    sys.stdout.buffer.write(identity_file_json().encode("utf-8") + b"\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
