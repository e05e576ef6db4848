"""The kiosk as a plain-Python state machine: screens, the visit, tiles, errors, the idle
count-down and remote closing. No Kivy here — the UI binds to `View` snapshots and calls
the actions; the tests do the same without a window.

Threading: actions are meant to run one at a time on one worker (kiosk.runner); each action
ends by publishing an immutable `View` to `on_change`. The UI never reads the kiosk's
attributes, only the last View, so it never sees half an update.

Every action goes through `action`, which counts it as activity (resets the idle timer),
turns any failure into a `Notice` in plain words with what to do next, and publishes.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, TypeVar

from pydantic import ValidationError

from drivers.printer.errors import CoverOpen, PaperOut, PrinterError, PrinterFault
from drivers.printer.layout import Layout
from kiosk.devices import DeviceTrouble, KioskDevices
from kiosk.gateway.interface import GatewayError, GatewayNotFound, GatewayUnavailable, TaxGateway
from kiosk.gateway.invoice_qr import QrError
from kiosk.guides import GuideBook
from kiosk.health import GATEWAY, OK, READER, HealthBoard, Tile, fault, tiles, usable
from kiosk.identify import CardExpired
from kiosk.payment import PaymentTerminal
from kiosk.session import READS_CARD, READS_SCANNER, Flow, Screen, Session
from kiosk.words import Bi, word
from taxhall.bus import BusError
from taxhall.bus.errors import RequestFailed
from taxhall.bus.schemas import GuideEntry

if TYPE_CHECKING:
    from kiosk.appeal import AppealLink
    from kiosk.config import KioskSection
    from kiosk.flows import Flows

log = logging.getLogger("kiosk")

CHINA_TZ = timezone(timedelta(hours=8), "CST")


def china_now() -> datetime:
    return datetime.now(CHINA_TZ)


@dataclass(frozen=True)
class Notice:
    """A message over the current screen: what happened, and what to do next."""

    title: Bi
    body: Bi | None = None
    next_step: Bi | None = None
    kind: Literal["error", "info"] = "error"


class KioskProblem(Exception):
    """A flow's way of saying "this cannot go on", with the words for the screen."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.title.en)
        self.notice = notice


def problem(title: str, body: Bi | str | None = None, next_step: str | None = None, **values: Any) -> KioskProblem:
    """A KioskProblem from word keys; `body` may be a key or a ready Bi."""
    body_bi = word(body).format(**values) if isinstance(body, str) else body
    return KioskProblem(Notice(word(title).format(**values), body_bi, word(next_step).format(**values) if next_step else None))


@dataclass(frozen=True)
class QueueService:
    code: str
    name: str
    name_en: str
    waiting: int
    est_wait_s: int
    open: bool


class QueueLink(Protocol):
    """The queue engine as the kiosk sees it (over the bus; see kiosk.remote)."""

    def services(self) -> tuple[QueueService, ...] | None:
        """Waiting counts from the retained queue state; None before any arrived."""
        ...

    def take_ticket(self, service: str, priority: str, request_id: str) -> dict[str, Any]:
        """The engine's `ticket` object; raises taxhall.bus errors."""
        ...

    def check_in(self, code: str, request_id: str) -> dict[str, Any]:
        """The appointment desk's answer to `appointments/req/check_in` (ok or not); raises
        taxhall.bus errors when no answer came."""
        ...

    def lookup_appointment(self, code: str, request_id: str) -> dict[str, Any]:
        """The appointment desk's answer to `appointments/req/lookup`."""
        ...


@dataclass(frozen=True)
class View:
    """Everything a screen shows, at one moment."""

    screen: Screen
    lang: str
    elder: bool
    session: Session
    tiles: tuple[Tile, ...]
    notice: Notice | None
    busy: Bi | None
    countdown: int | None
    closed_message: str
    queue: tuple[QueueService, ...]
    queue_take: bool  # tickets can be taken here now (else waiting counts only)
    guides: tuple[GuideEntry, ...]
    popular: tuple[str, ...]
    guide: GuideEntry | None
    seq: int = 0


# Where "back" goes from each screen; None: back ends the visit (the first step of a flow).
BACK: dict[Screen, Screen | None] = {
    Screen.IDENTIFY: None,
    Screen.CERT_PERIOD: None,
    Screen.CERT_RECORDS: Screen.CERT_PERIOD,
    Screen.REQ_SCAN: None,
    Screen.BUYER_KEYPAD: Screen.BUYER,
    Screen.SELF_ITEM: Screen.BUYER,
    Screen.SELF_QUOTE: Screen.SELF_ITEM,
    Screen.CHECK_SCAN: None,
    Screen.CHECK_RESULT: Screen.CHECK_SCAN,
    Screen.GUIDES: None,
    Screen.GUIDE: Screen.GUIDES,
    Screen.QUEUE: None,
    Screen.QUEUE_CHECKIN: Screen.QUEUE,
    Screen.APPEAL: None,
    Screen.APPEAL_TEXT: Screen.APPEAL,
}

# What the voice says when a screen opens (elder mode).
PROMPTS: dict[Screen, str] = {
    Screen.HOME: "say_home",
    Screen.IDENTIFY: "say_identify",
    Screen.REQ_SCAN: "say_scan",
    Screen.BUYER: "say_scan",
    Screen.CHECK_SCAN: "say_scan",
    Screen.QUEUE_CHECKIN: "say_checkin",
    Screen.CERT_RECORDS: "say_records",
    Screen.REQ_CONFIRM: "say_check",
    Screen.SELF_QUOTE: "say_check",
    Screen.SELF_PAY: "say_pay",
    Screen.CERT_DONE: "say_done",
    Screen.REQ_DONE: "say_done",
    Screen.SELF_DONE: "say_done",
    Screen.QUEUE_DONE: "say_done",
    Screen.APPEAL_DONE: "say_done",
}


class Speaks(Protocol):
    def say(self, text: str, lang: str) -> None: ...


F = TypeVar("F", bound=Callable[..., None])


def action(activity: bool = True) -> Callable[[F], F]:
    """Wraps a kiosk or flow method: activity, failures as notices, publishing."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> None:
            kiosk: Kiosk = getattr(self, "kiosk", self)
            if activity:
                kiosk.activity()
            try:
                method(self, *args, **kwargs)
            except Exception as exc:  # every failure becomes words on the screen, never a traceback
                kiosk.fail(exc)
            finally:
                kiosk.busy = None
                kiosk.publish()

        return run  # type: ignore[return-value]

    return wrap


class Kiosk:
    """One kiosk: its screen, its visit, and the services it reaches."""

    def __init__(self, settings: KioskSection, gateway: TaxGateway, devices: KioskDevices, terminal: PaymentTerminal,
                 board: HealthBoard, guides: GuideBook, *, queue: QueueLink | None = None, speaker: Speaks | None = None,
                 hall: str = "hall1", device_id: str = "kiosk", clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = china_now, appeals: AppealLink | None = None) -> None:
        from kiosk.flows import Flows

        self.settings = settings
        self.gateway = gateway
        self.devices = devices
        self.terminal = terminal
        self.board = board
        self.guides = guides
        self.queue = queue
        self.appeals = appeals
        self.speaker = speaker
        self.hall = hall
        self.device_id = device_id
        self.clock = clock
        self.now = now
        self.screen = Screen.HOME
        self.lang = settings.lang
        self.elder = False
        self.session = Session()
        self.notice: Notice | None = None
        self.busy: Bi | None = None
        self.countdown: int | None = None
        self.closed = False
        self.closed_message = ""
        self.last_activity = clock()
        self.on_change: Callable[[View], None] = lambda view: None
        self.view = self._build_view(0)
        self.flows: Flows = Flows(self)

    # -- publishing -------------------------------------------------------------------------

    def _build_view(self, seq: int) -> View:
        health = self.board.snapshot()
        services = self.queue.services() if self.queue else None
        known = services is not None
        queue_take = self.settings.queue == "take" and usable(health.get("printer"))
        wanted = set(self.settings.queue_services)
        shown = tuple(s for s in services or () if not wanted or s.code in wanted)
        manifest = self.guides.manifest
        return View(
            screen=self.screen, lang=self.lang, elder=self.elder, session=self.session,
            tiles=tiles(health, self.settings.queue, known, appeals=self.appeals is not None), notice=self.notice, busy=self.busy,
            countdown=self.countdown, closed_message=self.closed_message, queue=shown, queue_take=queue_take,
            guides=tuple(self.guides.find(self.session.guide_query)), popular=manifest.popular,
            guide=self.guides.entry(self.session.guide_id) if self.session.guide_id else None, seq=seq,
        )

    def publish(self) -> View:
        self.view = self._build_view(self.view.seq + 1)
        self.on_change(self.view)
        return self.view

    def refresh(self) -> None:
        """Something outside changed (health, queue state, guides): show it."""
        self.publish()

    def show_busy(self, key: str) -> None:
        self.busy = word(key)
        self.publish()

    # -- the visit ------------------------------------------------------------------------------

    def update(self, **changes: Any) -> Session:
        self.session = replace(self.session, **changes)
        return self.session

    def request_id(self, purpose: str) -> str:
        """The id of one thing this visit asks for: the same on every retry of it."""
        found = self.session.request_id(purpose)
        if found is None:
            found = f"k-{uuid.uuid4().hex}"
            self.update(request_ids=self.session.request_ids + ((purpose, found),))
        return found

    def go(self, screen: Screen) -> None:
        if screen == self.screen:
            return
        self.screen = screen
        log.info("screen %s", screen.value)
        if screen in READS_SCANNER:
            self.devices.flush_scans()  # a code scanned before this screen is not for it
        self.say(PROMPTS.get(screen))

    def say(self, key: str | None) -> None:
        if key and self.elder and self.speaker is not None and self.settings.voice:
            self.speaker.say(word(key).get(self.lang), self.lang)

    def end_session(self, reason: str) -> None:
        """Back to the home screen with nothing of the visit kept."""
        if self.session != Session():
            log.info("visit ended (%s); its data wiped", reason)
        self.session = Session()
        self.notice = None
        self.countdown = None
        self.lang = self.settings.lang
        self.elder = False
        self.go(Screen.CLOSED if self.closed else Screen.HOME)

    def activity(self) -> None:
        self.last_activity = self.clock()
        self.countdown = None

    # -- failures ---------------------------------------------------------------------------

    def fail(self, exc: Exception) -> None:
        """Turns a failure into a notice; unexpected ones are logged with their traceback."""
        self.notice = self._notice_for(exc)

    def _notice_for(self, exc: Exception) -> Notice:
        if isinstance(exc, KioskProblem):
            return exc.notice
        if isinstance(exc, GatewayUnavailable):
            self.board.set(GATEWAY, fault(exc.message))
            log.warning("tax gateway unavailable: %s", exc.message)
            return Notice(word("err_gateway_down"), None, word("err_gateway_down_next"))
        if isinstance(exc, GatewayError):
            log.info("gateway said %s", exc.code)
            return self._gateway_notice(exc)
        if isinstance(exc, QrError):
            expected = Bi(exc.expected_zh, exc.expected_en)
            return Notice(word("err_wrong_qr"), Bi(exc.message_zh, exc.message), word("err_wrong_qr_next").format(expected=expected))
        if isinstance(exc, PrinterError):
            self.update(print_failed=True)
            log.warning("printing failed: %s", exc)
            return Notice(word("err_printer").format(reason=printer_reason(exc)), None, word("err_printer_next"))
        if isinstance(exc, DeviceTrouble):
            if exc.component == READER:
                return Notice(word("err_reader"), None, word("err_reader_next"))
            return Notice(word("err_scanner"), None, word("err_scanner_next"))
        if isinstance(exc, CardExpired):
            return Notice(word("err_card_expired"), None, word("err_card_expired_next"))
        if isinstance(exc, (RequestFailed, BusError)):
            log.warning("queue request failed: %s", exc)
            return Notice(word("err_queue"), None, word("err_next_retry"))
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            return Notice(word("err_title"), Bi(f"{where}：{first['msg']}", f"{where}: {first['msg']}"), word("err_next_retry"))
        log.exception("unexpected failure on screen %s", self.screen.value)
        return Notice(word("err_unexpected"), None, word("err_unexpected_next"))

    def _gateway_notice(self, exc: GatewayError) -> Notice:
        said = Bi(exc.message_zh, exc.message)
        if exc.code == "no_records":
            return Notice(word("err_no_records"), said)  # the gateway's words already say what to try
        if exc.code == "taxpayer_not_found":
            return Notice(word("err_not_registered"), said, word("err_next_counter"))
        if exc.code == "already_invoiced":
            return Notice(word("err_already_invoiced"), said, word("err_next_counter"))
        next_step = word("err_next_counter") if isinstance(exc, GatewayNotFound) else word("err_next_retry")
        return Notice(word("err_title"), said, next_step)

    def gateway_ok(self) -> None:
        """A call went through: the gateway is up (the checker also says so)."""
        self.board.set(GATEWAY, OK)

    # -- actions anyone can take ------------------------------------------------------------

    @action()
    def touch(self) -> None:
        """Any touch on the screen: the taxpayer is still there."""

    @action()
    def toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"

    @action()
    def toggle_elder(self) -> None:
        self.elder = not self.elder
        self.say(PROMPTS.get(self.screen))

    @action()
    def dismiss_notice(self) -> None:
        self.notice = None

    @action()
    def back(self) -> None:
        self.notice = None
        target = self.flows.back_target(self.screen)
        if target is None:
            self.end_session("back")
            return
        self.flows.leaving(self.screen, target)
        self.go(target)

    @action()
    def cancel(self) -> None:
        self.flows.cancel_payment()
        self.end_session("cancelled")

    @action()
    def finish(self) -> None:
        self.end_session("finished")

    @action()
    def open_tile(self, flow: Flow | str) -> None:
        flow = Flow(flow)
        if self.closed or self.screen != Screen.HOME:
            return
        tile = next((t for t in self._build_view(0).tiles if t.flow == flow), None)
        if tile is None or not tile.enabled:
            raise KioskProblem(Notice(word("err_tile_off"), tile.reason if tile else None, word("err_next_counter")))
        self.session = Session(flow=flow)
        self.flows.start(flow)

    # -- what runs by itself -----------------------------------------------------------------

    @action(activity=False)
    def tick(self) -> None:
        """Once a second: the idle count-down, and the end of an idle visit."""
        limit = self.settings.elder_idle_timeout_s if self.elder else self.settings.idle_timeout_s
        idle_for = self.clock() - self.last_activity
        if self.screen in (Screen.HOME, Screen.CLOSED):
            if idle_for >= limit and (self.lang != self.settings.lang or self.elder):
                self.end_session("idle")  # the next person starts in the default language
            return
        remaining = limit - idle_for
        if remaining <= 0:
            self.end_session("idle")
            return
        shown = math.ceil(remaining) if remaining <= self.settings.countdown_s else None
        if shown is not None and self.countdown is None:
            self.say("say_countdown")
        self.countdown = shown

    @action(activity=False)
    def poll_devices(self, timeout_s: float = 0.2) -> None:
        """Reads the card reader or scanner if the screen wants them (the runner calls this
        whenever it has nothing else to do)."""
        if self.closed or self.busy is not None:
            return
        self.flows.poll(timeout_s)

    def wants_devices(self) -> bool:
        return not self.closed and (self.screen in READS_CARD or self.screen in READS_SCANNER)

    # -- remote commands ----------------------------------------------------------------------

    @action(activity=False)
    def close_for_service(self, message: str = "") -> None:
        self.flows.cancel_payment()
        self.closed = True
        self.closed_message = message.strip()
        self.end_session("out of service")
        log.info("out of service by remote command")

    @action(activity=False)
    def reopen(self) -> None:
        self.closed = False
        self.closed_message = ""
        self.end_session("back in service")
        log.info("back in service by remote command")

    # -- helpers for flows --------------------------------------------------------------------

    def today(self) -> date:
        return self.now().date()

    def print_layout(self, layout: Layout, what: str) -> None:
        """Prints one slip; PrinterError goes up to become a notice (and print_failed)."""
        self.show_busy("printing")
        job = f"{what}-{uuid.uuid4().hex[:8]}"
        self.devices.print_layout(layout, job)
        self.update(prints=self.session.prints + 1, print_failed=False)
        log.info("printed %s (job %s)", what, job)


def printer_reason(exc: PrinterError) -> Bi:
    if isinstance(exc, PaperOut):
        return word("printer_paper_out")
    if isinstance(exc, CoverOpen):
        return word("printer_cover_open")
    if isinstance(exc, PrinterFault):
        return word("printer_fault")
    return word("printer_unreachable")
