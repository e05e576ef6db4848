"""`taxhall web` in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright,
never a browser Playwright downloads): a ticket's page turns to "called — go to counter N"
when a counter calls it; the dashboard shows a counter change live and exports a CSV; the
supervisor stops and resumes a service with its button, the statistics drawn beside."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from tests.web_support import PASSWORD, USER, HallWeb, hall_web, ticketer  # noqa: F401




def test_a_ticket_page_turns_to_called_when_a_counter_calls_it(hall_web: Callable[..., HallWeb], browser: Any) -> None:
    hall = hall_web()
    ahead, mine = hall.take("A"), hall.take("A")
    assert hall.ask("login", counter="3", staff="S3")["ok"]
    page = browser.new_page(viewport={"width": 375, "height": 667})  # a small phone
    page.goto(f"{hall.url}/t/{mine['token']}")
    assert page.inner_text("#number") == mine["number"]
    page.wait_for_function("document.querySelector('#ahead') && document.querySelector('#ahead').textContent === '1'")
    assert hall.ask("call_next", counter="3")["ticket"]["id"] == ahead["id"]
    page.wait_for_function("document.querySelector('#ahead') && document.querySelector('#ahead').textContent === '0'")
    assert hall.ask("finish", counter="3")["ok"]
    assert hall.ask("call_next", counter="3")["ticket"]["id"] == mine["id"]
    page.wait_for_selector("#called", timeout=5000)
    assert page.inner_text("#called") == "已叫号 — 请到 3 号窗口"

    english = browser.new_page()
    english.goto(f"{hall.url}/t/{mine['token']}?lang=en")
    english.wait_for_selector("#called")
    assert english.inner_text("#called") == "called — go to counter 3"


def test_dashboard_login_live_counter_and_csv_export(hall_web: Callable[..., HallWeb], browser: Any, tmp_path: Path) -> None:
    hall = hall_web()
    ticket = hall.take("C")
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(f"{hall.url}/admin")
    page.fill("#user", USER)
    page.fill("#password", "wrong")
    page.click("#login")
    assert "用户名或密码错误" in page.inner_text("#error")
    page.fill("#user", USER)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector('tr[data-counter="4"][data-state="closed"]')

    assert hall.ask("login", counter="4", staff="S4")["ok"]
    page.wait_for_selector('tr[data-counter="4"][data-state="idle"]', timeout=5000)
    assert hall.ask("call_next", counter="4")["ticket"]["number"] == ticket["number"]
    page.wait_for_selector('tr[data-counter="4"][data-state="calling"]', timeout=5000)
    assert page.inner_text('tr[data-counter="4"] .ticket') == ticket["number"]
    for op in ("start", "finish"):
        assert hall.ask(op, counter="4")["ok"]

    page.click("#pause-4")  # the supervisor pauses counter 4 from the board
    page.wait_for_selector('tr[data-counter="4"][data-state="paused"]', timeout=5000)
    assert hall.app.recent_actions()[0]["action"] == "pause"

    page.goto(f"{hall.url}/admin")
    with page.expect_download() as download_info:
        page.click("#export")
    saved = tmp_path / "stats.csv"
    download_info.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("group,key,taken,called,served")
    assert any(line.startswith("counter,4,,1,1,") for line in lines), lines
    context.close()


def test_the_supervisor_stops_and_resumes_a_service_from_the_board(hall_web: Callable[..., HallWeb], browser: Any) -> None:
    hall = hall_web()
    hall.take("C")
    assert hall.ask("login", counter="2", staff="S2")["ok"] and hall.ask("call_next", counter="2")["ok"]
    assert hall.ask("finish", counter="2")["ok"]  # a served ticket: the day has statistics to draw
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{hall.url}/admin/login")
    page.fill("#user", USER)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector('tr[data-service="C"][data-open="yes"]')
    chart = page.locator("#chart-hour-served svg").bounding_box()
    assert chart is not None and chart["width"] > 300 and chart["height"] > 100  # drawn, not an empty box

    page.fill("#close-reason", "系统维护")
    page.click("#close-C")
    page.wait_for_selector('tr[data-service="C"][data-closed="supervisor"]', timeout=5000)
    cell = page.inner_text('tr[data-service="C"] .state-cell')
    assert "已停止取号" in cell and USER in cell and "系统维护" in cell
    assert page.is_visible("#open-C") and not page.is_visible("#close-C")
    refused = hall.ask("take_ticket", service="C", source="dispenser-1")
    assert refused["error"]["code"] == "service_closed"

    page.click("#open-C")
    page.wait_for_selector('tr[data-service="C"][data-open="yes"]', timeout=5000)
    assert hall.take("C")["number"] == "C002"  # C001 was served before the stop
    logged = [(a["action"], a.get("reason")) for a in hall.app.recent_actions()[:2]]
    assert logged == [("open_service", None), ("close_service", "系统维护")]
