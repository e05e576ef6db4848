"""Serial scanners against the scanner simulator on a real pseudo-terminal: lines become scans,
Chinese arrives intact in UTF-8 and GB18030, time-outs return None, unplugging is typed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from drivers.scanner.base import ScannerBusy, ScannerNotFound, ScannerUnplugged
from drivers.scanner.serial_scanner import SerialScanner, decode_payload, split_lines
from drivers.scanner.simulator import DEFAULT_PAYLOADS, ScannerSimulator, write_images


def wait_until_open(pid: int, path: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fds = Path(f"/proc/{pid}/fd")
        try:
            if any(os.readlink(fd) == path for fd in fds.iterdir()):
                time.sleep(0.3)  # open() then configure and flush: let the flush pass
                return
        except OSError:
            pass  # an fd closed while we looked
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not open {path}")


@pytest.fixture
def sim() -> Iterator[ScannerSimulator]:
    with ScannerSimulator() as simulator:
        yield simulator


def test_split_lines() -> None:
    assert split_lines(b"A1\r\nB2\rC3\nD4") == ([b"A1", b"B2", b"C3"], b"D4")
    assert split_lines(b"A1\r") == ([b"A1"], b"")
    assert split_lines(b"\nA1\r\n\r\n") == ([b"A1"], b"")  # a CR LF split across reads is still one end


def test_decode_payload() -> None:
    assert decode_payload("发票".encode("utf-8")) == "发票"
    assert decode_payload("发票".encode("gb18030")) == "发票"
    assert decode_payload(b"\xef\xbb\xbfA017") == "A017"
    assert decode_payload("发票".encode("gb18030"), "gb18030") == "发票"


def test_reads_the_payloads_in_turn(sim: ScannerSimulator) -> None:
    with SerialScanner(sim.port) as scanner:
        for payload in DEFAULT_PAYLOADS:
            sim.send_next()
            scan = scanner.read(timeout_s=5)
            assert scan is not None and scan.text == payload
            assert scan.source == "serial" and scan.device == sim.port


def test_several_scans_in_one_read(sim: ScannerSimulator) -> None:
    with SerialScanner(sim.port) as scanner:
        sim.send_raw(b"one\r\ntwo\r\nthr")
        sim.send_raw(b"ee\r\n")
        texts = [scanner.read(timeout_s=5) for _ in range(3)]
        assert [s.text for s in texts if s] == ["one", "two", "three"]


def test_gb18030_scanner() -> None:
    with ScannerSimulator(["北京市东城区税务局", "A017"], encoding="gb18030") as sim:
        with SerialScanner(sim.port) as scanner:
            sim.send_next()
            sim.send_next()
            assert [scanner.read(5).text, scanner.read(5).text] == ["北京市东城区税务局", "A017"]  # type: ignore[union-attr]


def test_timeout_returns_none_promptly(sim: ScannerSimulator) -> None:
    with SerialScanner(sim.port) as scanner:
        start = time.monotonic()
        assert scanner.read(timeout_s=0.2) is None
        assert 0.15 <= time.monotonic() - start < 3.0


def test_garbage_then_a_scan(sim: ScannerSimulator) -> None:
    with SerialScanner(sim.port) as scanner:
        sim.send_raw(b"\x00\xff\xfe\r\n")
        sim.send("A017")
        first = scanner.read(5)
        assert first is not None and first.text.startswith("\x00")  # line noise is one odd scan, no crash
        second = scanner.read(5)
        assert second is not None and second.text == "A017"


def test_unplugged(sim: ScannerSimulator) -> None:
    scanner = SerialScanner(sim.port)
    try:
        sim.unplug()
        start = time.monotonic()
        with pytest.raises(ScannerUnplugged, match="is gone"):
            scanner.read(timeout_s=10)
        assert time.monotonic() - start < 3.0
    finally:
        scanner.close()


def test_missing_port() -> None:
    with pytest.raises(ScannerNotFound, match="no scanner at /dev/ttyNOPE"):
        SerialScanner("/dev/ttyNOPE")


def test_port_is_opened_exclusively(sim: ScannerSimulator) -> None:
    with SerialScanner(sim.port):
        with pytest.raises(ScannerBusy):
            SerialScanner(sim.port)


def test_scan_command_reads_a_serial_scanner(sim: ScannerSimulator, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "taxhall.cli", "scan", "--data-dir", str(tmp_path), "--port", sim.port,
               "--count", "2", "--timeout", "20"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_open(process.pid, sim.port)  # pyserial flushes input on open: send only after that
        sim.send("发票")
        sim.send("身份证 110101199003071233")
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    import json

    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [line["text"] for line in lines] == ["发票", "身份证 110***********1233"]


def test_simulator_writes_images(tmp_path: Path) -> None:
    from drivers.scanner.camera import CodeDecoder

    paths = write_images(["发票", "A017"], tmp_path / "imgs")
    decoder = CodeDecoder()
    assert [[c.text for c in decoder.decode_file(p)] for p in paths] == [["发票"], ["A017"]]
