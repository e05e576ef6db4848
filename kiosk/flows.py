"""The services behind the home tiles, step by step: tax payment certificate, invoice from a
seller's request, self-invoicing, invoice check, guides and the queue ticket (with the
appointment check-in, 预约签到, on the queue tile).

Each flow keeps its state in the kiosk's `Session` and moves the kiosk between screens; its
public methods are actions (kiosk.core.action): they may be called by the UI worker or a
test, in any order — a method that does not fit the current screen does nothing. Anything
that issues (a certificate, an invoice, a ticket) carries a request id kept for the visit,
so pressing again after a failure never issues twice.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kiosk.core import action, problem
from kiosk.gateway.ids import normalize_uscc, uscc_problem
from kiosk.gateway.interface import GatewayRejected
from kiosk.gateway.invoice_qr import ForeignQr, EXPECT_REQUEST, describe, parse_header_qr, parse_invoice_qr, parse_request_qr
from kiosk.gateway.models import (Invoice, InvoiceHeader, InvoiceRequestRef, PaymentProof, SelfInvoiceCategory,
                                  SelfInvoiceQuote, TaxType)
from kiosk.gateway.money import fen_to_yuan, yuan_to_fen
from kiosk.identify import parse_etax_qr, person_from_card
from kiosk.prefill import invoice_header, items_list_blocks, line_name, same_person
from kiosk.printouts import certificate_slip, invoice_slip, ticket_slip
from kiosk.session import PERIOD_KEYS, CheckinRefusal, Flow, Payment, Person, Screen, Ticket, period_for
from kiosk.words import Bi
from taxhall.bus import BusError
from taxhall.prefill import Prefilled, PrefillRefused, keyring, looks_like_prefill, verify
from ticketer.appointment_codes import CODE_DIGITS, normalize_code
from ticketer.queue_words import error_words

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger("kiosk.flows")

INDIVIDUAL_BUYER = "个人"  # the buyer name invoices to private persons carry
MAX_AMOUNT_DIGITS = 9  # up to 999,999,999 yuan on the keypad; the gateway sets the real limit
QUOTE_MARGIN_S = 60  # a quote this close to expiry is renewed before the taxpayer pays


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class _Step:
    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk

    def _on(self, *screens: Screen) -> bool:
        return self.kiosk.screen in screens and not self.kiosk.closed

    def _person(self) -> Person:
        person = self.kiosk.session.person
        if person is None:  # a flow step before identification: a bug, not the taxpayer's fault
            raise RuntimeError("no person in this visit")
        return person


class CertificateFlow(_Step):
    @action()
    def choose_period(self, key: str) -> None:
        if self._on(Screen.CERT_PERIOD) and key in PERIOD_KEYS:
            self.kiosk.update(period_key=key)

    @action()
    def toggle_tax_type(self, tax_type: TaxType | str | None) -> None:
        """A tax type on or off; None (the "all" button) clears the choice."""
        if not self._on(Screen.CERT_PERIOD):
            return
        chosen = set(self.kiosk.session.tax_types)
        if tax_type is None:
            chosen.clear()
        else:
            chosen ^= {TaxType(tax_type)}
        self.kiosk.update(tax_types=frozenset(chosen))

    @action()
    def search(self) -> None:
        if not self._on(Screen.CERT_PERIOD):
            return
        k, session = self.kiosk, self.kiosk.session
        period = period_for(session.period_key, k.today())
        k.show_busy("asking_gateway")
        types = sorted(session.tax_types) or None
        records = k.gateway.payment_records(self._person().id_number, period.start, period.end, types)
        k.gateway_ok()
        k.update(records=tuple(records), certificate=None)
        k.go(Screen.CERT_RECORDS)

    @action()
    def print_certificate(self) -> None:
        if not self._on(Screen.CERT_RECORDS):
            return
        k, session = self.kiosk, self.kiosk.session
        ids = [r.id for r in session.records]
        k.show_busy("asking_gateway")
        certificate = k.gateway.issue_certificate(k.request_id(f"certificate:{_digest(*ids)}"), self._person().id_number, ids)
        k.gateway_ok()
        log.info("certificate %s issued over %d records", certificate.number, len(ids))
        k.update(certificate=certificate)
        k.go(Screen.CERT_DONE)
        self.print()

    def print(self) -> None:
        k = self.kiosk
        certificate = k.session.certificate
        if certificate is not None:
            hall = k.settings.hall_name_en if k.lang == "en" else k.settings.hall_name
            k.print_layout(certificate_slip(certificate, k.session.person, hall, k.lang, k.settings.print_full_identity),
                           "certificate")


class BuyerFlow(_Step):
    """Who the invoice is for: a scanned header, "individual", or typed on the keypad."""

    def got(self, header: InvoiceHeader) -> None:
        k = self.kiosk
        k.update(buyer=header)
        k.notice = None
        if k.session.flow == Flow.SELF_INVOICE:
            k.go(Screen.SELF_ITEM)
        elif k.session.order is not None:
            k.go(Screen.REQ_CONFIRM)
        else:
            k.go(Screen.REQ_SCAN)  # the header came first: now the seller's request

    @action()
    def individual(self) -> None:
        if self._on(Screen.BUYER):
            self.got(InvoiceHeader(name=INDIVIDUAL_BUYER))

    @action()
    def open_keypad(self) -> None:
        if self._on(Screen.BUYER):
            self.kiosk.update(keypad_field="taxpayer_id", keypad_tax_id="", keypad_name="")
            self.kiosk.go(Screen.BUYER_KEYPAD)

    @action()
    def focus(self, field: str) -> None:
        if self._on(Screen.BUYER_KEYPAD) and field in ("taxpayer_id", "name"):
            self.kiosk.update(keypad_field=field)

    @action()
    def press(self, key: str) -> None:
        """A key of the on-screen keyboard: a character, "del", "clear" or "space"."""
        if not self._on(Screen.BUYER_KEYPAD):
            return
        session = self.kiosk.session
        tax_field = session.keypad_field == "taxpayer_id"
        value = session.keypad_tax_id if tax_field else session.keypad_name
        value = _edit(value, key, limit=18 if tax_field else 40)
        if tax_field:
            self.kiosk.update(keypad_tax_id=value.upper().replace(" ", ""))
        else:
            self.kiosk.update(keypad_name=value)

    @action()
    def done(self) -> None:
        if not self._on(Screen.BUYER_KEYPAD):
            return
        session = self.kiosk.session
        tax_id = normalize_uscc(session.keypad_tax_id) if session.keypad_tax_id else ""
        name = " ".join(session.keypad_name.split())
        if tax_id:
            trouble = uscc_problem(tax_id)
            if trouble:
                raise problem("keypad_bad_id", None, None, reason=Bi(trouble[1], trouble[0]))
            if not name:
                raise problem("keypad_need_name")
        self.got(InvoiceHeader(name=name or INDIVIDUAL_BUYER, taxpayer_id=tax_id or None))


def _edit(value: str, key: str, limit: int) -> str:
    if key == "del":
        return value[:-1]
    if key == "clear":
        return ""
    if key == "space":
        key = " "
    if len(key) != 1 or len(value) >= limit:
        return value
    return value + key


class RequestFlow(_Step):
    """扫码开票: a seller's invoice request + the buyer's header → an issued invoice."""

    def got_request(self, ref: InvoiceRequestRef) -> None:
        k = self.kiosk
        k.show_busy("asking_gateway")
        order = k.gateway.lookup_invoice_request(ref)
        k.gateway_ok()
        if order.invoiced_number:
            raise problem("err_already_invoiced", "invoice_number", "err_next_counter", number=order.invoiced_number)
        k.update(request_ref=ref, order=order)
        k.notice = None
        k.go(Screen.REQ_CONFIRM if k.session.buyer else Screen.BUYER)

    @action()
    def confirm(self) -> None:
        if not self._on(Screen.REQ_CONFIRM):
            return
        k, session = self.kiosk, self.kiosk.session
        if session.request_ref is None or session.buyer is None:
            return
        k.show_busy("asking_gateway")
        purpose = f"request:{session.request_ref.order_ref}:{_digest(session.buyer.model_dump_json())}"
        invoice = k.gateway.issue_invoice_from_request(k.request_id(purpose), session.request_ref, session.buyer)
        k.gateway_ok()
        log.info("invoice %s issued for order %s", invoice.number, session.request_ref.order_ref)
        k.update(invoice=invoice)
        k.go(Screen.REQ_DONE)
        print_invoice(k)


def print_invoice(k: Kiosk) -> None:
    invoice = k.session.invoice
    if invoice is not None:
        seller = k.session.person if k.session.flow == Flow.SELF_INVOICE else None
        layout = invoice_slip(invoice, k.lang, seller, k.settings.print_full_identity, k.session.buyer)
        prefill = k.session.prefill
        if prefill is not None and len(prefill.items) > 1:  # the line says 详见销货清单: the list goes with it
            layout = replace(layout, blocks=layout.blocks + items_list_blocks(prefill, invoice.number, k.lang))
        k.print_layout(layout, "invoice")


class SelfInvoiceFlow(_Step):
    """自助代开: seller by ID card, buyer, item and amount, the tax line by line, payment, invoice."""

    @action()
    def choose_category(self, category: SelfInvoiceCategory | str) -> None:
        if self._on(Screen.SELF_ITEM):
            self.kiosk.update(category=SelfInvoiceCategory(category))

    @action()
    def press(self, key: str) -> None:
        """The amount keypad: digits, ".", "del", "clear"."""
        if not self._on(Screen.SELF_ITEM):
            return
        value = self.kiosk.session.amount_text
        if key in ("del", "clear"):
            value = _edit(value, key, 20)
        elif key == "." and "." not in value:
            value = (value or "0") + "."
        elif key.isdigit() and len(key) == 1:
            whole, _, cents = value.partition(".")
            if "." in value and len(cents) >= 2:
                return
            if "." not in value and (len(whole) >= MAX_AMOUNT_DIGITS or whole == "0"):
                value = key if whole == "0" else value
            else:
                value += key
        self.kiosk.update(amount_text=value)

    @action()
    def compute(self) -> None:
        if not self._on(Screen.SELF_ITEM):
            return
        session = self.kiosk.session
        if session.category is None:
            raise problem("need_category")
        if not session.amount_text:
            raise problem("need_amount")
        try:
            amount = yuan_to_fen(session.amount_text.rstrip(".") or "0")
        except ValueError:
            raise problem("bad_amount") from None
        self._quote(session.category, amount)
        self.kiosk.go(Screen.SELF_QUOTE)

    def prefilled(self, code: Prefilled) -> None:
        """A request prepared at /prepare: buyer, items and amount filled in, straight to the
        tax computation — the taxpayer checks and confirms."""
        k, request = self.kiosk, code.request
        assert request is not None
        if request.seller_name and not same_person(request.seller_name, self._person().name):
            raise problem("err_prefill_seller", None, "err_prefill_seller_next")
        category = SelfInvoiceCategory(request.category)
        k.update(buyer=invoice_header(request.buyer), prefill=request, category=category,
                 amount_text=fen_to_yuan(request.total_fen))
        try:
            self._quote(category, request.total_fen, code.code_id)
        except Exception as exc:
            # not quoted (amount over the limit, gateway down, code already invoiced): nothing of
            # the code stays behind for the keypad path the taxpayer may take instead
            k.update(buyer=None, prefill=None, category=None, amount_text="")
            if isinstance(exc, GatewayRejected) and exc.code == "prefill_used":
                log.info("pre-filled request %s already has its invoice", code.reference)
                raise problem("err_prefill_used", Bi(exc.message_zh, exc.message), "err_prefill_used_next") from None
            raise
        log.info("pre-filled request %s: %d items, %s yuan", code.reference, len(request.items), fen_to_yuan(request.total_fen))
        k.notice = None
        k.go(Screen.SELF_QUOTE)

    def _quote(self, category: SelfInvoiceCategory, amount_fen: int, prefill_id: str | None = None) -> SelfInvoiceQuote:
        """Asks the gateway for the taxes; `prefill_id` is the scanned code's id, which the gateway
        allows one invoice (a renewed quote passes on its predecessor's)."""
        k = self.kiosk
        buyer = k.session.buyer
        if buyer is None:
            raise RuntimeError("no buyer in this visit")
        k.show_busy("asking_gateway")
        prefill = k.session.prefill
        item_name = line_name(prefill) if prefill is not None else None
        quote = k.gateway.quote_self_invoice(self._person().id_number, buyer, category, amount_fen, item_name, prefill_id)
        k.gateway_ok()
        k.update(quote=quote)
        return quote

    @action()
    def confirm(self) -> None:
        """Pays the tax due on the terminal (if any), then issues and prints the invoice."""
        if not self._on(Screen.SELF_QUOTE):
            return
        k = self.kiosk
        quote = k.session.quote
        if quote is None:
            return
        if quote.expires_at - k.now() < timedelta(seconds=QUOTE_MARGIN_S):
            renewed = self._quote(quote.category, quote.total_fen, quote.prefill_id)
            if renewed.tax_due_fen != quote.tax_due_fen:
                raise problem("err_quote_changed", None, "err_quote_changed_next")
            quote = renewed
        if k.session.payment is None:
            k.update(payment=self._pay(quote))
        self._issue()

    def _pay(self, quote: SelfInvoiceQuote) -> Payment:
        k = self.kiosk
        if quote.tax_due_fen == 0:
            return Payment("NO-TAX-DUE", 0)
        k.go(Screen.SELF_PAY)
        k.publish()
        result = k.terminal.pay(quote.tax_due_fen, quote.quote_id, k.settings.payment_timeout_s)
        if not result.approved:
            log.info("payment for quote %s: %s", quote.quote_id, result.outcome)
            k.go(Screen.SELF_QUOTE)
            if result.outcome == "declined":
                raise problem("err_payment_declined", None, "err_payment_declined_next")
            raise problem("err_payment_cancelled", None, "err_payment_declined_next")
        log.info("payment %s approved: %d fen for quote %s", result.reference, result.amount_fen, quote.quote_id)
        return Payment(result.reference, result.amount_fen)

    def _issue_or_requote(self, quote: SelfInvoiceQuote, proof: PaymentProof) -> Invoice:
        k = self.kiosk
        try:
            return k.gateway.issue_self_invoice(k.request_id(f"self:{quote.quote_id}"), quote.quote_id, proof)
        except GatewayRejected as exc:
            if exc.code != "quote_expired":
                raise
        # taxes moved since the quote (midnight, another invoice): quote again; the same
        # amount due lets the payment stand, anything else is for a counter to settle
        renewed = self._quote(quote.category, quote.total_fen, quote.prefill_id)
        if renewed.tax_due_fen != proof.amount_fen:
            log.warning("payment %s does not match the new tax due; invoice not issued", proof.reference)
            raise problem("paid_not_issued", "err_quote_changed_next", "paid_not_issued_hint", reference=proof.reference)
        return k.gateway.issue_self_invoice(k.request_id(f"self:{renewed.quote_id}"), renewed.quote_id, proof)

    @action()
    def retry_issue(self) -> None:
        if self._on(Screen.SELF_PAY) and self.kiosk.session.payment is not None:
            self._issue()

    def _issue(self) -> None:
        k = self.kiosk
        quote, payment = k.session.quote, k.session.payment
        assert quote is not None and payment is not None
        k.go(Screen.SELF_PAY)
        k.show_busy("asking_gateway")
        proof = PaymentProof(reference=payment.reference, amount_fen=payment.amount_fen)
        try:
            invoice = self._issue_or_requote(quote, proof)
        except GatewayRejected as exc:
            if exc.code != "prefill_used":
                raise
            # another kiosk issued this code's invoice between our quote and our issue: the
            # payment has nothing to pay for and is for a counter to refund
            log.warning("payment %s: code already invoiced elsewhere; invoice not issued", payment.reference)
            raise problem("paid_not_issued", Bi(exc.message_zh, exc.message), "err_prefill_used_paid_next",
                          reference=payment.reference) from None
        k.gateway_ok()
        log.info("self-issued invoice %s (payment %s)", invoice.number, payment.reference)
        k.update(invoice=invoice)
        k.go(Screen.SELF_DONE)
        print_invoice(k)


class CheckFlow(_Step):
    def got(self, text: str) -> None:
        k = self.kiosk
        fields = parse_invoice_qr(text)
        k.show_busy("asking_gateway")
        result = k.gateway.check_invoice(fields)
        k.gateway_ok()
        log.info("invoice check: %s", result.status)
        k.update(check_fields=fields, check_result=result)
        k.notice = None
        k.go(Screen.CHECK_RESULT)

    @action()
    def another(self) -> None:
        if self._on(Screen.CHECK_RESULT):
            self.kiosk.update(check_fields=None, check_result=None)
            self.kiosk.go(Screen.CHECK_SCAN)


class GuidesFlow(_Step):
    @action()
    def press(self, key: str) -> None:
        if self._on(Screen.GUIDES):
            self.kiosk.update(guide_query=_edit(self.kiosk.session.guide_query, key, 30))

    @action()
    def keyword(self, text: str) -> None:
        if self._on(Screen.GUIDES):
            self.kiosk.update(guide_query=text)

    @action()
    def open(self, entry_id: str) -> None:
        if self._on(Screen.GUIDES) and self.kiosk.guides.entry(entry_id) is not None:
            self.kiosk.update(guide_id=entry_id)
            self.kiosk.go(Screen.GUIDE)


class QueueFlow(_Step):
    """排队取号: a ticket of a chosen service, or an appointment's priority ticket (预约签到)
    by its code — typed on the keypad or scanned — with the desk saying when it is too early or
    too late, and a normal ticket of the booked service offered instead."""

    def _can_take(self, *screens: Screen) -> bool:
        k = self.kiosk
        return self._on(*screens) and k.queue is not None and k.view.queue_take

    @action()
    def take(self, service: str) -> None:
        k = self.kiosk
        if not self._can_take(Screen.QUEUE):
            return
        offered = {s.code: s for s in k.view.queue}
        if service not in offered or not offered[service].open:
            raise problem("err_queue", "queue_closed", "err_next_counter")
        self._take(service, offered[service].name, offered[service].name_en)

    def _take(self, service: str, name: str, name_en: str) -> None:
        k = self.kiosk
        assert k.queue is not None
        k.show_busy("wait")
        found = k.queue.take_ticket(service, "elderly" if k.elder else "normal", k.request_id(f"ticket:{service}"))
        ticket = Ticket(number=str(found["number"]), service=service, service_name=name, service_name_en=name_en,
                        ahead=int(found.get("ahead") or 0), est_wait_s=found.get("est_wait_s"), printed=False)
        log.info("ticket %s taken", ticket.number)
        k.update(ticket=ticket, checkin_digits="", checkin_refusal=None)
        k.go(Screen.QUEUE_DONE)
        self.print(str(found.get("token") or ""))

    # -- appointment check-in ---------------------------------------------------------------

    @action()
    def open_checkin(self) -> None:
        if self._can_take(Screen.QUEUE):
            self.kiosk.update(checkin_digits="", checkin_refusal=None)
            self.kiosk.go(Screen.QUEUE_CHECKIN)

    @action()
    def press(self, key: str) -> None:
        """The check-in keypad: a digit, "del" or "clear"; nine digits at most."""
        if not self._on(Screen.QUEUE_CHECKIN):
            return
        digits = self.kiosk.session.checkin_digits
        if key in ("del", "clear"):
            digits = _edit(digits, key, CODE_DIGITS)
        elif key.isdigit() and len(key) == 1 and len(digits) < CODE_DIGITS:
            digits += key
        self.kiosk.update(checkin_digits=digits, checkin_refusal=None)

    @action()
    def check_in(self) -> None:
        """The 签到 button: the typed code."""
        if self._can_take(Screen.QUEUE_CHECKIN):
            self.checked(self.kiosk.session.checkin_digits)

    def scanned(self, text: str) -> None:
        """What the scanner read on the check-in screen: the booking's QR code (its `/book/{code}`
        address) or the code itself."""
        if self._can_take(Screen.QUEUE_CHECKIN):
            self.checked(text)

    def checked(self, text: str) -> None:
        k = self.kiosk
        code = normalize_code(text)
        if code is None:  # the check digit catches a mistyped code before the desk is asked
            raise problem("checkin_bad_code", None, "checkin_bad_code_next")
        assert k.queue is not None
        purpose = f"checkin:{code}"
        k.show_busy("wait")
        try:  # the same request id for the visit: a retry after a lost answer never makes a second ticket
            reply = k.queue.check_in(code, k.request_id(purpose))
        except BusError as exc:
            log.warning("appointment check-in not answered: %s", exc)
            raise problem("checkin_unavailable", None, "checkin_unavailable_next") from None
        if reply.get("ok"):
            self._checked_in(reply["ticket"], reply.get("appointment") or {})
            return
        # refused: a later try in this visit (the window may open meanwhile) is a new request
        k.update(request_ids=tuple(pair for pair in k.session.request_ids if pair[0] != purpose))
        error = reply.get("error") or {}
        reason = str(error.get("code"))
        log.info("appointment check-in refused: %s", reason)
        if reason == "unknown_appointment":
            raise problem("checkin_unknown", None, "checkin_unknown_next")
        if reason not in ("too_early", "too_late", "appointment_cancelled", "already_checked_in"):
            message = str(error.get("message") or "")  # e.g. service_closed: the queue's own words
            raise problem("checkin_refused", Bi(error_words(reason, message, "zh"), error_words(reason, message, "en")),
                          "err_next_counter")
        appointment = self._lookup(code)
        if reason == "already_checked_in":
            raise problem("checkin_already", None, "checkin_already_next", ticket=appointment.get("ticket") or "—")
        k.update(checkin_refusal=CheckinRefusal(
            reason=reason, slot=str(appointment.get("slot") or ""),
            checkin_from=str(appointment.get("checkin_from") or "")[11:16],
            checkin_until=str(appointment.get("checkin_until") or "")[11:16],
            service=appointment.get("service"), service_name=str(appointment.get("service_name") or appointment.get("service") or ""),
            service_name_en=str(appointment.get("service_name_en") or appointment.get("service_name") or appointment.get("service") or "")))

    def _lookup(self, code: str) -> dict[str, Any]:
        """The appointment's times and service, for the words of a refusal (empty if unknown)."""
        k = self.kiosk
        assert k.queue is not None
        try:
            # a fresh id each time: a lookup changes nothing, and an earlier answer may be stale
            looked = k.queue.lookup_appointment(code, uuid.uuid4().hex)
        except BusError as exc:
            log.info("appointment lookup not answered: %s", exc)
            return {}
        return dict(looked.get("appointment") or {}) if looked.get("ok", True) else {}

    def _checked_in(self, found: dict[str, Any], appointment: dict[str, Any]) -> None:
        k = self.kiosk
        service = str(found["service"])
        known = {s.code: s for s in k.view.queue}
        name = appointment.get("service_name") or (known[service].name if service in known else service)
        name_en = appointment.get("service_name_en") or (known[service].name_en if service in known else service)
        ticket = Ticket(number=str(found["number"]), service=service, service_name=str(name), service_name_en=str(name_en),
                        ahead=int(found.get("ahead") or 0), est_wait_s=found.get("est_wait_s"), printed=False,
                        slot=str(appointment.get("slot") or "") or None)
        log.info("appointment checked in: ticket %s", ticket.number)
        k.update(ticket=ticket, checkin_digits="", checkin_refusal=None)
        k.go(Screen.QUEUE_DONE)
        self.print(str(found.get("token") or ""))

    @action()
    def take_offered(self) -> None:
        """The normal ticket of the booked service, offered when the appointment cannot check in."""
        if not self._can_take(Screen.QUEUE_CHECKIN):
            return
        refusal = self.kiosk.session.checkin_refusal
        if refusal is None or not refusal.service:
            return
        # not checked against the waiting counts: the engine says whether the service takes tickets now
        self._take(refusal.service, refusal.service_name, refusal.service_name_en)

    def print(self, token: str) -> None:
        k = self.kiosk
        ticket = k.session.ticket
        if ticket is None:
            return
        s = k.settings
        slip = ticket_slip(ticket, token, k.hall, s.hall_name, s.hall_name_en, s.queue_follow_url, k.lang, k.now())
        k.print_layout(slip, "ticket")
        k.update(ticket=replace(ticket, printed=True))


class Flows:
    """The flows of one kiosk, and what is common to them: starting, device input, back."""

    def __init__(self, kiosk: Kiosk) -> None:
        self.kiosk = kiosk
        self.certificate = CertificateFlow(kiosk)
        self.buyer = BuyerFlow(kiosk)
        self.request = RequestFlow(kiosk)
        self.self_invoice = SelfInvoiceFlow(kiosk)
        self.check = CheckFlow(kiosk)
        self.guides = GuidesFlow(kiosk)
        self.queue = QueueFlow(kiosk)
        from kiosk.appeal import AppealFlow  # it builds on this module's steps

        self.appeal = AppealFlow(kiosk)

    def start(self, flow: Flow) -> None:
        if flow == Flow.APPEAL:
            self.appeal.start()  # asks the desk for the hall's categories first
            return
        first = {Flow.CERTIFICATE: Screen.IDENTIFY, Flow.SELF_INVOICE: Screen.IDENTIFY, Flow.REQUEST: Screen.REQ_SCAN,
                 Flow.CHECK: Screen.CHECK_SCAN, Flow.GUIDES: Screen.GUIDES, Flow.QUEUE: Screen.QUEUE}[flow]
        self.kiosk.go(first)

    def back_target(self, screen: Screen) -> Screen | None:
        flow = self.kiosk.session.flow
        if screen == Screen.BUYER:
            return Screen.REQ_SCAN if flow == Flow.REQUEST else None
        if screen == Screen.REQ_CONFIRM:
            return Screen.BUYER
        if screen == Screen.SELF_QUOTE and self.kiosk.session.prefill is not None:
            return Screen.BUYER  # its amount came from the code: nothing to change on the keypad
        from kiosk.core import BACK

        return BACK.get(screen)

    def leaving(self, screen: Screen, target: Screen) -> None:
        """Going back drops what the screen left behind was built on."""
        k = self.kiosk
        if screen == Screen.CERT_RECORDS:
            k.update(records=(), certificate=None)
        elif screen == Screen.SELF_QUOTE and k.session.prefill is not None:
            k.update(quote=None, prefill=None, buyer=None, category=None, amount_text="")
        elif screen == Screen.SELF_QUOTE:
            k.update(quote=None)
        elif screen == Screen.REQ_CONFIRM:
            k.update(buyer=None)
        elif screen == Screen.BUYER and target == Screen.REQ_SCAN:
            k.update(request_ref=None, order=None)
        elif screen == Screen.CHECK_RESULT:
            k.update(check_fields=None, check_result=None)
        elif screen == Screen.GUIDE:
            k.update(guide_id=None)
        elif screen == Screen.QUEUE_CHECKIN:
            k.update(checkin_digits="", checkin_refusal=None)

    def cancel_payment(self) -> None:
        self.kiosk.terminal.cancel()

    @action()
    def reprint(self) -> None:
        """Prints the visit's document again (same number; within the visit only)."""
        k = self.kiosk
        if k.screen == Screen.CERT_DONE:
            self.certificate.print()
        elif k.screen in (Screen.REQ_DONE, Screen.SELF_DONE):
            print_invoice(k)
        elif k.screen == Screen.QUEUE_DONE:
            self.queue.print("")
        elif k.screen == Screen.APPEAL_DONE:
            self.appeal.print()

    # -- what the reader and scanner deliver ---------------------------------------------------

    def poll(self, timeout_s: float) -> None:
        k = self.kiosk
        if k.screen == Screen.IDENTIFY:
            self._poll_identify(timeout_s)
        elif k.screen in (Screen.REQ_SCAN, Screen.BUYER, Screen.CHECK_SCAN, Screen.QUEUE_CHECKIN):
            text = k.devices.read_scan(timeout_s)
            if text is not None:
                self.scanned(text)

    def _etax_allowed(self) -> bool:
        k = self.kiosk
        return k.settings.etax_qr and k.session.flow == Flow.CERTIFICATE and k.devices.has_scanner

    def _poll_identify(self, timeout_s: float) -> None:
        k = self.kiosk
        scan_too = self._etax_allowed()
        if k.devices.has_reader:
            identity = k.devices.read_card(timeout_s / 2 if scan_too else timeout_s)
            if identity is not None:
                self.identified(person_from_card(identity, k.today()))
                return
        if scan_too:
            text = k.devices.read_scan(timeout_s / 2 if k.devices.has_reader else timeout_s)
            if text is not None:
                self.identified(parse_etax_qr(text, k.now()))

    def identified(self, person: Person) -> None:
        k = self.kiosk
        k.show_busy("asking_gateway")
        taxpayer = k.gateway.find_taxpayer(person.id_number)
        k.gateway_ok()
        log.info("identified %s by %s", person.masked_id_number, person.source)
        k.update(person=person, taxpayer=taxpayer)
        k.notice = None
        k.go(Screen.CERT_PERIOD if k.session.flow == Flow.CERTIFICATE else Screen.BUYER)

    def scanned(self, text: str) -> None:
        k = self.kiosk
        if k.screen == Screen.QUEUE_CHECKIN:
            self.queue.scanned(text)
            return
        if k.screen in (Screen.BUYER, Screen.REQ_SCAN) and looks_like_prefill(text):
            self.prefilled(text)
            return
        if k.screen == Screen.CHECK_SCAN:
            self.check.got(text)
        elif k.screen == Screen.BUYER:
            self.buyer.got(parse_header_qr(text))
        elif k.screen == Screen.REQ_SCAN:
            kind = describe(text)[0]
            if kind == "request":
                self.request.got_request(parse_request_qr(text))
            elif kind == "header":
                self.buyer.got(parse_header_qr(text))
            else:
                _, en, zh = describe(text)
                raise ForeignQr(f"This is {en}, not {EXPECT_REQUEST[0]}.", f"这是{zh}，不是{EXPECT_REQUEST[1]}。",
                                EXPECT_REQUEST, en)

    def prefilled(self, text: str) -> None:
        """A code from /prepare: verified with the hall's keys, then a buyer's header or a
        whole self-invoicing request filled in."""
        k = self.kiosk
        try:
            code = verify(text, keyring(k.settings.prefill_keys), k.now())
        except PrefillRefused as exc:
            log.info("pre-filled code refused: %s", exc.code)
            raise problem("err_prefill", Bi(exc.message_zh, exc.message_en), "err_prefill_next") from None
        if code.header is not None:
            self.buyer.got(invoice_header(code.header))
        elif k.session.flow == Flow.SELF_INVOICE and k.screen == Screen.BUYER:
            self.self_invoice.prefilled(code)
        else:
            raise problem("err_prefill_flow", None, "err_prefill_flow_next")
