"""Zero-touch enrolment with a one-time secret: the hall server's side and the device's.

On the hall server (where the hall's credentials folder lives, e.g.
/var/lib/taxhall/provisioning):

    taxhall provision enrol --device kiosk-07 --role kiosk [--credentials DIR] [--broker URL]
                            [--url http://HOST:8470/enrol] [--valid-for 24h] [--qr-out PNG]

makes the device's MQTT account as `provision credentials --add` does (password, password file,
ACL, TLS certificate if the hall uses TLS), keeps a PENDING enrolment in DIR/enrolments.sqlite —
the secret hashed with argon2, an expiry, usable once — and writes the QR code (hall, device,
role, broker, enrolment URL, secret; no password). A new code for the same device replaces the
one before it.

    taxhall provision enrolment-server --listen 0.0.0.0:8470 [--credentials DIR]

serves `POST /enrol` (FastAPI; `enrolment_router` for any app that wants it): the device sends
`{"device", "secret", "request_id"}` and receives its hall, role, broker and credentials
(`Grant`). Refused, with the reason in words: an unknown device (404 `unknown`), a wrong secret
(403 `wrong_secret`; after 10 the code is void, `locked`), a spent code (410 `spent`), an
expired one (410 `expired`); too many failed attempts from one address within a minute get 429
`too_many_attempts`. Every attempt is logged with the device and address, the secret masked.
A repeated request with the same `request_id` (a device whose answer got lost) gets the same
grant again — only with the same secret, only before the code expires.

On the device:

    taxhall provision enrol --qr PHOTO.png | --code 'taxhall:enrol?v=2&…' [--out FILE] [init's hardware options]

reads the code, fetches the grant and writes the device config and its secrets exactly as
`provision init --credentials` would (provisioning.init does the writing and validating).

In a TLS hall (the credentials folder has a CA) the service speaks HTTPS with the broker's
certificate, codes carry the CA's fingerprint, and the device checks the CA it is served against
the code before it sends the secret (`GET /enrol/ca`, then `POST /enrol` verified by that CA).
Without TLS the answer — the device's password — crosses the hall network in the clear: the
service is meant for the hall's own network and the minutes of setting a device up; the secret's
single use and short life bound what a listener could do with a code, and a device can be
`credentials --rotate`d at any time.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import secrets
import sqlite3
import sys
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from provisioning.acl import Account, AclError, check_name
from provisioning.enrol import EnrolError, Enrolment, ca_pin, check_enrolment_url, write_qr

log = logging.getLogger("provisioning.enrolment")

DEFAULT_CREDENTIALS = Path("/var/lib/taxhall/provisioning")
DEFAULT_PORT = 8470
DEFAULT_VALID_S = 24 * 3600
SECRET_BYTES = 18  # 144 bits, 24 URL-safe characters
MAX_WRONG_SECRETS = 10  # per code: then it is void and a new one must be made
ATTEMPTS_PER_WINDOW = 5  # failed attempts per client address ...
ATTEMPT_WINDOW_S = 60.0  # ... within this many seconds

Clock = Callable[[], float]


# ---------------------------------------------------------------- wire models


class EnrolRequest(BaseModel):
    device: str = Field(min_length=1, max_length=64, description="the device id the code names")
    secret: str = Field(min_length=1, max_length=256, description="the code's one-time secret")
    request_id: str = Field(min_length=1, max_length=128, description="repeating it repeats the answer")


class Grant(BaseModel):
    """What a device needs to join its hall."""

    hall: str
    device: str
    role: str
    broker: str = Field(description="broker URL, mqtt://HOST:PORT or mqtts://HOST:8883")
    username: str
    password: str
    ca_pem: str | None = Field(None, description="the hall CA (TLS halls)")
    cert_pem: str | None = Field(None, description="the device's client certificate (TLS halls)")
    key_pem: str | None = Field(None, description="its private key (TLS halls)")


class Refusal(BaseModel):
    code: str
    message: str


class Refused(Exception):
    """An enrolment attempt refused; `code` for machines, str() for the technician."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def mask_secret(secret: str) -> str:
    """A secret as logs show it: enough to tell two codes apart, never enough to use one."""
    return (secret[:3] + "…") if len(secret) > 8 else "…"


# ---------------------------------------------------------------- pending enrolments

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrolment (
    device TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hall TEXT NOT NULL,
    broker TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    wrong_secrets INTEGER NOT NULL DEFAULT 0,
    used_at REAL,
    used_by TEXT,
    used_request TEXT
);
"""


@dataclass(frozen=True)
class Pending:
    device: str
    role: str
    hall: str
    broker: str
    expires_at: float


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).astimezone().isoformat(timespec="seconds")


class EnrolmentBook:
    """The hall server's pending enrolments (SQLite, WAL, synchronous=FULL: a code handed out
    is on disk before the technician holds it; a code spent stays spent after a power cut)."""

    def __init__(self, path: Path) -> None:
        from argon2 import PasswordHasher

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        os.chmod(path, 0o600)  # hashes only, but nobody else's business
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()

    def close(self) -> None:
        self._db.close()

    def add(self, pending: Pending, now: float) -> str:
        """Stores `pending` (replacing any code before it for that device); returns the secret,
        which is nowhere else from now on."""
        secret = secrets.token_urlsafe(SECRET_BYTES)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO enrolment (device, role, hall, broker, secret_hash, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pending.device, pending.role, pending.hall, pending.broker, self._hasher.hash(secret), now,
                 pending.expires_at))
        return secret

    def redeem(self, request: EnrolRequest, address: str, now: float) -> Pending:
        """The pending enrolment `request` may have, marked spent; Refused otherwise."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with self._lock:
            row = self._db.execute(
                "SELECT role, hall, broker, secret_hash, expires_at, wrong_secrets, used_at, used_by, used_request"
                " FROM enrolment WHERE device = ?", (request.device,)).fetchone()
            if row is None:
                raise Refused("unknown", f"no enrolment is waiting for {request.device} on this hall server; make one "
                              f"with `taxhall provision enrol --device {request.device} --role ROLE`", 404)
            role, hall, broker, secret_hash, expires_at, wrong, used_at, used_by, used_request = row
            if wrong >= MAX_WRONG_SECRETS:
                raise Refused("locked", f"too many wrong secrets for {request.device}: this code is void, "
                              "make a new one", 403)
            try:
                self._hasher.verify(secret_hash, request.secret)
            except (VerificationError, InvalidHashError):
                self._db.execute("UPDATE enrolment SET wrong_secrets = wrong_secrets + 1 WHERE device = ?",
                                 (request.device,))
                raise Refused("wrong_secret", f"the secret does not match the code made for {request.device}: "
                              "scan the newest code printed for it", 403) from None
            pending = Pending(request.device, role, hall, broker, expires_at)
            if used_at is not None:
                if used_request == request.request_id and now < expires_at:
                    return pending  # the same request again: its answer got lost on the way
                raise Refused("spent", f"this code was already used at {_iso(used_at)} (from {used_by}); "
                              "make a new one if the device must enrol again", 410)
            if now >= expires_at:
                raise Refused("expired", f"this code expired at {_iso(expires_at)}; make a new one", 410)
            self._db.execute("UPDATE enrolment SET used_at = ?, used_by = ?, used_request = ? WHERE device = ?",
                             (now, address, request.request_id, request.device))
            return pending


class AttemptLimiter:
    """Failed attempts per client address in a sliding window: past the limit, an address is
    told to wait, so guessing secrets costs a minute per handful of tries."""

    def __init__(self, limit: int = ATTEMPTS_PER_WINDOW, window_s: float = ATTEMPT_WINDOW_S,
                 clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _recent(self, address: str) -> collections.deque[float]:
        failures = self._failures[address]
        cutoff = self.clock() - self.window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures

    def check(self, address: str) -> None:
        with self._lock:
            if len(self._recent(address)) >= self.limit:
                raise Refused("too_many_attempts", f"too many failed attempts from {address}; "
                              f"wait {self.window_s:g} s and try again", 429)

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(self.clock())


# ---------------------------------------------------------------- credentials into a grant


def device_grant(credentials: Path, pending: Pending) -> Grant:
    """The device's credentials as `provision credentials` made them (devices/ID/)."""
    folder = credentials / "devices" / pending.device
    try:
        password = (folder / "mqtt-password").read_text().strip()
    except OSError:
        raise Refused("no_credentials", f"the hall server has no credentials for {pending.device} any more "
                      "(removed?); make a new code", 410) from None
    tls = {key: (folder / name).read_text() for key, name in
           (("ca_pem", "ca.crt"), ("cert_pem", "client.crt"), ("key_pem", "client.key")) if (folder / name).exists()}
    broker = pending.broker
    if tls and (folder / "bus.toml").exists():
        # a TLS hall: the device dials the TLS listener its bus.toml names
        broker = str(tomllib.loads((folder / "bus.toml").read_text()).get("bus", {}).get("broker", broker))
    return Grant(hall=pending.hall, device=pending.device, role=pending.role, broker=broker,
                 username=pending.device, password=password, **tls)


# ---------------------------------------------------------------- the HTTP service


def enrolment_router(book: EnrolmentBook, credentials: Path, limiter: AttemptLimiter | None = None,
                     clock: Clock = time.time) -> APIRouter:
    """`POST /enrol` and `GET /enrol/health` as a FastAPI router."""
    limiter = limiter or AttemptLimiter()
    router = APIRouter()

    @router.post("/enrol", response_model=Grant, responses={403: {"model": Refusal}, 404: {"model": Refusal},
                                                             410: {"model": Refusal}, 429: {"model": Refusal}})
    def enrol(body: EnrolRequest, request: Request) -> Any:
        address = request.client.host if request.client else "?"
        where = f"{body.device} from {address} (secret {mask_secret(body.secret)}, request {body.request_id})"
        try:
            limiter.check(address)
            grant = device_grant(credentials, book.redeem(body, address, clock()))
        except Refused as refused:
            if refused.code != "too_many_attempts":
                limiter.failed(address)
            log.warning("enrolment of %s: refused, %s", where, refused.code)
            return JSONResponse({"error": {"code": refused.code, "message": str(refused)}}, status_code=refused.status)
        log.info("enrolment of %s: granted (%s, broker %s)", where, grant.role, grant.broker)
        return grant

    @router.get("/enrol/health")
    def health() -> dict[str, str]:
        return {"state": "online"}

    @router.get("/enrol/ca")
    def hall_ca() -> Any:
        """The hall CA (public), for a device to check against its code's fingerprint."""
        from fastapi.responses import PlainTextResponse

        path = credentials / "ca" / "ca.crt"
        if not path.exists():
            return JSONResponse({"error": {"code": "no_tls", "message": "this hall uses no TLS"}}, status_code=404)
        return PlainTextResponse(path.read_text(), media_type="application/x-pem-file")

    return router


def create_app(book: EnrolmentBook, credentials: Path, limiter: AttemptLimiter | None = None,
               clock: Clock = time.time) -> FastAPI:
    app = FastAPI(title="taxhall enrolment", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(enrolment_router(book, credentials, limiter, clock))
    return app


def https_files(credentials: Path) -> tuple[str, str] | None:
    """(certificate, key) the service speaks HTTPS with in a TLS hall: the broker's, which the
    hall CA signed for the names devices dial."""
    cert, key = credentials / "broker" / "server.crt", credentials / "broker" / "server.key"
    return (str(cert), str(key)) if (credentials / "ca" / "ca.crt").exists() and cert.exists() and key.exists() else None


class ServerThread:
    """uvicorn in a thread of this process (tests); HTTPS when given `tls` (cert, key)."""

    def __init__(self, app: Any, host: str, port: int, tls: tuple[str, str] | None = None) -> None:
        import uvicorn

        ssl = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                                    **ssl))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, name="enrolment-http", daemon=True)
        self.url = f"{'https' if tls else 'http'}://{host}:{port}/enrol"

    def start(self, timeout_s: float = 10.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the enrolment server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


# ---------------------------------------------------------------- the device's side


def fetch_grant(enrolment: Enrolment, timeout_s: float = 15.0, attempts: int = 3) -> Grant:
    """Trades the code's secret for the device's credentials; EnrolError in words otherwise.
    Retries a lost answer with the same request id, so a retry never spends a second code."""
    import httpx

    body = {"device": enrolment.device, "secret": enrolment.secret, "request_id": f"enrol-{uuid.uuid4().hex}"}
    failure = ""
    for attempt in range(attempts):
        try:
            verify = hall_ca_context(enrolment, timeout_s) if enrolment.url.startswith("https://") else True
            reply = httpx.post(enrolment.url, json=body, timeout=timeout_s, verify=verify)
        except httpx.HTTPError as exc:
            failure = f"cannot reach the enrolment service at {enrolment.url} ({type(exc).__name__}: {exc}); is " \
                      "`taxhall provision enrolment-server` running on the hall server, and this device on its network?"
            time.sleep(min(2.0 * (attempt + 1), 5.0))
            continue
        if reply.status_code == 200:
            grant = Grant.model_validate(reply.json())
            if (grant.device, grant.hall) != (enrolment.device, enrolment.hall):
                raise EnrolError(f"the hall server answered for {grant.device} of {grant.hall}, not this code's "
                                 f"{enrolment.device} of {enrolment.hall}")
            return grant
        try:
            error = reply.json()["error"]
            message, code = str(error["message"]), str(error["code"])
        except (ValueError, KeyError, TypeError):
            message, code = reply.text[:200], f"http {reply.status_code}"
        raise EnrolError(f"the hall server refused the code ({code}): {message}")
    raise EnrolError(failure)


def hall_ca_context(enrolment: Enrolment, timeout_s: float) -> Any:
    """An SSL context trusting the hall CA the service shows — once it matches the code's `ca`.
    Fetched without verification, because nothing else can vouch for it: the code does."""
    import ssl

    import httpx

    reply = httpx.get(enrolment.url.rstrip("/") + "/ca", timeout=timeout_s, verify=False)
    if reply.status_code != 200:
        raise EnrolError(f"the hall server shows no certificate authority at {enrolment.url}/ca (http {reply.status_code})")
    try:
        matches = ca_pin(reply.content) == enrolment.ca
    except ValueError:
        matches = False
    if not matches:
        raise EnrolError("the hall server's certificate authority is not the one this code names: "
                         "a different server answered at that address; nothing was sent")
    return ssl.create_default_context(cadata=reply.text)


# ---------------------------------------------------------------- issuing a code (hall server)


@dataclass(frozen=True)
class Issued:
    enrolment: Enrolment
    qr: Path
    expires_at: float
    new_account: bool


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def hall_broker_url(credentials: Path, given: str) -> str:
    """The broker URL devices dial: `given`, unless it is this machine's loopback (the hall
    server's own config) and the credentials folder already names the hall's address."""
    if not _loopback(given):
        return given
    for bus in sorted((credentials / "devices").glob("*/bus.toml")):
        url = str(tomllib.loads(bus.read_text()).get("bus", {}).get("broker", ""))
        if url.startswith("mqtt://") and not _loopback(url):
            return url
    return given


def broker_hosts(credentials: Path) -> tuple[str, ...]:
    """The names in the broker's certificate (a TLS hall): remade with the same names."""
    from cryptography import x509

    path = credentials / "broker" / "server.crt"
    if not path.exists():
        return ()
    names = x509.load_pem_x509_certificate(path.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return tuple([*names.get_values_for_type(x509.DNSName), *(str(ip) for ip in names.get_values_for_type(x509.IPAddress))])


def issue_code(credentials: Path, hall: str, device: str, role: str, broker: str, url: str, valid_s: float,
               qr: Path | None, now: float) -> Issued:
    """Makes (or keeps) `device`'s account in the hall's credentials folder, stores a pending
    enrolment and writes its QR code."""
    from provisioning.credentials import CredentialsError, Plan, make_credentials, merge_accounts, read_devices_file

    check_name(device)
    from provisioning.init import ROLES as DEVICE_ROLES  # what `init` writes a config for

    if role not in DEVICE_ROLES:
        raise EnrolError(f"--role {role}: a device role ({', '.join(DEVICE_ROLES)})")
    if valid_s <= 0:
        raise EnrolError("--valid-for must be more than nothing, e.g. 30m or 24h")
    check_enrolment_url(url)
    tls = (credentials / "ca" / "ca.crt").exists()
    if tls and not url.startswith("https://"):
        raise EnrolError(f"this hall uses TLS: the enrolment URL must be https:// (not {url}), so the device's key "
                         "never crosses the network in the clear")
    existing: list[Account] = []
    if (credentials / "devices.toml").exists():
        kept_hall, existing = read_devices_file(credentials / "devices.toml")
        if kept_hall and kept_hall != hall:
            raise CredentialsError(f"{credentials} holds hall {kept_hall}, not {hall}; give --hall {kept_hall}")
    new_account = all(a.name != device for a in existing)
    accounts = merge_accounts(existing, [Account(device, role)], [])
    broker = hall_broker_url(credentials, broker)
    make_credentials(Plan(hall, credentials, tuple(accounts), tls=tls, broker_hosts=broker_hosts(credentials),
                          broker_url=broker))
    book = EnrolmentBook(credentials / "enrolments.sqlite")
    try:
        expires_at = now + valid_s
        secret = book.add(Pending(device, role, hall, broker, expires_at), now)
    finally:
        book.close()
    pin = ca_pin((credentials / "ca" / "ca.crt").read_bytes()) if tls else ""
    enrolment = Enrolment(hall, device, role, broker, url, secret, pin)
    target = qr or credentials / "devices" / device / "enrol.png"
    write_qr(enrolment, target)
    os.chmod(target, 0o600)
    return Issued(enrolment, target, expires_at, new_account)


def default_url(credentials: Path, broker: str) -> str:
    """The service as devices reach it: the broker's host (the hall server), port 8470; https
    in a TLS hall, by the first name in the broker's certificate."""
    if (credentials / "ca" / "ca.crt").exists():
        hosts = broker_hosts(credentials)
        return f"https://{hosts[0] if hosts else urlsplit(broker).hostname}:{DEFAULT_PORT}/enrol"
    return f"http://{urlsplit(broker).hostname}:{DEFAULT_PORT}/enrol"


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `24h`, `2d` (a bare number is hours) → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    unit = units.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 3600)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration like 30m, 24h or 2d") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than nothing")
    return value


# ---------------------------------------------------------------- the commands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`provision enrol`: issue a code (hall server) or use one (device)."""
    from provisioning.init import ROLES as DEVICE_ROLES
    from provisioning.init import add_hardware_arguments

    issue = parser.add_argument_group("on the hall server: make a code (with --device ID from the taxhall options)")
    issue.add_argument("--role", choices=DEVICE_ROLES, help="the new device's role")
    issue.add_argument("--credentials", type=Path, default=DEFAULT_CREDENTIALS, metavar="DIR",
                       help=f"the hall's credentials folder (default {DEFAULT_CREDENTIALS})")
    issue.add_argument("--url", metavar="URL", help=f"the enrolment service as devices reach it (default "
                       f"http://<broker host>:{DEFAULT_PORT}/enrol; https://… in a TLS hall)")
    issue.add_argument("--valid-for", type=parse_duration, default=DEFAULT_VALID_S, metavar="DURATION",
                       help="how long the code works, e.g. 30m, 24h (default), 2d")
    issue.add_argument("--qr-out", type=Path, metavar="PNG", help="where to write the QR code "
                       "(default DIR/devices/ID/enrol.png)")
    use = parser.add_argument_group("on the new device: use a code")
    use.add_argument("--qr", type=Path, metavar="IMAGE", help="a photo or scan of the printed code")
    use.add_argument("--code", metavar="TEXT", help="the code's text (taxhall:enrol?v=2&…)")
    use.add_argument("--out", type=Path, default=Path("/etc/taxhall/device.toml"), metavar="FILE",
                     help="the config to write (default /etc/taxhall/device.toml); secrets go beside it")
    use.add_argument("--force", action="store_true", help="replace an existing config file")
    add_hardware_arguments(use)


def run_enrol(config: Any, args: argparse.Namespace) -> int:
    if args.qr or args.code:
        return _use_code(config, args)
    return _issue(config, args)


def _issue(config: Any, args: argparse.Namespace) -> int:
    import socket

    from provisioning.credentials import CredentialsError

    host = socket.gethostname().split(".")[0]
    if config.device_id == f"{host}-provision" or not args.role:
        print("taxhall provision enrol: on the hall server give --device ID --role ROLE (a new code); "
              "on a device give --qr IMAGE or --code TEXT", file=sys.stderr)
        return 2
    credentials: Path = args.credentials.resolve()
    broker = hall_broker_url(credentials, config.bus.broker)
    url = args.url or default_url(credentials, broker)
    try:
        issued = issue_code(credentials, config.hall, config.device_id, args.role, broker, url, args.valid_for,
                            args.qr_out.resolve() if args.qr_out else None, time.time())
    except (EnrolError, CredentialsError, AclError, OSError) as exc:
        print(f"taxhall provision enrol: {exc}", file=sys.stderr)
        return 1
    enrolment = issued.enrolment
    print(f"enrolment code for {enrolment.device} ({enrolment.role}) of hall {enrolment.hall}: {issued.qr}")
    print(f"  broker {enrolment.broker}; the device fetches its credentials from {enrolment.url}")
    print(f"  works once, until {_iso(issued.expires_at)}; a new code for {enrolment.device} voids this one")
    print(f"  on the device: taxhall provision enrol --qr enrol.png   (or --code '{enrolment.text()}')")
    if issued.new_account:
        print(f"  new account: the broker needs the new {credentials / 'broker'}/passwd and acl — if it reads "
              "copies, copy them again and `systemctl restart taxhall-broker`")
    return 0


def _use_code(config: Any, args: argparse.Namespace) -> int:
    from provisioning.enrol import read_qr
    from provisioning.init import run_init

    try:
        text = args.code or read_qr(args.qr)
    except EnrolError as exc:
        print(f"taxhall provision enrol: {exc}", file=sys.stderr)
        return 1
    init_args = argparse.Namespace(**{**vars(args), "role": None, "credentials": None, "enrol": text,
                                      "enrol_scan": False})
    return run_init(config, init_args, command="enrol")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", metavar="HOST:PORT",
                        help=f"where devices reach the service (default 0.0.0.0:{DEFAULT_PORT})")
    parser.add_argument("--credentials", type=Path, default=DEFAULT_CREDENTIALS, metavar="DIR",
                        help=f"the hall's credentials folder (default {DEFAULT_CREDENTIALS})")


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def run_server(config: Any, args: argparse.Namespace) -> int:
    """The enrolment service until SIGTERM; READY=1 and keep-alives under systemd while it
    answers its own health check."""
    import signal

    import uvicorn

    from taxhall.watchdog import Watchdog

    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"taxhall provision enrolment-server: {exc}", file=sys.stderr)
        return 2
    credentials: Path = args.credentials.resolve()
    try:
        book = EnrolmentBook(credentials / "enrolments.sqlite")
    except (OSError, sqlite3.Error) as exc:
        print(f"taxhall provision enrolment-server: {credentials}: {exc}", file=sys.stderr)
        return 1
    tls = https_files(credentials)
    scheme = "https" if tls else "http"
    log.info("enrolment service on %s://%s:%d for the codes in %s", scheme, host, port, credentials)
    Watchdog.from_env().watch(lambda: _answers(scheme, host, port), "serving enrolments")
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn's own graceful stop, exit 0
    ssl = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    try:
        uvicorn.run(create_app(book, credentials), host=host, port=port, log_level="warning", lifespan="off",
                    **ssl)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGTERM, previous)
        book.close()
    return 0


def _answers(scheme: str, host: str, port: int) -> bool:
    import httpx

    dial = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        # its own health from loopback: the certificate names the hall address, not this one
        return httpx.get(f"{scheme}://{dial}:{port}/enrol/health", timeout=5.0, verify=False).status_code == 200
    except httpx.HTTPError:
        return False
