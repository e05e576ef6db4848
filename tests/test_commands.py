"""Commands every process answers: ping, restart, reload_config — over a real broker, to a
real `taxhall ticketer` process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from taxhall.broker import BrokerProcess
from taxhall.bus import HallBus
from taxhall.commands import send_command
from tests.conftest import HALL
from tests.ticketer_helpers import wait_for


def test_ping_then_restart_a_running_process(broker: BrokerProcess, tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "ticketer", "--broker", broker.url, "--hall", HALL,
                             "--device", "ticketer", "--data-dir", str(tmp_path / "tk")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        operator = bus_factory("ops-li", role="operator")
        statuses: list[str] = []
        operator.subscribe("device/ticketer/status", lambda m: statuses.append(m.data.state))
        assert wait_for(lambda: "online" in statuses, timeout=20)
        pong = send_command(operator, "ticketer", "ping")
        assert pong["role"] == "ticketer" and "uptime_s" in pong["figures"] and "waiting" in pong["figures"]
        answer = send_command(operator, "ticketer", "restart")
        assert answer["state"] == "restarting"
        assert proc.wait(timeout=20) == 0  # a clean exit: systemd's Restart=always brings it back
        assert wait_for(lambda: statuses[-1] == "offline")
    finally:
        proc.kill()
        output = proc.communicate()[0]
    assert "command restart" in output and "from ops-li" in output
