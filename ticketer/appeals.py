"""Taxpayer appeals (纳税人诉求快速响应, after the Xiantao scheme): the `[appeals]` config section
and the appeals desk the ticketer process keeps beside the queue.

Every appeal — from the kiosk's 意见簿 tile, the web form, or counter staff logging a phone call
or a spoken complaint — gets an unguessable reference the taxpayer can look up, a category
from the configured tag list, an owner (首问负责制: whoever received it owns it until it is
answered; a reassignment is logged with who and why), and a deadline counted in working days
by the hall's calendar. The desk raises a warning before the deadline and an alarm once it
passes (`device/{ticketer}/event`), records the answer, the taxpayer's satisfaction and the
return visit (回访), and keeps the full history (台账) of each appeal. The book itself is
ticketer.appeals_book; analysis and the CSV ledger are ticketer.appeals_report.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Callable, Protocol

from pydantic import Field, field_validator, model_validator

from taxhall.bus import BusMessage
from taxhall.config import ConfigSection, DeviceConfig

PHRASE_TAG = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
CHANNELS = ("kiosk", "web", "phone", "counter")
APPEAL_OPS = ("catalog", "file", "lookup", "get", "list", "assign", "answer", "follow_up", "contact", "analysis", "export")


class CategoryConfig(ConfigSection):
    """One appeal category: a tag, its names, its response deadline and the kiosk's phrases."""

    tag: str = Field(description="short tag, e.g. invoice (lower case, digits, _)")
    name: str = Field(min_length=1, max_length=20, description="Chinese name, e.g. 发票")
    name_en: str = Field(min_length=1, max_length=40, description="English name")
    days: int = Field(1, ge=1, le=30, description="working days to answer (默认1个工作日)")
    phrases: dict[str, list[str]] = Field({}, description='preset phrases: tag → ["中文", "English"] (kiosk buttons, themes)')

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not PHRASE_TAG.match(value):
            raise ValueError("lower-case letters, digits and _, starting with a letter (e.g. invoice)")
        return value

    @field_validator("phrases")
    @classmethod
    def _phrases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, words in value.items():
            if not PHRASE_TAG.match(key):
                raise ValueError(f"phrase tag {key!r}: lower-case letters, digits and _, starting with a letter")
            if len(words) != 2 or not all(isinstance(w, str) and w.strip() for w in words):
                raise ValueError(f'phrase {key}: two texts, ["中文", "English"]')
        return value


def _category(tag: str, name: str, name_en: str, **phrases: list[str]) -> CategoryConfig:
    return CategoryConfig(tag=tag, name=name, name_en=name_en, phrases=phrases)


DEFAULT_CATEGORIES = [
    _category("invoice", "发票", "Invoices", slow=["开票太慢", "Invoicing takes too long"],
              wrong=["发票信息有误", "Wrong details on an invoice"]),
    _category("refund", "退税", "Refunds", late=["退税迟迟未到账", "Refund not received"]),
    _category("waiting", "排队等候", "Waiting time", long_wait=["等候时间太长", "Waited too long"],
              few_counters=["开放窗口太少", "Too few counters open"]),
    _category("conduct", "服务态度", "Staff conduct", rude=["工作人员态度不好", "Staff were impolite"]),
    _category("system", "系统故障", "System fault", kiosk_down=["自助机不能使用", "Self-service kiosk out of order"],
              etax_down=["电子税务局无法登录", "Cannot log in to the e-tax bureau"]),
    _category("policy", "政策咨询", "Policy question", unclear=["政策不清楚", "Policy unclear"]),
    _category("other", "其他", "Other"),
]


class AppealsSection(ConfigSection):
    """`[appeals]`: categories, deadlines and warnings, who owns what the kiosk and web receive."""

    categories: list[CategoryConfig] = Field(DEFAULT_CATEGORIES, min_length=1, description="the category tag list")
    warn_before_h: float = Field(4.0, ge=0, le=240, description="hours before the deadline the warning is raised")
    intake_owner: str = Field("纳税服务组", min_length=1, max_length=40,
                              description="who owns appeals filed at the kiosk or on the web (the taxpayer service team)")
    teams: list[str] = Field(["纳税服务组", "发票组", "征收管理组", "信息中心"], description="owners offered for reassignment")
    contact_keep_days: int = Field(90, ge=1, le=3650, description="days after the return visit the sealed phone number is erased")
    theme_weeks: int = Field(4, ge=2, le=26, description="recent weeks the recurring themes look at")
    theme_min_weeks: int = Field(3, ge=2, le=26, description="a tag seen in at least this many of those weeks is a recurring theme")
    request_memory_h: float = Field(48.0, gt=0, description="hours a request id is remembered")

    @model_validator(mode="after")
    def _consistent(self) -> "AppealsSection":
        tags = [c.tag for c in self.categories]
        twice = sorted({t for t in tags if tags.count(t) > 1})
        if twice:
            raise ValueError(f"categories: each tag once, {twice} appear twice")
        if self.theme_min_weeks > self.theme_weeks:
            raise ValueError(f"theme_min_weeks at most theme_weeks ({self.theme_weeks})")
        return self

    def category(self, tag: str) -> CategoryConfig | None:
        return next((c for c in self.categories if c.tag == tag), None)


SECTIONS = {"appeals": AppealsSection}


def appeals_path(config: DeviceConfig) -> Path:
    return config.data_dir / "ticketer" / "appeals.sqlite"


def appeals_desk(config: DeviceConfig, publish_event: Callable[[str, dict[str, Any]], Any],
                 clock: Callable[[], float] = time.time) -> "AppealsDesk":
    """The desk of a ticketer process, from its config (`[appeals]`, `[calendar]`, the zone)."""
    from ticketer.appeals_book import AppealBook
    from ticketer.calendar import resolve_tz
    from ticketer.workdays import CalendarSection

    # The ticketer's config holds all three (with their defaults); a bare config gets defaults too.
    found = config.sections.get("appeals")
    section = found if isinstance(found, AppealsSection) else AppealsSection()
    days = config.sections.get("calendar")
    calendar = days if isinstance(days, CalendarSection) else CalendarSection()
    zone = getattr(config.sections.get("ticketer"), "timezone", "")
    tz = resolve_tz(zone) if isinstance(zone, str) else None
    book = AppealBook(appeals_path(config), section, calendar.calendar(), tz)
    return AppealsDesk(book, publish_event, f"device/{config.device_id}/event", clock=clock)


class AppealBookLike(Protocol):
    """What the desk needs of the book (ticketer.appeals_book.AppealBook)."""

    def handle(self, op: str, data: dict[str, Any], now: float) -> dict[str, Any]: ...
    def check_deadlines(self, now: float) -> None: ...
    def pending_events(self) -> list[tuple[int, dict[str, Any]]]: ...
    def forget_event(self, row: int) -> None: ...
    def close(self) -> None: ...


class AppealsDesk:
    """The appeals book on the bus: `appeals/req/{op}` and the deadline events (a ticketer Desk)."""

    def __init__(self, book: AppealBookLike, publish_event: Callable[[str, dict[str, Any]], Any], event_topic: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.book = book
        self.publish_event = publish_event
        self.event_topic = event_topic
        self.clock = clock
        self._hand_events()  # what a crash left unsent

    def requests(self) -> dict[str, Callable[[BusMessage], dict[str, Any]]]:
        return {f"appeals/req/{op}": self._responder(op) for op in APPEAL_OPS}

    def _responder(self, op: str) -> Callable[[BusMessage], dict[str, Any]]:
        def respond(message: BusMessage) -> dict[str, Any]:
            data = message.data.model_dump(mode="json")
            try:
                return self.book.handle(op, data, self.clock())
            finally:
                self._hand_events()

        return respond

    def tick(self) -> None:
        self.book.check_deadlines(self.clock())
        self._hand_events()

    def _hand_events(self) -> None:
        for row, payload in self.book.pending_events():
            self.publish_event(self.event_topic, payload)
            self.book.forget_event(row)

    def close(self) -> None:
        self.book.close()


def local_time(ts: float, tz: tzinfo | None) -> datetime:
    """An aware local time: the hall's zone, or the system's when none is configured."""
    return datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts).astimezone()
