"""The appeals topics under the hall's generated credentials on a real Mosquitto: kiosks and
counter callers may file an appeal (and read the categories), only the web may read appeals,
act on them or open a taxpayer's phone number."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus, RequestTimeout
from tests.test_fleet_security import HALL, bus_for
from ticketer.appeals import AppealsDesk, AppealsSection
from ticketer.appeals_book import AppealBook
from ticketer.workdays import WorkCalendar

ACCOUNTS = (Account("ticketer", "ticketer"), Account("kiosk-1", "kiosk"), Account("counter-1", "counter"),
            Account("web-1", "web"), Account("dispenser-1", "dispenser"))


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("creds")
    make_credentials(Plan(HALL, out, ACCOUNTS, tls=False))
    return out


@pytest.fixture(scope="module")
def secured(creds: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker_dir = creds / "broker"
    settings = BrokerSettings(port=free_port(), data_dir=tmp_path_factory.mktemp("broker"), persistence=False,
                              password_file=str(broker_dir / "passwd"), acl_file=str(broker_dir / "acl"))
    process = BrokerProcess(settings).start()
    yield process
    process.stop()


def test_who_may_file_and_who_may_read_appeals(secured: BrokerProcess, creds: Path, tmp_path: Path) -> None:
    engine = bus_for(secured, creds, tmp_path, "ticketer", "ticketer")
    book = AppealBook(tmp_path / "appeals.sqlite", AppealsSection(), WorkCalendar(), None)
    desk = AppealsDesk(book, engine.publish_event, "device/ticketer/event")
    for suffix, respond in desk.requests().items():
        engine.serve(suffix, respond)
    buses: list[HallBus] = [engine]
    try:
        kiosk, counter, web, dispenser = (bus_for(secured, creds, tmp_path, name, role) for name, role in
                                          (("kiosk-1", "kiosk"), ("counter-1", "counter"), ("web-1", "web"),
                                           ("dispenser-1", "dispenser")))
        buses += [kiosk, counter, web, dispenser]
        assert kiosk.request("appeals/req/catalog", {})["categories"]
        ref = kiosk.request("appeals/req/file", {"category": "waiting", "channel": "kiosk", "source": "kiosk-1",
                                                 "phrases": ["long_wait"], "phone": "13912345678"})["appeal"]["ref"]
        assert counter.request("appeals/req/file", {"category": "conduct", "channel": "counter", "source": "counter-1",
                                                    "counter": "1", "staff": "S1", "description": "rude"})["ok"]
        # Reading and acting on appeals is the web's: the broker drops anyone else's request.
        for bus in (kiosk, counter):
            for op, body in (("get", {"ref": ref}), ("list", {}), ("contact", {"ref": ref, "by": "x"}),
                             ("answer", {"ref": ref, "answer": "x", "by": "x"})):
                with pytest.raises(RequestTimeout):
                    bus.request(f"appeals/req/{op}", body, timeout_s=1.0)
        with pytest.raises(RequestTimeout):
            dispenser.request("appeals/req/file", {"category": "waiting", "channel": "kiosk", "source": "dispenser-1",
                                                   "phrases": ["long_wait"]}, timeout_s=1.0)
        assert web.request("appeals/req/contact", {"ref": ref, "by": "li"})["phone"] == "13912345678"
        assert len(web.request("appeals/req/list", {})["appeals"]) == 2
        assert web.request("appeals/req/answer", {"ref": ref, "answer": "已增开窗口", "by": "li"})["ok"]
    finally:
        for bus in buses:
            bus.close(drain_s=0.2)
        book.close()
