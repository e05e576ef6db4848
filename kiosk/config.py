"""The `[kiosk]` section of the device config, and every section `taxhall kiosk` reads.

A kiosk's device file holds its own `[kiosk]` keys and the sections of the hardware and
services it uses: `[printer]`, `[idreader]`, `[scanner]`, `[gateway]`. docs/kiosk.md lists
the keys; the driver sections are documented with their drivers.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from drivers.idcard.config import IdReaderSection
from drivers.printer.config import PrinterSection
from drivers.scanner.config import ScannerSection
from kiosk.gateway.config import GatewaySection
from taxhall.config import ConfigSection
from taxhall.prefill import PublicKeyList


class KioskSection(ConfigSection):
    hall_name: str = Field("国家税务总局示范市税务局第一办税服务厅", min_length=1, description="hall name on the home screen and slips")
    hall_name_en: str = Field("Tax Service Hall No. 1", min_length=1, description="the same in English")
    hours: str = Field("自助区24小时开放 · 窗口服务 工作日 9:00–17:00", description="opening hours line on the home screen")
    hours_en: str = Field("Self-service open 24 hours · Counters weekdays 9:00–17:00", description="the same in English")
    lang: Literal["zh", "en"] = Field("zh", description="language a session starts in")
    size: str = Field("1920x1080", pattern=r"^\d{3,4}x\d{3,4}$", description="window size when not fullscreen (portrait: 1080x1920)")
    fullscreen: bool = Field(False, description="fill the screen (a kiosk in the hall) or run in a window")
    max_fps: int = Field(30, ge=5, le=60, description="frame rate cap; a kiosk screen needs no more, and idle CPU stays low")
    idle_timeout_s: float = Field(90.0, ge=10, le=1800, description="seconds without a touch before a session ends and is wiped")
    elder_idle_timeout_s: float = Field(240.0, ge=10, le=3600, description="the same in elder mode")
    countdown_s: float = Field(20.0, ge=3, le=120, description="the last seconds of the idle time-out, shown as a count-down")
    voice: bool = Field(True, description="speak each screen's prompt in elder mode (espeak-ng)")
    voice_player: str = Field("aplay -q", description="command that plays a WAV file; empty: make the sound files only")
    voice_volume: int = Field(80, ge=0, le=100, description="loudness of the voice in per cent")
    queue: Literal["take", "view", "off"] = Field("take", description="the queue tile: take tickets, only show waiting counts, or none")
    queue_services: list[str] = Field(default_factory=list, description="services offered on the queue tile; empty: every open service")
    queue_follow_url: str = Field("http://127.0.0.1:8080/t/{token}",
                                  description="URL in a queue ticket's QR (the web's /t/{token} on the hall server); "
                                              "{token}, {hall}, {number} are filled in")
    appeal_lookup_url: str = Field("http://127.0.0.1:8080/appeal/{ref}",
                                   description="URL in an appeal receipt's QR (the web's /appeal/{ref}); empty: no QR")
    payment: Literal["simulated"] = Field("simulated", description="the payment terminal for self-invoicing taxes")
    payment_sim_delay_s: float = Field(1.5, ge=0, le=60, description="simulated terminal: seconds the card payment takes")
    payment_sim_result: Literal["approve", "decline"] = Field("approve", description="simulated terminal: what it answers")
    payment_timeout_s: float = Field(120.0, gt=0, le=600, description="longest the kiosk waits for the terminal")
    print_full_identity: bool = Field(True, description="print the taxpayer's full name and ID number on certificates and "
                                                        "self-issued invoices (they are proof for the taxpayer)")
    etax_qr: bool = Field(True, description="accept the e-tax app's identity QR instead of the ID card")
    gateway_check_s: float = Field(15.0, ge=1, le=600, description="seconds between checks that the tax gateway answers")
    device_retry_s: float = Field(30.0, ge=1, le=600, description="seconds between attempts to reopen a reader or scanner that failed")
    guides_file: str = Field("", description="a guides JSON file to start from; empty: the built-in guides")
    prefill_keys: PublicKeyList = Field(default_factory=list, description="public keys of the hall's pre-filled request "
                                        "codes (`taxhall web` shows them at /prepare/key); empty: such codes are refused")

    @field_validator("queue_services")
    @classmethod
    def _service_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[A-Z0-9]{1,4}", code):
                raise ValueError("service codes like \"A\", \"B\"")
        return value

    @property
    def width_height(self) -> tuple[int, int]:
        width, height = self.size.split("x")
        return int(width), int(height)


SECTIONS: dict[str, type[ConfigSection]] = {
    "kiosk": KioskSection,
    "printer": PrinterSection,
    "idreader": IdReaderSection,
    "scanner": ScannerSection,
    "gateway": GatewaySection,
}
