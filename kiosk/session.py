"""What one taxpayer's visit holds, as immutable values: the screen names, the person, the
records and documents of the visit, and the periods a certificate can cover.

A `Session` is replaced, never changed in place, so the UI can read the current one from
another thread without locks. Ending a visit replaces it with an empty one (`Session()`):
nothing of the person — name, ID number, records, scanned headers, quotes — stays referenced
by the kiosk. The person's full name and ID number exist only here, in memory; every repr is
masked so a log line or an exception cannot carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from kiosk.gateway.models import (
    Certificate,
    Invoice,
    InvoiceCheckResult,
    InvoiceHeader,
    InvoiceQrFields,
    InvoiceRequest,
    InvoiceRequestRef,
    PaymentRecord,
    SelfInvoiceCategory,
    SelfInvoiceQuote,
    TaxType,
    Taxpayer,
)
from taxhall.prefill import SelfInvoiceRequest
from taxhall.privacy import mask_id_number, mask_name

if TYPE_CHECKING:
    from kiosk.appeal import AppealDraft


class Screen(StrEnum):
    """Every screen of the kiosk; the Kivy layer has one page per value."""

    HOME = "home"
    CLOSED = "closed"
    IDENTIFY = "identify"
    CERT_PERIOD = "cert_period"
    CERT_RECORDS = "cert_records"
    CERT_DONE = "cert_done"
    REQ_SCAN = "req_scan"
    BUYER = "buyer"
    BUYER_KEYPAD = "buyer_keypad"
    REQ_CONFIRM = "req_confirm"
    REQ_DONE = "req_done"
    SELF_ITEM = "self_item"
    SELF_QUOTE = "self_quote"
    SELF_PAY = "self_pay"
    SELF_DONE = "self_done"
    CHECK_SCAN = "check_scan"
    CHECK_RESULT = "check_result"
    GUIDES = "guides"
    GUIDE = "guide"
    QUEUE = "queue"
    QUEUE_DONE = "queue_done"
    QUEUE_CHECKIN = "queue_checkin"  # appointment check-in (预约签到) from the queue tile
    APPEAL = "appeal"
    APPEAL_TEXT = "appeal_text"
    APPEAL_DONE = "appeal_done"


class Flow(StrEnum):
    """The services behind the home tiles."""

    CERTIFICATE = "certificate"
    REQUEST = "request"
    SELF_INVOICE = "self_invoice"
    CHECK = "check"
    GUIDES = "guides"
    QUEUE = "queue"
    APPEAL = "appeal"


# Screens that read the ID-card reader or the scanner while they are shown.
READS_CARD = frozenset({Screen.IDENTIFY})
READS_SCANNER = frozenset({Screen.IDENTIFY, Screen.REQ_SCAN, Screen.BUYER, Screen.CHECK_SCAN, Screen.QUEUE_CHECKIN})


@dataclass(frozen=True, repr=False)
class Person:
    """The taxpayer of this visit, from the ID card or the e-tax app's QR: memory only."""

    name: str
    id_number: str
    source: str  # "card" or "etax"

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:
        return f"Person({self.masked_name!r}, {self.masked_id_number!r}, {self.source!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date


PERIOD_KEYS = ("last_12m", "this_year", "last_year", "last_36m")


def period_for(key: str, today: date) -> Period:
    """The certificate periods offered on screen, as dates (inclusive), for `today`."""
    if key == "this_year":
        return Period(key, today.replace(month=1, day=1), today)
    if key == "last_year":
        return Period(key, date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    if key == "last_36m":
        # the gateway takes at most three years; a day under keeps leap years in
        return Period(key, today - timedelta(days=3 * 365 - 1), today)
    if key == "last_12m":
        return Period(key, today - timedelta(days=365), today)
    raise ValueError(f"unknown period {key!r}; one of {', '.join(PERIOD_KEYS)}")


# The tax types offered as filters on the period screen (the rest are rare at a kiosk).
TAX_TYPE_CHOICES = (TaxType.IIT, TaxType.VAT, TaxType.UMCT, TaxType.PROPERTY, TaxType.VEHICLE_VESSEL, TaxType.DEED)


@dataclass(frozen=True)
class Payment:
    """A payment the terminal approved for a self-invoicing quote."""

    reference: str
    amount_fen: int


@dataclass(frozen=True)
class Ticket:
    """A queue ticket taken at the kiosk (from the queue engine's answer)."""

    number: str
    service: str
    service_name: str
    service_name_en: str
    ahead: int
    est_wait_s: int | None
    printed: bool
    slot: str | None = None  # an appointment's slot ("10:00") when the ticket is its check-in


@dataclass(frozen=True)
class CheckinRefusal:
    """Why an appointment code did not check in (too early, too late, cancelled), with the
    times to say and the booked service, offered as a normal ticket instead."""

    reason: str
    slot: str
    checkin_from: str  # "09:30"
    checkin_until: str
    service: str | None
    service_name: str
    service_name_en: str


@dataclass(frozen=True)
class Session:
    """One visit. Replace with `dataclasses.replace`; `Session()` is the empty visit."""

    flow: Flow | None = None
    person: Person | None = None
    taxpayer: Taxpayer | None = None
    # certificate
    period_key: str = "last_12m"
    tax_types: frozenset[TaxType] = frozenset()  # empty: every tax type
    records: tuple[PaymentRecord, ...] = ()
    certificate: Certificate | None = None
    # invoice from a seller's request, and self-invoicing
    request_ref: InvoiceRequestRef | None = None
    order: InvoiceRequest | None = None
    buyer: InvoiceHeader | None = None
    keypad_field: str = "taxpayer_id"  # which field of the buyer keypad is being typed
    keypad_tax_id: str = ""
    keypad_name: str = ""
    category: SelfInvoiceCategory | None = None
    amount_text: str = ""
    quote: SelfInvoiceQuote | None = None
    prefill: SelfInvoiceRequest | None = None  # a pre-filled request scanned for this sale (kiosk.prefill)
    payment: Payment | None = None
    invoice: Invoice | None = None
    # invoice check
    check_fields: InvoiceQrFields | None = None
    check_result: InvoiceCheckResult | None = None
    # guides
    guide_query: str = ""
    guide_id: str | None = None
    # queue
    ticket: Ticket | None = None
    checkin_digits: str = ""  # the appointment code typed on the check-in keypad
    checkin_refusal: CheckinRefusal | None = None
    # opinion book (kiosk.appeal)
    appeal: AppealDraft | None = None
    # what was printed in this visit, and the request ids that make retries safe
    prints: int = 0
    print_failed: bool = False
    request_ids: tuple[tuple[str, str], ...] = field(default=())

    def request_id(self, purpose: str) -> str | None:
        return dict(self.request_ids).get(purpose)

    def __repr__(self) -> str:
        # the person is masked by its own repr; documents hold masked identity already
        return f"Session(flow={self.flow}, person={self.person!r}, records={len(self.records)}, prints={self.prints})"
