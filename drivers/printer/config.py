"""The `[printer]` config section and printer profiles.

A profile is data, not code: what a printer model can do (paper width in dots, a GB18030
Chinese font of its own, native QR codes, a cutter, real-time status). Every difference between
printer models is expressed here, so supporting a new model is a table in the config file
(`[printer.profiles.NAME]`), never a subclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

from pydantic import Field, ValidationInfo, field_validator

from drivers.printer.url import PrinterUrlError, parse_printer_url
from taxhall.config import ConfigSection


@dataclass(frozen=True)
class PrinterProfile:
    """What one printer model can do; the renderer and the driver decide from this alone."""

    name: str
    width_dots: int  # printable width: 384 on 58 mm paper, 576 on 80 mm (8 dots/mm)
    chars_per_line: int  # font A (12×24 dots) at normal size
    chinese: bool  # has a GB18030 font, entered with FS &
    qr: bool  # prints QR codes itself (GS ( k)
    cutter: bool  # has an auto-cutter (GS V)
    status: bool = True  # answers DLE EOT and GS r (real-time and in-sequence status)
    description: str = ""


BUILTIN_PROFILES: Mapping[str, PrinterProfile] = MappingProxyType({
    p.name: p
    for p in (
        PrinterProfile("generic-80", 576, 48, chinese=True, qr=True, cutter=True,
                       description="80 mm Chinese-market printer (Xprinter, GP, HPRT class)"),
        PrinterProfile("generic-58", 384, 32, chinese=True, qr=True, cutter=False,
                       description="58 mm Chinese-market printer, tear-off bar"),
        PrinterProfile("latin-80", 576, 48, chinese=False, qr=True, cutter=True,
                       description="80 mm printer without a Chinese font (international firmware)"),
        PrinterProfile("raster-58", 384, 32, chinese=False, qr=False, cutter=False,
                       description="58 mm basic printer: no Chinese font, no QR command"),
    )
})


class ProfileSection(ConfigSection):
    """A printer profile written in the config file, `[printer.profiles.NAME]`."""

    width_dots: int = Field(description="printable width in dots: 384 (58 mm) or 576 (80 mm)", ge=96, le=2048)
    chars_per_line: int = Field(description="characters of font A per line at normal size", ge=8, le=128)
    chinese: bool = Field(description="the printer has its own GB18030 Chinese font (FS &)")
    qr: bool = Field(description="the printer draws QR codes itself (GS ( k)")
    cutter: bool = Field(description="the printer has an auto-cutter")
    status: bool = Field(True, description="the printer answers DLE EOT / GS r status requests")


class PrinterSection(ConfigSection):
    url: str = Field("", description="printer URL: usb:VID:PID, serial:/dev/ttyUSB0?baud=115200, tcp://host:9100, file:/dev/usb/lp0; empty: no printer")
    profiles: dict[str, ProfileSection] = Field({}, description="profiles of your own, [printer.profiles.NAME]")
    profile: str = Field("generic-80", description="printer profile: generic-80, generic-58, latin-80, raster-58 or one of [printer.profiles]")
    lang: Literal["zh", "en"] = Field("zh", description="language of printed tickets and receipts")
    timeout_s: float = Field(3.0, gt=0, le=60, description="time-out of connecting, of every read and of every write")
    job_timeout_s: float = Field(30.0, gt=0, le=600, description="longest a job may take to be confirmed printed")
    status_interval_s: float = Field(5.0, gt=0, description="seconds between status polls")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value:
            try:
                parse_printer_url(value)
            except PrinterUrlError as exc:
                raise ValueError(f"a printer URL; {exc.reason}") from None
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str, info: ValidationInfo) -> str:
        known = [*BUILTIN_PROFILES, *info.data.get("profiles", {})]
        if value not in known:
            raise ValueError(f"a printer profile, one of: {', '.join(known)}")
        return value

    def resolved_profile(self, name: str | None = None) -> PrinterProfile:
        """The profile named `name` (default: this section's), built-in or from the file."""
        return resolve_profile(name or self.profile, self.profiles)


class UnknownProfile(ValueError):
    """A profile name that is neither built in nor in the config; str() is one line."""


def resolve_profile(name: str, custom: Mapping[str, ProfileSection] | None = None) -> PrinterProfile:
    """Looks a profile up by name: the config's own profiles first, then the built-in ones."""
    custom = custom or {}
    if name in custom:
        p = custom[name]
        return PrinterProfile(name, p.width_dots, p.chars_per_line, p.chinese, p.qr, p.cutter, p.status)
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    raise UnknownProfile(f"unknown printer profile {name!r}; expected one of: {', '.join([*BUILTIN_PROFILES, *custom])}")


SECTIONS = {"printer": PrinterSection}
