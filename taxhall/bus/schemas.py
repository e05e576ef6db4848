"""Message schemas of the hall bus, one pydantic model per topic, and the topic registry.

These models are the contract of docs/mqtt.md (whose JSON schemas are generated from them,
see `python -m taxhall.bus.schemas`). Incoming messages are validated against them before any
handler sees them. Models accept extra fields (other vendors may add their own) but refuse
missing or mistyped required ones.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

QUEUE_OPS = (
    "take_ticket",
    "call_next",
    "recall",
    "start",
    "finish",
    "no_show",
    "transfer",
    "pause",
    "resume",
    "login",
    "logout",
    "rate",
    "lease",
    "hand_in",
    "ticket_status",
    "open_service",
    "close_service",
)


def now_iso() -> str:
    """Local time with offset, ISO 8601 — what every `at` field carries."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------- requests and replies


class Request(Message):
    request_id: str = Field(min_length=1, max_length=128, description="client-made id; repeating it repeats the answer, never the action")


class ErrorDetail(Message):
    code: str = Field(description="machine-readable, e.g. unknown_service, queue_empty, bad_request")
    message: str = Field(description="what went wrong, in words a technician understands")


class Reply(Message):
    ok: bool
    request_id: str | None = None
    error: ErrorDetail | None = None

    @model_validator(mode="after")
    def _error_iff_not_ok(self) -> "Reply":
        if not self.ok and self.error is None:
            raise ValueError("a reply with ok=false needs an error")
        return self


class Ticket(Message):
    id: str = Field(description="unique ticket id, stable across days")
    number: str = Field(description="what the taxpayer sees, e.g. A001")
    service: str = Field(description="service code, e.g. A")
    ahead: int | None = Field(None, ge=0, description="people waiting before this ticket")
    est_wait_s: int | None = Field(None, ge=0, description="estimated wait in seconds")
    token: str | None = Field(None, description="secret for the taxpayer's phone view of this ticket")


class TakeTicket(Request):
    service: str = Field(min_length=1)
    source: str = Field(min_length=1, description="device id of the dispenser, kiosk or web")
    priority: Literal["normal", "elderly", "disabled", "appointment"] | None = None
    appointment: str | None = None


class CounterRequest(Request):
    counter: str = Field(min_length=1, description='counter id, a string: "1", "2", ...')


class Login(CounterRequest):
    staff: str = Field(min_length=1)


class Transfer(CounterRequest):
    to_service: str | None = None
    to_counter: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "Transfer":
        if (self.to_service is None) == (self.to_counter is None):
            raise ValueError("give exactly one of to_service or to_counter")
        return self


class Pause(CounterRequest):
    reason: str = Field(min_length=1, description="break, system_fault, meeting, ...")


class Lease(Request):
    source: str = Field(min_length=1, description="the dispenser asking")
    services: list[str] | None = Field(None, description="services to lease numbers of; default all")
    size: int = Field(20, ge=1, le=100, description="numbers per service")


class OfflineTicket(Message):
    number: str = Field(description="a leased number, e.g. A901")
    service: str
    taken_at: str = Field(description="ISO 8601: when the taxpayer took it; keeps their place")
    priority: Literal["normal", "elderly", "disabled", "appointment"] | None = None


class HandIn(Request):
    source: str = Field(min_length=1)
    tickets: list[OfflineTicket] = Field(min_length=1, max_length=200)


class Rate(Request):
    ticket: str = Field(min_length=1, description="ticket id")
    level: int = Field(ge=1, le=5, description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")


class TicketStatus(Request):
    token: str = Field(min_length=1, max_length=64, description="the ticket's secret token (from take_ticket, in its QR code)")


class OpenService(Request):
    service: str = Field(min_length=1, description="service code, e.g. C")
    by: str | None = Field(None, min_length=1, max_length=64, description="who asks (the dashboard user), for the record")


class CloseService(OpenService):
    reason: str | None = Field(None, min_length=1, max_length=64, description="why, shown on the dashboard")


QUEUE_REQUEST_MODELS: dict[str, type[Request]] = {
    "take_ticket": TakeTicket,
    "call_next": CounterRequest,
    "recall": CounterRequest,
    "start": CounterRequest,
    "finish": CounterRequest,
    "no_show": CounterRequest,
    "transfer": Transfer,
    "pause": Pause,
    "resume": CounterRequest,
    "login": Login,
    "logout": CounterRequest,
    "rate": Rate,
    "lease": Lease,
    "hand_in": HandIn,
    "ticket_status": TicketStatus,
    "open_service": OpenService,
    "close_service": CloseService,
}


# ---------------------------------------------------------------- queue events and state


class CallEvent(Message):
    seq: int = Field(ge=1, description="per-hall call sequence; displays drop repeats and spot gaps")
    ticket: str = Field(description="ticket number, e.g. A001")
    ticket_id: str
    service: str
    counter: str
    recall: bool
    at: str = Field(description="ISO 8601")


class ServiceState(Message):
    name: str
    waiting: int = Field(ge=0)
    est_wait_s: int = Field(ge=0)
    open: bool = Field(description="takes tickets now")
    closed: Literal["supervisor", "hours"] | None = Field(
        None, description="why it is not open: closed by the duty supervisor (close_service), or outside its hours")
    closed_by: str | None = Field(None, description="with closed=supervisor: who closed it")
    closed_at: str | None = Field(None, description="with closed=supervisor: when (ISO 8601)")
    closed_reason: str | None = None


class CounterState(Message):
    state: str = Field(description="closed, idle, calling, serving, paused")
    staff: str | None = None
    ticket: str | None = None


class QueueState(Message):
    seq: int = Field(ge=0, description="last call sequence number")
    services: dict[str, ServiceState]
    counters: dict[str, CounterState]
    desks: list[str] = Field([], description="the books the ticketer keeps beside the queue (`appointments`, `appeals`): "
                                              "their pages and tiles are offered only when listed")


class RaisedAlarm(Message):
    key: str = Field(description="the alarm's key, as in its event's data.key")
    id: str = Field(description="the id of the event that raised it")
    kind: str
    severity: Literal["warning", "alarm"]
    message: str
    raised_at: str = Field(description="ISO 8601")
    data: dict[str, Any] = {}


class ActiveAlarms(Message):
    device: str = Field(description="the engine's device id (its alarm events come on device/{device}/event)")
    alarms: list[RaisedAlarm] = Field(description="every alarm raised and not cleared, oldest first")
    at: str = Field(description="ISO 8601: when the set last changed")


# ---------------------------------------------------------------- devices


class ComponentHealth(Message):
    state: Literal["ok", "degraded", "fault", "absent"]
    detail: str = ""


class DeviceStatus(Message):
    state: Literal["online", "offline", "degraded", "out_of_service"]
    role: str
    version: str
    components: dict[str, ComponentHealth] = {}
    at: str


class Telemetry(Message):
    at: str
    figures: dict[str, float | int | str] = Field(description="health figures: uptime_s, outbox_pending, bad_messages, ...")


class DeviceEvent(Message):
    id: str = Field(description="event id; receivers drop repeats")
    at: str
    kind: str = Field(description="what happened, e.g. paper_low, ticket_overdue")
    severity: Literal["info", "warning", "alarm", "cleared"]
    message: str
    data: dict[str, Any] = {}


class Command(Request):
    args: dict[str, Any] = {}


# ---------------------------------------------------------------- hall screens


class Notice(Message):
    text: str = Field(description="the scrolling notice line, Chinese")
    text_en: str = Field("", description="the same in English")
    at: str


class Poster(Message):
    id: str
    title: str
    body: str = ""
    title_en: str = ""
    body_en: str = ""
    seconds: int = Field(12, ge=3, le=600, description="how long it stays on screen")


class PosterManifest(Message):
    version: int = Field(ge=0)
    posters: list[Poster]


# ---------------------------------------------------------------- kiosks


class GuideEntry(Message):
    """One guide: a question and its answer, in Chinese and (optionally) English."""

    # frozen: kiosks hand entries to their UI thread as they are; extra fields are dropped,
    # not kept, since a kiosk caches the manifest as it understands it
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    title: str = Field(min_length=1, max_length=80, description="the question, Chinese")
    answer: str = Field(min_length=1, max_length=2000, description="the answer, Chinese")
    title_en: str = Field("", max_length=160)
    answer_en: str = Field("", max_length=4000)
    keywords: tuple[str, ...] = Field((), max_length=30, description="extra search words, pinyin welcome")


class GuideManifest(Message):
    """The payload of `kiosk/guides` (retained): the whole content, replacing the old."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = Field(ge=0, description="rises with each edition; kiosks ignore one not newer than theirs")
    entries: tuple[GuideEntry, ...] = Field(min_length=1, max_length=500)
    popular: tuple[str, ...] = Field((), max_length=12, description="keywords shown as buttons, Chinese first")


# ---------------------------------------------------------------- appointments (预约办税)

_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"


class AppointmentSlots(Request):
    service: str | None = Field(None, description="service code; without it only the bookable services are listed")


class BookAppointment(Request):
    service: str = Field(min_length=1, description="bookable service code, e.g. B")
    day: str = Field(pattern=_ISO_DAY, description="YYYY-MM-DD")
    slot: str = Field(pattern=r"^\d{2}:\d{2}$", description="the slot's start, HH:MM")
    taxpayer: str = Field(min_length=1, max_length=40, description="mobile number or taxpayer id; kept only as a keyed hash "
                                                                   "and a masked form, never in clear")
    source: str = Field(min_length=1, description="who books: web, a kiosk's device id")


class AppointmentCode(Request):
    code: str = Field(min_length=1, max_length=64, description="the appointment code (9 digits, dashes allowed) or its QR text")
    source: str = Field("", description="device id of the dispenser, kiosk or web")


class AppointmentDay(Request):
    day: str = Field(pattern=_ISO_DAY, description="YYYY-MM-DD")


class AppointmentStats(Request):
    first: str = Field(pattern=_ISO_DAY, description="first appointment day, YYYY-MM-DD")
    last: str = Field(pattern=_ISO_DAY, description="last appointment day, YYYY-MM-DD")


APPOINTMENT_REQUEST_MODELS: dict[str, type[Request]] = {
    "slots": AppointmentSlots,
    "book": BookAppointment,
    "lookup": AppointmentCode,
    "cancel": AppointmentCode,
    "check_in": AppointmentCode,
    "list": AppointmentDay,
    "stats": AppointmentStats,
}
_APPOINTMENT_OPS_SAY = {
    "slots": "the bookable services, days and slots with the places left",
    "book": "book a slot; answers the appointment with its code",
    "lookup": "an appointment by its code (masked)",
    "cancel": "cancel a booked appointment; its place is free again",
    "check_in": "inside the check-in window: a priority ticket of class appointment; too_early / too_late outside it",
    "list": "a day's slots with booked / checked-in / no-show / cancelled counts and its appointments, masked (dashboard)",
    "stats": "bookings, check-ins, no-shows and cancellations per day (dashboard)",
}
_APPOINTMENT_CALLERS = {"check_in": "dispensers, kiosks", "lookup": "web, dispensers, kiosks"}


# ---------------------------------------------------------------- taxpayer appeals (ticketer.appeals)


class AppealCatalog(Request):
    """Asks for the configured categories (with their preset phrases) and teams."""


class AppealFile(Request):
    category: str = Field(min_length=1, max_length=32, description="a configured category tag, e.g. invoice")
    channel: Literal["kiosk", "web", "phone", "counter"]
    source: str = Field(min_length=1, max_length=64, description="device id of the kiosk, web or counter caller")
    description: str = Field("", max_length=2000, description="what happened, in the taxpayer's words (ID and phone numbers are masked)")
    phrases: list[str] = Field([], max_length=10, description="tags of the category's preset phrases")
    phone: str = Field("", max_length=20, description="contact phone; stored sealed and masked, never in the clear")
    name: str = Field("", max_length=40, description="the taxpayer's name, optional; stored masked")
    counter: str | None = Field(None, max_length=16, description="the counter that received it (channel counter or phone)")
    staff: str | None = Field(None, max_length=64, description="who received it (phone, counter): they own it until it is answered")


class AppealRef(Request):
    ref: str = Field(min_length=1, max_length=32, description="the appeal's reference, e.g. 7K3M-9TQX-4P2A")


class AppealList(Request):
    state: Literal["open", "all"] = "open"
    limit: int = Field(200, ge=1, le=1000)


class AppealAssign(AppealRef):
    owner: str = Field(min_length=1, max_length=64, description="the staff member or team taking it over")
    by: str = Field(min_length=1, max_length=64, description="who decided")
    reason: str = Field(min_length=1, max_length=200)


class AppealAnswer(AppealRef):
    answer: str = Field(min_length=1, max_length=4000, description="the reply given to the taxpayer")
    by: str = Field(min_length=1, max_length=64)
    tags: list[str] = Field([], max_length=10, description="themes to add, e.g. invoice.printer_jam")


class AppealFollowUp(AppealRef):
    kind: Literal["feedback", "return_visit"] = Field(description="the taxpayer's word on the answer, or the return visit (回访) that closes it")
    by: str = Field(min_length=1, max_length=64)
    satisfaction: int | None = Field(None, ge=1, le=5, description="5 非常满意 … 1 非常不满意")
    note: str = Field("", max_length=1000)


class AppealContact(AppealRef):
    by: str = Field(min_length=1, max_length=64, description="who needs the number; recorded in the appeal's history")
    reason: str = Field("", max_length=200)


class AppealAnalysis(Request):
    weeks: int = Field(8, ge=1, le=104, description="appeals filed in the last this many weeks")


class AppealExport(Request):
    """Asks for the ledger (台账) as CSV, contact masked."""


APPEAL_REQUEST_MODELS: dict[str, type[Request]] = {
    "catalog": AppealCatalog,
    "file": AppealFile,
    "lookup": AppealRef,
    "get": AppealRef,
    "list": AppealList,
    "assign": AppealAssign,
    "answer": AppealAnswer,
    "follow_up": AppealFollowUp,
    "contact": AppealContact,
    "analysis": AppealAnalysis,
    "export": AppealExport,
}
_APPEAL_CALLERS = {"catalog": "kiosks, counters, web", "file": "kiosks, counters, web"}


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class TopicSpec:
    """One row of docs/mqtt.md: a topic filter below `taxhall/v1/{hall}/` and its rules."""

    pattern: str
    model: type[Message]
    publisher: str
    subscribers: str
    qos: int
    retain: bool
    description: str
    reply: type[Message] | None = None


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("device/+/status", DeviceStatus, "every device (birth; the will sets offline)", "monitor, displays, dashboard", 1, True,
              "The device's health; the broker publishes the will `offline` when the device dies."),
    TopicSpec("device/+/telemetry", Telemetry, "every device, periodically", "monitor", 0, False, "Health figures."),
    TopicSpec("device/+/event", DeviceEvent, "every device (outbox)", "monitor, dashboard", 1, False,
              "Alarms and notable happenings, each with an id; sent through the device's disk outbox."),
    TopicSpec("device/+/cmd/+", Command, "operators, provisioning", "the device named", 1, False,
              "Remote commands (MQTT 5 request/response).", reply=Reply),
    *(
        TopicSpec(f"queue/req/{op}", model, "dispensers, counters, kiosks, web", "ticketer", 1, False,
                  f"Queue request `{op}` (MQTT 5 request/response).", reply=Reply)
        for op, model in QUEUE_REQUEST_MODELS.items()
    ),
    TopicSpec("queue/calls", CallEvent, "ticketer (outbox)", "hall display, LED boards, voice", 1, False,
              "One event per call or recall."),
    TopicSpec("queue/state", QueueState, "ticketer", "displays, dispensers, dashboard", 1, True,
              "Snapshot of the queue, republished on every change and at start."),
    TopicSpec("queue/alarms", ActiveAlarms, "ticketer", "dashboard, monitor", 1, True,
              "The alarms the engine has raised and not cleared, republished whenever the set changes and at start."),
    TopicSpec("display/notice", Notice, "operators, dashboard", "hall displays", 1, True,
              "The scrolling notice line of the hall screens."),
    TopicSpec("display/posters", PosterManifest, "operators, dashboard", "hall displays", 1, True,
              "The posters (tax policy notices) the hall screens rotate through."),
    TopicSpec("kiosk/guides", GuideManifest, "operators, dashboard", "kiosks", 1, True,
              "The guides (questions and answers) the kiosks search; a version not newer than a kiosk's is ignored."),
    *(
        TopicSpec(f"appointments/req/{op}", model, _APPOINTMENT_CALLERS.get(op, "web"), "ticketer (appointment desk)", 1, False,
                  f"Appointments `{op}`: {_APPOINTMENT_OPS_SAY[op]} (MQTT 5 request/response).", reply=Reply)
        for op, model in APPOINTMENT_REQUEST_MODELS.items()
    ),
    *(
        TopicSpec(f"appeals/req/{op}", model, _APPEAL_CALLERS.get(op, "web"), "ticketer (appeals desk)", 1, False,
                  f"Appeals request `{op}` (MQTT 5 request/response).", reply=Reply)
        for op, model in APPEAL_REQUEST_MODELS.items()
    ),
)


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching for registry patterns (`+` one level, `#` the rest)."""
    p_parts, t_parts = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(p_parts) == len(t_parts)


def spec_for(suffix: str) -> TopicSpec | None:
    """The registry entry for a topic below the hall root, if any."""
    for spec in TOPICS:
        if topic_matches(spec.pattern, suffix):
            return spec
    return None


def write_json_schemas(folder: Path) -> list[Path]:
    """Writes one JSON schema per registry model into `folder` (docs/schemas)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    models = {spec.model for spec in TOPICS} | {Reply}
    for model in sorted(models, key=lambda m: m.__name__):
        path = folder / f"{model.__name__}.json"
        path.write_text(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_json_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written_path)
