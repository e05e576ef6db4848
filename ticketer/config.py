"""The `[ticketer]` section of the device config: services, counters and the queue's rules.

Without a config file the engine runs the example hall of docs/config.md (DESIGN.md fixes
it): services A 综合业务, B 发票业务, C 申报纳税, V 预约 and counters "1"–"8" serving all of
them. docs/queue.md has the table of every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from taxhall.config import ConfigSection
from ticketer.calendar import parse_hhmm, parse_window, resolve_tz
from ticketer.model import CounterSpec, Service


class ServiceConfig(ConfigSection):
    code: str = Field(pattern=r"^[A-Z]{1,2}$", description="service code and ticket prefix: A → A001")
    name: str = Field(min_length=1, description="Chinese name, e.g. 综合业务")
    name_en: str = Field(min_length=1, description="English name, e.g. General")
    target_service_s: int = Field(300, ge=1, description="expected service time; the wait estimate starts from it")
    max_wait_s: int = Field(1800, ge=1, description="waiting longer raises ticket_overdue and puts the ticket first")
    max_service_s: int = Field(1200, ge=1, description="serving longer raises counter_overtime")
    daily_limit: int = Field(0, ge=0, description="tickets per business day; 0 for no limit")
    hours: list[str] = Field(["00:00-24:00"], min_length=1, description="opening windows, local time, e.g. 08:30-12:00")

    @field_validator("hours")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            parse_window(window)
        return value

    def to_service(self) -> Service:
        return Service(
            code=self.code, name=self.name, name_en=self.name_en, target_service_s=self.target_service_s,
            max_wait_s=self.max_wait_s, max_service_s=self.max_service_s, daily_limit=self.daily_limit,
            hours=tuple(parse_window(w) for w in self.hours),
        )


class CounterConfig(ConfigSection):
    id: str = Field(min_length=1, max_length=16, description='counter id, a string: "1", "2", ...')
    services: list[str] = Field(min_length=1, description="service codes this counter serves")
    prefer: list[str] = Field([], description="services it takes first, in order; [] for none")

    @field_validator("id")
    @classmethod
    def _topic_safe(cls, value: str) -> str:
        if any(c in value for c in "/+#\x00 "):
            raise ValueError("an id without '/', '+', '#' or spaces")
        return value

    def to_spec(self) -> CounterSpec:
        return CounterSpec(id=self.id, services=frozenset(self.services), prefer=tuple(self.prefer))


EXAMPLE_SERVICES = [
    ServiceConfig(code="A", name="综合业务", name_en="General", target_service_s=300),
    ServiceConfig(code="B", name="发票业务", name_en="Invoices", target_service_s=240),
    ServiceConfig(code="C", name="申报纳税", name_en="Tax filing", target_service_s=420),
    ServiceConfig(code="V", name="预约", name_en="Appointments", target_service_s=300),
]
EXAMPLE_COUNTERS = [CounterConfig(id=str(n), services=["A", "B", "C", "V"]) for n in range(1, 9)]


class TicketerSection(ConfigSection):
    services: list[ServiceConfig] = Field(EXAMPLE_SERVICES, min_length=1, description="the hall's business types")
    counters: list[CounterConfig] = Field(EXAMPLE_COUNTERS, min_length=1, description="the hall's counters (窗口)")
    timezone: str = Field("", description="IANA zone, e.g. Asia/Shanghai; empty for the system's local time")
    reset_at: str = Field("00:00", description="local time the numbers start again at 001 (the business day)")
    number_digits: int = Field(3, ge=2, le=6, description="digits of a number: 3 gives A001")
    on_number_overflow: Literal["widen", "refuse"] = Field(
        "widen", description="after the last number below the offline band (A900): widen to A1000…, or refuse with numbers_exhausted")
    offline_band_start: int = Field(
        0, ge=0, description="first number of the band leased to dispensers for offline issuing (up to the width's last, "
                             "A999) and never issued by take_ticket; 0: the top tenth (901 with 3 digits); "
                             "10^digits (1000): no band")
    fairness_factor: float = Field(3.0, ge=1.0, description="a priority ticket goes first only while its wait × this ≥ the oldest normal ticket's wait")
    recall_limit: int = Field(3, ge=0, description="recalls allowed per call")
    no_show_after_recalls: int = Field(1, ge=0, description="recalls needed before a ticket may be marked no-show")
    service_time_window: int = Field(20, ge=1, le=1000, description="recent service times per service the wait estimate averages")
    pause_alarm_s: int = Field(900, ge=1, description="a pause longer than this raises counter_paused_long")
    crowd_waiting: int = Field(60, ge=1, description="this many waiting in the hall raises hall_crowded")
    crowd_est_wait_s: int = Field(2700, ge=1, description="an estimated wait this long for any service raises hall_crowded")
    alarm_check_s: float = Field(1.0, gt=0, le=60, description="how often alarms and the day rollover are checked")
    retention_days: int = Field(90, ge=1, description="days tickets, calls and statistics are kept")
    request_memory_h: float = Field(48.0, gt=0, description="hours a request id is remembered (a repeat within it repeats the answer)")

    @field_validator("reset_at")
    @classmethod
    def _reset(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            resolve_tz(value)
        except Exception:  # zoneinfo raises several kinds for bad names
            raise ValueError(f"an IANA time zone like Asia/Shanghai, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "TicketerSection":
        codes = [s.code for s in self.services]
        if len(set(codes)) != len(codes):
            raise ValueError(f"service codes must be unique, got {codes}")
        ids = [c.id for c in self.counters]
        if len(set(ids)) != len(ids):
            raise ValueError(f"counter ids must be unique, got {ids}")
        for counter in self.counters:
            unknown = [s for s in counter.services if s not in codes]
            if unknown:
                raise ValueError(f"counter {counter.id!r} serves unknown services {unknown}; known: {codes}")
            stray = [s for s in counter.prefer if s not in counter.services]
            if stray:
                raise ValueError(f"counter {counter.id!r} prefers {stray}, which it does not serve")
        top = 10**self.number_digits
        # At least one normal number below the band; at most 10^digits, which means no band.
        if self.offline_band_start and not 2 <= self.offline_band_start <= top:
            raise ValueError(f"offline_band_start: 0 (default), or 2–{top} with number_digits = {self.number_digits}, "
                             f"got {self.offline_band_start}")
        return self

    @property
    def reset_minute(self) -> int:
        return parse_hhmm(self.reset_at)

    @property
    def offline_band(self) -> range:
        """The numbers (without prefix) only ever leased, never taken: 901–999 by default.
        Empty when `offline_band_start` is 10^digits."""
        top = 10**self.number_digits
        start = self.offline_band_start or 9 * 10 ** (self.number_digits - 1) + 1
        return range(start, top)
