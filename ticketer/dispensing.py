"""The dispenser's logic (取号机): service tiles from the retained `queue/state`, a ticket per
touch — taken from the engine, or from the dispenser's own lease while the engine is away —
printed on the receipt printer, and the number always shown on screen, printed or not.

Appointment check-in (预约签到): a code typed on the on-screen keypad (`CodeKeypad`) or scanned
from the confirmation's QR code goes through `Dispensing.check_in` alike: inside its window the
appointment desk gives a priority ticket (printed like any ticket, marked 预约); too early or
too late the screen says so, with the times, and offers a normal ticket of the booked service.

A plain object; the Kivy dispenser (dispenser_app.py) binds to it, tests drive it directly.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Protocol

from drivers.printer.errors import PrinterError
from drivers.printer.layout import Layout, Text, TicketInfo, queue_ticket
from taxhall.bus import BusError, BusMessage
from taxhall.bus.schemas import now_iso
from ticketer.appointment_codes import format_code, normalize_code
from ticketer.counter_desk import Requester
from ticketer.offline_book import OfflineBook, OfflineIssued
from ticketer.queue_words import error_words

log = logging.getLogger("ticketer.dispenser")


class TicketPrinter(Protocol):
    """What the dispenser needs of a printer (ReceiptPrinter): print a layout, or raise PrinterError."""

    def print_job(self, job: Layout, *, job_id: str | None = None) -> Any: ...


@dataclass(frozen=True)
class ServiceTile:
    code: str
    name: str
    name_en: str
    waiting: int
    est_wait_s: int
    open: bool


@dataclass(frozen=True)
class Issued:
    """The outcome of one touch, for the screen."""

    ok: bool
    number: str | None = None
    service: str | None = None
    ahead: int | None = None
    est_wait_s: int | None = None
    offline: bool = False
    printed: bool = False
    message: str = ""


@dataclass(frozen=True)
class CheckIn:
    """The outcome of an appointment check-in, for the screen: the ticket when it worked;
    otherwise the reason and, when a normal ticket would help, its service (`offer_service`)."""

    ok: bool
    issued: Issued | None = None
    message: str = ""
    offer_service: str | None = None


@dataclass
class CodeKeypad:
    """The on-screen keypad's typed code: digits only, at most nine, shown in groups of three."""

    digits: str = ""

    def press(self, key: str) -> None:
        if key.isdigit() and len(key) == 1 and len(self.digits) < 9:
            self.digits += key

    def back(self) -> None:
        self.digits = self.digits[:-1]

    def clear(self) -> None:
        self.digits = ""

    @property
    def complete(self) -> bool:
        return len(self.digits) == 9

    def shown(self) -> str:
        """`1234` → `123-4`; empty places as underscores so the taxpayer sees how many are left."""
        padded = self.digits + "_" * (9 - len(self.digits))
        return format_code(padded)


# What the dispenser says to a taxpayer about a refused check-in, (zh, en); {from} {until} {ticket}
# are filled in from the appointment.
_CHECK_IN_WORDS: dict[str, tuple[str, str]] = {
    "bad_code": ("预约码有误，请核对 9 位数字", "That code is not right — please check the 9 digits"),
    "unknown_appointment": ("没有找到该预约，请核对预约码", "No appointment with this code — please check it"),
    "too_early": ("还未到签到时间：请在 {from}–{until} 签到。\n如现在办理，可取普通号。",
                  "Too early: check in between {from} and {until}.\nYou may take a normal ticket now."),
    "too_late": ("已超过签到时间（{until} 截止），预约已失效。\n可取普通号排队。",
                 "Too late: check-in closed at {until}; the appointment has lapsed.\nYou may take a normal ticket."),
    "appointment_cancelled": ("该预约已取消。可取普通号排队。", "This appointment was cancelled. You may take a normal ticket."),
    "already_checked_in": ("该预约已签到，号码 {ticket}", "Already checked in: ticket {ticket}"),
    "unavailable": ("预约签到暂不可用，请取普通号或咨询工作人员", "Check-in is unavailable; please take a normal ticket or ask the staff"),
}


@dataclass
class Dispensing:
    bus: Requester
    source: str  # this dispenser's device id
    book: OfflineBook
    printer: TicketPrinter | None = None
    hall_name: str = "办税服务厅"
    hall_name_en: str = "Tax Service Hall"
    follow_url: str = "http://127.0.0.1:8080/t/{token}"  # the taxpayer's phone view; {token} filled in
    lang: str = "zh"
    timeout_s: float = 2.0
    lease_size: int = 20
    lease_low_water: int = 5
    on_change: Callable[[], None] = lambda: None
    tiles: dict[str, ServiceTile] = field(default_factory=dict)
    engine_day: str | None = None  # YYYY-MM-DD, from queue/state
    closed: str | None = None  # out of service, with the message to show (a remote command)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ state

    def on_state(self, message: BusMessage) -> None:
        day = str(getattr(message.data, "day", "") or "")
        if len(day) == 8 and day.isdigit():  # the engine's business day, YYYYMMDD
            self.engine_day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
        tiles = {}
        for code, s in message.data.services.items():
            tiles[code] = ServiceTile(code, s.name, getattr(s, "name_en", None) or s.name, s.waiting, s.est_wait_s, s.open)
        self.tiles = dict(sorted(tiles.items()))
        self.on_change()

    def closed_text(self) -> str:
        if self.closed:
            return self.closed
        return "本机暂停服务，请到服务台取号" if self.lang == "zh" else "Out of service — please ask at the desk"

    def business_day(self) -> str:
        """The engine's business day as last seen in `queue/state` (it may start at a reset
        time other than midnight); the calendar date only before the engine was ever seen."""
        return self.engine_day or datetime.now().strftime("%Y-%m-%d")

    # ------------------------------------------------------------------ a touch

    def take(self, service: str, priority: str | None = None, appointment: str | None = None) -> Issued:
        if self.closed is not None:
            return Issued(False, service=service, message=self.closed_text())
        payload: dict[str, Any] = {"request_id": f"{self.source}-{uuid.uuid4().hex[:16]}", "service": service,
                                   "source": self.source}
        if priority:
            payload["priority"] = priority
        if appointment:
            payload["appointment"] = appointment
        try:  # retried with the same request id: a lost answer never makes a second ticket
            reply: dict[str, Any] | None = self.bus.request_retried("queue/req/take_ticket", payload, timeout_s=self.timeout_s)
        except BusError:
            reply = None
        if reply is None:
            return self._take_offline(service, priority)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            return Issued(False, service=service,
                          message=error_words(str(error.get("code")), str(error.get("message", "")), self.lang))
        ticket = reply["ticket"]
        tile = self.tiles.get(service)
        info = TicketInfo(
            hall_name=self.hall_name, hall_name_en=self.hall_name_en,
            service_name=tile.name if tile else service, service_name_en=tile.name_en if tile else service,
            number=ticket["number"], ahead=int(ticket.get("ahead") or 0), est_wait_s=ticket.get("est_wait_s"),
            issued_at=datetime.now(), follow_url=self.follow_url.format(token=ticket.get("token") or ""),
        )
        issued = Issued(True, ticket["number"], service, info.ahead, info.est_wait_s)
        return self._print(issued, queue_ticket(info, self.lang))

    def _take_offline(self, service: str, priority: str | None) -> Issued:
        zh = self.lang == "zh"
        got = self.book.issue(self.business_day(), service, now_iso(), priority)
        if got is None:
            return Issued(False, service=service,
                          message="排队系统暂时中断，暂停取号，请稍候或咨询工作人员" if zh
                          else "The queue system is down; tickets are paused. Please ask the staff.")
        tile = self.tiles.get(service)
        info = TicketInfo(
            hall_name=self.hall_name, hall_name_en=self.hall_name_en,
            service_name=tile.name if tile else service, service_name_en=tile.name_en if tile else service,
            number=got.number, ahead=0, est_wait_s=None, issued_at=datetime.now(),
            follow_url=self.follow_url.format(token=""),
        )
        layout = queue_ticket(info, self.lang)
        note = Text("网络中断时所取号票，请留意叫号屏" if zh else "Taken while offline — watch the call screen",
                    bold=True, align="center")
        # The ahead-count line would be a guess offline: replace it with the offline note.
        blocks = tuple(note if isinstance(b, Text) and b.text in ("前面无人等候", "You are next") else b for b in layout.blocks)
        issued = Issued(True, got.number, service, None, None, offline=True)
        return self._print(issued, replace(layout, blocks=blocks))

    def _print(self, issued: Issued, layout: Layout) -> Issued:
        zh = self.lang == "zh"
        if self.printer is None:
            return replace(issued, message="请记住您的号码" if zh else "Please note your number")
        try:
            self.printer.print_job(layout, job_id=f"ticket-{issued.number}")
        except PrinterError as exc:
            log.error("ticket %s not printed: %s", issued.number, exc)
            return replace(issued, printed=False,
                           message=(f"打印机故障，请记住您的号码 {issued.number}" if zh
                                    else f"Printer fault — please note your number {issued.number}"))
        return replace(issued, printed=True, message="请取走号票" if zh else "Please take your ticket")

    # ------------------------------------------------------------------ appointment check-in

    def check_in(self, text: str) -> CheckIn:
        """A typed or scanned appointment code (or the `/book/{code}` address of its QR code)."""
        if self.closed is not None:
            return CheckIn(False, message=self.closed_text())
        code = normalize_code(text)
        if code is None:
            return CheckIn(False, message=self._check_in_words("bad_code"))
        payload = {"request_id": f"{self.source}-ci-{uuid.uuid4().hex[:16]}", "code": code, "source": self.source}
        reply = self._ask_desk("appointments/req/check_in", payload)
        if reply is None:
            return CheckIn(False, message=self._check_in_words("unavailable"))
        if reply.get("ok"):
            return CheckIn(True, self._print_appointment_ticket(reply["ticket"], reply["appointment"]))
        reason = str((reply.get("error") or {}).get("code"))
        looked = self._ask_desk("appointments/req/lookup", {"request_id": f"{self.source}-lu-{uuid.uuid4().hex[:16]}",
                                                            "code": code, "source": self.source})
        appointment = (looked or {}).get("appointment") or {}
        offer = appointment.get("service") if reason in ("too_early", "too_late", "appointment_cancelled") else None
        if reason not in _CHECK_IN_WORDS:
            error = reply.get("error") or {}
            return CheckIn(False, message=error_words(reason, str(error.get("message", "")), self.lang))
        return CheckIn(False, message=self._check_in_words(reason, appointment), offer_service=offer)

    def _check_in_words(self, reason: str, appointment: dict[str, Any] | None = None) -> str:
        zh, en = _CHECK_IN_WORDS[reason]
        a = appointment or {}
        fill = {"from": str(a.get("checkin_from", ""))[11:16], "until": str(a.get("checkin_until", ""))[11:16],
                "ticket": a.get("ticket") or ""}
        return (zh if self.lang == "zh" else en).format(**fill)

    def _ask_desk(self, topic: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        try:  # retried with the same request id: a lost answer never makes a second ticket
            return self.bus.request_retried(topic, payload, timeout_s=self.timeout_s)
        except BusError:
            return None

    def _print_appointment_ticket(self, ticket: dict[str, Any], appointment: dict[str, Any]) -> Issued:
        zh = self.lang == "zh"
        tile = self.tiles.get(ticket["service"])
        info = TicketInfo(
            hall_name=self.hall_name, hall_name_en=self.hall_name_en,
            service_name=appointment.get("service_name") or (tile.name if tile else ticket["service"]),
            service_name_en=appointment.get("service_name_en") or (tile.name_en if tile else ticket["service"]),
            number=ticket["number"], ahead=int(ticket.get("ahead") or 0), est_wait_s=ticket.get("est_wait_s"),
            issued_at=datetime.now(), follow_url=self.follow_url.format(token=ticket.get("token") or ""),
        )
        layout = queue_ticket(info, self.lang)
        mark = Text(f"预约 {appointment.get('slot', '')}  优先叫号" if zh else f"Appointment {appointment.get('slot', '')} — called first",
                    bold=True, align="center")
        # The mark goes right under the service name, where the counter staff look first.
        blocks = layout.blocks[:3] + (mark,) + layout.blocks[3:]
        issued = Issued(True, ticket["number"], ticket["service"], info.ahead, info.est_wait_s)
        return self._print(issued, replace(layout, blocks=blocks))

    # ------------------------------------------------------------------ leases and hand-in

    def keep_lease(self) -> None:
        """Tops up the leased numbers of every service running low (needs the engine)."""
        today = self.business_day()
        low = [code for code in self.tiles if self.book.remaining(today, code) < self.lease_low_water]
        if not low:
            return
        request = {"request_id": f"{self.source}-lease-{uuid.uuid4().hex[:12]}", "source": self.source,
                   "services": low, "size": self.lease_size}
        try:
            reply = self.bus.request("queue/req/lease", request, timeout_s=self.timeout_s, check=False)
        except BusError as exc:
            log.info("no lease now: %s", exc)
            return
        if not reply.get("ok"):
            log.warning("lease refused: %s", (reply.get("error") or {}).get("message"))
            return
        day = str(reply.get("day") or today)
        for code, lease in (reply.get("leases") or {}).items():
            self.book.add_lease(day, code, str(lease["lease_id"]), list(lease["numbers"]))

    def hand_in(self) -> int:
        """Hands the tickets issued offline to the engine, a business day at a time; returns
        how many it took. Tickets the engine can never take (`lease_expired`: their day has
        ended; `not_leased`: it does not know their lease) are given up one by one and logged,
        so that they do not hold back every ticket after them."""
        taken = 0
        for batch in _batches(self.book.pending()):
            done, go_on = self._hand_in_batch(batch)
            taken += done
            if not go_on:
                break
        if taken:
            log.info("handed %d offline ticket(s) to the queue engine", taken)
        return taken

    def _hand_in_batch(self, batch: list[OfflineIssued]) -> tuple[int, bool]:
        """(how many of `batch` the engine took, whether to go on): the engine unreachable or
        refusing for another reason stops the hand-in until the next round."""
        request = {"request_id": f"{self.source}-handin-{batch[0].day}-{batch[0].number}-{len(batch)}",
                   "source": self.source,
                   "tickets": [{"number": t.number, "service": t.service, "taken_at": t.taken_at,
                                **({"priority": t.priority} if t.priority else {})} for t in batch]}
        try:
            reply = self.bus.request("queue/req/hand_in", request, timeout_s=self.timeout_s * 2, check=False)
        except BusError as exc:
            log.info("hand-in postponed: %s", exc)
            return 0, False
        if reply.get("ok"):
            self.book.mark_handed_in(batch)
            return len(batch), True
        error = reply.get("error") or {}
        if error.get("code") not in _NEVER_TAKEN:
            log.error("hand-in refused: %s", error.get("message"))
            return 0, False
        if len(batch) == 1:
            self.book.give_up(batch)
            log.error("offline ticket %s of %s given up — its holder will not be called: %s",
                      batch[0].number, batch[0].day, error.get("message"))
            return 0, True
        # The engine takes a batch whole or not at all: find the refused ones one by one.
        taken = 0
        for ticket in batch:
            done, go_on = self._hand_in_batch([ticket])
            taken += done
            if not go_on:
                return taken, False
        return taken, True


# Refusals that no retry can change.
_NEVER_TAKEN = frozenset({"lease_expired", "not_leased"})
_HAND_IN_BATCH = 50


def _batches(pending: list[OfflineIssued]) -> list[list[OfflineIssued]]:
    """Pending tickets in hand-in batches: one business day each (an ended day's refusal must
    not take a later day's tickets down with it), at most _HAND_IN_BATCH long."""
    by_day: dict[str, list[OfflineIssued]] = {}
    for ticket in pending:
        by_day.setdefault(ticket.day, []).append(ticket)
    return [tickets[i : i + _HAND_IN_BATCH] for _, tickets in sorted(by_day.items())
            for i in range(0, len(tickets), _HAND_IN_BATCH)]
