"""`taxhall provision credentials | init | selftest`: a hall's accounts, a device's config from
them, and the self-test against a real Mosquitto and the printer, ID-card reader and scanner
simulators (TCP port and pseudo-terminals)."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from drivers.idcard.simulator import IdReaderSimulator
from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from drivers.scanner.simulator import ScannerSimulator
from provisioning.acl import Account, AclError, acl_text
from provisioning.credentials import Plan, make_credentials, read_devices_file
from provisioning.detect import Found, Report
from provisioning.enrol import EnrolError, Enrolment, parse_enrolment
from provisioning.init import add_arguments as init_arguments
from provisioning.init import InitError, choose_hardware, write_config
from provisioning.selftest import Progress, run_checks, table
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.config import DeviceConfig, Overrides, load_config

HALL = "h-prov"


def taxhall(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


# ---------------------------------------------------------------- credentials

def test_credentials_keep_passwords_add_remove_and_rotate(tmp_path: Path) -> None:
    out = tmp_path / "creds"
    result = taxhall("provision", "credentials", "--hall", HALL, "--out", str(out),
                     "--add", "kiosk-1:kiosk", "--add", "ops:operator")
    assert result.returncode == 0, result.stderr
    first = (out / "devices" / "kiosk-1" / "mqtt-password").read_text()
    assert len(first.strip()) >= 24 and oct((out / "devices" / "kiosk-1" / "mqtt-password").stat().st_mode)[-3:] == "600"
    passwd = (out / "broker" / "passwd").read_text()
    assert passwd.startswith("kiosk-1:$7$") and first.strip() not in passwd  # hashed by mosquitto_passwd
    # A later run adds a device and takes one away; the kiosk keeps its password.
    devices = tmp_path / "more.toml"
    devices.write_text(f'hall = "{HALL}"\n[[device]]\nid = "counter-3"\nrole = "counter"\n')
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(out), "--devices", str(devices),
                   "--remove", "ops").returncode == 0
    assert (out / "devices" / "kiosk-1" / "mqtt-password").read_text() == first
    hall, accounts = read_devices_file(out / "devices.toml")
    assert hall == HALL and [a.name for a in accounts] == ["kiosk-1", "counter-3"]
    assert "user ops" not in (out / "broker" / "acl").read_text()
    assert "ops:" not in (out / "broker" / "passwd").read_text()
    assert taxhall("provision", "credentials", "--hall", HALL, "--out", str(out), "--rotate", "kiosk-1").returncode == 0
    assert (out / "devices" / "kiosk-1" / "mqtt-password").read_text() != first
    # Another hall's folder is not overwritten by mistake.
    wrong = taxhall("provision", "credentials", "--hall", "other", "--out", str(out), "--add", "x:kiosk")
    assert wrong.returncode == 1 and "holds hall h-prov" in wrong.stderr


def test_acl_refuses_unsafe_names_and_unknown_roles() -> None:
    with pytest.raises(AclError, match="unknown role"):
        acl_text(HALL, [Account("k1", "superuser")])
    for bad in ("a/b", "k+", "#", "has space", ""):
        with pytest.raises(AclError):
            acl_text(HALL, [Account(bad, "kiosk")])
    with pytest.raises(AclError, match="twice"):
        acl_text(HALL, [Account("k1", "kiosk"), Account("k1", "rater")])
    text = acl_text(HALL, [Account("c1", "counter")])
    assert f"topic write taxhall/v1/{HALL}/queue/req/call_next" in text
    assert f"topic write taxhall/v1/{HALL}/queue/req/take_ticket" not in text


def test_enrolment_qr_code_round_trip(tmp_path: Path) -> None:
    from provisioning.enrol import read_qr, write_qr

    code = Enrolment(HALL, "kiosk-9", "kiosk", "mqtt://10.0.0.2:1883", "http://10.0.0.2:8470/enrol", "one-time-secret")
    assert parse_enrolment(read_qr(write_qr(code, tmp_path / "enrol.png"))) == code
    for bad, why in (("hello", "not a taxhall enrolment code"), ("taxhall:enrol?v=2&hall=h", "without device"),
                     ("taxhall:enrol?v=1&hall=h&device=d&role=kiosk&broker=x&secret=s", "old enrolment code"),
                     (code.text().replace("http%3A", "ftp%3A"), "enrolment URL")):
        with pytest.raises(EnrolError, match=why):
            parse_enrolment(bad)


def test_credentials_qr_is_gone_with_a_word_on_what_replaces_it(tmp_path: Path) -> None:
    result = taxhall("provision", "credentials", "--hall", HALL, "--out", str(tmp_path), "--add", "k1:kiosk", "--qr")
    assert result.returncode == 2 and "provision enrol" in result.stderr and not (tmp_path / "devices").exists()


# ---------------------------------------------------------------- init

def init_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    init_arguments(parser)
    return parser.parse_args(["--no-detect", *argv])


def provision_config(hall: str = HALL, device: str = "kiosk-1", broker: str | None = None) -> DeviceConfig:
    return load_config(None, "provision", Overrides(hall=hall, device=device, broker=broker))


def test_choose_hardware_from_a_detect_report() -> None:
    report = Report(found=[
        Found("printer", "usb", "EPSON TM-T20III", "usb:04b8:0e28"),
        Found("serial", "serial", "CH340", "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0", "",
              ("# an ID-card reader:", "[idreader]", 'port = "..."', "# or a serial scanner:", "[scanner]")),
        Found("scanner", "input", "Honeywell 1900", "/dev/input/by-id/usb-Honeywell-event-kbd"),
    ])
    kiosk = choose_hardware(report, "kiosk")
    assert kiosk.printer == "usb:04b8:0e28"
    assert kiosk.scanner_kind == "hid" and kiosk.scanner_device.endswith("event-kbd")
    assert kiosk.idreader.endswith("if00-port0") and any("assumed" in n for n in kiosk.notes)
    counter = choose_hardware(report, "counter")
    assert (counter.printer, counter.idreader, counter.scanner_kind) == ("", "", "none")


def test_init_writes_a_valid_config_with_credentials(tmp_path: Path) -> None:
    make_credentials(Plan(HALL, tmp_path / "creds", (Account("kiosk-1", "kiosk"), Account("srv", "ticketer")), tls=True))
    out = tmp_path / "etc" / "device.toml"
    path = write_config(provision_config(), init_args("--role", "kiosk", "--credentials", str(tmp_path / "creds"),
                                                      "--out", str(out), "--printer", "tcp://10.1.1.5:9100",
                                                      "--scanner", "hid:/dev/input/event3", "--idreader", "/dev/ttyUSB0"))
    config = load_config(path, "kiosk", accepted=("printer", "idreader", "scanner", "kiosk"))
    assert (config.device_id, config.hall, config.bus.username) == ("kiosk-1", HALL, "kiosk-1")
    assert config.bus.broker.startswith("mqtts://")  # the credentials were made for TLS
    assert Path(config.bus.cert_file).read_bytes() == (tmp_path / "creds" / "devices" / "kiosk-1" / "client.crt").read_bytes()
    assert Path(config.bus.password_file).parent == out.parent
    text = out.read_text()
    assert 'url = "tcp://10.1.1.5:9100"' in text and 'kind = "hid"' in text and "fullscreen = true" in text
    # The QR codes it prints lead a phone to the hall server's web, beside the broker.
    host = urlsplit(config.bus.broker).hostname
    kiosk = tomllib.loads(text)["kiosk"]
    assert kiosk["queue_follow_url"] == f"http://{host}:8080/t/{{token}}"
    assert kiosk["appeal_lookup_url"] == f"http://{host}:8080/appeal/{{ref}}"
    # The hall server also gets the broker's files.
    server = write_config(provision_config(device="srv"), init_args("--role", "ticketer", "--credentials",
                                                                    str(tmp_path / "creds"), "--out", str(tmp_path / "srv.toml")))
    broker = load_config(server, "ticketer").broker
    assert broker.listen == "127.0.0.1" and broker.tls_listen == "0.0.0.0" and broker.tls_port == 8883
    assert Path(broker.acl_file).exists()


def test_init_refuses_to_overwrite_or_to_write_an_invalid_config(tmp_path: Path) -> None:
    out = tmp_path / "device.toml"
    out.write_text("# in service\n")
    with pytest.raises(InitError, match="exists"):
        write_config(provision_config(), init_args("--role", "counter", "--out", str(out)))
    with pytest.raises(InitError, match="does not validate"):
        write_config(provision_config(), init_args("--role", "dispenser", "--out", str(out), "--force",
                                                   "--printer", "carrier-pigeon://x"))
    assert out.read_text() == "# in service\n" and not list(tmp_path.glob(".*.new"))


# ---------------------------------------------------------------- selftest

@pytest.fixture
def hall_broker(tmp_path: Path) -> Iterator[tuple[BrokerProcess, Path]]:
    creds = tmp_path / "creds"
    make_credentials(Plan(HALL, creds, (Account("kiosk-1", "kiosk"),)))
    broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=tmp_path / "broker", persistence=False,
                                          password_file=str(creds / "broker" / "passwd"),
                                          acl_file=str(creds / "broker" / "acl"))).start()
    yield broker, creds
    broker.stop()


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[SimulatedPrinter, str, IdReaderSimulator, ScannerSimulator]]:
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"], out_dir=tmp_path / "pages")
    server = SimulatorServer(printer).listen_tcp().start()
    reader = IdReaderSimulator()
    reader.start()
    scanner = ScannerSimulator(["https://inv.example/check?code=044031900111"])
    scanner.start()
    yield printer, server.url, reader, scanner
    scanner.stop()
    reader.stop()
    server.stop()


def keep_scanning(scanner: ScannerSimulator, stop: threading.Event) -> threading.Thread:
    """Scans every 0.2 s: the self-test opens the port only when it gets to the scanner."""
    def loop() -> None:
        while not stop.wait(0.2):
            scanner.send_next()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_selftest_passes_on_working_hardware_and_broker(tmp_path: Path, hall_broker: tuple[BrokerProcess, Path],
                                                        devices: tuple[SimulatedPrinter, str, IdReaderSimulator, ScannerSimulator]) -> None:
    broker, creds = hall_broker
    printer, printer_url, reader, scanner = devices
    out = tmp_path / "etc" / "device.toml"
    write_config(provision_config(broker=broker.url), init_args(
        "--role", "kiosk", "--credentials", str(creds), "--out", str(out), "--printer", printer_url,
        "--idreader", reader.port, "--scanner", f"serial:{scanner.port}"))
    stop = threading.Event()
    keep_scanning(scanner, stop)
    progress_out = io.StringIO()
    try:
        outcomes = run_checks(load_config(out, "kiosk", accepted=("printer", "idreader", "scanner", "kiosk")),
                              ("config", "broker", "printer", "idreader", "scanner"), 5.0, Progress(progress_out, False))
    finally:
        stop.set()
    assert [(o.check, o.result) for o in outcomes] == [
        ("config", "pass"), ("broker", "pass"), ("printer", "pass"), ("idreader", "pass"), ("scanner", "pass")], table(outcomes)
    assert len(printer.pages) == 1
    idreader = next(o for o in outcomes if o.check == "idreader")
    assert "*" in idreader.detail  # the card holder is shown masked
    assert "all checks passed" in table(outcomes)


def test_selftest_says_what_to_fix(tmp_path: Path, hall_broker: tuple[BrokerProcess, Path],
                                   devices: tuple[SimulatedPrinter, str, IdReaderSimulator, ScannerSimulator]) -> None:
    broker, creds = hall_broker
    printer, printer_url, reader, scanner = devices
    printer.set_fault("paper_out", True)
    reader.set_card(None)
    (creds / "devices" / "kiosk-1" / "mqtt-password").write_text("not-the-password\n")
    out = tmp_path / "device.toml"
    write_config(provision_config(broker=broker.url), init_args(
        "--role", "kiosk", "--credentials", str(creds), "--out", str(out), "--printer", printer_url,
        "--idreader", reader.port, "--scanner", f"serial:{scanner.port}"))
    result = taxhall("provision", "selftest", "--config", str(out), "--wait", "1")
    assert result.returncode == 1
    lines = result.stdout
    assert "broker    FAIL" in lines and "wrong password" in lines, lines
    assert "printer   FAIL" in lines and "load paper" in lines
    assert "idreader  FAIL" in lines and "place an ID card" in lines
    assert "scanner   FAIL" in lines and "nothing scanned" in lines
    assert "4 check(s) failed" in lines
    assert "left" in result.stderr  # the count-down while waiting for the card and the scan


def test_selftest_of_an_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "device.toml"
    bad.write_text("[bus]\nbrokr = 1\n")
    result = taxhall("provision", "selftest", "--config", str(bad), "--json")
    assert result.returncode == 2  # the taxhall command refuses the file before the self-test runs
    assert "bus.brokr: unknown key" in result.stderr
