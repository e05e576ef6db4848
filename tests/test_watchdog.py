"""sd_notify keep-alives over a real $NOTIFY_SOCKET datagram socket.

This container runs no systemd (PID 1 is not systemd, `systemd-run` has no manager to talk
to), so systemd's own WatchdogSec enforcement cannot run here. What is tested instead: the
protocol on a real AF_UNIX datagram socket exactly as systemd listens on it, the queue
engine's READY=1 and WATCHDOG=1 from `taxhall ticketer` itself, and a small supervisor in the
test that does what systemd does on a missed keep-alive — kill and start again — to show that a
process whose main loop hangs is restarted while a healthy one is left alone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from taxhall.broker import BrokerProcess
from taxhall.watchdog import Watchdog, notify_address, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.1)
    yield sock
    sock.close()


def messages(sock: socket.socket, until: float, enough: Callable[[list[str]], bool] = lambda got: False) -> list[str]:
    got: list[str] = []
    while time.monotonic() < until and not enough(got):
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            continue
    return got


def test_environment_parsing() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@sd-notify"}) == "\0sd-notify"
    assert notify_address({}) is None and notify_address({"NOTIFY_SOCKET": "vsock:2:1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, 10, 1) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "10"}, 10, 1) == 30.0
    # Under cage the unit's main process is cage, the app's parent.
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 10, 1) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "99"}, 10, 1) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}, 10, 1) is None


def test_ready_and_kicks_at_half_the_interval(notify_socket: socket.socket) -> None:
    dog = Watchdog(notify_socket.getsockname(), 1.0)
    assert dog.ready("serving")
    assert dog.kick(now=100.0) and not dog.kick(now=100.4) and dog.kick(now=100.5)
    assert messages(notify_socket, time.monotonic() + 0.3) == ["READY=1\nSTATUS=serving", "WATCHDOG=1", "WATCHDOG=1"]


def test_outside_systemd_every_call_is_a_no_op(tmp_path: Path) -> None:
    dog = Watchdog.from_env({})
    assert not dog.enabled and not dog.ready() and not dog.kick()
    gone = Watchdog(str(tmp_path / "nobody-listens"), 1.0)
    assert not gone.ready() and not gone.kick()  # and no exception


def test_watch_thread_kicks_while_healthy(notify_socket: socket.socket) -> None:
    healthy = [True]
    Watchdog(notify_socket.getsockname(), 0.4).watch(lambda: healthy[0])
    got = messages(notify_socket, time.monotonic() + 0.6)
    assert got[0] == "READY=1" and got.count("WATCHDOG=1") >= 2
    healthy[0] = False
    time.sleep(0.3)
    assert messages(notify_socket, time.monotonic() + 0.5) == []


# A process with a main loop that feeds the watchdog, then hangs when told to (a file appears).
CHILD = """
import os, sys, time
from taxhall.watchdog import Watchdog
dog = Watchdog.from_env()
dog.ready()
while True:
    if os.path.exists(sys.argv[1]):
        time.sleep(3600)  # the loop hangs: no more keep-alives
    dog.kick()
    time.sleep(0.05)
"""


def supervise(sock: socket.socket, argv: list[str], env: dict[str, str], interval_s: float, duration_s: float) -> list[str]:
    """What systemd does for Type=notify + WatchdogSec=: wait for READY=1, then kill and start
    the process again when no WATCHDOG=1 came for `interval_s`. Returns the events seen."""
    events: list[str] = []
    proc = subprocess.Popen(argv, env=env)
    last = time.monotonic()
    end = last + duration_s
    try:
        while time.monotonic() < end:
            try:
                message = sock.recv(4096).decode()
                last = time.monotonic()
                if message.startswith("READY=1"):
                    events.append(f"ready {proc.pid}")
            except socket.timeout:
                pass
            if time.monotonic() - last > interval_s:
                events.append(f"watchdog timeout {proc.pid}")
                proc.send_signal(signal.SIGABRT)  # systemd's default WatchdogSignal
                proc.wait(5)
                proc = subprocess.Popen(argv, env=env)
                last = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
    return events


def test_a_hung_loop_is_restarted_and_a_healthy_one_is_not(notify_socket: socket.socket, tmp_path: Path) -> None:
    hang = tmp_path / "hang"
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "600000"}
    argv = [sys.executable, "-c", CHILD, str(hang)]
    healthy = supervise(notify_socket, argv, env, 0.6, 2.0)
    assert healthy[0].startswith("ready") and not any("timeout" in e for e in healthy), healthy
    hang.touch()
    hung = supervise(notify_socket, argv, env, 0.6, 2.5)
    first = hung[0].split()[-1]
    assert f"watchdog timeout {first}" in hung, hung
    # ...and the restarted process came up again (and hung again: the file is still there).
    restarted = [e for e in hung if e.startswith("ready") and not e.endswith(first)]
    assert restarted, hung


def test_ticketer_says_ready_and_keeps_the_watchdog_fed(broker: BrokerProcess, notify_socket: socket.socket,
                                                        tmp_path: Path) -> None:
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "ticketer", "--broker", broker.url, "--hall", "wd",
                             "--device", "ticketer", "--data-dir", str(tmp_path / "t")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = messages(notify_socket, time.monotonic() + 15.0, lambda got: got.count("WATCHDOG=1") >= 3)
    finally:
        proc.terminate()
        proc.wait(20)
    assert any(m.startswith("READY=1") for m in got), got
    assert got.count("WATCHDOG=1") >= 3, got
    assert proc.returncode == 0
