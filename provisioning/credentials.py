"""`taxhall provision credentials`: one hall's MQTT accounts — a random password per device, the
Mosquitto password file and ACL, and optionally TLS (a hall CA, the broker's certificate and a
client certificate per device) and enrolment QR codes.

    taxhall provision credentials --hall H --out DIR [--devices devices.toml] [--add ID:ROLE ...]
                                  [--remove ID ...] [--rotate ID ...] [--tls --broker-host NAME ...]
                                  [--broker URL]

DIR is the hall's credentials folder, kept by the technician (it holds the CA key):

    DIR/devices.toml            every account of the hall: the list this command keeps
    DIR/broker/passwd, acl      for the hall broker ([broker] password_file, acl_file)
    DIR/broker/broker.toml      the [broker] lines that use them
    DIR/broker/server.crt|key, ca.crt   with --tls
    DIR/ca/ca.crt, ca.key       with --tls: the hall CA (never copied to a device)
    DIR/devices/ID/             what goes onto device ID: mqtt-password, bus.toml, and with
                                --tls ca.crt, client.crt, client.key; enrol.png (provision enrol)

Every hall server (role ticketer) ID also gets the account ID-web of role web, for the
`taxhall web` it runs (phone pages, the supervisor's dashboard): `provision init --role
ticketer` writes its web.toml from devices/ID-web/.

Rerunning adds and removes accounts and keeps every existing password and certificate, so
devices already in service are not locked out; `--rotate ID` makes a new password for ID.
The password file is hashed by `mosquitto_passwd -U` (Mosquitto's own PBKDF2-SHA512 `$7$`
format) rather than by code of ours, so it is whatever the installed broker reads.
"""

from __future__ import annotations

import argparse
import grp
import os
import secrets
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from provisioning.acl import ROLES, Account, AclError, acl_text, check_accounts, check_name
from provisioning.tlsca import issue, load_or_make_ca, write_private

PASSWORD_BYTES = 18  # 24 URL-safe characters: typeable from a printout, 144 bits
BROKER_GROUP = "taxhall"  # the broker's user reads passwd, acl and its key through this group


class CredentialsError(Exception):
    """Credentials that cannot be made; str() is one line."""


@dataclass(frozen=True)
class Plan:
    hall: str
    out: Path
    accounts: tuple[Account, ...]
    rotate: frozenset[str] = frozenset()
    tls: bool = False
    broker_hosts: tuple[str, ...] = ()
    broker_url: str = "mqtt://127.0.0.1:1883"


# ---------------------------------------------------------------- the device list

def read_devices_file(path: Path) -> tuple[str | None, list[Account]]:
    """(hall, accounts) from a devices.toml:

        hall = "sz-futian"            # optional
        [[device]]
        id = "kiosk-1"
        role = "kiosk"
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: {exc}") from None
    entries = data.get("device", [])
    if not isinstance(entries, list):
        raise CredentialsError(f"{path}: expected [[device]] tables with id and role")
    accounts = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("role"), str):
            raise CredentialsError(f"{path}: device {number}: needs id and role, both strings")
        accounts.append(Account(entry["id"], entry["role"]))
    hall = data.get("hall")
    return (hall if isinstance(hall, str) else None), accounts


def devices_toml(hall: str, accounts: Iterable[Account]) -> str:
    lines = [f"# The MQTT accounts of hall {hall}; `taxhall provision credentials` keeps this list.",
             f'hall = "{hall}"']
    for account in accounts:
        lines += ["", "[[device]]", f'id = "{account.name}"', f'role = "{account.role}"']
    return "\n".join(lines) + "\n"


def merge_accounts(existing: Iterable[Account], added: Iterable[Account], removed: Iterable[str]) -> list[Account]:
    """The hall's list after a run: new ids appended, a listed id takes its new role; a hall
    server taken away takes its web's account with it."""
    merged = {a.name: a for a in existing}
    for account in added:
        merged[account.name] = account
    for name in removed:
        gone = merged.pop(name, None)
        companion = merged.get(web_account_name(name))
        if gone is not None and gone.role == "ticketer" and companion is not None and companion.role == "web":
            del merged[companion.name]
    return check_accounts(merged.values())


def web_account_name(ticketer: str) -> str:
    """The MQTT account of `taxhall web` on the hall server whose queue engine is `ticketer`.
    A device of its own: the client id is taxhall-{hall}-{device}, so two processes under one
    id would throw each other off the broker, and only this account carries role `web`."""
    return f"{ticketer}-web"


def with_web_accounts(accounts: Iterable[Account]) -> list[Account]:
    """The accounts and, right after every ticketer (a hall server), the web's account beside
    it unless already listed; `provision install --role ticketer` starts `taxhall web` there."""
    listed = list(accounts)
    roles = {a.name: a.role for a in listed}
    result: list[Account] = []
    for account in listed:
        result.append(account)
        if account.role != "ticketer":
            continue
        companion = web_account_name(account.name)
        if companion not in roles:
            roles[companion] = "web"
            result.append(Account(companion, "web"))
        elif roles[companion] != "web":
            raise CredentialsError(f"{companion} is the account of taxhall web on hall server {account.name}: "
                                   f"its role must be web, not {roles[companion]}")
    return result


def parse_add(value: str) -> Account:
    name, sep, role = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{value!r}: expected ID:ROLE, e.g. kiosk-1:kiosk")
    return Account(name, role)


# ---------------------------------------------------------------- secrets and files

def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def device_password(device_dir: Path, rotate: bool) -> str:
    """The device's password: the one it has (so a rerun locks nobody out) or a new one."""
    path = device_dir / "mqtt-password"
    if path.exists() and not rotate:
        return path.read_text().strip()
    password = new_password()
    write_private(path, (password + "\n").encode())
    return password


def hashed_password_file(users: dict[str, str], target: Path) -> None:
    """Writes Mosquitto's password file for `users` (name → plain password) with
    `mosquitto_passwd -U`, which hashes a plain `name:password` file in place."""
    binary = shutil.which("mosquitto_passwd")
    if binary is None:
        raise CredentialsError("mosquitto_passwd not found; install the Debian package mosquitto")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".passwd-", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as plain:
            plain.writelines(f"{name}:{password}\n" for name, password in users.items())
        result = subprocess.run([binary, "-U", temp], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise CredentialsError(f"mosquitto_passwd failed: {(result.stderr or result.stdout).strip()}")
        os.chmod(temp, 0o640)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def share_with_broker(paths: Iterable[Path]) -> bool:
    """Gives group `taxhall` (the broker's user) read access, when that group exists here."""
    try:
        gid = grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:
        return False
    for path in paths:
        try:
            os.chown(path, -1, gid)
            os.chmod(path, 0o640)
        except PermissionError:
            return False
    return True


def bus_snippet(account: Account, broker_url: str, tls: bool, etc: str = "/etc/taxhall") -> str:
    """The [bus] lines of the device's config that use these credentials."""
    lines = ["[bus]", f'broker = "{broker_url}"', f'username = "{account.name}"',
             f'password_file = "{etc}/mqtt-password"']
    if tls:
        lines += [f'ca_file = "{etc}/ca.crt"', f'cert_file = "{etc}/client.crt"', f'key_file = "{etc}/client.key"']
    return "\n".join(lines) + "\n"


def broker_snippet(broker_dir: Path, tls: bool) -> str:
    lines = ["[broker]", f'password_file = "{broker_dir / "passwd"}"', f'acl_file = "{broker_dir / "acl"}"']
    if tls:
        lines += ["tls_port = 8883", 'tls_listen = "0.0.0.0"', f'ca_file = "{broker_dir / "ca.crt"}"',
                  f'cert_file = "{broker_dir / "server.crt"}"', f'key_file = "{broker_dir / "server.key"}"',
                  "require_certificate = true", "use_identity_as_username = true"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the whole run

@dataclass(frozen=True)
class Result:
    accounts: tuple[Account, ...]
    new_passwords: tuple[str, ...]
    broker_dir: Path
    shared_with_broker: bool


def make_credentials(plan: Plan) -> Result:
    """Writes everything for `plan` into plan.out; see the module docstring for the layout."""
    check_name(plan.hall, "hall id")
    accounts = tuple(with_web_accounts(plan.accounts))
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o750)
    broker_dir = out / "broker"
    broker_dir.mkdir(exist_ok=True)
    users: dict[str, str] = {}
    fresh = []
    for account in accounts:
        device_dir = out / "devices" / account.name
        had = (device_dir / "mqtt-password").exists()
        users[account.name] = device_password(device_dir, account.name in plan.rotate)
        if not had or account.name in plan.rotate:
            fresh.append(account.name)
        (device_dir / "bus.toml").write_text(bus_snippet(account, tls_url(plan) if plan.tls else plan.broker_url,
                                                         plan.tls))
    hashed_password_file(users, broker_dir / "passwd")
    (broker_dir / "acl").write_text(acl_text(plan.hall, accounts))
    (out / "devices.toml").write_text(devices_toml(plan.hall, accounts))
    shared = [broker_dir / "passwd", broker_dir / "acl"]
    if plan.tls:
        shared += write_tls(plan, broker_dir, accounts)
    (broker_dir / "broker.toml").write_text(broker_snippet(broker_dir, plan.tls))
    return Result(accounts, tuple(fresh), broker_dir, share_with_broker(shared))


def tls_url(plan: Plan) -> str:
    host = plan.broker_hosts[0] if plan.broker_hosts else "127.0.0.1"
    return f"mqtts://{host}:8883"


def write_tls(plan: Plan, broker_dir: Path, accounts: Iterable[Account]) -> list[Path]:
    """The hall CA (kept), the broker's certificate (remade: hosts may change) and a client
    certificate per device (kept unless rotated). Returns the broker's files."""
    ca = load_or_make_ca(plan.out / "ca", plan.hall)
    hosts = plan.broker_hosts or ("localhost", "127.0.0.1")
    server = issue(ca, "broker", server_hosts=hosts)
    (broker_dir / "server.crt").write_bytes(server.cert_pem)
    write_private(broker_dir / "server.key", server.key_pem)
    (broker_dir / "ca.crt").write_bytes(ca.cert_pem)
    for account in accounts:
        device_dir = plan.out / "devices" / account.name
        (device_dir / "ca.crt").write_bytes(ca.cert_pem)
        if not (device_dir / "client.crt").exists() or account.name in plan.rotate:
            client = issue(ca, account.name)
            write_private(device_dir / "client.key", client.key_pem)
            (device_dir / "client.crt").write_bytes(client.cert_pem)
    return [broker_dir / "server.key", broker_dir / "server.crt", broker_dir / "ca.crt"]


# ---------------------------------------------------------------- the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the hall's credentials folder")
    parser.add_argument("--devices", type=Path, metavar="FILE", help="devices.toml: [[device]] id, role")
    parser.add_argument("--add", type=parse_add, action="append", default=[], metavar="ID:ROLE",
                        help=f"an account to add (repeatable); roles: {', '.join(ROLES)}")
    parser.add_argument("--remove", action="append", default=[], metavar="ID", help="an account to take away")
    parser.add_argument("--rotate", action="append", default=[], metavar="ID", help="a new password (and certificate) for ID")
    parser.add_argument("--tls", action="store_true", help="also a hall CA, the broker's and each device's certificate")
    parser.add_argument("--broker-host", action="append", default=[], metavar="NAME",
                        help="with --tls: a name or address devices dial the broker by (repeatable)")
    # gone: the code carried the device's password; one-time codes come from `provision enrol`
    parser.add_argument("--qr", action="store_true", help=argparse.SUPPRESS)


def run_credentials(hall: str, broker_url: str, args: argparse.Namespace) -> int:
    import sys

    if args.qr:
        print("taxhall provision credentials: --qr is gone (its code held the device's password); make a "
              "one-time enrolment code per device on the hall server: taxhall provision enrol --device ID --role ROLE",
              file=sys.stderr)
        return 2
    out: Path = args.out.resolve()  # the [broker] lines it prints must work from anywhere
    existing: list[Account] = []
    try:
        if (out / "devices.toml").exists():
            kept_hall, existing = read_devices_file(out / "devices.toml")
            if kept_hall and kept_hall != hall:
                raise CredentialsError(f"{out} holds hall {kept_hall}, not {hall}; use another --out")
        added: list[Account] = []
        if args.devices:
            file_hall, added = read_devices_file(args.devices)
            if file_hall and file_hall != hall:
                raise CredentialsError(f"{args.devices} is for hall {file_hall}, but --hall says {hall}")
        accounts = merge_accounts(existing, [*added, *args.add], args.remove)
        if not accounts:
            raise CredentialsError("no accounts: give --devices FILE or --add ID:ROLE")
        unknown = [name for name in args.rotate if name not in {a.name for a in accounts}]
        if unknown:
            raise CredentialsError(f"--rotate {', '.join(unknown)}: no such account")
        result = make_credentials(Plan(hall, out, tuple(accounts), frozenset(args.rotate), args.tls,
                                       tuple(args.broker_host), broker_url))
    except (CredentialsError, AclError, OSError) as exc:
        print(f"taxhall provision credentials: {exc}", file=sys.stderr)
        return 1
    print(f"hall {hall}: {len(result.accounts)} accounts in {out}")
    for account in result.accounts:
        note = " (new password)" if account.name in result.new_passwords else ""
        print(f"  {account.name:24} {account.role:10} devices/{account.name}/{note}")
    print(f"broker files: {result.broker_dir}/ — add to the hall server's device.toml:")
    print((result.broker_dir / "broker.toml").read_text().rstrip())
    if not result.shared_with_broker:
        print(f"note: no group '{BROKER_GROUP}' here: make {result.broker_dir} readable by the broker's user "
              "(provision install creates the group)")
    return 0
