"""`taxhall provision ...`: the technicians' tools. `detect` is built; the others say so.

    taxhall provision detect [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any, Sequence

from provisioning.detect import Report, detect

EXIT_NOT_BUILT = 3
ACTIONS = {
    "detect": "list attached printers, ID-card readers, scanners, serial ports, cameras and suggest config lines",
    "write-config": "write the device config file",
    "credentials": "set the device's MQTT credentials",
    "self-test": "print, scan and read a card to check the device",
    "install": "install the systemd units and udev rules",
}

SECTIONS = (
    ("USB printers and readers", ("usb", "file")),
    ("Serial ports", ("serial",)),
    ("Input devices (keyboard-wedge scanners)", ("input",)),
    ("Cameras", ("camera",)),
)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="taxhall provision", description="Technicians' tools.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in ACTIONS.items():
        action = sub.add_parser(name, help=text, description=text)
        if name == "detect":
            action.add_argument("--json", action="store_true", help="one JSON object instead of text")
    return parser.parse_args(list(argv))


def format_report(report: Report) -> str:
    lines = []
    for title, vias in SECTIONS:
        lines.append(title)
        items = [f for f in report.found if f.via in vias]
        if not items:
            lines.append("  nothing found")
        for item in items:
            lines.append(f"  {item.kind}: {item.name} — {item.path}" + (f" ({item.detail})" if item.detail else ""))
            lines += [f"      {line}" for line in item.config]
        lines.append("")
    if not report.found:
        lines.append("Nothing attached that taxhall can use was found.")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines).rstrip()


def run(config: Any, argv: Sequence[str]) -> int:
    args = _parse_args(argv)
    if args.action != "detect":
        print(f"taxhall provision {args.action}: not built yet ({ACTIONS[args.action]}); nothing was done.",
              file=sys.stderr)
        return EXIT_NOT_BUILT
    report = detect()
    if args.json:
        print(json.dumps({"found": [asdict(f) for f in report.found], "notes": report.notes}, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0
