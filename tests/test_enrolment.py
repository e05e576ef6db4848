"""Zero-touch enrolment with a one-time secret (provisioning.enrolment): the hall server makes a
code, its enrolment service (a real HTTP server on loopback) trades the code's secret for the
device's credentials, and the device joins a real Mosquitto that reads the generated password
file and ACL. A code works once and not after it expires; the QR code holds no password."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from provisioning.credentials import Plan, make_credentials
from provisioning.acl import Account
from provisioning.enrol import EnrolError, parse_enrolment
from provisioning.enrolment import (AttemptLimiter, EnrolmentBook, ServerThread, broker_hosts, create_app,
                                    fetch_grant, https_files, issue_code)
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import load_config

HALL = "h-enrol"
DAY = 24 * 3600.0


def taxhall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=60)


class FakeClock:
    """Wall-clock time the test moves on (an expiry a day away, without waiting a day)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    folder = tmp_path / "creds"
    make_credentials(Plan(HALL, folder, (Account("hall-server", "ticketer"), Account("ops-li", "operator"))))
    return folder


def test_a_device_enrols_with_the_printed_code_and_joins_the_hall_broker(tmp_path: Path, creds: Path) -> None:
    http_port, broker_port = free_port(), free_port()
    issued = taxhall("provision", "enrol", "--hall", HALL, "--device", "kiosk-5", "--role", "kiosk",
                     "--credentials", str(creds), "--broker", f"mqtt://127.0.0.1:{broker_port}",
                     "--url", f"http://127.0.0.1:{http_port}/enrol", "--qr-out", str(tmp_path / "enrol.png"))
    assert issued.returncode == 0, issued.stderr
    assert "works once" in issued.stdout and "kiosk-5" in issued.stdout

    # the printed code: who, where, and a one-time secret — not the device's password
    password = (creds / "devices" / "kiosk-5" / "mqtt-password").read_text().strip()
    printed = decode(Image.open(tmp_path / "enrol.png"))[0].data.decode()
    code = parse_enrolment(printed)
    assert password not in printed and "password" not in printed and code.secret != password
    assert (code.device, code.role, code.broker) == ("kiosk-5", "kiosk", f"mqtt://127.0.0.1:{broker_port}")
    book_bytes = b"".join(p.read_bytes() for p in creds.glob("enrolments.sqlite*"))
    assert code.secret.encode() not in book_bytes and b"$argon2" in book_bytes  # kept hashed only

    broker = BrokerProcess(BrokerSettings(port=broker_port, data_dir=tmp_path / "broker", persistence=False,
                                          password_file=str(creds / "broker" / "passwd"),
                                          acl_file=str(creds / "broker" / "acl"))).start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # as systemd listens for sd_notify
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
    server = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "provision", "enrolment-server",
                               "--listen", f"127.0.0.1:{http_port}", "--credentials", str(creds)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        said = [notify.recv(4096).decode() for _ in range(2)]  # the unit is Type=notify, WatchdogSec=30
        assert said[0].startswith("READY=1") and said[1] == "WATCHDOG=1"
        assert _answers(f"http://127.0.0.1:{http_port}/enrol/health")
        out = tmp_path / "kiosk" / "etc" / "taxhall" / "device.toml"
        enrolled = taxhall("provision", "enrol", "--qr", str(tmp_path / "enrol.png"), "--out", str(out), "--no-detect")
        assert enrolled.returncode == 0, enrolled.stderr
        config = load_config(out, "kiosk", accepted=("kiosk", "printer", "idreader", "scanner"))
        assert (config.device_id, config.hall, config.bus.username) == ("kiosk-5", HALL, "kiosk-5")
        assert Path(config.bus.password_file).read_text().strip() == password
        assert oct(Path(config.bus.password_file).stat().st_mode)[-3:] in ("600", "640")

        kiosk = HallBus(config).start(wait_s=10)
        try:
            assert kiosk.connected  # the broker took the credentials the device fetched
        finally:
            kiosk.close()

        again = taxhall("provision", "enrol", "--code", printed, "--out", str(tmp_path / "thief" / "device.toml"),
                        "--no-detect")
        assert again.returncode == 1 and "already used" in again.stderr and "(spent)" in again.stderr
        assert not (tmp_path / "thief").exists() or not list((tmp_path / "thief").iterdir())  # nothing left behind
    finally:
        server.terminate()
        log = server.communicate(timeout=20)[0]
        broker.stop()
        notify.close()
    assert server.returncode == 0
    assert "enrolment of kiosk-5" in log and "granted" in log and "refused, spent" in log
    assert code.secret not in log and password not in log  # logged masked


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def service(creds: Path) -> Iterator[tuple[ServerThread, FakeClock]]:
    clock = FakeClock()
    book = EnrolmentBook(creds / "enrolments.sqlite")
    server = ServerThread(create_app(book, creds, AttemptLimiter(limit=5, window_s=3600), clock), "127.0.0.1",
                          free_port()).start()
    yield server, clock
    server.stop()
    book.close()


def test_expired_wrong_unknown_and_guessed_codes_are_refused_in_words(creds: Path, service: tuple[ServerThread, FakeClock],
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    server, clock = service
    code = issue_code(creds, HALL, "disp-2", "dispenser", "mqtt://10.0.0.2:1883", server.url, DAY, None, clock()).enrolment

    clock.now += DAY + 1  # the technician came back the next day
    with pytest.raises(EnrolError, match=r"\(expired\): this code expired at"):
        fetch_grant(code)
    fresh = issue_code(creds, HALL, "disp-2", "dispenser", "mqtt://10.0.0.2:1883", server.url, DAY, None, clock()).enrolment
    with pytest.raises(EnrolError, match=r"\(wrong_secret\)"):
        fetch_grant(code)  # the old code: a new one for the device voided it

    with caplog.at_level(logging.INFO, logger="provisioning.enrolment"):
        grant = fetch_grant(fresh)
    assert grant.role == "dispenser" and grant.broker == "mqtt://10.0.0.2:1883" and grant.ca_pem is None
    assert grant.password == (creds / "devices" / "disp-2" / "mqtt-password").read_text().strip()
    assert fresh.secret not in caplog.text and "enrolment of disp-2 from 127.0.0.1" in caplog.text

    # the same request again (its answer lost on the way) gets the same grant; another does not
    body = {"device": "disp-2", "secret": fresh.secret, "request_id": "r-1"}
    nobody = issue_code(creds, HALL, "disp-3", "dispenser", "mqtt://10.0.0.2:1883", server.url, DAY, None, clock()).enrolment
    first = httpx.post(server.url, json={**body, "device": "disp-3", "secret": nobody.secret})
    assert first.status_code == 200
    assert httpx.post(server.url, json={**body, "device": "disp-3", "secret": nobody.secret}).json() == first.json()
    spent = httpx.post(server.url, json={**body, "device": "disp-3", "secret": nobody.secret, "request_id": "r-2"})
    assert spent.status_code == 410 and spent.json()["error"]["code"] == "spent"

    unknown = httpx.post(server.url, json={**body, "device": "kiosk-77"})
    assert unknown.status_code == 404 and "provision enrol --device kiosk-77" in unknown.json()["error"]["message"]
    bad = httpx.post(server.url, json={"device": "disp-2"})
    assert bad.status_code == 422  # no secret: not even looked up

    # guessing: after 5 failures (expired, wrong, spent, unknown and this one) this address waits,
    # whatever it sends
    assert httpx.post(server.url, json={**body, "secret": "guess"}).json()["error"]["code"] == "wrong_secret"
    limited = httpx.post(server.url, json={**body, "device": "disp-3", "secret": nobody.secret, "request_id": "r-1"})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_attempts"


def test_a_code_is_void_after_ten_wrong_secrets(tmp_path: Path, creds: Path) -> None:
    book = EnrolmentBook(creds / "enrolments.sqlite")
    clock = FakeClock()
    server = ServerThread(create_app(book, creds, AttemptLimiter(limit=1000), clock), "127.0.0.1", free_port()).start()
    try:
        code = issue_code(creds, HALL, "led-1", "led", "mqtt://10.0.0.2:1883", server.url, DAY, None, clock()).enrolment
        for attempt in range(10):
            wrong = httpx.post(server.url, json={"device": "led-1", "secret": f"x{attempt}", "request_id": f"g{attempt}"})
            assert wrong.json()["error"]["code"] == "wrong_secret"
        with pytest.raises(EnrolError, match=r"\(locked\)"):
            fetch_grant(code)  # even the right secret: the code is void
    finally:
        server.stop()
        book.close()


def test_a_tls_hall_enrols_over_https_pinned_by_the_code(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    make_credentials(Plan(HALL, creds, (Account("hall-server", "ticketer"),), tls=True,
                          broker_hosts=("localhost", "127.0.0.1")))
    book = EnrolmentBook(creds / "enrolments.sqlite")
    tls = https_files(creds)
    assert tls is not None
    server = ServerThread(create_app(book, creds), "127.0.0.1", free_port(), tls).start()
    try:
        with pytest.raises(EnrolError, match="must be https"):  # the device's key never in the clear
            issue_code(creds, HALL, "screen-1", "display", "mqtt://127.0.0.1:1883", server.url.replace("https", "http"),
                       DAY, None, time.time())
        code = issue_code(creds, HALL, "screen-1", "display", "mqtt://127.0.0.1:1883", server.url, DAY, None,
                          time.time()).enrolment
        assert parse_enrolment(decode(Image.open(creds / "devices" / "screen-1" / "enrol.png"))[0].data.decode()).ca
        impostor = replace(code, ca=code.ca[::-1])  # another server answering at the code's address
        with pytest.raises(EnrolError, match="not the one this code names"):
            fetch_grant(impostor)
        grant = fetch_grant(code)  # the secret was not spent on the impostor
    finally:
        server.stop()
        book.close()
    assert grant.broker == "mqtts://localhost:8883"  # the TLS listener, by the first name in the broker's certificate
    assert grant.cert_pem == (creds / "devices" / "screen-1" / "client.crt").read_text()
    assert grant.key_pem and grant.ca_pem == (creds / "ca" / "ca.crt").read_text()
    assert broker_hosts(creds) == ("localhost", "127.0.0.1")  # the broker's certificate remade for the same names

    out = tmp_path / "screen" / "device.toml"
    from provisioning.init import install_grant

    bus = install_grant(grant, out.parent)
    assert Path(bus["key_file"]).read_text() == grant.key_pem
    assert oct(Path(bus["key_file"]).stat().st_mode)[-3:] in ("600", "640")
