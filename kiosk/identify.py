"""Who the taxpayer is: from the ID card the reader returns, or from the identity QR the
e-tax app (电子税务局App) shows (pure).

The e-tax QR form read here is our documented demo form — a real deployment resolves the
app's short-lived token at the back end instead:

    {"type": "taxhall.etax-identity", "v": 1, "name": "王秀英",
     "id_number": "110108195203080042", "expires": "2026-11-27T10:05:00+08:00"}

It must not have expired (a screenshot of an old code is refused) and its ID number must pass
GB 11643. Errors are `QrError`s whose words say what the kiosk expected and never repeat what
was scanned.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from drivers.idcard.identity import Identity
from kiosk.gateway.ids import id_number_problem, normalize_id_number
from kiosk.gateway.invoice_qr import ForeignQr, GarbledQr, describe
from kiosk.session import Person

ETAX_TYPE = "taxhall.etax-identity"
EXPECT_ETAX = ("the identity QR code of the e-tax app (电子税务局App)", "电子税务局App的身份二维码")


class CardExpired(ValueError):
    """An ID card past its valid-until date."""


def person_from_card(identity: Identity, today: date) -> Person:
    """The visit's person from a card the reader returned; an expired card is refused."""
    if identity.expired(today):
        raise CardExpired("the ID card has expired")
    return Person(identity.name.strip(), identity.id_number, "card")


def parse_etax_qr(text: str, now: datetime) -> Person:
    """The person of an e-tax identity QR; ForeignQr / GarbledQr when it is not a usable one."""
    value = text.strip()
    data = _json(value)
    if data is None or data.get("type") != ETAX_TYPE:
        _, en, zh = describe(value)
        raise ForeignQr(f"This is {en}, not {EXPECT_ETAX[0]}.", f"这是{zh}，不是{EXPECT_ETAX[1]}。", EXPECT_ETAX, en)
    if data.get("v") != 1:
        raise _garbled("its version is not one we read", "版本无法识别")
    name, id_number, expires = data.get("name"), data.get("id_number"), data.get("expires")
    if not isinstance(name, str) or not name.strip() or not isinstance(id_number, str):
        raise _garbled("the name or ID number is missing", "缺少姓名或证件号码")
    number = normalize_id_number(id_number)
    problem = id_number_problem(number)
    if problem:
        raise _garbled(f"the ID number is not valid ({problem[0]})", f"证件号码无效（{problem[1]}）")
    try:
        until = datetime.fromisoformat(str(expires))
    except ValueError:
        raise _garbled("its expiry time is missing", "缺少有效期") from None
    if until.tzinfo is None or until <= now:
        raise _garbled("it has expired — refresh the code in the app", "二维码已过期，请在App中刷新")
    return Person(name.strip(), number, "etax")


def _json(value: str) -> dict[str, Any] | None:
    if not value.startswith("{"):
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _garbled(what: str, what_zh: str) -> GarbledQr:
    return GarbledQr(f"This looks like {EXPECT_ETAX[0]}, but {what}.", f"这像是{EXPECT_ETAX[1]}，但{what_zh}。", EXPECT_ETAX)


def format_etax_qr(name: str, id_number: str, expires: datetime) -> str:
    """The QR text the demo e-tax app shows (what `parse_etax_qr` reads)."""
    return json.dumps({"type": ETAX_TYPE, "v": 1, "name": name, "id_number": id_number,
                       "expires": expires.isoformat()}, ensure_ascii=False, separators=(",", ":"))
