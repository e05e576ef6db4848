"""`taxhall idcard read`: wait for a card on a reader and print it, masked unless --unmasked.

Technicians use it to check a reader; a failure is one line on stderr and a distinct exit
status (below), so scripts can tell a missing card from a dead reader.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Sequence

from drivers.idcard.config import IdReaderSection
from drivers.idcard.identity import Identity
from drivers.idcard.reader import (
    BadFrame, IdCardReader, NoCard, ReaderError, ReaderFault, ReaderSettings, ReaderSilent, ReaderUnplugged,
)

log = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_NO_CARD = 4
EXIT_SILENT = 5
EXIT_BAD_FRAME = 6
EXIT_UNPLUGGED = 7
EXIT_FAULT = 8

_EXIT_CODES: tuple[tuple[type[ReaderError], int], ...] = (
    (NoCard, EXIT_NO_CARD), (ReaderSilent, EXIT_SILENT), (BadFrame, EXIT_BAD_FRAME),
    (ReaderUnplugged, EXIT_UNPLUGGED), (ReaderFault, EXIT_FAULT),
)

_LABELS = (("name", "姓名"), ("sex", "性别"), ("ethnicity", "民族"), ("birth_date", "出生"), ("address", "住址"),
           ("id_number", "公民身份号码"), ("authority", "签发机关"), ("valid_from", "有效期起"),
           ("valid_until", "有效期止"), ("card_type", "证件类型"), ("photo_bytes", "照片字节"))


def _parse_args(argv: Sequence[str], section: IdReaderSection) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="taxhall idcard", description="Read an ID card (二代身份证) on a serial reader.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    read = sub.add_parser("read", help="wait for a card and print it (masked)")
    read.add_argument("--port", default=section.port or None, help="serial port (default: idreader.port)")
    read.add_argument("--baud", type=int, default=section.baud, help=f"baud rate (default {section.baud})")
    read.add_argument("--timeout", type=float, default=section.read_timeout_s, metavar="SECONDS",
                      help=f"how long to wait for a card (default {section.read_timeout_s:g})")
    read.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    read.add_argument("--unmasked", action="store_true", help="print the full name, ID number and address")
    return parser.parse_args(list(argv))


def format_identity(identity: Identity, as_json: bool, unmasked: bool) -> str:
    data = identity.as_dict(masked=not unmasked)
    if as_json:
        return json.dumps(data, ensure_ascii=False)
    return "\n".join(f"{label} {key}: {data[key]}" for key, label in _LABELS)


def run(config: Any, argv: Sequence[str]) -> int:
    section: IdReaderSection = config.section("idreader") if "idreader" in config.sections else IdReaderSection()
    args = _parse_args(argv, section)
    if not args.port:
        print("taxhall idcard: no reader port: give --port or set idreader.port in the device config", file=sys.stderr)
        return EXIT_USAGE
    settings = ReaderSettings(port=args.port, baud=args.baud, response_timeout_s=section.response_timeout_s,
                              poll_interval_s=section.poll_interval_s)
    try:
        with IdCardReader(settings) as reader:
            identity = reader.read_card(args.timeout)
    except ReaderError as exc:
        print(f"taxhall idcard: {exc}", file=sys.stderr)
        return next(code for kind, code in _EXIT_CODES if isinstance(exc, kind))
    # Debug only: process logs go to stdout too, and --json output must stay one line there.
    log.debug("read card %r on %s", identity, args.port)  # the repr is masked
    print(format_identity(identity, args.json, args.unmasked), flush=True)
    return 0
