"""`taxhall command`: an operator sends a remote command from the command line and reads the
answer — done, refused with the device's reason, or nobody answering — against a real broker."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any, Callable

from taxhall.broker import BrokerProcess
from taxhall.bus import BusMessage, HallBus, RequestRejected
from taxhall.commands import serve_command, serve_standard_commands
from tests.conftest import HALL


def command(broker: BrokerProcess, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", "command", *argv, "--broker", broker.url, "--hall", HALL,
                           "--device", "ops-laptop"], capture_output=True, text=True, timeout=60)


def test_a_command_from_the_command_line_is_answered_and_logged_with_who_asked(
        broker: BrokerProcess, bus_factory: Callable[..., HallBus], caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="taxhall.commands")
    device = bus_factory("kiosk-07", role="kiosk")
    seen: list[dict[str, Any]] = []

    def out_of_service(message: BusMessage) -> dict[str, Any]:
        args = message.data.args or {}
        if not args.get("message"):
            raise RequestRejected("bad_request", "args.message: the words to show on the screen")
        seen.append(args)
        return {"state": "out_of_service"}

    serve_standard_commands(device)
    serve_command(device, "out_of_service", out_of_service)

    done = command(broker, "kiosk-07", "out_of_service", "message=维护中", "minutes=30")
    assert done.returncode == 0, done.stderr
    assert "kiosk-07: out_of_service done" in done.stdout and "state: out_of_service" in done.stdout
    assert seen == [{"message": "维护中", "minutes": 30}]  # a number stays a number
    assert any("from ops-laptop" in r.getMessage() for r in caplog.records)  # the device logs who asked

    ping = command(broker, "kiosk-07", "ping", "--json")
    assert ping.returncode == 0 and json.loads(ping.stdout)["device"] == "kiosk-07"

    refused = command(broker, "kiosk-07", "out_of_service")
    assert refused.returncode == 1 and "kiosk-07 refused out_of_service: bad_request: args.message" in refused.stdout


def test_nobody_answering_and_a_bad_argument_are_said_in_words(broker: BrokerProcess) -> None:
    silent = command(broker, "kiosk-99", "ping", "--timeout", "1")
    assert silent.returncode == 3 and "kiosk-99 did not answer ping within 1 s" in silent.stderr
    typo = command(broker, "kiosk-07", "out_of_service", "message")
    assert typo.returncode == 2 and "arguments are KEY=VALUE" in typo.stderr
    bad_json = command(broker, "kiosk-07", "ping", "--args", "{oops")
    assert bad_json.returncode == 2 and "--args is not JSON" in bad_json.stderr
