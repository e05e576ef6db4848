"""Appointments on the web: `/book` and `/book/{code}` over real HTTP against the web app on a
loopback port, the ticketer's appointment desk on a real Mosquitto and real SQLite files.
The public forms refuse a post without their CSRF cookie, bookings and code misses are limited
per client address, and the dashboard's appointment page and CSV need a login."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from taxhall.broker import free_port
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig, Overrides, load_config
from tests.ticketer_helpers import wait_for
from ticketer.appointments import AppointmentsSection, open_desk
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.service import TicketerService
from ticketer.store import Store
from ticketer.workdays import WorkCalendar
from web.app import ServerThread, WebApp, create_app
from web.auth import hash_password
from web.booking import BOOKINGS_PER_ADDRESS, LOOKUP_MISSES
from web.config import SECTIONS

USER, PASSWORD = "li", "值班 password 7"
ZONE = ZoneInfo("Asia/Shanghai")


class BookingSite:
    def __init__(self, url: str, service: TicketerService, dispenser: HallBus) -> None:
        self.url, self.service, self.dispenser = url, service, dispenser

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    def tomorrow(self) -> str:
        return (datetime.now(ZONE).date() + timedelta(days=1)).isoformat()

    def login(self, client: httpx.Client) -> None:
        form = client.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        assert client.post("/admin/login", data={"user": USER, "password": PASSWORD, "csrf": csrf}).status_code == 303


@pytest.fixture
def site(device_config: Callable[..., DeviceConfig], bus_factory: Callable[..., HallBus],
         broker: Any, tmp_path: Path) -> Iterator[Callable[..., BookingSite]]:
    running: list[tuple[TicketerService, ServerThread, HallBus]] = []

    def start(**appointments: Any) -> BookingSite:
        engine = Engine(TicketerSection.model_validate({"timezone": "Asia/Shanghai"}), Store(tmp_path / "ticketer" / "queue.sqlite"))
        # Every day a working day but the day after tomorrow, a holiday: the page must not offer it.
        holiday = datetime.now(ZONE).date() + timedelta(days=2)
        calendar = WorkCalendar(frozenset(), frozenset({holiday}), frozenset())
        desk = open_desk(AppointmentsSection.model_validate({"capacity": 2, **appointments}), engine, tmp_path, calendar)
        service = TicketerService(engine, HallBus(device_config("ticketer", "ticketer")))
        service.add_desk(desk)
        service.start()
        users = tmp_path / "users.toml"
        users.write_text(f'[users.{USER}]\npassword_hash = "{hash_password(PASSWORD)}"\n', encoding="utf-8")
        path = tmp_path / "web.toml"
        settings = {"users_file": str(users), "ticketer_db": str(tmp_path / "ticketer" / "queue.sqlite"), "timezone": "Asia/Shanghai"}
        path.write_text("[web]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
        config = load_config(str(path), "web", Overrides(broker=broker.url, hall="test-hall", device="web",
                                                         data_dir=str(tmp_path / "web")), sections=SECTIONS)
        bus = HallBus(config)
        bus.start(wait_s=5.0)
        server = ServerThread(create_app(WebApp(config, config.section("web"), bus)), "127.0.0.1", free_port()).start()
        running.append((service, server, bus))
        return BookingSite(server.url, service, bus_factory("dispenser-1", role="dispenser"))

    yield start
    for service, server, bus in running:
        server.stop()
        bus.close(drain_s=0.5)
        service.close()


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def test_a_booking_through_the_pages(site: Callable[..., BookingSite]) -> None:
    s = site()
    day = s.tomorrow()
    with s.client() as client:
        assert wait_for(lambda: 'href="/book" id="link-book"' in client.get("/").text)  # offered on the home page
        services = client.get("/book")
        assert services.status_code == 200 and 'id="service-B"' in services.text and "发票业务" in services.text
        days = client.get("/book", params={"service": "B", "day": day})
        holiday = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        assert re.search(rf'class="choice off"[^>]*id="day-{holiday}"', days.text)  # the holiday is not offered
        assert 'id="slot-1000" data-remaining="2"' in days.text and "剩余 2 个" in days.text
        form = client.get("/book", params={"service": "B", "day": day, "slot": "10:00"})
        fields = form_fields(form.text)
        assert set(fields) == {"csrf", "form_id", "service", "day", "slot"}

        # Without the cookie the form's token is worth nothing (a post from another site).
        with s.client() as stranger:
            assert stranger.post("/book", data={**fields, "taxpayer": "13812345678"}).status_code == 403

        done = client.post("/book", data={**fields, "taxpayer": "138 1234 5678"})
        assert done.status_code == 303
        location = done.headers["location"]
        code = re.fullmatch(r"/book/(\d{9})\?new=1", location).group(1)  # type: ignore[union-attr]
        again = client.post("/book", data={**fields, "taxpayer": "138 1234 5678"})  # sent twice: booked once
        assert again.headers["location"] == location
        shown = client.get(location)
        assert shown.status_code == 200 and "预约成功" in shown.text and "<svg" in shown.text
        assert f"{code[:3]}-{code[3:6]}-{code[6:]}" in shown.text and "138****5678" in shown.text
        assert "13812345678" not in shown.text
        assert shown.headers["cache-control"] == "no-store"

        full = client.post("/book", data={**form_fields(client.get("/book", params={"service": "B", "day": day, "slot": "10:00"}).text),
                                          "taxpayer": "13812345678"})
        assert full.status_code == 409 and "您已预约了这个时段" in full.text

        english = client.get(f"/book/{code}", params={"lang": "en"})
        assert "Appointment code" in english.text and "Invoices" in english.text

        cancel_token = form_fields(shown.text)["csrf"]
        assert client.post(f"/book/{code}/cancel", data={"csrf": "forged"}).status_code == 403
        cancelled = client.post(f"/book/{code}/cancel", data={"csrf": cancel_token})
        assert cancelled.status_code == 303
        assert "已取消" in client.get(f"/book/{code}", params={"lang": "zh"}).text
        assert 'id="slot-1000" data-remaining="2"' in client.get("/book", params={"service": "B", "day": day}).text


def test_unknown_codes_look_alike_and_are_limited_per_address(site: Callable[..., BookingSite]) -> None:
    s = site()
    with s.client() as client:
        mistyped, unknown = client.get("/book/123456789"), client.get("/book/000000000")
        assert mistyped.status_code == unknown.status_code == 404
        assert mistyped.text == unknown.text
        for _ in range(LOOKUP_MISSES - 2):
            assert client.get("/book/000000000").status_code == 404
        assert client.get("/book/000000000").status_code == 429


def test_bookings_are_limited_per_client_address(site: Callable[..., BookingSite]) -> None:
    s = site(capacity=50, max_open=20)
    with s.client() as client:
        fields = form_fields(client.get("/book", params={"service": "A", "day": s.tomorrow(), "slot": "14:00"}).text)
        for n in range(BOOKINGS_PER_ADDRESS):
            assert client.post("/book", data={**fields, "form_id": f"{n:032x}", "taxpayer": f"1380000{n:04d}"}).status_code == 303
        refused = client.post("/book", data={**fields, "form_id": "f" * 32, "taxpayer": "13900000000"})
        assert refused.status_code == 429 and "预约次数过多" in refused.text


def test_the_dashboard_page_and_csv_need_a_login(site: Callable[..., BookingSite]) -> None:
    s = site()
    day = s.tomorrow()
    s.dispenser.request("appointments/req/lookup", {"code": "000000000"}, check=False)
    with s.client() as client:
        assert client.get("/admin/appointments").status_code == 303
        assert client.get("/admin/appointments.csv", params={"first": day, "last": day}).status_code == 401
        fields = form_fields(client.get("/book", params={"service": "C", "day": day, "slot": "09:30"}).text)
        code = client.post("/book", data={**fields, "taxpayer": "91310115MA1K4FQX3N"}).headers["location"].split("/")[2][:9]
        s.login(client)
        board = client.get("/admin/appointments", params={"day": day})
        assert board.status_code == 200 and 'id="nav-appointments"' in board.text
        assert 'data-slot="09:30" data-service="C"' in board.text and "913***********QX3N" in board.text
        assert code not in board.text  # whole codes stay with their holders
        exported = client.get("/admin/appointments.csv", params={"first": day, "last": day})
        assert exported.status_code == 200
        assert exported.text.splitlines() == ["day,bookings,checked_in,no_show,cancelled,open", f"{day},1,0,0,0,1"]
