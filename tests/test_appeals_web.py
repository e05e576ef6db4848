"""Appeals on `taxhall web` (real uvicorn, Mosquitto, queue engine and appeals desk): the public
form and lookup (CSRF double-submit, rate limits, zh/en), the dashboard's list, actions with
their history, the CSV ledger, and — in headless Chromium — filing and looking up an appeal on
a phone-sized page."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from taxhall.bus.schemas import now_iso
from tests.ticketer_helpers import wait_for
from tests.web_support import HallWeb, hall_web, ticketer  # noqa: F401
from ticketer.appeals import AppealsDesk, AppealsSection
from ticketer.appeals_book import AppealBook
from ticketer.workdays import WorkCalendar

PHONE = "13912345678"


class Clock:
    """Wall-clock seconds the test moves (the desk's deadlines)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def appeals_web(hall_web: Callable[..., HallWeb], tmp_path: Path, clock: Clock) -> Callable[[], HallWeb]:  # noqa: F811
    def start() -> HallWeb:
        hall = hall_web()
        book = AppealBook(tmp_path / "ticketer" / "appeals.sqlite", AppealsSection(), WorkCalendar(), None)
        hall.engine.add_desk(AppealsDesk(book, hall.engine.bus.publish_event, "device/ticketer/event", clock=clock))
        return hall

    return start


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def file_one(client: httpx.Client, **fields: Any) -> httpx.Response:
    form = client.get("/appeal")
    data = {"csrf": csrf_of(form.text), "category": "waiting", "phrases": ["long_wait"], "description": "", "phone": "", **fields}
    return client.post("/appeal", data=data)


def test_filing_and_looking_up_on_the_web(appeals_web: Callable[[], HallWeb]) -> None:
    hall = appeals_web()
    with httpx.Client(base_url=hall.url) as client:
        assert wait_for(lambda: 'href="/appeal" id="link-appeal"' in client.get("/").text)  # offered on the home page
        form = client.get("/appeal")
        assert form.status_code == 200 and "意见簿" in form.text and "等候时间太长" in form.text
        # Without the form's own token (a post from another site) nothing is filed.
        assert client.post("/appeal", data={"csrf": "forged", "category": "waiting", "phrases": "long_wait"}).status_code == 403
        refused = file_one(client, phrases=[], description="")
        assert refused.status_code == 400 and "请选择常见问题或填写具体情况" in refused.text
        # A phrase of another category (the form shows them all without JavaScript) is left out.
        stray = file_one(client, phrases=["long_wait", "slow"], description="x")
        assert stray.status_code == 303
        assert hall.engine.bus.request("appeals/req/list", {})["appeals"][0]["tags"] == ["waiting", "waiting.long_wait"]
        bad_phone = file_one(client, phone="12ab")
        assert bad_phone.status_code == 400 and "7到15位数字" in bad_phone.text

        filed = file_one(client, description=f"等了两个小时 {PHONE}", phone=PHONE)
        assert filed.status_code == 303
        ref = filed.headers["location"].split("/")[2].split("?")[0]
        shown = client.get(filed.headers["location"])
        assert "已受理" in shown.text and ref in shown.text and "办理中" in shown.text
        assert PHONE not in shown.text and "139****5678" in shown.text  # the description as stored: masked
        assert client.get(f"/appeal/{ref.lower()}?lang=en").text.count("in progress") == 1
        assert "Opinion book" in client.get("/appeal").text  # the language chosen stays
        client.get("/appeal?lang=zh")
        assert client.get(f"/appeal/find?ref={ref}").headers["location"].startswith(f"/appeal/{ref}")

        # An unknown reference and a malformed one get the same page; a guesser is soon stopped.
        missing = client.get("/appeal/ABCD-EFGH-JKMN")
        assert missing.status_code == 404 and "没有找到这条诉求" in missing.text
        assert client.get("/appeal/nonsense").text == missing.text
        for _ in range(8):
            client.get("/appeal/0000-0000-0000")
        assert client.get(f"/appeal/{ref}").status_code == 429
    with httpx.Client(base_url=hall.url) as other:
        # Filing is rate-limited per address too: five an address per ten minutes (two so far).
        assert [file_one(other).status_code for _ in range(4)] == [303, 303, 303, 429]


def test_the_dashboard_owns_reassigns_answers_follows_up_and_exports(appeals_web: Callable[[], HallWeb]) -> None:
    hall = appeals_web()
    with httpx.Client(base_url=hall.url) as public:
        ref = file_one(public, category="invoice", phrases=["slow"], phone=PHONE).headers["location"].split("/")[2].split("?")[0]
    with httpx.Client(base_url=hall.url) as client:
        assert client.get("/admin/appeals").headers["location"] == "/admin/login"
        assert client.get("/admin/appeals.csv").status_code == 401
        hall.login(client)
        listing = client.get("/admin/appeals")
        assert ref in listing.text and "纳税服务组" in listing.text and 'id="nav-appeals"' in listing.text
        page = client.get(f"/admin/appeals/{ref}")
        csrf = csrf_of(page.text)
        assert "139****5678" in page.text and PHONE not in page.text
        # Every action wants the session's CSRF token.
        assert client.post(f"/admin/appeals/{ref}/assign", data={"owner": "发票组", "reason": "x", "csrf": "no"}).status_code == 403
        json_accept = {"accept": "application/json"}
        moved = client.post(f"/admin/appeals/{ref}/assign", data={"owner": "发票组", "reason": "开票机故障", "csrf": csrf},
                            headers=json_accept)
        assert moved.json()["appeal"]["owner"] == "发票组"
        opened = client.post(f"/admin/appeals/{ref}/contact", data={"csrf": csrf})
        assert opened.status_code == 200 and PHONE in opened.text
        done = client.post(f"/admin/appeals/{ref}/answer", data={"answer": "已修复开票机", "tags": "invoice.printer", "csrf": csrf})
        assert done.status_code == 303 and "error" not in done.headers["location"]
        client.post(f"/admin/appeals/{ref}/follow_up", data={"kind": "return_visit", "satisfaction": "5", "note": "满意", "csrf": csrf})
        page = client.get(f"/admin/appeals/{ref}").text
        assert "已办结" in page and "非常满意" in page
        for action in ("filed", "reassigned", "contact_opened", "answered", "return_visit"):
            assert action in page
        assert "zhang" in page  # who did it

        analysis = client.get("/admin/appeals?state=all").text
        assert 'id="per-category"' in analysis and "<td>发票</td>" in analysis and "近 8 周 · 共 1 件" in analysis
        ledger = client.get("/admin/appeals.csv")
        rows = list(csv.DictReader(io.StringIO(ledger.text.lstrip("\ufeff"))))
        assert rows[0]["ref"] == ref and rows[0]["phone"] == "139****5678" and rows[0]["satisfaction"] == "5"
        assert "reassigned by zhang" in rows[0]["history"] and PHONE not in ledger.text
    actions = [a["action"] for a in hall.app.recent_actions()]
    assert {"appeal_assign", "appeal_contact", "appeal_answer", "appeal_follow_up", "export_appeals"} <= set(actions)
    assert PHONE not in hall.app.actions_path.read_text(encoding="utf-8")


def test_an_overdue_appeal_shows_on_the_dashboard(appeals_web: Callable[[], HallWeb], clock: Clock) -> None:
    hall = appeals_web()
    with httpx.Client(base_url=hall.url) as public:
        ref = file_one(public, category="refund", phrases=["late"]).headers["location"].split("/")[2].split("?")[0]
    clock.now += 8 * 86400  # more than one working day later, whatever the weekday
    hall.engine.tick()
    assert wait_for(lambda: any(a["kind"] == "appeal_overdue" and ref in a["message"] for a in hall.app.bridge.board()["alarms"]))
    # The engine republishes its own (queue) alarms, as on any change of them: the appeal's stays.
    hall.engine.bus.publish("queue/alarms", {**hall.engine.engine.alarm_snapshot(), "at": now_iso()}, qos=1, retain=True)
    # A notice sent after it arrives after it: once the notice is seen, the snapshot was handled.
    hall.engine.bus.publish("display/notice", {"text": "测试", "text_en": "test", "at": now_iso(), "by": "test"}, qos=1, retain=True)
    assert wait_for(lambda: (hall.app.bridge.notice or {}).get("text") == "测试")
    assert any(a["kind"] == "appeal_overdue" for a in hall.app.bridge.board()["alarms"])
    with httpx.Client(base_url=hall.url) as client:
        hall.login(client)
        listing = client.get("/admin/appeals").text
        assert re.search(rf'<tr class="paused" data-ref="{ref}">', listing) and "已超期" in listing
        assert re.search(r'id="overdue-count">1<', listing)
        csrf = csrf_of(client.get(f"/admin/appeals/{ref}").text)
        client.post(f"/admin/appeals/{ref}/answer", data={"answer": "已到账", "csrf": csrf})
    assert wait_for(lambda: not any(a["kind"] == "appeal_overdue" for a in hall.app.bridge.board()["alarms"]))


# ---------------------------------------------------------------- headless Chromium



def test_filing_and_looking_up_an_appeal_in_chromium(appeals_web: Callable[[], HallWeb], browser: Any) -> None:
    hall = appeals_web()
    page = browser.new_page(viewport={"width": 375, "height": 667})  # a small phone
    page.goto(f"{hall.url}/appeal")
    page.select_option("#category", "system")
    # Only the chosen category's preset phrases are offered.
    assert page.is_visible("#phrase-system-kiosk_down") and not page.is_visible("#phrase-invoice-slow")
    page.check("#phrase-system-kiosk_down")
    page.fill("#description", "2号自助机黑屏")
    page.fill("#phone", PHONE)
    page.click("#submit")
    page.wait_for_selector("#filed")
    ref = page.inner_text("#ref")
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", ref)
    assert page.inner_text("#category") == "系统故障" and page.inner_text("#status") == "办理中"

    with httpx.Client(base_url=hall.url) as client:
        hall.login(client)
        csrf = csrf_of(client.get(f"/admin/appeals/{ref}").text)
        client.post(f"/admin/appeals/{ref}/answer", data={"answer": "已重启自助机", "csrf": csrf})

    later = browser.new_page(viewport={"width": 375, "height": 667})
    later.goto(f"{hall.url}/appeal?lang=en")
    later.fill("#lookup-ref", ref.lower().replace("-", " "))
    later.click("#lookup")
    later.wait_for_selector("#appeal")
    assert later.inner_text("#status") == "answered" and later.inner_text("#answer") == "已重启自助机"
    assert later.inner_text("#category") == "System fault"
    # The taxpayer says how satisfied they are with the answer, once.
    later.click("#rate-4")
    later.wait_for_selector("#rated")
    assert later.inner_text("#rated") == "Thank you for your rating" and not later.is_visible("#rate")
    with httpx.Client(base_url=hall.url) as client:
        hall.login(client)
        got = client.get(f"/admin/appeals/{ref}").text
        assert "taxpayer (web)" in got and "满意" in got
    assert hall.engine.bus.request("appeals/req/get", {"ref": ref})["appeal"]["satisfaction"] == 4
