"""The dispenser's logic (取号机): service tiles from the retained `queue/state`, a ticket per
touch — taken from the engine, or from the dispenser's own lease while the engine is away —
printed on the receipt printer, and the number always shown on screen, printed or not.

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
from taxhall.bus import BusError, BusMessage, RequestTimeout
from taxhall.bus.schemas import now_iso
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
        reply: dict[str, Any] | None = None
        for _ in range(2):  # the same request id: a lost answer never makes a second ticket
            try:
                reply = self.bus.request("queue/req/take_ticket", payload, timeout_s=self.timeout_s, check=False)
                break
            except RequestTimeout:
                continue
            except BusError:
                break
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
