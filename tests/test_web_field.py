"""`taxhall web` on the hall server as a technician sets it up: `provision credentials` gives
every hall server (role ticketer) a second account `<id>-web` of role `web`; `provision init
--role ticketer` writes web.toml with it beside device.toml; `provision install --role
ticketer` enables taxhall-web.service. Then the real processes — Mosquitto with the generated
password file and ACL, `taxhall ticketer` and `taxhall web` on the files init wrote — run
together: different client ids, both online at once, the dashboard's actions reach the engine,
its statistics come from the engine's own database, and READY=1 / WATCHDOG=1 reach systemd's
notify socket."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from provisioning.acl import ROLE_RIGHTS, APPOINTMENT_RIGHTS
from provisioning.credentials import read_devices_file
from taxhall.broker import free_port
from taxhall.bus import HallBus
from taxhall.config import load_config
from tests.test_fleet_security import Client
from tests.ticketer_helpers import wait_for
from ticketer.run import database_path
from web.config import SECTIONS as WEB_SECTIONS
from web.config import data_path, web_section

HALL = "h-field"
SERVER = "hall-server"
WEB = "hall-server-web"
USER, PASSWORD = "zhang", "duty-supervisor-1"


def taxhall(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=90,
                          input=stdin)


@pytest.fixture
def hall_server(tmp_path: Path) -> Path:
    """The hall's credentials and the hall server's /etc/taxhall, made by the commands a technician runs."""
    made = taxhall("provision", "credentials", "--hall", HALL, "--out", str(tmp_path / "creds"), "--add", f"{SERVER}:ticketer",
                   "--add", "disp-1:dispenser", "--add", "ops:operator")
    assert made.returncode == 0, made.stderr
    etc = tmp_path / "root" / "etc" / "taxhall"
    init = taxhall("provision", "init", "--role", "ticketer", "--hall", HALL, "--device", SERVER, "--credentials",
                   str(tmp_path / "creds"), "--out", str(etc / "device.toml"), "--no-detect")
    assert init.returncode == 0, init.stderr
    assert f"web: {etc / 'web.toml'}" in init.stdout and "--hash-password" in init.stdout
    return etc


def secret(path: Path) -> str:
    return path.read_text().strip()


# ---------------------------------------------------------------- accounts and files

def test_credentials_give_every_hall_server_a_web_account_of_role_web(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds), "--add", f"{SERVER}:ticketer",
                   "--add", "kiosk-1:kiosk").returncode == 0
    _, accounts = read_devices_file(creds / "devices.toml")
    assert [(a.name, a.role) for a in accounts] == [(SERVER, "ticketer"), (WEB, "web"), ("kiosk-1", "kiosk")]
    assert re.search(rf"^{WEB}:\$7\$", (creds / "broker" / "passwd").read_text(), re.M)
    acl = (creds / "broker" / "acl").read_text()
    block = acl[acl.index(f"user {WEB}\n"):].split("\n\n")[0].splitlines()[1:]
    rights = (*ROLE_RIGHTS["web"], *APPOINTMENT_RIGHTS["web"])
    assert block == [f"topic {access} taxhall/v1/{HALL}/{topic}" for access, topic in rights]
    first = secret(creds / "devices" / WEB / "mqtt-password")
    assert first != secret(creds / "devices" / SERVER / "mqtt-password")

    # A folder made before the web had an account: a plain rerun adds it; the others keep their passwords.
    (creds / "devices.toml").write_text(f'hall = "{HALL}"\n[[device]]\nid = "{SERVER}"\nrole = "ticketer"\n')
    server_password = secret(creds / "devices" / SERVER / "mqtt-password")
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds)).returncode == 0
    assert [a.name for a in read_devices_file(creds / "devices.toml")[1]] == [SERVER, WEB]
    assert secret(creds / "devices" / WEB / "mqtt-password") == first  # kept: the web in service is not locked out
    assert secret(creds / "devices" / SERVER / "mqtt-password") == server_password

    # The name is the web's: another role under it is refused in words, and nothing changes.
    clash = taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds), "--add", f"{WEB}:kiosk")
    assert clash.returncode == 1 and f"{WEB} is the account of taxhall web on hall server {SERVER}" in clash.stderr
    assert [(a.name, a.role) for a in read_devices_file(creds / "devices.toml")[1]] == [(SERVER, "ticketer"), (WEB, "web")]
    # Taking the hall server away takes its web's account too.
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds), "--add", "kiosk-1:kiosk",
                   "--remove", SERVER).returncode == 0
    assert [a.name for a in read_devices_file(creds / "devices.toml")[1]] == ["kiosk-1"]
    assert f"user {WEB}" not in (creds / "broker" / "acl").read_text()


def test_init_writes_the_webs_config_beside_the_hall_servers(hall_server: Path, tmp_path: Path) -> None:
    etc = hall_server
    checked = taxhall("config", "--config", str(etc / "web.toml"))
    assert checked.returncode == 0, checked.stderr
    engine = load_config(etc / "device.toml", "ticketer")
    web = load_config(etc / "web.toml", "web", sections=WEB_SECTIONS)
    assert (web.device_id, web.hall, web.bus.username) == (WEB, HALL, WEB)
    assert web.bus.broker == engine.bus.broker
    # Its own password, copied from its own folder: not the engine's.
    assert Path(web.bus.password_file) == etc / "web" / "mqtt-password"
    assert secret(etc / "web" / "mqtt-password") == secret(tmp_path / "creds" / "devices" / WEB / "mqtt-password")
    assert secret(etc / "web" / "mqtt-password") != secret(Path(engine.bus.password_file))
    section = web_section(web)
    assert section.listen == "0.0.0.0:8080"
    assert section.users_file == "/var/lib/taxhall/web/users.toml"
    # The web reads the statistics from the very file the engine writes.
    assert data_path(web, section.ticketer_db, "ticketer", "queue.sqlite") == database_path(engine)
    assert str(database_path(engine)) == "/var/lib/taxhall/ticketer/queue.sqlite"

    # Run again without --force: refused, both files kept as they are.
    before = (etc / "device.toml").read_text(), (etc / "web.toml").read_text()
    again = taxhall("provision", "init", "--role", "ticketer", "--hall", HALL, "--device", SERVER, "--credentials",
                    str(tmp_path / "creds"), "--out", str(etc / "device.toml"), "--no-detect")
    assert again.returncode == 1 and "exists" in again.stderr
    (etc / "device.toml").unlink()
    again = taxhall("provision", "init", "--role", "ticketer", "--hall", HALL, "--device", SERVER, "--credentials",
                    str(tmp_path / "creds"), "--out", str(etc / "device.toml"), "--no-detect")
    assert again.returncode == 1 and "web.toml exists; pass --force" in again.stderr
    assert (etc / "web.toml").read_text() == before[1] and not (etc / "device.toml").exists()


def test_in_a_tls_hall_the_web_connects_with_its_own_certificate(tmp_path: Path) -> None:
    """With TLS the broker takes the certificate's name as the user name: the web's must be its own."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    creds = tmp_path / "creds"
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds), "--add", f"{SERVER}:ticketer",
                   "--tls", "--broker-host", "10.20.0.2").returncode == 0
    etc = tmp_path / "etc"
    assert taxhall("provision", "init", "--role", "ticketer", "--hall", HALL, "--device", SERVER, "--credentials",
                   str(creds), "--out", str(etc / "device.toml"), "--no-detect").returncode == 0
    web = load_config(etc / "web.toml", "web", sections=WEB_SECTIONS)
    assert web.bus.broker == load_config(etc / "device.toml", "ticketer").bus.broker == "mqtts://10.20.0.2:8883"
    assert Path(web.bus.cert_file) == etc / "web" / "client.crt" and Path(web.bus.key_file) == etc / "web" / "client.key"
    names = x509.load_pem_x509_certificate(Path(web.bus.cert_file).read_bytes()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [n.value for n in names] == [WEB]
    assert Path(web.bus.ca_file).read_bytes() == (creds / "ca" / "ca.crt").read_bytes()


def test_init_without_the_webs_account_says_what_to_do_and_writes_nothing(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(creds), "--add", f"{SERVER}:ticketer").returncode == 0
    shutil.rmtree(creds / "devices" / WEB)  # as in a folder made before the web had an account
    etc = tmp_path / "etc"
    init = taxhall("provision", "init", "--role", "ticketer", "--hall", HALL, "--device", SERVER, "--credentials",
                   str(creds), "--out", str(etc / "device.toml"), "--no-detect")
    assert init.returncode == 1
    assert f"no credentials for {WEB}" in init.stderr and "provision credentials again" in init.stderr
    assert not etc.exists() or not any(etc.rglob("*"))  # not even the engine's secrets


@pytest.mark.skipif(not (shutil.which("systemctl") and shutil.which("systemd-sysusers")),
                    reason="systemd is in scripts/system-packages.txt; not installed here")
def test_install_ticketer_enables_the_web_after_the_engine(tmp_path: Path) -> None:
    result = taxhall("provision", "install", "--role", "ticketer", "--root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "enabled taxhall-web.service" in result.stdout
    units = tmp_path / "etc" / "systemd" / "system"
    assert (units / "multi-user.target.wants" / "taxhall-web.service").is_symlink()
    text = (units / "taxhall-web.service").read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line == f"ExecStart={Path(sys.executable).parent / 'taxhall'} web --config /etc/taxhall/web.toml"
    after = next(line for line in text.splitlines() if line.startswith("After="))
    assert "taxhall-ticketer.service" in after and "taxhall-broker.service" in after


# ---------------------------------------------------------------- the processes together

def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.1)
    yield sock
    sock.close()


def notifications(sock: socket.socket, until: float, kicks: int) -> list[str]:
    got: list[str] = []
    while time.monotonic() < until and got.count("WATCHDOG=1") < kicks:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            continue
    return got


def test_the_engine_and_the_web_from_init_run_together(hall_server: Path, tmp_path: Path,
                                                       notify_socket: socket.socket) -> None:
    etc = hall_server
    root = etc.parent.parent
    var = root / "var" / "lib" / "taxhall"
    port = free_port()
    # As the technician's walk-through does: the broker on a free loopback port, and the
    # field's /var/lib/taxhall inside the scratch root.
    server_toml = (etc / "device.toml").read_text()
    server_toml = re.sub(r'^listen = .*$', f'listen = "127.0.0.1"\nport = {port}', server_toml, flags=re.M)
    (etc / "device.toml").write_text(re.sub(r'^broker = .*$', f'broker = "mqtt://127.0.0.1:{port}"', server_toml, flags=re.M))
    web_toml = re.sub(r'^broker = .*$', f'broker = "mqtt://127.0.0.1:{port}"', (etc / "web.toml").read_text(), flags=re.M)
    (etc / "web.toml").write_text(web_toml.replace('"/var/lib/taxhall/', f'"{var}/'))
    hashed = taxhall("web", "--hash-password", "--config", str(etc / "web.toml"), stdin=PASSWORD + "\n")
    assert hashed.returncode == 0, hashed.stderr
    (var / "web").mkdir(parents=True)
    (var / "web" / "users.toml").write_text(f"[users.{USER}]\n{hashed.stdout}")

    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            procs[name] = subprocess.Popen([sys.executable, "-m", "taxhall.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                                           env=env)

    web_port = free_port()
    ops: Client | None = None
    dispenser: HallBus | None = None
    try:
        start("broker", "broker", "--config", str(etc / "device.toml"), "--data-dir", str(var))
        assert wait_for(lambda: port_open(port), timeout=15), (logs / "broker.log").read_text()
        ops = Client(port, "ops", secret(tmp_path / "creds" / "devices" / "ops" / "mqtt-password")).start()
        assert ops.connack == 0
        ops.subscribe(f"taxhall/v1/{HALL}/device/+/status")
        start("ticketer", "ticketer", "--config", str(etc / "device.toml"), "--data-dir", str(var))
        start("web", "web", "--config", str(etc / "web.toml"), "--listen", f"127.0.0.1:{web_port}",
              env={**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "1000000"})

        # systemd's side: READY=1 once /healthz answers, then keep-alives.
        got = notifications(notify_socket, time.monotonic() + 30, kicks=3)
        assert got and got[0].startswith("READY=1") and got.count("WATCHDOG=1") >= 3, got

        def statuses(device: str) -> list[str]:
            topic = f"taxhall/v1/{HALL}/device/{device}/status"
            return [json.loads(payload)["state"] for t, payload in list(ops.received) if t == topic]  # type: ignore[union-attr]

        assert wait_for(lambda: statuses(SERVER)[-1:] == ["online"] and statuses(WEB)[-1:] == ["online"], timeout=20), \
            (statuses(SERVER), statuses(WEB))

        def healthy() -> bool:
            try:
                health = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2).json()
            except httpx.HTTPError:
                return False
            return bool(health["bus"] and health["state"])
        assert wait_for(healthy, timeout=20)

        # A ticket from a dispenser, so the engine's database has something for the web to count.
        disp_toml = tmp_path / "disp.toml"
        disp_toml.write_text(f'[device]\nid = "disp-1"\nhall = "{HALL}"\n[bus]\nbroker = "mqtt://127.0.0.1:{port}"\n'
                             f'username = "disp-1"\npassword_file = "{tmp_path / "creds" / "devices" / "disp-1" / "mqtt-password"}"\n')
        dispenser = HallBus(load_config(disp_toml, "dispenser"))
        dispenser.start(wait_s=10)
        assert dispenser.request("queue/req/take_ticket", {"service": "A", "source": "disp-1"})["ok"]

        base = f"http://127.0.0.1:{web_port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            form = client.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            assert client.post("/admin/login", data={"user": USER, "password": PASSWORD, "csrf": csrf}).status_code == 303
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin").text).group(1)  # type: ignore[union-attr]
            json_reply = {"accept": "application/json"}
            closed = client.post("/admin/close_service", data={"service": "B", "csrf": csrf}, headers=json_reply)
            assert closed.status_code == 200 and closed.json()["service"]["closed_by"] == USER
            reopened = client.post("/admin/open_service", data={"service": "B", "csrf": csrf}, headers=json_reply)
            assert reopened.status_code == 200 and reopened.json()["ok"]
            paused = client.post("/admin/pause", data={"counter": "1", "reason": "x", "csrf": csrf}, headers=json_reply)
            assert paused.json()["error"]["code"] == "counter_closed"  # the engine's answer: the request reached it
            # The day's statistics, read from the engine's own database: the dispenser's ticket.
            csv = client.get("/admin/stats.csv")
            assert csv.status_code == 200 and any(line.startswith("hall,all,1,") for line in csv.text.splitlines()), csv.text

        # The web's account by itself: it reads the queue; a counter's work is refused by the broker.
        raw = Client(port, WEB, secret(etc / "web" / "mqtt-password")).start()
        try:
            assert raw.connack == 0
            raw.subscribe(f"taxhall/v1/{HALL}/queue/state")
            assert raw.got.wait(5) and raw.received[0][0].endswith("/queue/state")
            assert raw.publish(f"taxhall/v1/{HALL}/queue/req/call_next") == 135
            assert raw.publish(f"taxhall/v1/{HALL}/queue/state") == 135
        finally:
            raw.stop()

        # Both stayed connected all along (the broker's log says under which client ids, below).
        assert "offline" not in statuses(SERVER) + statuses(WEB)

        # The web stops (systemctl stop): it says offline; the engine is still online.
        procs["web"].send_signal(signal.SIGTERM)
        assert procs["web"].wait(20) == 0
        assert wait_for(lambda: statuses(WEB)[-1:] == ["offline"], timeout=10)
        assert statuses(SERVER)[-1] == "online" and procs["ticketer"].poll() is None
    finally:
        if dispenser is not None:
            dispenser.close()
        if ops is not None:
            ops.stop()
        for name in ("web", "ticketer", "broker"):
            if name in procs and procs[name].poll() is None:
                procs[name].send_signal(signal.SIGTERM)
                try:
                    procs[name].wait(20)
                except subprocess.TimeoutExpired:
                    procs[name].kill()
                    procs[name].wait()
    # Mosquitto writes its log out when it stops: one connection each, under ids of their own,
    # and neither ever threw the other off ("Client ... already connected, closing old connection").
    broker_log = (logs / "broker.log").read_text()
    assert broker_log.count(f"as taxhall-{HALL}-{SERVER} (") == 1 and broker_log.count(f"as taxhall-{HALL}-{WEB} (") == 1, broker_log
    assert "already connected" not in broker_log
