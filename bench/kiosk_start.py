"""How fast the kiosk starts and how little it costs idle: process start → first frame drawn,
CPU over 60 s on the home screen, and resident memory.

    .venv/bin/python bench/kiosk_start.py [--idle-s 60] [--size 1920x1080] [--runs 3]

It starts its own Xvfb, Mosquitto, printer simulator (TCP), ID-card reader and scanner
simulators (pseudo-terminals), then `taxhall kiosk` as a child: the start time runs from just
before the child is spawned to the moment the kiosk logs its first frame (Window on_flip),
best and median of `--runs`; CPU and memory are read from /proc for the last run. Targets from
the issue: ≤ 3 s, ≤ 2 % of one core, ≤ 250 MB. Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.idcard.simulator import IdReaderSimulator  # noqa: E402
from drivers.printer.config import BUILTIN_PROFILES  # noqa: E402
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer  # noqa: E402
from drivers.scanner.simulator import ScannerSimulator  # noqa: E402
from kiosk.demo_cards import demo_identities  # noqa: E402
from taxhall.broker import BrokerProcess, BrokerSettings, free_port  # noqa: E402

FIRST_FRAME = re.compile(r"first frame drawn at epoch ([0-9.]+)")


def start_xvfb(size: str) -> tuple[subprocess.Popen[bytes], str]:
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not Path(f"/tmp/.X11-unix/X{number}").exists():
                time.sleep(0.05)
            return proc, f":{number}"
    raise RuntimeError("no free X display number")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def memory_kb(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def launch(args: argparse.Namespace, work: Path, broker: BrokerProcess, display: str, printer_url: str,
           reader: str, scanner: str, run: int) -> tuple[subprocess.Popen[str], float]:
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)}
    env.pop("JOURNAL_STREAM", None)
    command = [sys.executable, "-m", "taxhall.cli", "kiosk", "--broker", broker.url, "--hall", "bench", "--device",
               "kiosk-bench", "--data-dir", str(work / f"data-{run}"), "--size", args.size, "--printer", printer_url,
               "--reader", reader, "--scanner", scanner]
    if args.config:
        command += ["--config", args.config]
    started = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = FIRST_FRAME.search(line)
        if match:
            return proc, float(match.group(1)) - started
    raise RuntimeError(f"the kiosk exited with {proc.wait()} before drawing a frame")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", help="a device config for the kiosk (e.g. another [kiosk] max_fps)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    xvfb, display = start_xvfb(args.size)
    broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=work / "broker"))
    broker.start()
    server = SimulatorServer(SimulatedPrinter(BUILTIN_PROFILES["generic-80"])).listen_tcp().start()
    reader = IdReaderSimulator(demo_identities(), card=None)
    reader.start()
    scanner = ScannerSimulator(["-"])
    scanner.start()
    try:
        starts = []
        for run in range(args.runs):
            proc, seconds = launch(args, work, broker, display, server.url, reader.port, scanner.port, run)
            starts.append(seconds)
            if run < args.runs - 1:
                stop(proc)
        # the last run stays up: settle, then measure the home screen at rest
        time.sleep(5)
        before, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle_s)
        used, elapsed = cpu_seconds(proc.pid) - before, time.monotonic() - t0
        memory = memory_kb(proc.pid)
        stop(proc)
    finally:
        server.stop()
        reader.stop()
        scanner.stop()
        broker.stop()
        xvfb.terminate()
    print(f"kiosk start → first frame ({args.size}, {args.runs} runs): best {min(starts):.2f} s, "
          f"median {statistics.median(starts):.2f} s (target ≤ 3 s)")
    print(f"idle CPU over {elapsed:.0f} s on the home screen: {100 * used / elapsed:.2f} % of one core (target ≤ 2 %)")
    print(f"resident memory: {memory['VmRSS'] / 1024:.0f} MB now, {memory['VmHWM'] / 1024:.0f} MB peak (target ≤ 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
