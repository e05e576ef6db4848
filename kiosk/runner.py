"""The threads behind the screen: one worker that runs the kiosk's actions one at a time and
reads the devices when it has nothing else to do, a once-a-second tick, and the check that
the tax gateway still answers.

One worker means the kiosk's state is only ever changed by one thread, so flows need no
locks; the UI thread only hands actions over and draws the Views the kiosk publishes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from kiosk.core import Kiosk
from kiosk.gateway.interface import GatewayError, TaxGateway
from kiosk.health import GATEWAY, OK, HealthBoard, fault

log = logging.getLogger("kiosk.runner")

POLL_S = 0.2  # one look at the reader or scanner; short, so a tap is never kept waiting long


class ActionRunner:
    def __init__(self, kiosk: Kiosk, poll_s: float = POLL_S) -> None:
        self.kiosk = kiosk
        self.poll_s = poll_s
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="kiosk-worker", daemon=True)
        self._ticker = threading.Thread(target=self._tick, name="kiosk-tick", daemon=True)
        self._stop = threading.Event()
        self.idle = threading.Event()

    def start(self) -> "ActionRunner":
        self._thread.start()
        self._ticker.start()
        return self

    def submit(self, action: Callable[..., Any], *args: Any) -> None:
        self.idle.clear()
        self._queue.put((action, args))

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=5)
        self._ticker.join(timeout=2)

    def _work(self) -> None:
        while not self._stop.is_set():
            wants = self.kiosk.wants_devices()
            try:
                item = self._queue.get(timeout=0 if wants else self.poll_s)
            except queue.Empty:
                item = ()  # type: ignore[assignment]
            if item is None:
                return
            if item:
                action, args = item
                try:
                    action(*args)
                except Exception:  # actions turn failures into notices; this is a last guard
                    log.exception("kiosk action %s failed", getattr(action, "__name__", action))
                continue
            if self._queue.empty():
                self.idle.set()
            if wants:
                self.kiosk.poll_devices(self.poll_s)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.submit(self.kiosk.tick)


class GatewayWatch:
    """Asks the gateway's health every `interval_s`; the board follows (and the tiles)."""

    def __init__(self, gateway: TaxGateway, board: HealthBoard, interval_s: float) -> None:
        self.gateway = gateway
        self.board = board
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-watch", daemon=True)

    def check(self) -> bool:
        try:
            self.gateway.health()
        except GatewayError as exc:
            if self.board.set(GATEWAY, fault(exc.message)):
                log.warning("tax gateway down: %s", exc.message)
            return False
        except Exception as exc:  # a broken gateway must not end the watch
            self.board.set(GATEWAY, fault(f"{type(exc).__name__}: {exc}"))
            return False
        if self.board.set(GATEWAY, OK):
            log.info("tax gateway answers")
        return True

    def start(self) -> "GatewayWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval_s)


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()
