"""`taxhall provision ...`: the technicians' tools (docs/technician.md walks through them).

    taxhall provision detect [--json]
    taxhall provision credentials --hall H --out DIR [--devices FILE] [--add ID:ROLE ...] [--tls] [--qr]
    taxhall provision init --role ROLE [--hall H] [--device D] [--broker URL] [--credentials DIR] [--out FILE]
    taxhall provision install --role ROLE [--root DIR] [--counter ID]
    taxhall provision selftest [--config FILE] [--only LIST] [--wait S] [--json]
    taxhall provision enrol --device ID --role ROLE [--credentials DIR] [--valid-for 24h]   (hall server: a code)
    taxhall provision enrol --qr IMAGE | --code TEXT [--out FILE]                           (device: use it)
    taxhall provision enrolment-server [--listen HOST:PORT] [--credentials DIR]

`--hall --device --broker --config` are the `taxhall` command's own options: `init` and
`credentials` take the hall and device from them, `selftest` the config to check.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any, Sequence

from provisioning.detect import Report, detect

ACTIONS = {
    "detect": "list attached printers, ID-card readers, scanners, serial ports, cameras and suggest config lines",
    "init": "write this device's config file with the hardware found and its credentials",
    "credentials": "make a hall's MQTT passwords, password file, ACL (and TLS certificates, enrolment QR codes)",
    "install": "install and enable the systemd units and udev rules of a role; --root DIR for a directory",
    "selftest": "check config, broker, printer, ID-card reader and scanner; a pass/fail table with what to fix",
    "enrol": "zero-touch: make a device's one-time enrolment QR code (hall server), or enrol with one (device)",
    "enrolment-server": "the hall server's enrolment service: devices trade a code's secret for their credentials",
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
        else:
            _ARGUMENTS[name]()(action)
    return parser.parse_args(list(argv))


def _init_arguments() -> Any:
    from provisioning.init import add_arguments

    return add_arguments


def _credentials_arguments() -> Any:
    from provisioning.credentials import add_arguments

    return add_arguments


def _install_arguments() -> Any:
    from provisioning.install import add_arguments

    return add_arguments


def _selftest_arguments() -> Any:
    from provisioning.selftest import add_arguments

    return add_arguments


def _enrol_arguments() -> Any:
    from provisioning.enrolment import add_arguments

    return add_arguments


def _enrolment_server_arguments() -> Any:
    from provisioning.enrolment import add_server_arguments

    return add_server_arguments


_ARGUMENTS = {"init": _init_arguments, "credentials": _credentials_arguments, "install": _install_arguments,
              "selftest": _selftest_arguments, "enrol": _enrol_arguments,
              "enrolment-server": _enrolment_server_arguments}


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
    if args.action == "init":
        from provisioning.init import run_init

        return run_init(config, args)
    if args.action == "credentials":
        from provisioning.credentials import run_credentials

        return run_credentials(config.hall, config.bus.broker, args)
    if args.action == "install":
        from provisioning.install import run_install

        return run_install(args)
    if args.action == "selftest":
        from provisioning.selftest import run_selftest

        return run_selftest(config, args)
    if args.action == "enrol":
        from provisioning.enrolment import run_enrol

        return run_enrol(config, args)
    if args.action == "enrolment-server":
        from provisioning.enrolment import run_server

        return run_server(config, args)
    report = detect()
    if args.json:
        print(json.dumps({"found": [asdict(f) for f in report.found], "notes": report.notes}, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0
