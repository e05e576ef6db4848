"""`device/{id}/cmd/print_test_page` on a running kiosk: the real `taxhall kiosk` process (under
Xvfb) on a real broker, printing on the ESC/POS printer simulator over TCP, answering with the
paper's state — and refusing, with why, when the printer cannot print."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from PIL import Image
from pyzbar.pyzbar import decode

from drivers.printer.simulator import SimulatorServer
from taxhall.broker import BrokerProcess
from taxhall.bus import HallBus
from taxhall.commands import send_command
from tests.conftest import HALL
from tests.ticketer_helpers import wait_for


def test_an_operator_prints_a_test_page_on_a_running_kiosk(broker: BrokerProcess, printer_sim: SimulatorServer,
                                                          tmp_path: Path, bus_factory: Callable[..., HallBus]) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\nsize = "800x600"\n', encoding="utf-8")
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 800x600x24", sys.executable, "-m", "taxhall.cli", "kiosk",
         "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "kiosk-3",
         "--data-dir", str(tmp_path / "data"), "--printer", printer_sim.url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # xvfb-run passes no signal on: a stuck kiosk is stopped with its group
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        operator = bus_factory("ops-li", role="operator")
        states: list[str] = []
        operator.subscribe("device/kiosk-3/status", lambda m: states.append(m.data.state))
        # the window up, so that the restart at the end never lands in the kiosk's own start-up
        assert wait_for(lambda: any("first frame drawn" in line for line in lines), timeout=60), "".join(lines)[-3000:]
        assert wait_for(lambda: "online" in states or "degraded" in states, timeout=60), "the kiosk never came up"

        answer = send_command(operator, "kiosk-3", "print_test_page", timeout_s=20)
        assert answer["printed"] == "printed" and answer["paper"] == "ok"
        page = printer_sim.printer.wait_for_pages(1, timeout=10)[0]
        text = "\n".join(page.text_lines())
        assert "打印测试页" in text and "TEST PAGE" in text and "kiosk-3" in text and "纸张 paper" in text
        drawn = sorted((tmp_path / "pages").glob("page-*.png"))
        assert [c.data.decode() for c in decode(Image.open(drawn[0]))] == ["taxhall:test-page:kiosk-3"]

        printer_sim.printer.set_fault("paper_near_end", True)
        assert send_command(operator, "kiosk-3", "print_test_page", {"lang": "en"}, timeout_s=20)["paper"] == "near_end"
        assert printer_sim.printer.wait_for_pages(2, timeout=10)[1].text_lines()[0].strip() == "TEST PAGE"

        printer_sim.printer.set_fault("paper_out", True)
        refused = send_command(operator, "kiosk-3", "print_test_page", timeout_s=20, check=False)
        assert not refused["ok"] and refused["error"]["code"] == "printer_fault"
        assert "paper: out" in refused["error"]["message"]
        assert len(printer_sim.printer.pages) == 2  # nothing more came out
        bad = send_command(operator, "kiosk-3", "print_test_page", {"lang": "fr"}, check=False)
        assert bad["error"]["code"] == "bad_request"

        send_command(operator, "kiosk-3", "restart")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    reader.join(timeout=10)  # to the end of the output
    output = "".join(lines)
    assert proc.returncode == 0, output[-3000:]
    assert "command print_test_page" in output and "from ops-li" in output
