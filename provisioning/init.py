"""`taxhall provision init`: writes a device's config file — identity, broker, credentials and
the hardware `detect` found — and checks it with the same loader every process uses.

    taxhall provision init --role ROLE [--hall H] [--device D] [--broker URL] [--out FILE]
                           [--credentials DIR] [--enrol TEXT | --enrol-scan]
                           [--printer URL] [--idreader PORT] [--scanner KIND:PATH] [--no-detect] [--force]

`--hall --device --broker` are the `taxhall` command's own overrides; the device id defaults to
`<hostname>-<role>`. `--credentials DIR` takes the hall's credentials folder (or one device's
folder in it) from `provision credentials` and copies this device's password and certificates
next to the config; on the hall server (role ticketer) also the broker's password file, ACL and
TLS files. `--enrol` takes an enrolment code instead (hall, device, role, broker, the hall
server's enrolment URL and a one-time secret; `taxhall provision enrol` on the hall server makes
it), or `--enrol-scan` waits for one on the scanner: the secret is traded at the hall server for
the device's credentials (provisioning.enrolment) — after the config it will go into has been
checked, so a typo in a hardware option never spends a code. Explicit hardware options beat
detection.

On the hall server (role ticketer) init also writes `web.toml` beside the config, for the
`taxhall web` that `provision install --role ticketer` starts there: device `<device>-web` of
role `web` with its own account (`provision credentials` makes it beside every ticketer's; its
secrets go to `web/` beside the config), and a `[web]` section serving the hall network on
port 8080 with the users file and the engine's database under the engine's data dir.

The file is written beside its final name, loaded with `taxhall.config.load_config` and the
driver sections' models, and moved into place only when valid: a technician never leaves a
device with a config that stops its processes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioning.credentials import web_account_name
from provisioning.detect import Found, Report, detect
from provisioning.enrol import EnrolError, Enrolment, parse_enrolment
from taxhall.config import ConfigError, ConfigSection, DeviceConfig, load_config

ROLES = ("ticketer", "kiosk", "dispenser", "counter", "rater", "display", "led", "monitor")
# What each role's device uses: printer, idreader, scanner.
HARDWARE: dict[str, tuple[str, ...]] = {"kiosk": ("printer", "idreader", "scanner"), "dispenser": ("printer",)}
# The app section that says "full screen" for each screen role.
SCREEN_SECTION = {"kiosk": "kiosk", "dispenser": "dispenser", "counter": "counter", "rater": "rater",
                  "display": "display_hall"}
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
# `taxhall web` on the hall server serves every address: taxpayers' phones open the ticket's QR
# code (/t/TOKEN) over the hall's network and the supervisor the dashboard from a desk; 8080
# because the unit runs as user taxhall, who may not bind a port below 1024.
WEB_LISTEN = "0.0.0.0:8080"


class InitError(Exception):
    """A config that cannot be written; str() is one line."""


@dataclass
class Hardware:
    """What the config will use, and why, for the technician to read."""

    printer: str = ""
    idreader: str = ""
    scanner_kind: str = "none"
    scanner_device: str = ""
    notes: list[str] = field(default_factory=list)


def choose_hardware(report: Report, role: str) -> Hardware:
    """Picks the role's printer, ID-card reader and scanner from a detect report."""
    wants = HARDWARE.get(role, ())
    chosen = Hardware()
    if "printer" in wants:
        printers = report.of_kind("printer")
        if printers:
            chosen.printer = printers[0].path
            chosen.notes.append(f"printer: {printers[0].name} ({printers[0].path})")
            if len(printers) > 1:
                chosen.notes.append(f"  {len(printers) - 1} more printer(s) found; pass --printer URL to pick another")
        else:
            chosen.notes.append("printer: none found (plug it in and rerun, or pass --printer URL)")
    scanner = _pick_scanner(report) if "scanner" in wants else None
    if scanner is not None:
        kind = "hid" if scanner.via == "input" else "camera" if scanner.via == "camera" else "serial"
        chosen.scanner_kind, chosen.scanner_device = kind, scanner.path
        chosen.notes.append(f"scanner: {scanner.name} ({kind}, {scanner.path})")
    elif "scanner" in wants:
        chosen.notes.append("scanner: none found (pass --scanner hid:/dev/input/by-id/... or serial:PORT)")
    if "idreader" in wants:
        serials = [f for f in report.of_kind("serial") if f.path != chosen.scanner_device]
        known = [f for f in serials if "[scanner]" not in f.config]
        reader = known[0] if known else (serials[0] if serials else None)
        if reader is not None:
            chosen.idreader = reader.path
            guess = "" if known else " — a bare serial port, assumed to be the reader; check with selftest"
            chosen.notes.append(f"ID-card reader: {reader.name} ({reader.path}){guess}")
        else:
            chosen.notes.append("ID-card reader: none found (pass --idreader /dev/serial/by-id/...)")
    return chosen


def _pick_scanner(report: Report) -> Found | None:
    for via in ("input", "serial", "camera"):
        for found in report.found:
            if found.kind == "scanner" and found.via == via:
                return found
    cameras = report.of_kind("camera")
    return cameras[0] if cameras else None


def apply_overrides(hardware: Hardware, args: argparse.Namespace) -> Hardware:
    """The technician's --printer, --idreader and --scanner replace what detection chose."""
    def given(part: str, value: str) -> None:
        hardware.notes = [n for n in hardware.notes if not n.startswith(part)] + [f"{part}: {value} (given)"]

    if args.printer:
        hardware.printer = args.printer
        given("printer", args.printer)
    if args.idreader:
        hardware.idreader = args.idreader
        given("ID-card reader", args.idreader)
    if args.scanner:
        kind, sep, path = args.scanner.partition(":")
        if not sep or kind not in ("hid", "serial", "camera"):
            raise InitError(f"--scanner {args.scanner!r}: expected hid:PATH, serial:PORT or camera:DEVICE")
        hardware.scanner_kind, hardware.scanner_device = kind, path
        given("scanner", args.scanner)
    return hardware


# ---------------------------------------------------------------- the file

def toml_value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and booleans are TOML's too."""
    return json.dumps(value, ensure_ascii=False)


def section_lines(name: str, values: dict[str, Any]) -> list[str]:
    return ["", f"[{name}]", *(f"{key} = {toml_value(value)}" for key, value in values.items())]


@dataclass(frozen=True)
class Identity:
    role: str
    hall: str
    device: str
    broker: str


def config_text(identity: Identity, hardware: Hardware, bus: dict[str, Any], broker: dict[str, Any]) -> str:
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [f"# {identity.role} device {identity.device} of hall {identity.hall}: written by "
             f"`taxhall provision init` on {socket.gethostname()} at {stamp}.",
             "# `taxhall config --config FILE` checks it; docs/config.md lists every key."]
    lines += section_lines("device", {"id": identity.device, "hall": identity.hall})
    lines += section_lines("bus", {"broker": identity.broker, **bus})
    if broker:
        lines += section_lines("broker", broker)
    if hardware.printer:
        lines += section_lines("printer", {"url": hardware.printer})
    if hardware.idreader:
        lines += section_lines("idreader", {"port": hardware.idreader})
    if hardware.scanner_kind != "none":
        lines += section_lines("scanner", {"kind": hardware.scanner_kind, "device": hardware.scanner_device})
    screen = SCREEN_SECTION.get(identity.role)
    if screen:
        lines += section_lines(screen, {"fullscreen": True, **web_links(identity.role, identity.broker)})
    if identity.role == "led":
        lines += ["", "# One table per board: port, counter (empty for the hall's main board), width, height.",
                  "# [[display_led.boards]]", '# port = "/dev/taxhall/serial-..."', '# counter = "1"',
                  "# width = 128", "# height = 32"]
    return "\n".join(lines) + "\n"


def hall_web_url(broker: str) -> str:
    """The hall server's web address as a phone on the hall network reaches it: the broker's
    host (the web runs beside the broker on the hall server) on the web's port."""
    host = urlsplit(broker).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{WEB_LISTEN.rpartition(':')[2]}"


def web_links(role: str, broker: str) -> dict[str, str]:
    """The addresses a role prints in QR codes: the ticket's live page, an appeal's page."""
    web = hall_web_url(broker)
    if role == "dispenser":
        return {"follow_url": f"{web}/t/{{token}}"}
    if role == "kiosk":
        return {"queue_follow_url": f"{web}/t/{{token}}", "appeal_lookup_url": f"{web}/appeal/{{ref}}"}
    return {}


def web_config_path(out: Path) -> Path:
    """Where the hall server's web.toml goes: beside its device.toml."""
    return out.with_name("web.toml")


def web_config_text(server: Identity, bus: dict[str, Any], engine: DeviceConfig) -> str:
    """web.toml for the `taxhall web` of hall server `server`, whose engine runs with the config
    `engine`: its own device id and account, the users file and the engine's database."""
    from ticketer.run import database_path  # the engine's own answer, so the two cannot drift apart

    web = web_account_name(server.device)
    data_dir = engine.data_dir
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [f"# taxhall web (phone pages, supervisor's dashboard) of hall {server.hall} on hall server {server.device}: "
             f"written by `taxhall provision init` on {socket.gethostname()} at {stamp}.",
             "# `taxhall config --config FILE` checks it; docs/web.md lists every [web] key."]
    lines += section_lines("device", {"id": web, "hall": server.hall})
    lines += section_lines("bus", {"broker": server.broker, **bus})
    lines += ["", "# Every address: phones open /t/TOKEN (the ticket's QR code) over the hall's network, the supervisor",
              "# /admin from a desk. Dashboard users: `taxhall web --hash-password` gives the line for users_file:",
              '#   [users.NAME]', '#   password_hash = "$argon2id$..."']
    lines += section_lines("web", {"listen": WEB_LISTEN, "users_file": str(data_dir / "web" / "users.toml"),
                                   "ticketer_db": str(database_path(engine))})[1:]
    return "\n".join(lines) + "\n"


def validation_sections() -> dict[str, type[ConfigSection]]:
    """The section models init writes into; the apps' own sections are checked when they exist."""
    from drivers.idcard.config import SECTIONS as IDREADER
    from drivers.printer.config import SECTIONS as PRINTER
    from drivers.scanner.config import SECTIONS as SCANNER

    sections: dict[str, type[ConfigSection]] = {**PRINTER, **IDREADER, **SCANNER}
    for module, name in (("ticketer.dispenser_app", "SECTIONS"), ("ticketer.counter_app", "SECTIONS"),
                         ("ticketer.rater_app", "SECTIONS"), ("display.hall_app", "SECTIONS"),
                         ("kiosk.config", "SECTIONS"), ("web.config", "SECTIONS")):
        try:
            sections.update(getattr(__import__(module, fromlist=[name]), name))
        except Exception:  # an application still being built must not stop a technician
            continue
    return sections


def validate(path: Path, role: str) -> DeviceConfig:
    from taxhall.cli import SECTION_NAMES

    return load_config(path, role, sections=validation_sections(), accepted=SECTION_NAMES)


# ---------------------------------------------------------------- credentials

def copy_secret(source: Path, target: Path) -> None:
    """Copies a secret as root:taxhall 0640 (the processes run as taxhall), or 0600 when
    there is no such group (a test, a workstation)."""
    write_secret(target, source.read_bytes())


def write_secret(target: Path, data: bytes) -> None:
    """Writes a secret as root:taxhall 0640, or 0600 without that group; whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.new")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(temp, target)
    try:
        import grp

        os.chown(target, -1, grp.getgrnam("taxhall").gr_gid)
        os.chmod(target, 0o640)
    except (KeyError, PermissionError):
        pass


def device_folder(credentials: Path, device: str) -> Path:
    """A device's folder: DIR itself when it holds mqtt-password, else DIR/devices/DEVICE."""
    if (credentials / "mqtt-password").exists():
        return credentials
    folder = credentials / "devices" / device
    if not (folder / "mqtt-password").exists():
        raise InitError(f"no credentials for {device} in {credentials} (run provision credentials --add {device}:ROLE)")
    return folder


def web_folder(credentials: Path, server: str) -> Path:
    """The folder of the hall server's web account: DIR/devices/SERVER-web, or beside SERVER's
    own folder when that was given."""
    name = web_account_name(server)
    folder = credentials.parent / name if (credentials / "mqtt-password").exists() else credentials / "devices" / name
    if not (folder / "mqtt-password").exists():
        raise InitError(f"no credentials for {name}, the account of taxhall web on this hall server, in {credentials}: "
                        f"run taxhall provision credentials again on the hall's folder (it adds {name} beside "
                        f"{server}) and copy it here again; nothing was written")
    return folder


def copy_device_secrets(folder: Path, username: str, etc: Path) -> dict[str, Any]:
    """Copies one account's password (and TLS files) from its credentials folder into `etc`;
    returns the [bus] keys that use them."""
    copy_secret(folder / "mqtt-password", etc / "mqtt-password")
    bus: dict[str, Any] = {"username": username, "password_file": str(etc / "mqtt-password")}
    for name, key in (("ca.crt", "ca_file"), ("client.crt", "cert_file"), ("client.key", "key_file")):
        if (folder / name).exists():
            copy_secret(folder / name, etc / name)
            bus[key] = str(etc / name)
    return bus


def install_credentials(credentials: Path, identity: Identity, etc: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Copies this device's secrets into `etc`; returns the [bus] keys, the [broker] keys (hall
    server only) and the broker URL the credentials were made for ("" if none)."""
    folder = device_folder(credentials, identity.device)
    bus = copy_device_secrets(folder, identity.device, etc)
    url = ""
    if (folder / "bus.toml").exists():
        url = str(tomllib.loads((folder / "bus.toml").read_text()).get("bus", {}).get("broker", ""))
    broker: dict[str, Any] = {}
    hall_broker = credentials / "broker"
    if identity.role == "ticketer" and (hall_broker / "passwd").exists():
        # Closed to strangers by password and ACL, the broker can face the hall's network; with
        # TLS only the TLS listener does, and the plain one serves this machine's own processes.
        tls = (hall_broker / "server.crt").exists()
        broker = {"listen": "127.0.0.1" if tls else "0.0.0.0"}
        copy_secret(hall_broker / "passwd", etc / "broker" / "passwd")
        copy_secret(hall_broker / "acl", etc / "broker" / "acl")
        broker |= {"password_file": str(etc / "broker" / "passwd"), "acl_file": str(etc / "broker" / "acl")}
        if (hall_broker / "server.crt").exists():
            for name in ("ca.crt", "server.crt", "server.key"):
                copy_secret(hall_broker / name, etc / "broker" / name)
            broker |= {"tls_port": 8883, "tls_listen": "0.0.0.0", "ca_file": str(etc / "broker" / "ca.crt"),
                       "cert_file": str(etc / "broker" / "server.crt"), "key_file": str(etc / "broker" / "server.key"),
                       "require_certificate": True, "use_identity_as_username": True}
    return bus, broker, url


def install_grant(grant: Any, etc: Path) -> dict[str, Any]:
    """Writes the credentials the enrolment service granted (provisioning.enrolment.Grant)
    beside the config; returns the [bus] keys that use them."""
    write_secret(etc / "mqtt-password", (grant.password + "\n").encode())
    bus: dict[str, Any] = {"username": grant.username, "password_file": str(etc / "mqtt-password")}
    for pem, name, key in ((grant.ca_pem, "ca.crt", "ca_file"), (grant.cert_pem, "client.crt", "cert_file"),
                           (grant.key_pem, "client.key", "key_file")):
        if pem:
            write_secret(etc / name, pem.encode())
            bus[key] = str(etc / name)
    return bus


def scan_enrolment(hardware: Hardware, timeout_s: float) -> str:
    """Waits for the technician to scan the enrolment code on this device's scanner."""
    from drivers.scanner.config import ScannerSection, open_scanner

    if hardware.scanner_kind == "none":
        raise InitError("--enrol-scan: no scanner found; pass --scanner KIND:PATH or paste the code with --enrol")
    section = ScannerSection(kind=hardware.scanner_kind, device=hardware.scanner_device)  # type: ignore[arg-type]
    print(f"scan the enrolment code now ({timeout_s:g} s)…", flush=True)
    with open_scanner(section) as scanner:
        scan = scanner.read(timeout_s)
    if scan is None:
        raise InitError("--enrol-scan: nothing was scanned in time")
    return scan.text


# ---------------------------------------------------------------- the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=ROLES, help="what this device is (required unless --enrol gives it)")
    parser.add_argument("--out", type=Path, default=Path("/etc/taxhall/device.toml"), metavar="FILE",
                        help="where to write (default /etc/taxhall/device.toml); secrets go beside it")
    parser.add_argument("--credentials", type=Path, metavar="DIR", help="the hall's credentials folder, or this device's")
    parser.add_argument("--enrol", metavar="TEXT", help="an enrolment code (taxhall:enrol?...)")
    parser.add_argument("--enrol-scan", action="store_true", help="wait for the enrolment code on the scanner")
    parser.add_argument("--force", action="store_true", help="replace an existing config file")
    add_hardware_arguments(parser)


def add_hardware_arguments(parser: Any) -> None:
    """The hardware options `init` and `enrol` share."""
    parser.add_argument("--printer", metavar="URL", help="printer URL instead of the detected one")
    parser.add_argument("--idreader", metavar="PORT", help="ID-card reader port instead of the detected one")
    parser.add_argument("--scanner", metavar="KIND:PATH", help="hid:/dev/input/by-id/..., serial:PORT or camera:DEV")
    parser.add_argument("--no-detect", action="store_true", help="do not look for hardware")


def given_identity(config: DeviceConfig, role: str) -> tuple[str, str]:
    """(hall, device) from the command line overrides; the device id defaults to host-role
    (the loader made it `<host>-provision` when --device was not given)."""
    host = socket.gethostname().split(".")[0]
    device = config.device_id
    if device == f"{host}-provision":
        device = f"{host}-{role}"
    return config.hall, device


def run_init(config: DeviceConfig, args: argparse.Namespace, command: str = "init") -> int:
    try:
        path = write_config(config, args)
    except (InitError, EnrolError, ConfigError, OSError) as exc:
        print(f"taxhall provision {command}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}; next: taxhall provision selftest --config {path}")
    return 0


def write_config(config: DeviceConfig, args: argparse.Namespace) -> Path:
    out: Path = args.out.resolve()  # paths written into the config must not depend on the cwd
    if out.exists() and not args.force:
        raise InitError(f"{out} exists; pass --force to replace it")
    web_out = web_config_path(out)
    report = Report() if args.no_detect else detect()
    enrolment: Enrolment | None = None
    hardware = apply_overrides(choose_hardware(report, args.role or "kiosk"), args)
    if args.enrol or args.enrol_scan:
        enrolment = parse_enrolment(args.enrol or scan_enrolment(hardware, 60.0))
    role = enrolment.role if enrolment else args.role
    if role is None:
        raise InitError("--role is required (or an enrolment code that names it)")
    if enrolment and args.role and args.role != enrolment.role:
        raise InitError(f"--role {args.role} but the enrolment code is for a {enrolment.role}")
    if not args.role or args.role != role:
        hardware = apply_overrides(choose_hardware(report, role), args)
    hall, device = given_identity(config, role)
    # The hall server's web gets its own file and account; an enrolment code carries one account only.
    with_web = role == "ticketer" and enrolment is None
    if with_web and web_out == out:
        raise InitError(f"--out {out}: that name is the web's config on the hall server; use device.toml")
    if with_web and web_out.exists() and not args.force:
        raise InitError(f"{web_out} exists; pass --force to replace it (and {out.name})")
    broker_url = config.bus.broker
    etc = out.parent
    bus: dict[str, Any] = {}
    web_bus: dict[str, Any] = {}
    broker: dict[str, Any] = {}
    if enrolment:
        hall, device, broker_url = enrolment.hall, enrolment.device, enrolment.broker
        # the config the credentials will go into must be right before the one-time code is spent
        check_text(config_text(Identity(role, hall, device, broker_url), hardware,
                               {"username": device, "password_file": str(etc / "mqtt-password")}, {}), out, role).unlink()
        from provisioning.enrolment import fetch_grant

        grant = fetch_grant(enrolment)
        broker_url = grant.broker
        bus = install_grant(grant, etc)
    elif args.credentials:
        web_secrets = web_folder(args.credentials, device) if with_web else None  # before anything is copied
        bus, broker, url = install_credentials(args.credentials, Identity(role, hall, device, broker_url), etc)
        if web_secrets is not None:
            web_bus = copy_device_secrets(web_secrets, web_account_name(device), etc / "web")
        if url and broker_url == DEFAULT_BROKER:
            broker_url = url  # the credentials know the hall's broker; an explicit --broker wins
    if role == "ticketer" and enrolment is not None:
        print(f"web: {web_out.name} not written (an enrolment code carries one account); "
              "run init --credentials DIR on the hall server for taxhall web")
    for note in hardware.notes:
        print(note)
    identity = Identity(role, hall, device, broker_url)
    temp = check_text(config_text(identity, hardware, bus, broker), out, role)
    web_temp: Path | None = None
    if with_web:
        try:
            web_text = web_config_text(identity, web_bus, validate(temp, role))
            web_temp = check_text(web_text, web_out, "web")
        except Exception:  # both files or neither: the engine's is not left half-done beside its name
            temp.unlink(missing_ok=True)
            raise
    os.chmod(temp, 0o644)
    temp.replace(out)
    if web_temp is not None:
        os.chmod(web_temp, 0o644)
        web_temp.replace(web_out)
        print(f"web: {web_out} for taxhall web (device {web_account_name(device)}, role web, listen {WEB_LISTEN}); "
              "add dashboard users with taxhall web --hash-password (docs/technician.md)")
    return out


def check_text(text: str, out: Path, role: str) -> Path:
    """Writes `text` beside `out` and validates it; the checked file (to move into place), or
    InitError with nothing left behind."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.new")
    temp.write_text(text)
    try:
        validate(temp, role)
    except ConfigError as exc:
        temp.unlink()
        raise InitError(f"the config made for this device does not validate ({exc}); nothing was written") from None
    return temp
