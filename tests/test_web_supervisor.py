"""The duty supervisor's dashboard against the real engine, Mosquitto and uvicorn: a service
stopped and resumed from the board (CSRF, logged with who, live, refused at the dispenser);
alarms raised before `taxhall web` started shown from the retained `queue/alarms` until they
clear; the day's statistics drawn as charts and bar tables in both languages; and the web's
own broker account, which may do exactly this and no counter's work."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig, Overrides, load_config
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store
from tests.test_fleet_security import Client
from tests.ticketer_helpers import section, wait_for
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.web_support import PASSWORD, USER, HallWeb, hall_web, sse_events  # noqa: F401
from web.app import ServerThread, WebApp, create_app
from web.auth import hash_password
from web.config import SECTIONS


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _start_web(tmp_path: Path, broker_url: str, hall: str, bus_settings: str = "") -> tuple[ServerThread, WebApp]:
    """`taxhall web` in this process on its own config (users file, the engine's database)."""
    users = tmp_path / "users.toml"
    users.write_text(f'[users.{USER}]\npassword_hash = "{hash_password(PASSWORD)}"\n', encoding="utf-8")
    settings = {"users_file": str(users), "ticketer_db": str(tmp_path / "ticketer" / "queue.sqlite"), "refresh_s": 0.5,
                "timezone": "Asia/Shanghai"}
    path = tmp_path / "web-own.toml"
    path.write_text(bus_settings + "[web]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
    config = load_config(str(path), "web", Overrides(broker=broker_url, hall=hall, device="web",
                                                     data_dir=str(tmp_path / "web")), sections=SECTIONS)
    bus = HallBus(config)
    bus.start(wait_s=5.0)
    app = WebApp(config, config.section("web"), bus)
    return ServerThread(create_app(app), "127.0.0.1", free_port()).start(), app


def _login(client: httpx.Client) -> str:
    form = client.get("/admin/login")
    client.post("/admin/login", data={"user": USER, "password": PASSWORD, "csrf": _csrf(form.text)})
    return _csrf(client.get("/admin").text)


# ---------------------------------------------------------------- open and close a service


def test_a_service_is_stopped_and_resumed_from_the_board(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    waiting = hall.take("C")
    with httpx.Client(base_url=hall.url, timeout=10) as client:
        csrf = _login(client)
        assert client.post("/admin/close_service", data={"service": "C"}).status_code == 403
        assert client.post("/admin/close_service", data={"service": "C", "csrf": "forged"}).status_code == 403
        assert hall.take("C")["number"] == "C002"  # nothing was closed
        with client.stream("GET", "/admin/events") as stream:
            events = sse_events(stream.iter_lines())
            _, board = next(events)
            assert board["services"]["C"]["open"] is True
            done = client.post("/admin/close_service", data={"service": "C", "reason": "系统维护", "csrf": csrf})
            assert done.status_code == 303 and "error" not in done.headers["location"]
            while board["services"]["C"].get("closed") != "supervisor":
                _, board = next(events)
        closed = board["services"]["C"]
        assert (closed["open"], closed["closed_by"], closed["closed_reason"]) == (False, USER, "系统维护")
        refused = hall.ask("take_ticket", service="C", source="dispenser-1")
        assert refused["error"]["code"] == "service_closed"
        home = re.search(r'data-service="C">(.*?)</tr>', httpx.get(hall.url + "/").text, re.S).group(1)  # type: ignore[union-attr]
        assert 'data-closed="supervisor"' in home and "已停止取号" in home  # what taxpayers see on their phones
        assert hall.ask("login", counter="2", staff="S2")["ok"]
        assert hall.ask("call_next", counter="2")["ticket"]["number"] == waiting["number"]  # those waiting are served

        page = client.get("/admin")
        assert 'id="close-reason"' in page.text and "停止取号" in page.text
        unknown = client.post("/admin/close_service", data={"service": "Q", "csrf": csrf})
        assert unknown.status_code == 303 and unknown.headers["location"] == "/admin?error=unknown_service"
        assert "没有这项业务" in client.get(unknown.headers["location"]).text

        opened = client.post("/admin/open_service", data={"service": "C", "csrf": csrf}, headers={"accept": "application/json"})
        assert opened.status_code == 200 and opened.json()["service"] == {"code": "C", "open": True}
        assert hall.wait_state(lambda s: s["services"]["C"]["open"])
        assert hall.take("C")["number"] == "C003"
    actions = [a for a in hall.app.recent_actions() if a["action"] in ("close_service", "open_service")]
    assert [(a["action"], a["service"], a["user"], a["ok"]) for a in actions] == \
        [("open_service", "C", USER, True), ("close_service", "Q", USER, False), ("close_service", "C", USER, True)]
    assert actions[2]["reason"] == "系统维护"


# ---------------------------------------------------------------- alarms from before the web started


def test_alarms_raised_before_the_web_started_are_on_the_board_until_cleared(
        ticketer: Callable[..., TicketerService], broker: BrokerProcess, tmp_path: Path) -> None:  # noqa: F811
    engine = ticketer(section(counters=[{"id": "1", "services": ["A", "V"]}, {"id": "2", "services": ["B", "C"]}]))
    engine.engine.take_ticket("t1", "B", "dispenser-1")
    engine.tick()  # raises service_unstaffed:B, as an event nobody is listening to yet
    assert "service_unstaffed:B" in engine.engine.alarms
    server, app = _start_web(tmp_path, broker.url, "test-hall")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            _login(client)
            with client.stream("GET", "/admin/events") as stream:
                events = sse_events(stream.iter_lines())
                _, board = next(events)
                while not board["alarms"]:
                    _, board = next(events)
                assert [(a["kind"], a["severity"]) for a in board["alarms"]] == [("service_unstaffed", "alarm")]
                assert "发票业务" in board["alarms"][0]["message"]
                engine.engine.login("l2", "2", "S2")
                engine.tick()  # cleared
                while board["alarms"]:
                    _, board = next(events)
    finally:
        server.stop()
        app.bus.close(drain_s=0.2)


# ---------------------------------------------------------------- statistics as charts


def test_statistics_are_drawn_as_charts_and_bar_tables_in_both_languages(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    tickets = [hall.take("A"), hall.take("B"), hall.take("A")]
    assert hall.ask("login", counter="5", staff="S5")["ok"] and hall.ask("login", counter="6", staff="S6")["ok"]
    for counter in ("5", "6"):
        hall.ask("call_next", counter=counter)
        hall.ask("finish", counter=counter)
    hall.ask("rate", ticket=tickets[0]["id"], level=5)
    hall.ask("rate", ticket=tickets[1]["id"], level=2)
    hall.ask("call_next", counter="5")
    hall.ask("recall", counter="5")
    assert hall.ask("no_show", counter="5")["ok"]
    with httpx.Client(base_url=hall.url, timeout=10) as client:
        _login(client)
        page = client.get("/admin").text
        served = re.search(r'id="chart-hour-served".*?</figure>', page, re.S).group(0)  # type: ignore[union-attr]
        assert "<svg" in served and "各时段办结与过号" in served
        assert re.search(r'<g class="col" data-label="\d\d" data-value="3">', served)  # 2 served + 1 no-show this hour
        assert served.count('<rect class="c-served"') == 1 and served.count('<rect class="c-noshow"') == 1
        assert 'id="chart-hour-wait"' in page and 'id="chart-hour-service"' in page and 'id="chart-hour-rating"' in page
        assert 'id="chart-ratings"' in page and 'id="chart-day-served"' in page
        counters = re.search(r'id="table-counter".*?</table>', page, re.S).group(0)  # type: ignore[union-attr]
        row5 = re.search(r'<tr data-key="5">(.*?)</tr>', counters, re.S).group(1)  # type: ignore[union-attr]
        figures = re.findall(r'class="figtext">([^<]*)<', row5)
        assert figures[:2] == ["1", "1"] and figures[4] == "5.00"  # served, no-shows, …, mean rating
        staff = re.search(r'id="table-staff".*?</table>', page, re.S).group(0)  # type: ignore[union-attr]
        assert 'data-key="S5"' in staff and 'data-key="S6"' in staff and "不满意" in staff
        assert re.search(r'<tr data-key="B 发票业务">', page)
        english = client.get("/admin?lang=en").text
        assert "Served and no-shows by hour" in english and "By staff member" in english and "Mean wait (min)" in english
        assert "cdn" not in page.lower() and "<script src" not in page  # nothing fetched from elsewhere
        days = client.get("/admin/stats.csv?days=3")
        assert days.status_code == 200 and "3d-to-" in days.headers["content-disposition"]
        lines = days.text.splitlines()
        assert lines[0].startswith("group,key,taken,called,served") and len(lines) == 4
        # today's row last: 3 taken, 3 called, 2 served, 1 no-show
        assert lines[1].startswith("day,") and lines[3].startswith("day,") and ",3,3,2,1," in lines[3]
        assert client.get("/admin/stats.csv?days=400").status_code == 400
        empty = client.get("/admin?date=2020-01-01").text
        assert 'id="no-stats"' in empty and 'id="chart-day-served"' in empty


# ---------------------------------------------------------------- the web's broker account


HALL = "hall-9"


@pytest.fixture(scope="module")
def secured_hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerProcess, Path]]:
    creds = tmp_path_factory.mktemp("creds")
    make_credentials(Plan(HALL, creds, (Account("ticketer", "ticketer"), Account("web", "web"),
                                        Account("counter-1", "counter")), tls=False))
    settings = BrokerSettings(port=free_port(), data_dir=tmp_path_factory.mktemp("broker"), persistence=False,
                              password_file=str(creds / "broker" / "passwd"), acl_file=str(creds / "broker" / "acl"))
    process = BrokerProcess(settings).start()
    yield process, creds
    process.stop()


def _secret(creds: Path, device: str) -> str:
    return (creds / "devices" / device / "mqtt-password").read_text().strip()


def _bus_settings(creds: Path, device: str) -> str:
    return f'[bus]\nusername = "{device}"\npassword_file = "{creds / "devices" / device / "mqtt-password"}"\n'


def test_the_web_account_may_run_the_dashboard_and_nothing_of_a_counter(secured_hall: tuple[BrokerProcess, Path],
                                                                        tmp_path: Path) -> None:
    broker, creds = secured_hall
    ticketer_toml = tmp_path / "ticketer.toml"
    ticketer_toml.write_text(_bus_settings(creds, "ticketer"), encoding="utf-8")
    device: DeviceConfig = load_config(str(ticketer_toml), "ticketer", Overrides(broker=broker.url, hall=HALL, device="ticketer",
                                                                                 data_dir=str(tmp_path / "ticketer-dev")))
    service = TicketerService(Engine(section(), Store(tmp_path / "ticketer" / "queue.sqlite"), event_topic="device/ticketer/event"),
                              HallBus(device))
    service.start()
    server, app = _start_web(tmp_path, broker.url, HALL, _bus_settings(creds, "web"))
    raw = Client(broker.settings.port, "web", _secret(creds, "web")).start()
    try:
        assert app.bus.connected and wait_for(lambda: app.bridge.state is not None)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            csrf = _login(client)
            reply = client.post("/admin/close_service", data={"service": "B", "csrf": csrf}, headers={"accept": "application/json"})
            assert reply.status_code == 200 and reply.json()["service"]["closed_by"] == USER
            assert wait_for(lambda: app.bridge.state["services"]["B"].get("closed") == "supervisor")  # type: ignore[index]
            paused = client.post("/admin/pause", data={"counter": "1", "reason": "x", "csrf": csrf}, headers={"accept": "application/json"})
            assert paused.json()["error"]["code"] == "counter_closed"  # the engine answered: the request got through
        root = f"taxhall/v1/{HALL}"
        assert raw.publish(f"{root}/queue/req/open_service") == 0
        assert raw.publish(f"{root}/queue/req/call_next") == 135  # a counter's work, not the web's
        assert raw.publish(f"{root}/queue/req/take_ticket") == 135
        assert raw.publish(f"{root}/queue/state") == 135
        raw.subscribe(f"{root}/queue/alarms")
        assert raw.got.wait(5) and any(t == f"{root}/queue/alarms" for t, _ in raw.received)  # retained, readable
    finally:
        raw.stop()
        server.stop()
        app.bus.close(drain_s=0.2)
        service.close()


# ---------------------------------------------------------------- a ticket given up at hand-in


def test_an_offline_ticket_given_up_at_hand_in_is_an_alarm_on_the_board(hall_web: Callable[..., HallWeb],
                                                                       bus_factory: Callable[..., HallBus]) -> None:
    import time
    from datetime import datetime, timedelta

    from tests.ticketer_helpers import TZ

    hall = hall_web()
    engine = hall.engine.engine
    engine.clock = lambda: time.time() - 86400  # yesterday: the dispenser leased its numbers then
    dispenser = bus_factory("dispenser-1", role="dispenser")
    numbers = dispenser.request("queue/req/lease", {"source": "dispenser-1", "services": ["A"], "size": 2})["leases"]["A"]["numbers"]
    engine.clock = time.time  # today: the engine was away over the night, the lease has ended
    yesterday = (datetime.now(TZ) - timedelta(days=1)).isoformat(timespec="seconds")  # when the taxpayer took it
    reply = dispenser.request("queue/req/hand_in", {"source": "dispenser-1", "tickets": [
        {"number": numbers[0], "service": "A", "taken_at": yesterday}]}, check=False)
    assert reply["error"]["code"] == "lease_expired"
    hall.engine.tick()
    with httpx.Client(base_url=hall.url, timeout=10) as client:
        _login(client)
        with client.stream("GET", "/admin/events") as stream:
            events = sse_events(stream.iter_lines())
            _, board = next(events)
            while not board["alarms"]:
                _, board = next(events)
    assert [a["kind"] for a in board["alarms"]] == ["offline_ticket_void"]
    assert numbers[0] in board["alarms"][0]["message"] and "dispenser-1" in board["alarms"][0]["message"]
