"""Bytes on the wire for a queue ticket and a tax receipt, native mode (the printer's own
GB18030 font and QR command) next to all-raster (the whole slip as one picture), and what they
cost on a serial line at 9600 and 115200 baud (8N1: 10 bits a byte).

    .venv/bin/python bench/printer_bytes.py

Target: the Chinese ticket with its QR code ≤ 2 KB in native mode. Exit status 1 if missed.
"""

from __future__ import annotations

import sys
import time

from drivers.printer.config import BUILTIN_PROFILES, PrinterProfile
from drivers.printer.escpos_render import Mode, render
from drivers.printer.layout import Layout, queue_ticket, sample_receipt_info, sample_ticket_info, tax_receipt

TARGET_BYTES = 2048
BAUDS = (9600, 115200)


def wire_seconds(size: int, baud: int) -> float:
    return size * 10 / baud


def measure(layout: Layout, profile: PrinterProfile, mode: Mode) -> tuple[int, float, str, str]:
    """Bytes, render time in ms, how the slip was made, and a one-word kind of it."""
    started = time.perf_counter()
    rendered = render(layout, profile, mode)
    ms = (time.perf_counter() - started) * 1000
    how = f"{rendered.native_lines} text lines, {rendered.raster_pictures} pictures, {rendered.native_qr} native QR"
    kind = "raster" if mode == "raster" else "mixed" if rendered.raster_pictures else "native"
    return len(rendered.data), ms, how, kind


def main() -> int:
    slips = {
        "ticket zh": queue_ticket(sample_ticket_info(), "zh"),
        "ticket en": queue_ticket(sample_ticket_info(), "en"),
        "receipt zh": tax_receipt(sample_receipt_info(), "zh"),
    }
    header = f"{'slip':<11} {'profile':<11} {'mode':<7} {'bytes':>7} {'@9600':>9} {'@115200':>9} {'render':>8}  made of"
    print(header)
    print("-" * len(header))
    native_ticket = 0
    for slip_name, layout in slips.items():
        for profile_name in ("generic-80", "generic-58", "latin-80", "raster-58"):
            profile = BUILTIN_PROFILES[profile_name]
            for mode in ("auto", "raster"):
                if mode == "raster" and profile_name in ("latin-80", "raster-58"):
                    continue  # same picture as the Chinese profiles of the same width
                size, ms, how, label = measure(layout, profile, mode)  # type: ignore[arg-type]
                times = " ".join(f"{wire_seconds(size, baud):>8.2f}s" for baud in BAUDS)
                print(f"{slip_name:<11} {profile_name:<11} {label:<7} {size:>7} {times} {ms:>6.1f}ms  {how}")
                if slip_name == "ticket zh" and mode == "auto" and profile.chinese:
                    native_ticket = max(native_ticket, size)
    ok = native_ticket <= TARGET_BYTES
    print(f"\ntarget: Chinese ticket with QR in native mode <= {TARGET_BYTES} bytes: {native_ticket} bytes -> {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
