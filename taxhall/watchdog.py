"""systemd's notify protocol: READY=1 when a process is up, WATCHDOG=1 keep-alives from its
main loop, so that `WatchdogSec=` restarts a process whose loop hangs (a UI frozen on a dead
printer call, an engine stuck on a lock) and not only one that exits.

The protocol is one datagram per message to the AF_UNIX socket named in $NOTIFY_SOCKET (a
leading "@" means Linux's abstract namespace); $WATCHDOG_USEC is the interval systemd expects,
$WATCHDOG_PID the process it expects it from. That is all of it, so it is done here with the
standard library rather than with `sdnotify` (unmaintained since 2017, no watchdog helpers) or
`systemd-python` (needs libsystemd headers to build into the venv). Without $NOTIFY_SOCKET
(a terminal, the tests, the demo) every call is a no-op.

Use: `dog = Watchdog.from_env()`, `dog.ready()` once serving, `dog.kick()` on every turn of
the main loop (it sends at most every half interval). Kivy apps call
`taxhall.touchscreen.keep_watchdog_fed()` from `build()`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping


def notify_address(env: Mapping[str, str]) -> str | None:
    """The socket address from $NOTIFY_SOCKET, in the form `socket.connect` takes."""
    path = env.get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":
        return None  # unset, or vsock (not used on a hall device)
    return "\0" + path[1:] if path[0] == "@" else path


def watchdog_interval(env: Mapping[str, str], pid: int, parent_pid: int) -> float | None:
    """Seconds systemd allows between keep-alives, or None when no watchdog is set for us.

    $WATCHDOG_PID names the unit's main process. A screen app runs as the child of cage, the
    kiosk compositor its unit starts (NotifyAccess=all), so the app also answers for its parent."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    expected_pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (expected_pid and expected_pid not in (str(pid), str(parent_pid))):
        return None
    return usec / 1_000_000


def send(address: str, message: str) -> bool:
    """One notify datagram; False when nobody listens (never raises: a process must not die
    because its supervisor went away)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


@dataclass
class Watchdog:
    """The notify socket of this process and the keep-alive schedule."""

    address: str | None
    interval_s: float | None
    _last_kick: float = field(default=float("-inf"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Watchdog":
        env = os.environ if env is None else env
        return cls(notify_address(env), watchdog_interval(env, os.getpid(), os.getppid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def kick_every_s(self) -> float:
        """How often the main loop should call kick(): half the interval, as sd_watchdog_enabled(3) advises."""
        return self.interval_s / 2 if self.interval_s else 5.0

    def notify(self, message: str) -> bool:
        return send(self.address, message) if self.address else False

    def ready(self, status: str = "") -> bool:
        """Tells systemd the service is up (Type=notify units count as started only now)."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def kick(self, now: float | None = None) -> bool:
        """A keep-alive, sent only when half the interval has passed since the last one."""
        if not self.address or not self.interval_s:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_kick < self.interval_s / 2:
            return False
        self._last_kick = now
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """A line `systemctl status` shows."""
        return self.notify(f"STATUS={text}")

    def watch(self, healthy: Callable[[], bool], status: str = "") -> threading.Thread | None:
        """For a process whose main loop belongs to a library (uvicorn): a daemon thread that
        says READY=1 once `healthy()` first holds and kicks while it keeps holding, so a server
        that stops answering is restarted. None (no thread) outside systemd."""
        if not self.enabled:
            return None

        def loop() -> None:
            announced = False
            while True:
                try:
                    fine = healthy()
                except Exception:  # a failing check is an unhealthy process, not a dead thread
                    fine = False
                if fine and not announced:
                    announced = self.ready(status) or True
                if fine:
                    self.kick()
                time.sleep(self.kick_every_s / 2)

        thread = threading.Thread(target=loop, name="watchdog", daemon=True)
        thread.start()
        return thread
