"""The kiosk's 意见簿 (opinion book) tile: a taxpayer files an appeal (纳税人诉求) in three
steps — a category and the preset phrases of what happened, optional details typed on the
on-screen keyboard (Latin letters and digits today) and a contact phone — then sees the
reference and takes it away on a printed receipt.

Appeals go to the appeals desk in the ticketer process over the bus (`appeals/req/catalog`,
`appeals/req/file`; docs/appeals.md). The phone number lives in the visit's memory only and is
wiped with it; the desk stores it sealed and masked. Filing carries the visit's request id, so
pressing again after a failure never files twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from drivers.printer.layout import Block, Cut, Layout, Qr, Rule, Text, big_number
from kiosk.core import KioskProblem, Notice, action, problem
from kiosk.flows import _edit, _Step
from kiosk.session import Screen
from kiosk.words import word
from taxhall.bus import BusError, HallBus
from taxhall.bus.errors import RequestFailed

if TYPE_CHECKING:
    from kiosk.core import Kiosk

log = logging.getLogger("kiosk.appeal")

TEXT_LIMIT = 200
PHONE_LIMIT = 15


@dataclass(frozen=True)
class Phrase:
    tag: str
    text: str
    text_en: str


@dataclass(frozen=True)
class Category:
    tag: str
    name: str
    name_en: str
    phrases: tuple[Phrase, ...]


@dataclass(frozen=True, repr=False)
class AppealDraft:
    """The appeal being written in this visit (wiped with the visit)."""

    categories: tuple[Category, ...]
    category: str | None = None
    phrases: tuple[str, ...] = ()
    text: str = ""
    phone: str = ""
    field: str = "text"  # where the keyboard types: "text" or "phone"
    ref: str | None = None
    deadline: str | None = None
    printed: bool = False

    def chosen(self) -> Category | None:
        return next((c for c in self.categories if c.tag == self.category), None)

    def __repr__(self) -> str:
        # the phone is the taxpayer's: never in a log line or a traceback
        return f"AppealDraft(category={self.category}, phrases={self.phrases}, ref={self.ref})"


class AppealLink(Protocol):
    """The appeals desk as the kiosk sees it."""

    def catalog(self) -> list[dict[str, Any]]: ...

    def file(self, request_id: str, category: str, phrases: list[str], description: str, phone: str) -> dict[str, Any]:
        """The desk's `appeal` (ref, deadline, …); raises taxhall.bus errors."""
        ...


class BusAppeals:
    """AppealLink over the hall bus."""

    def __init__(self, bus: HallBus, timeout_s: float = 5.0) -> None:
        self.bus = bus
        self.timeout_s = timeout_s

    def catalog(self) -> list[dict[str, Any]]:
        categories: list[dict[str, Any]] = self.bus.request("appeals/req/catalog", {}, timeout_s=self.timeout_s)["categories"]
        return categories

    def file(self, request_id: str, category: str, phrases: list[str], description: str, phone: str) -> dict[str, Any]:
        reply = self.bus.request("appeals/req/file", {
            "request_id": request_id, "category": category, "channel": "kiosk", "source": self.bus.device,
            "phrases": phrases, "description": description, "phone": phone}, timeout_s=self.timeout_s)
        appeal: dict[str, Any] = reply["appeal"]
        return appeal


def categories_from(catalog: list[dict[str, Any]]) -> tuple[Category, ...]:
    return tuple(Category(c["tag"], c["name"], c["name_en"],
                          tuple(Phrase(p["tag"], p["text"], p["text_en"]) for p in c.get("phrases", ())))
                 for c in catalog)


def in_zone_of(moment: str, now: datetime) -> str:
    """An ISO time from the ticketer, in the kiosk's own zone (the screen's clock), so the
    deadline and the filing time on one slip read alike whatever zone the server runs in."""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    return parsed.astimezone(now.tzinfo).isoformat() if parsed.tzinfo and now.tzinfo else moment


def appeal_slip(draft: AppealDraft, hall_name: str, hall_name_en: str, lookup_url: str, lang: str, now: datetime) -> Layout:
    """The receipt: the reference in big type, the category, the deadline and a QR to look it up."""
    ref = draft.ref or ""
    category = draft.chosen()
    name = (category.name_en if lang == "en" else category.name) if category else ""
    due = (draft.deadline or "")[:16].replace("T", " ")
    blocks: list[Block] = [
        Text(hall_name_en if lang == "en" and hall_name_en else hall_name, bold=True, align="center"),
        Text(word("appeal_slip_title").get(lang), size=2, align="center"),
        Rule(),
        Text(word("appeal_ref").get(lang), align="center"),
        big_number(ref),
        Text(name, size=2, align="center"),
        Text(word("appeal_due").format(due=due).get(lang), bold=True, align="center"),
        Text(word("appeal_slip_filed").format(at=now.strftime("%Y-%m-%d %H:%M")).get(lang), align="center"),
        Rule(),
    ]
    if lookup_url:
        blocks += [Qr(lookup_url.format(ref=ref), module=5, level="M"), Text(word("appeal_slip_scan").get(lang), align="center")]
    blocks += [Text(word("appeal_slip_owner").get(lang), align="center"), Cut()]
    return Layout(tuple(blocks), name=f"appeal {ref}")


class AppealFlow(_Step):
    """The 意见簿 tile's steps; the link is the kiosk's `appeals`."""

    def _draft(self) -> AppealDraft:
        draft = self.kiosk.session.appeal
        if draft is None:  # a step before the tile opened: a bug, not the taxpayer's fault
            raise RuntimeError("no appeal in this visit")
        return draft

    def _link(self) -> AppealLink:
        link = self.kiosk.appeals
        if link is None:
            raise KioskProblem(Notice(word("appeal_down"), None, word("appeal_down_next")))
        return link

    def start(self) -> None:
        """Opens the tile: the categories come from the desk (a hall configures its own)."""
        k = self.kiosk
        k.show_busy("wait")
        try:
            catalog = self._link().catalog()
        except (BusError, RequestFailed) as exc:
            log.warning("appeals desk unreachable: %s", exc)
            raise KioskProblem(Notice(word("appeal_down"), None, word("appeal_down_next"))) from None
        k.update(appeal=AppealDraft(categories_from(catalog)))
        k.go(Screen.APPEAL)

    @action()
    def choose_category(self, tag: str) -> None:
        draft = self.kiosk.session.appeal
        if self._on(Screen.APPEAL) and draft is not None and any(c.tag == tag for c in draft.categories):
            self.kiosk.update(appeal=replace(draft, category=tag, phrases=()))

    @action()
    def toggle_phrase(self, tag: str) -> None:
        draft = self.kiosk.session.appeal
        if not self._on(Screen.APPEAL) or draft is None or draft.chosen() is None:
            return
        if tag not in {p.tag for p in draft.chosen().phrases}:  # type: ignore[union-attr]
            return
        chosen = tuple(p for p in draft.phrases if p != tag) if tag in draft.phrases else (*draft.phrases, tag)
        self.kiosk.update(appeal=replace(draft, phrases=chosen))

    @action()
    def next(self) -> None:
        if not self._on(Screen.APPEAL):
            return
        if self._draft().category is None:
            raise problem("appeal_need_category")
        self.kiosk.go(Screen.APPEAL_TEXT)

    @action()
    def focus(self, field: str) -> None:
        if self._on(Screen.APPEAL_TEXT) and field in ("text", "phone"):
            self.kiosk.update(appeal=replace(self._draft(), field=field))

    @action()
    def press(self, key: str) -> None:
        if not self._on(Screen.APPEAL_TEXT):
            return
        draft = self._draft()
        if draft.field == "phone":
            if key.isdigit() or key in ("del", "clear"):
                self.kiosk.update(appeal=replace(draft, phone=_edit(draft.phone, key, PHONE_LIMIT)))
            return
        self.kiosk.update(appeal=replace(draft, text=_edit(draft.text, key, TEXT_LIMIT)))

    @action()
    def submit(self) -> None:
        if not self._on(Screen.APPEAL_TEXT):
            return
        k, draft = self.kiosk, self._draft()
        if draft.category is None:
            raise problem("appeal_need_category")
        if not draft.phrases and not draft.text.strip():
            raise problem("appeal_say_what")
        if draft.phone and not 7 <= len(draft.phone) <= PHONE_LIMIT:
            raise problem("appeal_bad_phone")
        k.show_busy("wait")
        try:
            filed = self._link().file(k.request_id("appeal"), draft.category, list(draft.phrases), draft.text.strip(),
                                      draft.phone)
        except RequestFailed as exc:
            log.warning("appeal refused: %s", exc)
            raise KioskProblem(Notice(word("appeal_down"), None, word("appeal_down_next"))) from None
        except BusError as exc:
            log.warning("appeals desk unreachable: %s", exc)
            raise KioskProblem(Notice(word("appeal_down"), None, word("appeal_down_next"))) from None
        log.info("appeal %s filed (%s)", filed["ref"], draft.category)
        k.update(appeal=replace(draft, ref=str(filed["ref"]), deadline=in_zone_of(str(filed.get("deadline") or ""), k.now()),
                                phone=""))
        k.go(Screen.APPEAL_DONE)
        self.print()

    def print(self) -> None:
        k = self.kiosk
        draft = k.session.appeal
        if draft is None or draft.ref is None:
            return
        s = k.settings
        k.print_layout(appeal_slip(draft, s.hall_name, s.hall_name_en, s.appeal_lookup_url, k.lang, k.now()), "appeal")
        k.update(appeal=replace(draft, printed=True))
