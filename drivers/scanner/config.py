"""The `[scanner]` section of the device config, and `open_scanner` which turns it into a `Scanner`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from drivers.scanner.base import Scanner
from taxhall.config import ConfigSection

SYMBOLOGY_NAMES = ("QRCODE", "CODE128", "EAN13", "EAN8", "CODE39", "I25", "PDF417", "DATABAR", "CODE93")


class ScannerSection(ConfigSection):
    kind: Literal["none", "hid", "serial", "camera"] = Field("none", description="which scanner the device has")
    device: str = Field("", description="hid: /dev/input/by-id/...-event-kbd; serial: /dev/serial/by-id/...; "
                                        "camera: /dev/video0 or an index")
    baud: int = Field(9600, gt=0, description="serial scanners: baud rate")
    encoding: Literal["auto", "utf-8", "gb18030"] = Field(
        "auto", description="serial scanners: bytes → text; auto = UTF-8 if valid, else GB18030")
    grab: bool = Field(True, description="hid scanners: grab the device so scans never reach the UI as keys")
    symbologies: list[str] = Field(["QRCODE"], description="camera: code types to look for (each costs time)")
    frame_budget_ms: float = Field(60.0, gt=0, description="camera: most time spent on one frame")
    repeat_after_s: float = Field(2.0, ge=0, description="camera: the same code again only after this long out of sight")

    @field_validator("symbologies")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in SYMBOLOGY_NAMES]
        if unknown or not value:
            raise ValueError(f"a non-empty list of {', '.join(SYMBOLOGY_NAMES)}")
        return value


SECTIONS: dict[str, type[ConfigSection]] = {"scanner": ScannerSection}


def open_scanner(section: ScannerSection) -> Scanner:
    """The configured scanner, opened; raises `ScannerError` (or ValueError for kind "none")."""
    if section.kind == "hid":
        from drivers.scanner.hid import HidScanner

        return HidScanner(section.device, grab=section.grab)
    if section.kind == "serial":
        from drivers.scanner.serial_scanner import SerialScanner

        return SerialScanner(section.device, section.baud, section.encoding)
    if section.kind == "camera":
        from drivers.scanner.camera import CameraScanner

        return CameraScanner(section.device or "0", section.symbologies, frame_budget_ms=section.frame_budget_ms,
                             repeat_after_s=section.repeat_after_s)
    raise ValueError("scanner.kind is \"none\": this device has no scanner configured")
