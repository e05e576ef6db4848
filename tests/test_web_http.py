"""`taxhall web` over HTTP against the real engine and broker: the waiting counts, a ticket's
page and its live updates, the dashboard with its security (passwords, expiry, CSRF, login
throttling, guessed tokens), actions over the bus, statistics as CSV."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import httpx

from taxhall.bus import HallBus
from ticketer.stats import COLUMNS
from tests.ticketer_helpers import Inbox, wait_for
from tests.web_support import PASSWORD, USER, HallWeb, hall_web, sse_events, ticketer  # noqa: F401


def test_home_shows_waiting_per_service_and_whether_open(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    hall.take("A"), hall.take("A"), hall.take("B")
    assert hall.wait_state(lambda s: s["services"]["A"]["waiting"] == 2)
    page = httpx.get(hall.url + "/")
    assert page.status_code == 200
    row = re.search(r'data-service="A">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "综合业务" in row and '<td class="waiting">2</td>' in row and "办理中" in row
    english = httpx.get(hall.url + "/?lang=en")
    assert "Waiting" in english.text and english.cookies.get("lang") == "en"
    # Before coming: a hall whose ticketer keeps no appointment or appeal book links only
    # the pre-filled requests, and says so at once on the others rather than after a time-out.
    links = re.findall(r'<a href="(/[a-z]+)" id="link-', page.text)
    assert links == ["/prepare"] and "来厅之前" in page.text
    assert httpx.get(hall.url + "/prepare").status_code == 200
    for link in ("/book", "/appeal"):
        answer = httpx.get(hall.url + link)
        assert answer.status_code == 404 and "本厅暂未开通这项服务" in answer.text, link


def test_ticket_page_updates_live_when_a_counter_calls_it(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    first, mine = hall.take("A"), hall.take("A")
    page = httpx.get(f"{hall.url}/t/{mine['token']}")
    assert page.status_code == 200 and mine["number"] in page.text and "综合业务" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert hall.ask("login", counter="3", staff="S3")["ok"]
    seen: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{hall.url}/t/{mine['token']}/events", timeout=10) as stream:
        events = sse_events(stream.iter_lines())
        _, status = next(events)
        assert status["state"] == "waiting" and status["ahead"] == 1 and "token" not in status
        threading.Timer(0.2, lambda: hall.ask("call_next", counter="3")).start()  # calls `first`
        _, status = next(events)
        seen.append(status)
        assert status["state"] == "waiting" and status["ahead"] == 0  # the one ahead was called
        assert hall.ask("finish", counter="3")["ok"]
        called_at = time.monotonic()
        assert hall.ask("call_next", counter="3")["ticket"]["id"] == mine["id"]
        _, status = next(events)
        delay = time.monotonic() - called_at
    assert status["state"] == "called" and status["counter"] == "3", status
    assert delay < 1.0, delay
    assert first["id"] != mine["id"]


def test_a_guessed_token_is_refused_and_reveals_nothing(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    real = hall.take("A")
    guesses = [real["token"][:-1] + ("A" if real["token"][-1] != "A" else "B"), "A001", real["id"], "x" * 200, "%00"]
    bodies = set()
    for guess in guesses:
        page = httpx.get(f"{hall.url}/t/{guess}")
        assert page.status_code == 404, guess
        assert real["number"] not in page.text and "A0" not in page.text
        bodies.add(page.text)
        assert httpx.get(f"{hall.url}/t/{guess}/events").status_code == 404
    assert len(bodies) == 1  # the same page whatever was guessed


def test_dashboard_login_with_the_right_password_only(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    with httpx.Client(base_url=hall.url) as client:
        assert client.get("/admin").status_code == 303
        wrong = hall.login(client, password="guess")
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        assert hall.login(client, user="nobody").status_code == 401
        assert client.get("/admin").status_code == 303
        good = hall.login(client)
        assert good.status_code == 303 and good.headers["location"] == "/admin"
        cookie = good.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        board = client.get("/admin")
        assert board.status_code == 200 and USER in board.text and 'id="counters"' in board.text
    stored = hall.app.users_path.read_text()
    assert PASSWORD not in stored and "$argon2id$" in stored


def test_login_is_throttled_after_repeated_failures(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web(login_attempts=3, login_window_s=60)
    with httpx.Client(base_url=hall.url) as client:
        for _ in range(3):
            assert hall.login(client, password="guess").status_code == 401
        blocked = hall.login(client)  # even the right password, within the window
        assert blocked.status_code == 429 and "尝试次数过多" in blocked.text


def test_login_without_its_csrf_token_is_refused(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    with httpx.Client(base_url=hall.url) as client:
        client.get("/admin/login")
        assert client.post("/admin/login", data={"user": USER, "password": PASSWORD}).status_code == 403
        assert client.post("/admin/login", data={"user": USER, "password": PASSWORD, "csrf": "forged"}).status_code == 403


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_actions_need_the_session_csrf_token_and_are_logged(hall_web: Callable[..., HallWeb], bus_factory: Callable[..., HallBus]) -> None:
    hall = hall_web()
    assert hall.ask("login", counter="2", staff="S2")["ok"]
    assert hall.wait_state(lambda s: s["counters"]["2"]["state"] == "idle")
    with httpx.Client(base_url=hall.url) as client:
        hall.login(client)
        csrf = _csrf(client.get("/admin").text)
        assert client.post("/admin/pause", data={"counter": "2", "reason": "meeting"}).status_code == 403
        assert client.post("/admin/pause", data={"counter": "2", "reason": "meeting", "csrf": "x" + csrf}).status_code == 403
        assert hall.app.bridge.state["counters"]["2"]["state"] == "idle"  # type: ignore[index]
        done = client.post("/admin/pause", data={"counter": "2", "reason": "meeting", "csrf": csrf})
        assert done.status_code == 303 and "error" not in done.headers["location"]
        assert hall.wait_state(lambda s: s["counters"]["2"]["state"] == "paused" and s["counters"]["2"]["reason"] == "meeting")

        screens = Inbox()
        bus_factory("display-hall", role="display-hall").subscribe("display/notice", screens)
        assert client.post("/admin/notice", data={"text": "东门临时关闭", "text_en": "East door closed"}).status_code == 403
        assert client.post("/admin/notice", data={"text": "东门临时关闭", "text_en": "East door closed", "csrf": csrf}).status_code == 303
        assert wait_for(lambda: screens.last() is not None and screens.last().text == "东门临时关闭")
        assert screens.items[-1].retained or screens.last().text_en == "East door closed"
    actions = hall.app.recent_actions()
    assert [a["action"] for a in actions][:2] == ["notice", "pause"]
    assert all(a["user"] == USER for a in actions)
    assert actions[1]["counter"] == "2" and actions[1]["ok"] is True


def test_an_expired_session_is_refused(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web(session_idle_s=60)
    with httpx.Client(base_url=hall.url) as client:
        hall.login(client)
        csrf = _csrf(client.get("/admin").text)
        real_clock = hall.app.sessions.clock
        hall.app.sessions.clock = lambda: real_clock() + 61  # a minute and a bit without a request
        assert client.get("/admin").headers["location"] == "/admin/login"
        assert client.get("/admin/events").status_code == 401
        assert client.get("/admin/stats.csv").status_code == 401
        assert client.post("/admin/pause", data={"counter": "1", "reason": "x", "csrf": csrf}).status_code == 401
    assert "pause" not in [a["action"] for a in hall.app.recent_actions()]


def test_board_is_live_and_statistics_export_as_csv(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    ticket = hall.take("B")
    with httpx.Client(base_url=hall.url, timeout=10) as client:
        hall.login(client)
        with client.stream("GET", "/admin/events") as stream:
            events = sse_events(stream.iter_lines())
            _, board = next(events)
            assert board["counters"]["5"]["state"] == "closed"
            hall.ask("login", counter="5", staff="S5")
            while board["counters"]["5"]["state"] != "idle":
                _, board = next(events)
            hall.ask("call_next", counter="5")
            while board["counters"]["5"]["ticket"] != ticket["number"]:
                _, board = next(events)
        for op in ("start", "finish"):
            assert hall.ask(op, counter="5")["ok"]
        csv = client.get("/admin/stats.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0] == ",".join(COLUMNS)
        assert any(line.startswith("counter,5,") for line in lines) and any(line.startswith("hall,all,1,") for line in lines)
        assert "counter" in client.get("/admin").text


def test_the_taxhall_web_process_serves_and_stops_on_sigterm(broker, tmp_path) -> None:  # noqa: ANN001
    import signal
    import subprocess
    import sys

    from taxhall.broker import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "web", "--listen", f"127.0.0.1:{port}", "--broker", broker.url,
                                "--hall", "test-hall", "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["bus"] is True
            except httpx.HTTPError:
                return False
        assert wait_for(healthy, timeout=15), process.stderr.read() if process.poll() is not None else "not up"
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/t/nope", timeout=10).status_code == 503  # no engine on this bus
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    hashed = subprocess.run([sys.executable, "-m", "taxhall.cli", "web", "--hash-password", "--data-dir", str(tmp_path)],
                            input="s3cret\n", capture_output=True, text=True, timeout=30)
    assert hashed.returncode == 0 and hashed.stdout.startswith('password_hash = "$argon2id$'), hashed.stderr


def test_every_web_config_key_is_documented() -> None:
    from pathlib import Path

    from web.config import WebSection

    doc = (Path(__file__).resolve().parent.parent / "docs" / "web.md").read_text(encoding="utf-8")
    for key in WebSection.model_fields:
        assert f"| `{key}` |" in doc, key


def test_an_open_board_does_not_keep_its_session_alive() -> None:
    from web.auth import Sessions

    now = [0.0]
    sessions = Sessions(lifetime_s=3600, idle_s=60, clock=lambda: now[0])
    sid, _ = sessions.open(USER)
    now[0] = 50
    assert sessions.get(sid, touch=False) is not None  # the board's stream checks
    now[0] = 61
    assert sessions.get(sid, touch=False) is None  # idle since login, whatever the stream did
    sid, _ = sessions.open(USER)
    now[0] = 110
    assert sessions.get(sid) is not None  # a request of the user's
    now[0] = 160
    assert sessions.get(sid) is not None
    while now[0] < 61 + 3590:
        now[0] += 50
        assert sessions.get(sid) is not None  # busy all along ...
    now[0] = 61 + 3601
    assert sessions.get(sid) is None  # ... yet the lifetime ends it


def test_alarms_appear_on_the_board_until_cleared(hall_web: Callable[..., HallWeb], bus_factory: Callable[..., HallBus]) -> None:
    from taxhall.bus.schemas import now_iso

    hall = hall_web()
    sensor = bus_factory("ticketer-alarms", role="ticketer")
    alarm = {"at": now_iso(), "kind": "service_unstaffed", "severity": "alarm", "message": "B 发票业务 has 3 waiting and no open counter",
             "data": {"key": "service_unstaffed:B", "service": "B"}}
    with httpx.Client(base_url=hall.url, timeout=10) as client:
        hall.login(client)
        with client.stream("GET", "/admin/events") as stream:
            events = sse_events(stream.iter_lines())
            _, board = next(events)
            assert board["alarms"] == []
            sensor.publish_event("device/ticketer/event", alarm)
            while not board["alarms"]:
                _, board = next(events)
            assert board["alarms"][0]["kind"] == "service_unstaffed" and "no open counter" in board["alarms"][0]["message"]
            sensor.publish_event("device/ticketer/event", {**alarm, "severity": "cleared", "message": "cleared"})
            while board["alarms"]:
                _, board = next(events)


def test_a_ticket_page_follows_its_ticket_to_the_end(hall_web: Callable[..., HallWeb]) -> None:
    hall = hall_web()
    mine = hall.take("V")
    assert hall.ask("login", counter="6", staff="S6")["ok"]
    with httpx.stream("GET", f"{hall.url}/t/{mine['token']}/events", timeout=10) as stream:
        events = sse_events(stream.iter_lines())
        states = [next(events)[1]["state"]]
        assert hall.ask("call_next", counter="6")["ticket"]["id"] == mine["id"]
        states.append(next(events)[1]["state"])
        assert hall.ask("start", counter="6")["ok"]
        states.append(next(events)[1]["state"])
        assert hall.ask("finish", counter="6")["ok"]
        states += [state for _, state in ((e, d["state"]) for e, d in events)]  # the stream ends after "done"
    assert states == ["waiting", "called", "serving", "done"]
    assert httpx.get(f"{hall.url}/t/{mine['token']}").status_code == 404  # served: like any unknown token
