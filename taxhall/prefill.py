"""The pre-filled request code (免填单 / 二维码采集): what a taxpayer prepares on the phone at
`/prepare` and brings to a kiosk or a counter as a QR code (pure: strings and bytes in, typed
values out; no I/O, no clock of its own).

A code is text made only of QR alphanumeric characters, so a QR holds it densely (5.5 bits a
character) and any scanner — camera, serial or keyboard-wedge — passes it on unchanged:

    THQ1 <base45 of: body ‖ Ed25519 signature (64 bytes)>

`THQ1` says what it is and its version; a later format gets `THQ2` and this module refuses it
by name. The body (all integers unsigned LEB128 varints, strings a varint byte length and
GB18030 bytes — two bytes a Chinese character where UTF-8 takes three):

    key id (4 bytes: the first bytes of SHA-256 of the hall's public key)
    code id (6 random bytes: names the code, makes repeated use at a kiosk idempotent)
    expiry (varint: minutes since 2020-01-01T00:00Z)
    kind (1 byte: "S" self-invoicing request, "H" buyer's invoice header)
    kind "H": name, taxpayer id ("" for a private person), address and phone, bank and account
    kind "S": seller name, category (1 byte: G goods, S services, L labour), the buyer as for
              "H", item count, then per item: name, unit, quantity (thousandths), unit price
              (fen, excluding tax), tax rate (tenths of a per cent), amount (fen, excluding
              tax), tax (fen)

The signature covers `THQ1` and the body, so neither the version nor any field can be changed
without the code being refused. Verification says why a code is refused, in Chinese and
English: not a pre-filled code, an unknown version, damaged, signed by another hall (its key
id is not one of ours), altered (the signature does not match), or expired.

Only what the request needs is in a code: names, the buyer's credit code, the items. No ID
number of a person is ever written; the seller of a self-invoice proves who they are with the
ID card at the kiosk or counter. docs/prefill.md has a byte-by-byte example.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import AfterValidator

from taxhall.privacy import mask_name

PREFIX = "THQ"
VERSION = 1
MAGIC = f"{PREFIX}{VERSION}"
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
KEY_ID_BYTES = 4
CODE_ID_BYTES = 6
SIGNATURE_BYTES = 64
PUBLIC_KEY_PREFIX = "ed25519:"
TEXT_ENCODING = "gb18030"

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(_B45)}


class Kind(StrEnum):
    SELF_INVOICE = "S"
    HEADER = "H"


CATEGORY_CODES = {"goods": "G", "services": "S", "labour": "L"}
_CATEGORY_NAMES = {code: name for name, code in CATEGORY_CODES.items()}


# --- what a code holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """A buyer's invoice header (发票抬头); an empty taxpayer id means a private person."""

    name: str
    taxpayer_id: str = ""
    address_phone: str = ""
    bank_account: str = ""

    def __repr__(self) -> str:
        # a private person's name is identity: masked wherever a repr ends up (logs, tracebacks)
        shown = mask_name(self.name) if not self.taxpayer_id else self.name
        return f"Header({shown!r}, {self.taxpayer_id!r})"


@dataclass(frozen=True)
class Item:
    """One line of a self-invoicing request, amounts as the form computed them."""

    name: str
    unit: str
    quantity_milli: int  # 1.5 units → 1500
    unit_price_fen: int  # excluding tax
    rate_permille: int  # 1 % → 10
    amount_fen: int  # excluding tax
    tax_fen: int

    @property
    def quantity(self) -> Decimal:
        return (Decimal(self.quantity_milli) / 1000).normalize()

    @property
    def rate(self) -> Decimal:
        return Decimal(self.rate_permille) / 1000

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.tax_fen


@dataclass(frozen=True)
class SelfInvoiceRequest:
    """自助代开: who sells (name only), what kind of sale, to whom, which items."""

    seller_name: str
    category: str  # "goods", "services", "labour" (kiosk.gateway.models.SelfInvoiceCategory)
    buyer: Header
    items: tuple[Item, ...]

    def __repr__(self) -> str:
        return f"SelfInvoiceRequest({mask_name(self.seller_name)!r}, {self.category!r}, {self.buyer!r}, {len(self.items)} items)"

    @property
    def amount_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)

    @property
    def tax_fen(self) -> int:
        return sum(item.tax_fen for item in self.items)

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.tax_fen


@dataclass(frozen=True)
class Prefilled:
    """A verified code: who signed it, until when it is good, and what it asks for."""

    code_id: str  # 12 hex digits
    key_id: str  # 8 hex digits
    expires_at: datetime
    header: Header | None = None
    request: SelfInvoiceRequest | None = None

    @property
    def kind(self) -> Kind:
        return Kind.HEADER if self.header is not None else Kind.SELF_INVOICE

    @property
    def reference(self) -> str:
        return reference_of(self.code_id)


def reference_of(code_id_hex: str) -> str:
    """What the taxpayer, staff and logs call a code: short, no personal data."""
    return f"P-{code_id_hex[:8].upper()}"


# --- refusals -----------------------------------------------------------------------------------


class PrefillRefused(ValueError):
    """A code that cannot be used, with the reason for the screen in both languages."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


def _refused(code: str, **values: str) -> PrefillRefused:
    en, zh = REASONS[code]
    return PrefillRefused(code, en.format(**values), zh.format(**values))


REASONS: dict[str, tuple[str, str]] = {
    "not_prefill": ("This is not a pre-filled request code from the hall's website.",
                    "这不是办税服务厅网站生成的预填申请二维码。"),
    "unknown_version": ("This code was made in format {version}, which this device does not read (it reads {ours}). "
                        "Please make the code again on the hall's website.",
                        "该二维码格式为{version}，本设备只能识别{ours}，请在办税服务厅网站重新生成。"),
    "damaged": ("This code is damaged or incomplete ({detail}). Please show it again or make it again.",
                "二维码数据不完整或已损坏（{detail}），请重新出示或重新生成。"),
    "no_keys": ("This device has no key to check pre-filled codes with. Please ask staff.",
                "本设备未配置预填二维码校验密钥，请联系工作人员。"),
    "other_hall": ("This code was signed by another tax hall, not this one. Please make it on this hall's website.",
                   "该二维码不是本办税服务厅签发的，请在本厅网站重新生成。"),
    "tampered": ("This code has been altered since the hall signed it, so it cannot be used.",
                 "该二维码签发后被改动过，不能使用。"),
    "expired": ("This code expired on {when}. Please make a new one on the hall's website.",
                "该二维码已于{when}过期，请在办税服务厅网站重新生成。"),
}


# --- keys ----------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_BYTES]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """`ed25519:<base64url>` — the form kiosks and counters take in their config."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The key of `public_key_text`; ValueError in words a technician can act on."""
    value = text.strip()
    if not value.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(f"a pre-filled code key looks like \"{PUBLIC_KEY_PREFIX}...\" "
                         "(taxhall web shows it at /prepare/key)")
    body = value[len(PUBLIC_KEY_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise ValueError("the key after \"ed25519:\" is not base64url text") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one {len(raw)} (copied in full?)")
    return Ed25519PublicKey.from_public_bytes(raw)


def _checked_keys(values: list[str]) -> list[str]:
    for value in values:
        parse_public_key(value)
    return values


# A config field of public keys ([kiosk] / [counter] prefill_keys): refused at load time with
# the reason when a key is mistyped, rather than at the first scan.
PublicKeyList = Annotated[list[str], AfterValidator(_checked_keys)]


def keyring(texts: Iterable[str]) -> dict[bytes, Ed25519PublicKey]:
    """Key id → key, for `verify`."""
    keys = [parse_public_key(text) for text in texts]
    return {key_id(key): key for key in keys}


# --- base45 (RFC 9285) --------------------------------------------------------------------------------


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out.append(_B45[c] + _B45[d] + _B45[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(_B45[c] + _B45[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not base45") from None
    if len(values) % 3 == 1:
        raise ValueError("base45 text of a wrong length")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise ValueError("base45 triple out of range")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError("base45 pair out of range")
            out.append(n)
    return bytes(out)


# --- the body ----------------------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def uint(self, value: int) -> None:
        if value < 0:
            raise ValueError("negative numbers are not in the format")
        while True:
            byte, value = value & 0x7F, value >> 7
            self.data.append(byte | (0x80 if value else 0))
            if not value:
                return

    def text(self, value: str) -> None:
        raw = value.encode(TEXT_ENCODING)
        self.uint(len(raw))
        self.data += raw

    def header(self, header: Header) -> None:
        for value in (header.name, header.taxpayer_id, header.address_phone, header.bank_account):
            self.text(value)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise ValueError("cut short")
        chunk = self.data[self.at:self.at + count]
        self.at += count
        return chunk

    def uint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("a number too long")

    def text(self) -> str:
        return self.take(self.uint()).decode(TEXT_ENCODING)

    def header(self) -> Header:
        return Header(self.text(), self.text(), self.text(), self.text())


def _minutes(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("an expiry needs a time zone")
    return int((moment - EPOCH).total_seconds() // 60)


def _body(key: bytes, code_id: bytes, expires_at: datetime, header: Header | None,
          request: SelfInvoiceRequest | None) -> bytes:
    w = _Writer()
    w.data += key + code_id
    w.uint(_minutes(expires_at))
    if header is not None:
        w.data += Kind.HEADER.value.encode()
        w.header(header)
    elif request is not None:
        w.data += Kind.SELF_INVOICE.value.encode()
        w.text(request.seller_name)
        w.data += CATEGORY_CODES[request.category].encode()
        w.header(request.buyer)
        w.uint(len(request.items))
        for item in request.items:
            w.text(item.name)
            w.text(item.unit)
            for number in (item.quantity_milli, item.unit_price_fen, item.rate_permille, item.amount_fen, item.tax_fen):
                w.uint(number)
    else:
        raise ValueError("a code holds a header or a self-invoicing request")
    return bytes(w.data)


def encode(signing_key: Ed25519PrivateKey, code_id: bytes, expires_at: datetime, *, header: Header | None = None,
           request: SelfInvoiceRequest | None = None) -> str:
    """The signed code text for a header or a request (exactly one). `code_id` is 6 random bytes."""
    if len(code_id) != CODE_ID_BYTES:
        raise ValueError(f"a code id has {CODE_ID_BYTES} bytes")
    if (header is None) == (request is None):
        raise ValueError("a code holds a header or a self-invoicing request")
    body = _body(key_id(signing_key.public_key()), code_id, expires_at, header, request)
    signature = signing_key.sign(MAGIC.encode() + body)
    return MAGIC + b45encode(body + signature)


def verify(text: str, keys: Mapping[bytes, Ed25519PublicKey], now: datetime) -> Prefilled:
    """The request a scanned code holds, or PrefillRefused saying why it cannot be used."""
    value = text.strip()
    if not value.upper().startswith(PREFIX):
        raise _refused("not_prefill")
    version = value[:len(MAGIC)]
    if version != MAGIC:
        raise _refused("unknown_version", version=version, ours=MAGIC)
    try:
        data = b45decode(value[len(MAGIC):])
    except ValueError as exc:
        raise _refused("damaged", detail=str(exc)) from None
    if len(data) < KEY_ID_BYTES + CODE_ID_BYTES + SIGNATURE_BYTES + 2:
        raise _refused("damaged", detail="too short")
    body, signature = data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]
    if not keys:
        raise _refused("no_keys")
    key = keys.get(body[:KEY_ID_BYTES])
    if key is None:
        raise _refused("other_hall")
    try:
        key.verify(signature, MAGIC.encode() + body)
    except InvalidSignature:
        raise _refused("tampered") from None
    try:
        found = _parse(body)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:  # signed but unreadable: a bug on the signing side
        raise _refused("damaged", detail=str(exc)) from None
    if now >= found.expires_at:
        raise _refused("expired", when=found.expires_at.astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M"))
    return found


def _parse(body: bytes) -> Prefilled:
    r = _Reader(body)
    key = r.take(KEY_ID_BYTES).hex()
    code_id = r.take(CODE_ID_BYTES).hex()
    expires_at = EPOCH + timedelta(minutes=r.uint())
    kind = Kind(r.take(1).decode())
    header: Header | None = None
    request: SelfInvoiceRequest | None = None
    if kind == Kind.HEADER:
        header = r.header()
    else:
        seller = r.text()
        category = _CATEGORY_NAMES[r.take(1).decode()]
        buyer = r.header()
        items = []
        for _ in range(r.uint()):
            name, unit = r.text(), r.text()
            items.append(Item(name, unit, r.uint(), r.uint(), r.uint(), r.uint(), r.uint()))
        request = SelfInvoiceRequest(seller, category, buyer, tuple(items))
    if r.at != len(body):
        raise ValueError("bytes left over")
    return Prefilled(code_id, key, expires_at, header, request)


def looks_like_prefill(text: str) -> bool:
    """Whether a scanned text is meant to be a pre-filled code (of any version)."""
    return text.strip().upper().startswith(PREFIX)
