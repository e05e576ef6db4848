"""`display led` over a real broker: calls reach the right window board once, in order, also
across a restart of the display."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from display.hall_model import HallModel, main_board_lines, window_board_lines
from display.led_service import DisplayLedSection, LedDisplay
from drivers.led.bitmap import render_lines
from drivers.led.board import LedSection
from drivers.led.simulator import BoardState, LedSimulator
from taxhall.bus import HallBus
from taxhall.bus.schemas import CallEvent, QueueState
from tests.ticketer_helpers import wait_for


def call(seq: int, ticket: str, counter: str) -> dict[str, Any]:
    return {"seq": seq, "ticket": ticket, "ticket_id": f"t-{ticket}", "service": ticket[0], "counter": counter,
            "recall": False, "at": "2026-11-27T09:00:00+08:00"}


STATE = {"seq": 0, "services": {"A": {"name": "综合业务", "waiting": 3, "est_wait_s": 300, "open": True}},
         "counters": {"1": {"state": "idle", "staff": "S1", "ticket": None}}}


def frames_of(state: BoardState) -> list[tuple[str, ...]]:
    return [tuple(p.with_suffix(".txt").read_text().split()) for p in state.shown]


def test_a_live_state_overtaking_its_call_does_not_hide_the_call() -> None:
    model = HallModel()
    model.apply_state(QueueState.model_validate(STATE), retained=True)
    model.apply_state(QueueState.model_validate({**STATE, "seq": 1}))  # arrived before call 1
    assert model.apply_call(CallEvent.model_validate(call(1, "A001", "1"))) is not None


def test_model_drops_repeats_and_counts_gaps() -> None:
    model = HallModel()
    model.apply_state(QueueState.model_validate({**STATE, "seq": 10}), retained=True)
    assert model.apply_call(CallEvent.model_validate(call(10, "A001", "1"))) is None  # already past
    assert model.apply_call(CallEvent.model_validate(call(11, "A002", "1"))) is not None
    assert model.apply_call(CallEvent.model_validate(call(11, "A002", "1"))) is None
    assert model.apply_call(CallEvent.model_validate(call(14, "A005", "2"))) is not None
    assert model.gaps == 2
    assert window_board_lines(model.latest, "2") == ["请A005号", "2号窗口"]
    assert main_board_lines(model)[0] == "请A005号到2号窗口"


def test_calls_reach_their_window_boards_once_even_after_a_restart(tmp_path: Path, device_config: Callable[..., Any],
                                                                   bus_factory: Callable[..., HallBus]) -> None:
    sims = {}
    boards = []
    for counter in ("1", "2"):
        state = BoardState(128, 32, tmp_path / f"board{counter}")
        sim = LedSimulator(state)
        boards.append(LedSection(port=sim.open_pty(), counter=counter, address=f"0{counter}"))
        sim.start()
        sims[counter] = (sim, state)
    section = DisplayLedSection(boards=boards)
    ticketer = bus_factory("ticketer", role="ticketer")
    ticketer.publish("queue/state", STATE, qos=1, retain=True)

    config = device_config("led-1", "display-led")
    display = LedDisplay(config, section).start()
    try:
        assert wait_for(lambda: all(len(s.shown) == 1 for _, s in sims.values()))  # idle boards
        ticketer.publish_event("queue/calls", call(1, "A001", "1"))
        ticketer.publish_event("queue/calls", call(2, "B001", "2"))
        ticketer.publish_event("queue/calls", call(1, "A001", "1"), )  # a repeat with a new id: seq says it is old
        assert wait_for(lambda: len(sims["1"][1].shown) == 2 and len(sims["2"][1].shown) == 2)
        time.sleep(0.3)
        assert frames_of(sims["1"][1])[-1] == render_lines(["请A001号", "1号窗口"], 128, 32).rows
        assert frames_of(sims["2"][1])[-1] == render_lines(["请B001号", "2号窗口"], 128, 32).rows
        assert len(sims["1"][1].shown) == 2
    finally:
        display.close()

    # Restarted: the same calls come again (e.g. redelivered); nothing is shown twice.
    display = LedDisplay(config, section).start()
    try:
        ticketer.publish_event("queue/calls", call(2, "B001", "2"))
        ticketer.publish_event("queue/calls", call(3, "A002", "1"))
        assert wait_for(lambda: frames_of(sims["1"][1])[-1] == render_lines(["请A002号", "1号窗口"], 128, 32).rows)
        time.sleep(0.3)
        board2 = frames_of(sims["2"][1])
        assert render_lines(["请B001号", "2号窗口"], 128, 32).rows not in board2[2:]
    finally:
        display.close()
        for sim, _ in sims.values():
            sim.stop()
