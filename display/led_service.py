"""`taxhall display led`: the LED boards of a hall — a window board above each counter and the
main board — following the queue on the bus.

Bus callbacks only update the model and hand each board its newest lines; one writer thread
per serial line sends them, newest wins, so a slow 9600-baud board never holds up the bus and
never shows a call that has already been replaced.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass, field
from typing import Callable, Literal

from pydantic import Field

from display.hall_model import HallModel, SeenCalls, main_board_lines, window_board_lines
from drivers.led.board import LedBoard, LedError, LedSection
from taxhall.bus import BusMessage, HallBus
from taxhall.bus.schemas import ComponentHealth
from taxhall.config import ConfigSection, DeviceConfig
from taxhall.watchdog import Watchdog
from taxhall.commands import serve_standard_commands

log = logging.getLogger("display.led")


class DisplayLedSection(ConfigSection):
    boards: list[LedSection] = Field(default_factory=list, description="the boards this device drives ([[display_led.boards]])")
    lang: Literal["zh", "en"] = Field("zh", description="language of the board texts")


SECTIONS = {"display_led": DisplayLedSection}


@dataclass
class BoardWriter:
    """Sends the newest lines for each board on one serial line; remembers each board's health."""

    boards: list[LedBoard]
    on_health: Callable[[], None]
    _pending: dict[int, list[str]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stop: bool = False
    health: dict[int, ComponentHealth] = field(default_factory=dict)
    written: int = 0

    def post(self, index: int, lines: list[str]) -> None:
        with self._cond:
            self._pending[index] = lines
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                index, lines = self._pending.popitem()
            board = self.boards[index]
            try:
                board.show(lines)
                self.written += 1
                state = ComponentHealth(state="ok")
            except LedError as exc:
                log.error("%s", exc)
                state = ComponentHealth(state="fault", detail=str(exc))
            if self.health.get(index) != state:
                self.health[index] = state
                self.on_health()


class LedDisplay:
    """Binds the hall model to the boards (usable without a process, for tests and the demo)."""

    def __init__(self, config: DeviceConfig, section: DisplayLedSection) -> None:
        self.section = section
        self.model = HallModel(SeenCalls(config.data_dir / "led-seen-calls.json"))
        self.boards = [LedBoard(b) for b in section.boards]
        self.bus = HallBus(config, components=self.components)
        self.writers: dict[str, BoardWriter] = {}
        for index, board in enumerate(self.boards):
            writer = self.writers.setdefault(board.section.port, BoardWriter([], self._health_changed))
            writer.boards.append(board)
        self._index = {id(b): (w, w.boards.index(b)) for w in self.writers.values() for b in w.boards}
        self._lock = threading.Lock()

    def components(self) -> dict[str, ComponentHealth]:
        out = {}
        for writer in self.writers.values():
            for i, board in enumerate(writer.boards):
                name = f"led-{board.section.counter or 'main'}"
                out[name] = writer.health.get(i, ComponentHealth(state="ok", detail="no frame sent yet"))
        return out

    def _health_changed(self) -> None:
        faulty = any(h.state == "fault" for h in self.components().values())
        self.bus.set_status("degraded" if faulty else "online")

    def start(self) -> "LedDisplay":
        for writer in self.writers.values():
            threading.Thread(target=writer.run, name="led-writer", daemon=True).start()
        self.bus.subscribe("queue/state", self._on_state)
        self.bus.subscribe("queue/calls", self._on_call, dedupe=True)
        self.bus.start()
        self._refresh(initial=True)
        return self

    def close(self) -> None:
        for writer in self.writers.values():
            writer.stop()
        self.bus.close()
        for board in self.boards:
            board.close()

    def _post(self, board: LedBoard, lines: list[str]) -> None:
        writer, index = self._index[id(board)]
        writer.post(index, lines)

    def _refresh(self, initial: bool = False) -> None:
        lang = self.section.lang
        for board in self.boards:
            if not board.section.counter:
                self._post(board, main_board_lines(self.model, lang))
            elif initial:
                self._post(board, window_board_lines(None, board.section.counter, lang))

    def _on_state(self, message: BusMessage) -> None:
        with self._lock:
            self.model.apply_state(message.data, message.retained)
            for board in self.boards:
                if not board.section.counter:
                    self._post(board, main_board_lines(self.model, self.section.lang))

    def _on_call(self, message: BusMessage) -> None:
        with self._lock:
            shown = self.model.apply_call(message.data)
            if shown is None:
                return
            for board in self.boards:
                if board.section.counter == shown.counter:
                    self._post(board, window_board_lines(shown, shown.counter, self.section.lang))
                elif not board.section.counter:
                    self._post(board, main_board_lines(self.model, self.section.lang))


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall display led", description="drive the hall's LED boards from the bus")
    parser.parse_args(argv)
    section: DisplayLedSection = config.section("display_led")
    if not section.boards:
        print("taxhall display led: no boards configured; add [[display_led.boards]] with port, counter, width, height "
              "(see docs/display.md)", flush=True)
        return 2
    display = LedDisplay(config, section)
    serve_standard_commands(display.bus)
    display.start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("driving %d LED board(s): %s", len(display.boards),
             ", ".join(f"{b.section.counter or 'main'} on {b.section.port}" for b in display.boards))
    # Alive while the bus threads run; a board fault is reported as health, not a restart.
    Watchdog.from_env().watch(lambda: display.bus.alive)
    stop.wait()
    display.close()
    return 0
