"""`taxhall print` and `taxhall sim printer` as technicians run them: separate processes, a
real TCP port and pseudo-terminal, exit status and one-line reasons."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.escpos_render import render_bytes
from drivers.printer.layout import queue_ticket, sample_ticket_info


def taxhall(*args: str, data_dir: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=timeout)


class SimProcess:
    """`taxhall sim printer ...` in the background; `url` and `control` from its first lines."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taxhall.cli", "sim", "printer", *args, "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.url = ""
        self.control: tuple[str, int] | None = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.url:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line and self.proc.poll() is not None:
                break
            if "printer simulator" in line:
                self.url = line.split(" on ", 1)[1].strip()
        if "--control" in args:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            host, port = line.split(" on ", 1)[1].strip().rsplit(":", 1)
            self.control = (host, int(port))
        assert self.url, "the simulator did not start"

    def send_control(self, line: str) -> str:
        assert self.control
        with socket.create_connection(self.control, timeout=5) as conn:
            conn.sendall(line.encode() + b"\n")
            return conn.makefile().readline().strip()

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return out


@pytest.fixture
def tcp_sim(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path, "--listen", "127.0.0.1:0", "--out", str(tmp_path / "pages"), "--control", "127.0.0.1:0")
    yield sim
    sim.stop()


def test_test_ticket_on_the_simulator_then_paper_out(tcp_sim: SimProcess, tmp_path: Path) -> None:
    result = taxhall("print", "test-ticket", "--printer", tcp_sim.url, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "printed on " + tcp_sim.url in result.stdout
    png = tmp_path / "pages" / "page-0001.png"
    deadline = time.monotonic() + 10
    while not png.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    codes = decode(Image.open(png))
    assert len(codes) == 1 and codes[0].data.decode().startswith("https://q.taxhall.example.cn/t/")

    assert tcp_sim.send_control("paper_out on") == "ok"
    assert tcp_sim.send_control("status") == "ok paper_out"
    failed = taxhall("print", "test-ticket", "--printer", tcp_sim.url, data_dir=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.strip() == "taxhall print: paper out (nothing was printed)"

    status = taxhall("print", "status", "--printer", tcp_sim.url, data_dir=tmp_path)
    assert status.returncode == 1 and status.stdout.strip() == f"{tcp_sim.url} (generic-80): fault: paper out"


def test_english_ticket_on_a_pseudo_terminal(tmp_path: Path) -> None:
    sim = SimProcess(tmp_path, "--pty", "--profile", "generic-58")
    try:
        assert sim.url.startswith("serial:/dev/")
        result = taxhall("print", "test-ticket", "--printer", sim.url + "?baud=115200", "--profile", "generic-58",
                         "--lang", "en", data_dir=tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        out = sim.stop()
    assert "A042" in out and "12 ahead of you" in out


def test_one_line_reasons_and_exit_status(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = taxhall("print", "test-ticket", "--printer", f"tcp://127.0.0.1:{port}", data_dir=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"taxhall print: tcp://127.0.0.1:{port}: connection refused"
    bad_profile = taxhall("print", "test-ticket", "--printer", f"tcp://127.0.0.1:{port}", "--profile", "tm-x", data_dir=tmp_path)
    assert bad_profile.returncode == 2 and bad_profile.stderr.count("\n") == 1 and "unknown printer profile 'tm-x'" in bad_profile.stderr
    bad_url = taxhall("print", "test-ticket", "--printer", "lpt:1", data_dir=tmp_path)
    assert bad_url.returncode == 2 and "unknown scheme" in bad_url.stderr
    no_printer = taxhall("print", "test-ticket", data_dir=tmp_path)
    assert no_printer.returncode == 2 and "no printer" in no_printer.stderr


def test_preview_without_a_printer_and_drawing_a_recording(tmp_path: Path) -> None:
    preview = taxhall("print", "test-receipt", "--preview", str(tmp_path / "receipt.png"), data_dir=tmp_path)
    assert preview.returncode == 0 and (tmp_path / "receipt.png").exists()
    recording = tmp_path / "job.bin"
    recording.write_bytes(render_bytes(queue_ticket(sample_ticket_info()), BUILTIN_PROFILES["generic-80"]))
    drawn = taxhall("sim", "printer", "--file", str(recording), "--out", str(tmp_path / "drawn"), data_dir=tmp_path)
    assert drawn.returncode == 0 and "综合业务" in drawn.stdout
    assert (tmp_path / "drawn" / "job-page-0001.png").exists()
