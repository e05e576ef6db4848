"""Counter caller and rating pad logic against the real queue engine on a real broker — and
out_of_service / in_service from an operator, on the logic and on the real apps under Xvfb."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import pytest

from taxhall.bus import HallBus
from ticketer.counter_desk import CounterDesk
from ticketer.rating_pad import RatingPad
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import wait_for


def test_staff_work_a_ticket_and_the_taxpayer_rates_it_once(ticketer, bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    ticketer()
    desk_bus = bus_factory("counter-3", role="counter")
    desk = CounterDesk(desk_bus, "3")
    desk_bus.subscribe("queue/state", desk.on_state)
    pad_bus = bus_factory("rater-3", role="rater")
    pad = RatingPad(pad_bus, "3", thanks_s=0.2)
    pad_bus.subscribe("queue/state", pad.on_state)
    dispenser = bus_factory("dispenser-1", role="dispenser")

    assert desk.login("S1024").staff == "S1024"
    assert desk.call_next().message == "当前没有等候的号" and not desk.screen.ok
    first = dispenser.request("queue/req/take_ticket", {"service": "A", "source": "dispenser-1"})["ticket"]
    dispenser.request("queue/req/take_ticket", {"service": "B", "source": "dispenser-1"})
    assert wait_for(lambda: desk.screen.waiting == 2)

    screen = desk.call_next()
    assert screen.ok and screen.state == "calling" and screen.ticket == first["number"] and screen.service == "A"
    assert desk.recall().message == f"重呼 {first['number']}"
    assert desk.start().state == "serving"
    assert wait_for(lambda: pad.screen.mode == "idle" and pad._serving[0] == first["id"])
    assert desk.finish().state == "idle"

    assert wait_for(lambda: pad.screen.mode == "asking")
    assert pad.screen.ticket == first["number"] and pad.screen.staff == "S1024"
    assert [words for _, words in pad.levels()] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert pad.rate(5).mode == "thanks"
    assert pad.rate(1).mode == "thanks"  # a second press changes nothing
    again = dispenser.request("queue/req/rate", {"ticket": first["id"], "level": 1}, check=False)
    assert again["error"]["code"] == "already_rated"  # the engine holds the one rating
    time.sleep(0.3)
    assert pad.expire().mode == "idle"


def test_desk_says_what_is_wrong_in_plain_words(ticketer, bus_factory: Callable[..., HallBus]) -> None:  # noqa: F811
    ticketer()
    desk = CounterDesk(bus_factory("counter-5", role="counter"), "5", lang="en")
    assert desk.call_next().message == "This counter is not logged in"
    desk.login("S5")
    assert desk.no_show().message == "No ticket at this counter"
    assert desk.pause("break").state == "paused"
    assert desk.call_next().message == "This counter is paused; resume first"
    assert desk.resume().state == "idle"
    assert CounterDesk(desk.bus, "99", lang="en").login("S9").message == "No such counter"


def test_desk_without_an_engine_times_out_cleanly(bus_factory: Callable[..., HallBus]) -> None:
    desk = CounterDesk(bus_factory("counter-1", role="counter"), "1", timeout_s=0.4)
    started = time.monotonic()
    screen = desk.call_next()
    assert not screen.ok and screen.message == "排队服务器没有响应，请稍后重试" and not screen.busy
    assert time.monotonic() - started < 3


def _engine_counter(watcher: list[dict[str, object]], counter: str) -> dict[str, object]:
    return dict(watcher[-1]["counters"][counter]) if watcher else {}  # type: ignore[index]


def test_a_counter_closed_from_afar_serves_its_taxpayer_then_gets_no_more_tickets(
        ticketer, bus_factory: Callable[..., HallBus], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    from taxhall.commands import send_command
    from ticketer.counter_desk import serve_service_commands

    ticketer()
    desk_bus = bus_factory("counter-3", role="counter")
    desk = CounterDesk(desk_bus, "3")
    desk_bus.subscribe("queue/state", desk.on_state)
    state_file = tmp_path / "counter-service.json"
    serve_service_commands(desk_bus, desk, state_file)
    other = CounterDesk(bus_factory("counter-4", role="counter"), "4")
    dispenser = bus_factory("dispenser-1", role="dispenser")
    operator = bus_factory("ops-li", role="operator")
    statuses: list[str] = []
    operator.subscribe("device/counter-3/status", lambda m: statuses.append(m.data.state))
    engine: list[dict[str, object]] = []
    operator.subscribe("queue/state", lambda m: engine.append(m.data.model_dump()))
    for service in ("A", "A", "A"):
        dispenser.request("queue/req/take_ticket", {"service": service, "source": "dispenser-1"})
    desk.login("S1024")
    first = desk.call_next().ticket
    desk.start()

    with caplog.at_level(logging.INFO, logger="taxhall.commands"):
        reply = send_command(operator, "counter-3", "out_of_service", {"message": "窗口设备检修", "message_en": "Counter under repair"})
    assert reply["state"] == "out_of_service" and reply["counter"] == "serving"  # the taxpayer at the counter is served
    assert "command out_of_service" in caplog.text and "from ops-li (reply to ops-li)" in caplog.text
    assert wait_for(lambda: statuses and statuses[-1] == "out_of_service")
    assert desk.screen.closed is not None and desk.closed_text() == "窗口设备检修"
    desk.lang = "en"
    assert desk.closed_text() == "Counter under repair"
    desk.lang = "zh"

    refused = desk.call_next()
    assert not refused.ok and refused.message == "窗口设备检修" and refused.ticket == first
    assert desk.finish().state == "paused"  # the last ticket done, the engine pauses the counter
    assert wait_for(lambda: _engine_counter(engine, "3").get("state") == "paused"
                    and _engine_counter(engine, "3").get("reason") == "out_of_service")
    assert not desk.resume().ok and not desk.pause("break").ok and not desk.login("S2048").ok  # staff cannot reopen it
    other.login("S4096")
    assert other.call_next().ticket == "A002"  # the queue goes to the counters still open
    # a resume from elsewhere (the dashboard) while the caller is out of service: paused again
    mark = len(engine)
    assert other.bus.request("queue/req/resume", {"counter": "3"})["ok"]

    def states_since() -> list[object]:
        return [state["counters"]["3"]["state"] for state in engine[mark:]]  # type: ignore[index]

    assert wait_for(lambda: "idle" in states_since() and states_since()[-1] == "paused")
    assert _engine_counter(engine, "3").get("reason") == "out_of_service"

    # a restart of the caller keeps it out of service
    restarted_bus = bus_factory("counter-3-restarted", role="counter")
    restarted = CounterDesk(restarted_bus, "3")
    restarted_bus.subscribe("queue/state", restarted.on_state)
    assert serve_service_commands(restarted_bus, restarted, state_file) is not None
    assert restarted.screen.closed is not None and not restarted.call_next().ok
    assert wait_for(lambda: restarted.screen.pause_reason == "out_of_service")
    restarted_bus.close()  # one caller per counter from here on

    reply = send_command(operator, "counter-3", "in_service")
    assert reply["state"] == "online" and reply["counter"] == "idle"  # our pause ended, nobody else's
    assert wait_for(lambda: statuses[-1] == "online") and not state_file.exists()
    assert desk.call_next().ticket == "A003"


def test_a_break_taken_before_the_close_is_the_staffs_to_end(ticketer, bus_factory: Callable[..., HallBus],  # noqa: F811
                                                              tmp_path: Path) -> None:
    from taxhall.commands import send_command
    from ticketer.counter_desk import serve_service_commands

    ticketer()
    desk_bus = bus_factory("counter-6", role="counter")
    desk = CounterDesk(desk_bus, "6", lang="en")
    desk_bus.subscribe("queue/state", desk.on_state)
    serve_service_commands(desk_bus, desk, tmp_path / "counter-service.json")
    operator = bus_factory("ops-wang", role="operator")
    desk.login("S6")
    assert desk.pause("break").state == "paused"

    assert send_command(operator, "counter-6", "out_of_service")["counter"] == "paused"
    assert desk.closed_text() == "This counter is out of service; please go to another counter"
    bad = send_command(operator, "counter-6", "out_of_service", {"message": 42}, check=False)
    assert not bad["ok"] and bad["error"]["code"] == "bad_request"
    assert send_command(operator, "counter-6", "in_service")["counter"] == "paused"  # still on the break
    assert desk.screen.pause_reason == "break" and desk.resume().state == "idle"


def test_a_rating_pad_closed_from_afar_asks_nobody(ticketer, bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:  # noqa: F811
    from taxhall.commands import send_command
    from ticketer.counter_desk import serve_service_commands
    from ticketer.rater_app import pad_texts

    ticketer()
    desk = CounterDesk(bus_factory("counter-2", role="counter"), "2")
    pad_bus = bus_factory("rater-2", role="rater")
    pad = RatingPad(pad_bus, "2")
    pad_bus.subscribe("queue/state", pad.on_state)
    state_file = tmp_path / "rater-service.json"
    serve_service_commands(pad_bus, pad, state_file)
    dispenser = bus_factory("dispenser-1", role="dispenser")
    operator = bus_factory("ops-li", role="operator")
    statuses: list[str] = []
    operator.subscribe("device/rater-2/status", lambda m: statuses.append(m.data.state))
    for _ in range(2):
        dispenser.request("queue/req/take_ticket", {"service": "A", "source": "dispenser-1"})
    desk.login("S2")

    assert send_command(operator, "rater-2", "out_of_service", {"message": "评价器维修中"})["state"] == "out_of_service"
    assert pad.screen.mode == "closed" and pad_texts(pad, pad.screen)[:2] == ("暂停服务", "评价器维修中")
    assert wait_for(lambda: statuses and statuses[-1] == "out_of_service")
    desk.call_next()
    desk.start()
    assert wait_for(lambda: pad._serving[0] is not None)
    served = pad._serving[0]
    desk.finish()
    assert wait_for(lambda: pad._serving[0] is None)
    assert pad.screen.mode == "closed" and pad.rate(5).mode == "closed"  # nobody asked, nothing rated
    assert not dispenser.request("queue/req/rate", {"ticket": served, "level": 3}, check=False).get("error")

    restarted_bus = bus_factory("rater-2-restarted", role="rater")
    restarted = RatingPad(restarted_bus, "2", lang="en")
    serve_service_commands(restarted_bus, restarted, state_file)
    assert restarted.screen.mode == "closed" and pad_texts(restarted, restarted.screen)[0] == "Out of service"

    assert send_command(operator, "rater-2", "in_service")["state"] == "online"
    assert pad.screen.mode == "idle" and wait_for(lambda: statuses[-1] == "online")
    desk.call_next()
    desk.start()
    assert wait_for(lambda: pad._serving[0] is not None)
    desk.finish()
    assert wait_for(lambda: pad.screen.mode == "asking") and pad.rate(4).mode == "thanks"


def test_the_real_caller_and_pad_close_from_afar_and_stay_closed_after_a_restart(
        ticketer, broker, bus_factory: Callable[..., HallBus], tmp_path: Path) -> None:  # noqa: F811
    """`taxhall counter` and `taxhall rater` as processes under Xvfb: the commands reach the
    apps' own wiring, and a restarted pad comes back out of service."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from PIL import Image

    from taxhall.commands import send_command
    from tests.conftest import HALL

    ticketer()
    outputs: list[list[str]] = []
    processes: list[subprocess.Popen[str]] = []

    def start(app: str, device: str, *extra: str) -> list[str]:
        process = subprocess.Popen(
            ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", app,
             "--broker", broker.url, "--hall", HALL, "--device", device, "--data-dir", str(tmp_path / device),
             "--counter", "7", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)  # xvfb-run passes no signal on: the group is stopped at the end
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True).start()
        processes.append(process)
        outputs.append(lines)
        return lines

    operator = bus_factory("ops-li", role="operator")
    statuses: dict[str, list[str]] = {"counter-7": [], "rater-7": []}
    for device, seen in statuses.items():
        operator.subscribe(f"device/{device}/status", lambda m, seen=seen: seen.append(m.data.state))
    engine: list[dict[str, object]] = []
    operator.subscribe("queue/state", lambda m: engine.append(m.data.model_dump()))
    caller = start("counter", "counter-7", "--staff", "S7")
    pad = start("rater", "rater-7")
    try:
        assert wait_for(lambda: all("online" in seen for seen in statuses.values()), 60)
        assert wait_for(lambda: _engine_counter(engine, "7").get("state") == "idle", 20)  # --staff logged in

        reply = send_command(operator, "counter-7", "out_of_service", {"message": "系统升级，请到8号窗口"}, timeout_s=10)
        assert reply["counter"] == "paused"
        assert wait_for(lambda: _engine_counter(engine, "7").get("reason") == "out_of_service")
        assert wait_for(lambda: any("Start application main loop" in line for line in caller), 60)
        path = str(tmp_path / "caller.png")  # the window, the reason in its band
        assert wait_for(lambda: send_command(operator, "counter-7", "screenshot", {"path": path}, check=False)["ok"], 30)
        assert Image.open(path).size == (1280, 800)
        send_command(operator, "rater-7", "out_of_service", timeout_s=10)
        assert wait_for(lambda: statuses["rater-7"][-1] == "out_of_service")

        assert wait_for(lambda: any("Start application main loop" in line for line in pad), 60)  # not mid-start
        send_command(operator, "rater-7", "restart", timeout_s=10)
        assert processes[1].wait(timeout=30) == 0
        assert wait_for(lambda: statuses["rater-7"][-1] == "offline")
        start("rater", "rater-7")
        assert wait_for(lambda: statuses["rater-7"][-1] != "offline", 60)
        assert statuses["rater-7"][-1] == "out_of_service"  # its first word after the restart

        assert send_command(operator, "counter-7", "in_service", timeout_s=10)["counter"] == "idle"
        assert send_command(operator, "rater-7", "in_service", timeout_s=10)["state"] == "online"
        assert wait_for(lambda: statuses["rater-7"][-1] == "online" and statuses["counter-7"][-1] == "online")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    logs = ["".join(lines) for lines in outputs]
    assert "command out_of_service" in logs[0] and "from ops-li" in logs[0]
    assert not any("Traceback" in log for log in logs), logs
