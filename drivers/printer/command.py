"""`taxhall print`: what technicians (and checks) run against a printer.

    taxhall print test-ticket    [--printer URL] [--profile NAME] [--lang zh|en] [--raster] [--preview PNG]
    taxhall print test-receipt   [--printer URL] [--profile NAME] [--lang zh|en] [--raster] [--preview PNG]
    taxhall print status         [--printer URL] [--profile NAME]

The printer and profile default to the `[printer]` section of the device config. Exit status:
0 printed (or status ok), 1 the printer failed — one line says why (paper out, connection
refused, no answer...) — 2 a usage or config error. `--preview PNG` alone draws the layout
without a printer.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from drivers.printer.config import PrinterProfile, PrinterSection, UnknownProfile
from drivers.printer.driver import ReceiptPrinter
from drivers.printer.errors import PrinterError
from drivers.printer.layout import Layout, queue_ticket, sample_receipt_info, sample_ticket_info, tax_receipt
from drivers.printer.preview import save_preview
from drivers.printer.status import health
from drivers.printer.url import PrinterUrlError, parse_printer_url
from taxhall.config import DeviceConfig

EXIT_OK, EXIT_PRINTER, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxhall print", description="Print on a receipt printer.")
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    for name, help_text in (("test-ticket", "a sample Chinese queue ticket"),
                            ("test-receipt", "a sample tax payment receipt (taxpayer masked)"),
                            ("status", "ask the printer for its status")):
        child = sub.add_parser(name, help=help_text, description=help_text)
        child.add_argument("--printer", metavar="URL", help="usb:VID:PID, serial:/dev/ttyUSB0?baud=115200, tcp://host:9100, file:/dev/usb/lp0")
        child.add_argument("--profile", metavar="NAME", help="printer profile (default: [printer] profile)")
        child.add_argument("--timeout", type=float, metavar="S", help="time-out of connecting and of each answer")
        if name != "status":
            child.add_argument("--lang", choices=("zh", "en"), help="language of the slip (default: [printer] lang)")
            child.add_argument("--raster", action="store_true", help="send the whole slip as one picture")
            child.add_argument("--preview", type=Path, metavar="PNG", help="also draw the slip to this PNG")
    return parser


def _layout(what: str, lang: str) -> Layout:
    now = datetime.now().replace(second=0, microsecond=0)
    if what == "test-ticket":
        return queue_ticket(sample_ticket_info(now), lang)  # type: ignore[arg-type]
    return tax_receipt(sample_receipt_info(now), lang)  # type: ignore[arg-type]


def _fail(message: str, code: int) -> int:
    print(f"taxhall print: {message}", file=sys.stderr)
    return code


def run(config: DeviceConfig, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if config.log.level == "INFO":
        # python-escpos logs every open and close at INFO on the root logger; a technician's
        # one-shot command shows its own result line instead
        logging.getLogger().setLevel(logging.WARNING)
    section: PrinterSection = config.section("printer")
    try:
        profile: PrinterProfile = section.resolved_profile(args.profile)
    except UnknownProfile as exc:
        return _fail(str(exc), EXIT_USAGE)
    url_text = args.printer or section.url
    layout = None if args.what == "status" else _layout(args.what, args.lang or section.lang)
    if layout is not None and args.preview:
        print(f"preview: {save_preview(layout, args.preview, profile.width_dots)}")
        if not url_text:
            return EXIT_OK
    if not url_text:
        return _fail("no printer: give --printer URL or set [printer] url in the config", EXIT_USAGE)
    try:
        url = parse_printer_url(url_text)
    except PrinterUrlError as exc:
        return _fail(str(exc), EXIT_USAGE)
    timeout = args.timeout or section.timeout_s
    printer = ReceiptPrinter(url, profile, timeout_s=timeout, job_timeout_s=section.job_timeout_s)
    try:
        with printer:
            if layout is None:
                status = printer.status()
                state = health(status)
                print(f"{url} ({profile.name}): {state.state}{': ' + state.detail if state.detail else ''}")
                return EXIT_OK if state.state != "fault" else EXIT_PRINTER
            result = printer.print_job(layout, mode="raster" if args.raster else "auto")
    except PrinterError as exc:
        return _fail(str(exc), EXIT_PRINTER)
    verb = "printed" if result.printed else "sent (this link cannot confirm printing)"
    detail = health(result.status).detail if result.status else ""
    print(f"{layout.name} {verb} on {url} ({profile.name}): {result.bytes_sent} bytes in {result.seconds:.2f} s"
          + (f"; {detail}" if detail else ""))
    return EXIT_OK
