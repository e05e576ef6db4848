"""Counter caller and rating pad logic against the real queue engine on a real broker."""

from __future__ import annotations

import time
from typing import Callable

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
