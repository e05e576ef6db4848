"""The appointment topics under the hall's generated ACL on a real Mosquitto: the web books,
dispensers check in, counters do neither, and only the ticketer reads the requests (so nobody
else sees a taxpayer's number in a `book` request)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from tests.test_fleet_security import Client, password, seen

HALL = "hall-9"
ROOT = f"taxhall/v1/{HALL}"
ACCOUNTS = (Account("ticketer", "ticketer"), Account("web-1", "web"), Account("dispenser-1", "dispenser"),
            Account("counter-1", "counter"), Account("kiosk-1", "kiosk"))


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[dict[str, Client]]:
    creds = tmp_path / "creds"
    make_credentials(Plan(HALL, creds, ACCOUNTS, tls=False))
    broker_dir = creds / "broker"
    process = BrokerProcess(BrokerSettings(port=free_port(), data_dir=tmp_path / "broker", persistence=False,
                                           password_file=str(broker_dir / "passwd"), acl_file=str(broker_dir / "acl"))).start()
    made = {a.name: Client(process.settings.port, a.name, password(creds, a.name)).start() for a in ACCOUNTS}
    assert all(c.connack == 0 for c in made.values())
    made["ticketer"].subscribe(f"{ROOT}/appointments/req/#")
    yield made
    for client in made.values():
        client.stop()
    process.stop()


def test_who_may_book_and_who_may_check_in(clients: dict[str, Client]) -> None:
    web, dispenser, counter, kiosk, ticketer = (clients[n] for n in ("web-1", "dispenser-1", "counter-1", "kiosk-1", "ticketer"))
    for op in ("slots", "book", "lookup", "cancel", "list", "stats"):
        assert web.publish(f"{ROOT}/appointments/req/{op}") == 0, op
    assert seen(ticketer, f"{ROOT}/appointments/req/book")
    assert dispenser.publish(f"{ROOT}/appointments/req/check_in") == 0
    assert kiosk.publish(f"{ROOT}/appointments/req/check_in") == 0
    assert dispenser.publish(f"{ROOT}/appointments/req/book") == 135
    assert dispenser.publish(f"{ROOT}/appointments/req/list") == 135
    assert counter.publish(f"{ROOT}/appointments/req/check_in") == 135
    # A dispenser subscribing to everything still never receives a booking.
    dispenser.subscribe(f"{ROOT}/#")
    assert web.publish(f"{ROOT}/appointments/req/book", b'{"taxpayer": "13812345678"}') == 0
    assert not seen(dispenser, f"{ROOT}/appointments/req/book")
