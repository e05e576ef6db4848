"""`taxhall provision selftest`: is this device ready for the hall? One check per part, a
pass/fail table with what to fix, exit status 1 if anything failed.

    taxhall provision selftest [--config FILE] [--only config,broker,printer,idreader,scanner]
                               [--wait S] [--json]

- config: the file validates with every application's sections;
- broker: the broker answers and accepts these credentials, and the ACL lets this device
  publish on its own topics (a `selftest` event on device/{id}/event, which operators see);
- printer: a test page through drivers.printer (status first, so no paper is a clear failure);
- idreader: a card read through drivers.idcard (place any card);
- scanner: a code read through drivers.scanner (scan anything).
Parts the config does not have are skipped. The waits (card, scan) show a count-down.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TextIO, TypeVar

from taxhall.config import ConfigError, ConfigSection, DeviceConfig, Overrides, load_config

CHECKS = ("config", "broker", "printer", "idreader", "scanner")
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    check: str
    result: str  # pass, fail, skip
    detail: str
    fix: str = ""


def passed(check: str, detail: str) -> Outcome:
    return Outcome(check, "pass", detail)


def failed(check: str, detail: str, fix: str) -> Outcome:
    return Outcome(check, "fail", detail, fix)


def skipped(check: str, detail: str) -> Outcome:
    return Outcome(check, "skip", detail)


class Progress:
    """Runs a blocking step on a worker thread and shows a count-down while it waits."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out, self.tty = out, tty

    def wait(self, what: str, seconds: float, step: Callable[[], T]) -> T:
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["value"] = step()
            except BaseException as exc:  # handed to the caller's thread
                result["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        started = time.monotonic()
        worker.start()
        last_shown = -1
        while worker.is_alive():
            worker.join(0.2)
            left = max(0, int(seconds - (time.monotonic() - started) + 0.999))
            if left != last_shown and (self.tty or left % 5 == 0):
                print(f"\r  {what}… {left:3d} s " if self.tty else f"  {what}… {left} s left",
                      end="" if self.tty else "\n", file=self.out, flush=True)
                last_shown = left
        if self.tty:
            print("\r" + " " * (len(what) + 16) + "\r", end="", file=self.out, flush=True)
        if "error" in result:
            raise result["error"]
        value: T = result["value"]
        return value


# ---------------------------------------------------------------- the checks

def all_sections() -> dict[str, type[ConfigSection]]:
    from taxhall.cli import all_sections as every

    return every()


def check_config(config: DeviceConfig) -> tuple[Outcome, DeviceConfig]:
    """Reloads the file with every section model; returns the config with sections parsed."""
    if config.path is None:
        return failed("config", "no config file (built-in defaults)",
                      "write one: taxhall provision init --role ROLE"), config
    try:
        from taxhall.cli import SECTION_NAMES

        full = load_config(config.path, config.role, effective_overrides(config), sections=all_sections(),
                           accepted=SECTION_NAMES)
    except ConfigError as exc:
        return failed("config", str(exc), "correct the key named above (docs/config.md)"), config
    return passed("config", f"{config.path}: valid; device {full.device_id} of hall {full.hall}"), full


def effective_overrides(config: DeviceConfig) -> Overrides:
    """The values in force, as overrides: reloading keeps what the command line said."""
    return Overrides(broker=config.bus.broker, hall=config.hall, device=config.device_id,
                     data_dir=config.device.data_dir)


_CREDENTIALS_FIX = ("check [bus] username and the password file; is the device in the hall's credentials "
                    "(provision credentials --add ID:ROLE) and the broker restarted since?")
# Mosquitto 2.0 answers a wrong password with 135 to MQTT 5 clients, later versions with 134.
CONNACK_FIXES = {
    134: ("bad user name or password", _CREDENTIALS_FIX),
    135: ("not authorized: unknown user or wrong password", _CREDENTIALS_FIX),
}


def check_broker(config: DeviceConfig, timeout_s: float = 5.0) -> Outcome:
    """Connects with the device's credentials under a client id of its own (so a running
    device process is not thrown off) and publishes a selftest event on the device's topic."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    bus, address = config.bus, config.broker_address
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"taxhall-{config.hall}-{config.device_id}-selftest",
                         protocol=mqtt.MQTTv5)
    try:
        if bus.username:
            secret = Path(bus.password_file).read_text().strip() if bus.password_file else None
            client.username_pw_set(bus.username, secret)
        if address.tls:
            client.tls_set(ca_certs=bus.ca_file or None, certfile=bus.cert_file or None, keyfile=bus.key_file or None)
    except OSError as exc:
        return failed("broker", f"cannot read a credentials file: {exc}", "rerun provision init --credentials DIR")
    connack: list[int] = []
    pubacks: list[int] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
        connack.append(reason.value)
        done.set()

    def on_publish(c: mqtt.Client, u: Any, mid: int, reason: Any, props: Any) -> None:
        pubacks.append(reason.value)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *a: done.set()
    client.on_publish = on_publish
    where = f"{address.host}:{address.port}"
    try:
        client.connect(address.host, address.port, keepalive=15)
    except OSError as exc:
        return failed("broker", f"{bus.broker}: {exc.strerror or exc}",
                      f"is the hall server up and its broker running (systemctl status taxhall-broker)? "
                      f"is {where} the right address, and open in the firewall?")
    client.loop_start()
    try:
        done.wait(timeout_s)
        if not connack:
            return failed("broker", f"{bus.broker}: no answer to CONNECT within {timeout_s:g} s",
                          "TLS: does the broker's certificate match ca_file and the host name? is it an MQTT broker?")
        if connack[0] != 0:
            what, fix = CONNACK_FIXES.get(connack[0], (f"refused (reason {connack[0]})", "see the broker's log"))
            return failed("broker", f"{bus.broker}: {what}", fix)
        done.clear()
        event = {"id": uuid.uuid4().hex, "at": datetime.now().astimezone().isoformat(timespec="milliseconds"),
                 "kind": "selftest", "severity": "info", "message": "provision selftest connected"}
        client.publish(f"taxhall/v1/{config.hall}/device/{config.device_id}/event", json.dumps(event), qos=1)
        done.wait(timeout_s)
        if not pubacks or pubacks[0] not in (0, 16):
            return failed("broker", f"connected as {bus.username or 'anonymous'}, but may not publish on "
                                    f"device/{config.device_id}/event", "the ACL has no entry for this device id: "
                                    "the device id must equal its MQTT user name")
        return passed("broker", f"{bus.broker} as {bus.username or 'anonymous'}: connected, may publish its topics")
    finally:
        client.disconnect()
        client.loop_stop()


def selftest_page(config: DeviceConfig) -> Any:
    from drivers.printer.layout import Cut, Layout, Qr, Row, Text

    now = datetime.now().strftime("%Y-%m-%d %H:%M")
    return Layout((Text("自检 SELF-TEST", size=2, bold=True, align="center"), Row("设备 device", config.device_id),
                   Row("大厅 hall", config.hall), Row("时间 time", now), Qr(f"taxhall:selftest:{config.device_id}"),
                   Text("打印正常 printer OK", align="center"), Cut()), name="selftest page")


PRINTER_FIXES = {
    "PaperOut": "load paper (the roll's loose end under the cutter) and close the cover",
    "CoverOpen": "close the printer's cover",
    "CutterError": "clear the paper jam at the cutter, then switch the printer off and on",
    "PrinterOffline": "the printer is off line: check paper and cover, then press its feed button",
    "PrinterUnreachable": "is the printer on and its cable in? usb: see `taxhall provision detect`; tcp: ping it",
    "PrinterDisconnected": "the link dropped while printing: check the cable and the power",
    "PrinterTimeout": "the printer did not answer: check the cable, the baud rate (serial) and the profile",
}


def check_printer(config: DeviceConfig) -> Outcome:
    section: Any = config.sections.get("printer")  # a PrinterSection once check_config has run
    if section is None or not section.url:
        return skipped("printer", "no [printer] url")
    from drivers.printer.driver import ReceiptPrinter
    from drivers.printer.errors import PrinterError

    try:
        printer = ReceiptPrinter(section.url, section.resolved_profile(), timeout_s=section.timeout_s,
                                 job_timeout_s=section.job_timeout_s)
        with printer:
            result = printer.print_job(selftest_page(config))
    except PrinterError as exc:
        text = str(exc) if str(exc).startswith(section.url) else f"{section.url}: {exc}"
        return failed("printer", text, PRINTER_FIXES.get(type(exc).__name__, "see docs/printers.md"))
    except (ValueError, OSError) as exc:
        return failed("printer", f"{section.url}: {exc}", "check [printer] url and profile (docs/printers.md)")
    state = "printed" if result.printed else "sent (this link cannot confirm printing: look at the page)"
    return passed("printer", f"test page {state} on {section.url}")


READER_FIXES = {
    "NoCard": "place an ID card flat on the reader's pad and run again",
    "ReaderSilent": "the port is there but no reader answers: wrong port, or the reader is off / wrong baud",
    "BadFrame": "garbled answers: check the baud rate ([idreader] baud) and the cable",
    "ReaderUnplugged": "cannot open the port: plugged in? the user in group dialout (provision install does it)?",
    "ReaderFault": "the reader reports a fault: switch it off and on; a SAM fault needs the vendor",
}


def check_idreader(config: DeviceConfig, wait_s: float, progress: Progress) -> Outcome:
    section: Any = config.sections.get("idreader")
    if section is None or not section.port:
        return skipped("idreader", "no [idreader] port")
    from drivers.idcard.reader import IdCardReader, ReaderError, ReaderSettings

    settings = ReaderSettings(port=section.port, baud=section.baud, response_timeout_s=section.response_timeout_s,
                              poll_interval_s=section.poll_interval_s)

    def read() -> Any:
        with IdCardReader(settings) as reader:
            return reader.read_card(wait_s)

    try:
        identity = progress.wait("place an ID card on the reader", wait_s, read)
    except ReaderError as exc:
        return failed("idreader", f"{section.port}: {exc}", READER_FIXES.get(type(exc).__name__, "see docs/drivers.md"))
    masked = identity.as_dict(masked=True)
    return passed("idreader", f"read the card of {masked['name']} ({masked['id_number']}) on {section.port}")


def check_scanner(config: DeviceConfig, wait_s: float, progress: Progress) -> Outcome:
    section: Any = config.sections.get("scanner")
    if section is None or section.kind == "none":
        return skipped("scanner", "no [scanner] kind")
    from drivers.scanner.base import ScannerError
    from drivers.scanner.config import open_scanner

    def scan() -> Any:
        with open_scanner(section) as scanner:
            return scanner.read(wait_s)

    try:
        found = progress.wait("scan any QR or bar code", wait_s, scan)
    except ScannerError as exc:
        fix = ("the user may not open it: group input (hid) or dialout (serial); provision install sets them"
               if type(exc).__name__ == "ScannerPermission" else
               "another process holds it: stop the device's service while testing" if type(exc).__name__ == "ScannerBusy"
               else "plugged in? the path in [scanner] device right? (taxhall provision detect)")
        return failed("scanner", f"{section.kind} {section.device}: {exc}", fix)
    if found is None:
        return failed("scanner", f"nothing scanned in {wait_s:g} s",
                      "scan a code within the time; no beep or light: check its cable and mode (USB keyboard or serial)")
    text = found.text if len(found.text) <= 40 else found.text[:37] + "…"
    return passed("scanner", f"scanned {text!r} ({found.symbology or found.source}) on {section.device}")


# ---------------------------------------------------------------- the run

def run_checks(config: DeviceConfig, only: tuple[str, ...], wait_s: float, progress: Progress) -> list[Outcome]:
    outcomes = []
    outcome, full = check_config(config)
    if "config" in only:
        outcomes.append(outcome)
    if outcome.result == "fail":
        for name in only:
            if name != "config":
                outcomes.append(skipped(name, "the config is not valid"))
        return outcomes
    steps: dict[str, Callable[[], Outcome]] = {
        "broker": lambda: check_broker(full),
        "printer": lambda: check_printer(full),
        "idreader": lambda: check_idreader(full, wait_s, progress),
        "scanner": lambda: check_scanner(full, wait_s, progress),
    }
    for name in CHECKS[1:]:
        if name in only:
            try:
                outcomes.append(steps[name]())
            except Exception as exc:  # a bug in one check must not hide the others' results
                outcomes.append(failed(name, f"{type(exc).__name__}: {exc}", "report this as a taxhall bug"))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    marks = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}
    lines = [f"{'check':9} {'result':6} detail", f"{'-' * 9} {'-' * 6} {'-' * 50}"]
    for o in outcomes:
        lines.append(f"{o.check:9} {marks[o.result]:6} {o.detail}")
        if o.fix:
            lines.append(f"{'':16} fix: {o.fix}")
    bad = sum(o.result == "fail" for o in outcomes)
    lines.append("")
    lines.append(f"{bad} check(s) failed" if bad else "all checks passed")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", default=",".join(CHECKS), metavar="LIST",
                        help=f"comma-separated checks (default all: {','.join(CHECKS)})")
    parser.add_argument("--wait", type=float, default=20.0, metavar="S", help="how long to wait for a card and a scan")
    parser.add_argument("--json", action="store_true", help="the results as one JSON object")


def run_selftest(config: DeviceConfig, args: argparse.Namespace) -> int:
    if config.log.level == "INFO":
        # python-escpos logs every open and close at INFO on the root logger: the table is the output
        logging.getLogger().setLevel(logging.WARNING)
    only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = [name for name in only if name not in CHECKS]
    if unknown:
        print(f"taxhall provision selftest: --only {','.join(unknown)}: expected some of {','.join(CHECKS)}", file=sys.stderr)
        return 2
    outcomes = run_checks(config, only, args.wait, Progress(sys.stderr, sys.stderr.isatty()))
    if args.json:
        print(json.dumps({"ok": all(o.result != "fail" for o in outcomes), "checks": [asdict(o) for o in outcomes]},
                         ensure_ascii=False))
    else:
        print(table(outcomes))
    return 1 if any(o.result == "fail" for o in outcomes) else 0
