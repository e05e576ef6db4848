"""The kiosk around the flows, without a window: language and elder mode, voice prompts, the
idle count-down that wipes the visit, guides, and the kiosk on a real broker — remote
out_of_service / in_service, guides over the bus, component health in its status, the queue
tile against the real queue engine — and privacy across data dir, log and bus."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kiosk.guides import GuideBook
from kiosk.remote import BusQueue, KioskRemote
from kiosk.session import Flow, Screen, Session
from kiosk.voice import Speaker
from kiosk.words import WORDS
from taxhall.broker import BrokerProcess
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig
from tests.kiosk_support import LI, ZHANG, Rig, make_rig, wait_for

ZHANG_NAME, ZHANG_ID = "张伟", "110108198805200519"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    yield made
    made.close()


def test_every_word_has_both_languages() -> None:
    assert all(zh.strip() and en.strip() for zh, en in WORDS.values())


def test_language_elder_mode_and_the_idle_wipe(rig: Rig) -> None:
    kiosk = rig.kiosk
    kiosk.toggle_lang()
    kiosk.toggle_elder()
    assert rig.view.lang == "en" and rig.view.elder
    kiosk.open_tile(Flow.CERTIFICATE)
    rig.card(LI)
    rig.poll()
    kiosk.flows.certificate.search()
    assert rig.view.session.records and rig.view.session.person is not None
    # elder mode waits longer: nothing shown at the standard time-out
    rig.clock.advance(kiosk.settings.idle_timeout_s + 1)
    kiosk.tick()
    assert rig.screen == Screen.CERT_RECORDS and rig.view.countdown is None
    rig.clock.advance(kiosk.settings.elder_idle_timeout_s - kiosk.settings.idle_timeout_s - 10)
    kiosk.tick()
    assert rig.view.countdown == 9
    kiosk.touch()  # "Continue"
    assert rig.view.countdown is None and rig.screen == Screen.CERT_RECORDS
    rig.clock.advance(kiosk.settings.elder_idle_timeout_s + 0.5)
    kiosk.tick()
    view = rig.view
    assert view.screen == Screen.HOME and view.session == Session() and view.notice is None
    assert view.lang == "zh" and not view.elder  # the next person starts afresh
    assert not any(v.session.person for v in rig.views[-1:])


def test_idle_wipe_in_the_middle_of_a_scan_and_a_notice(rig: Rig) -> None:
    kiosk = rig.kiosk
    kiosk.open_tile(Flow.SELF_INVOICE)
    rig.card(ZHANG)
    rig.poll()
    rig.scan("not a header")
    assert rig.view.notice is not None and rig.view.session.person is not None
    rig.clock.advance(kiosk.settings.idle_timeout_s)
    kiosk.tick()
    assert rig.screen == Screen.HOME and rig.view.session.person is None and rig.view.notice is None


def test_elder_mode_speaks_each_screen(tmp_path: Path) -> None:
    speaker = Speaker(player="", out_dir=tmp_path / "voice")
    rig = make_rig(tmp_path, speaker=speaker)
    try:
        rig.kiosk.toggle_elder()
        rig.kiosk.open_tile(Flow.CHECK)
        assert speaker.wait_idle(20)
        assert speaker.made and speaker.made[-1].stat().st_size > 10_000  # a WAV of the scan prompt
    finally:
        speaker.close()
        rig.close()


def test_guides_search_open_and_back(rig: Rig) -> None:
    kiosk = rig.kiosk
    kiosk.open_tile(Flow.GUIDES)
    for key in "FAPIAO":
        kiosk.flows.guides.press(key)
    assert rig.view.session.guide_query == "FAPIAO" and rig.view.guides[0].id == "self-invoice"
    kiosk.flows.guides.keyword("社保")
    assert [g.id for g in rig.view.guides] == ["social-insurance"]
    kiosk.flows.guides.open("social-insurance")
    assert rig.screen == Screen.GUIDE and rig.view.guide.id == "social-insurance"
    kiosk.back()
    assert rig.screen == Screen.GUIDES and rig.view.guide is None


def _kiosk_on_bus(rig: Rig, bus: HallBus, state_path: Path) -> KioskRemote:
    kiosk = rig.kiosk

    def close(message: str) -> None:
        kiosk.close_for_service(message)
        remote.report()

    def reopen() -> None:
        kiosk.reopen()
        remote.report()

    remote = KioskRemote(bus, rig.board, kiosk.guides, lambda fn, *a: fn(*a), close, reopen, lambda: kiosk.closed, state_path)
    rig.board.on_change = remote.report
    remote.attach()
    return remote


@pytest.fixture
def kiosk_bus(rig: Rig, device_config: Callable[..., DeviceConfig]) -> Iterator[Callable[[str], HallBus]]:
    """The kiosk's own bus client: its status carries the board's component health."""
    made: list[HallBus] = []

    def start(name: str) -> HallBus:
        bus = HallBus(device_config(name, "kiosk"), components=rig.board.components).start(wait_s=5)
        made.append(bus)
        return bus

    yield start
    for bus in made:
        bus.close(drain_s=0.5)


def test_remote_commands_guides_and_health_on_the_bus(rig: Rig, bus_factory: Callable[..., HallBus],
                                                       kiosk_bus: Callable[[str], HallBus]) -> None:
    bus = kiosk_bus("kiosk-7")
    remote = _kiosk_on_bus(rig, bus, rig.data_dir / "kiosk-service.json")
    operator = bus_factory("operator")
    statuses: list[dict[str, object]] = []
    operator.subscribe("device/kiosk-7/status", lambda m: statuses.append(m.data.model_dump()))
    events: list[str] = []
    operator.subscribe("device/kiosk-7/event", lambda m: events.append(f"{m.data.kind}:{m.data.severity}"))
    remote.report()
    assert wait_for(lambda: bool(statuses) and set(statuses[-1]["components"]) >= {"printer", "gateway", "idreader", "scanner"})

    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.card(LI)
    rig.poll()
    reply = operator.request("device/kiosk-7/cmd/out_of_service", {"args": {"message": "维护中，请使用2号机"}})
    assert reply["ok"] and reply["state"] == "out_of_service"
    view = rig.view
    assert view.screen == Screen.CLOSED and view.closed_message == "维护中，请使用2号机" and view.session.person is None
    assert wait_for(lambda: statuses[-1]["state"] == "out_of_service")
    rig.kiosk.open_tile(Flow.GUIDES)
    assert rig.screen == Screen.CLOSED
    assert json.loads((rig.data_dir / "kiosk-service.json").read_text())["closed"]  # survives a restart
    bad = operator.request("device/kiosk-7/cmd/out_of_service", {"args": {"message": 42}}, check=False)
    assert not bad["ok"] and bad["error"]["code"] == "bad_request"
    assert operator.request("device/kiosk-7/cmd/in_service", {})["ok"]
    assert rig.screen == Screen.HOME and wait_for(lambda: statuses[-1]["state"] == "online")

    # the reader fails: the status says degraded, an event says why
    rig.reader.unplug()
    rig.kiosk.open_tile(Flow.CERTIFICATE)
    rig.poll()
    assert wait_for(lambda: statuses[-1]["state"] == "degraded" and "idreader_fault:alarm" in events)

    # new guides, retained: taken once, an older version ignored
    manifest = {"version": 7, "entries": [{"id": "new", "title": "新指南", "answer": "新的答案"}], "popular": ["新"]}
    operator.publish("kiosk/guides", manifest, qos=1, retain=True)
    assert wait_for(lambda: rig.kiosk.guides.manifest.version == 7)
    operator.publish("kiosk/guides", {**manifest, "version": 3, "entries": [{"id": "old", "title": "旧", "answer": "旧"}]}, qos=1)
    operator.publish("kiosk/guides", {"version": 9, "entries": []}, qos=1)  # invalid: ignored
    time.sleep(0.3)
    assert rig.kiosk.guides.manifest.version == 7 and (rig.data_dir / "guides.json").exists()
    assert GuideBook(rig.data_dir / "guides.json").manifest.version == 7  # kept for a start without the broker


def test_queue_tile_takes_a_ticket_from_the_real_engine(rig: Rig, broker: BrokerProcess, tmp_path: Path,
                                                         device_config: Callable[..., DeviceConfig],
                                                         bus_factory: Callable[..., HallBus]) -> None:
    engine = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "ticketer", "--broker", broker.url, "--hall", "test-hall",
                               "--device", "ticketer", "--data-dir", str(tmp_path / "ticketer")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bus = bus_factory("kiosk-q", role="kiosk")
        queue = BusQueue(bus)
        queue.on_change = rig.kiosk.refresh
        queue.attach()
        rig.kiosk.queue = queue
        assert wait_for(lambda: queue.services() is not None, 20), "no queue state from the engine"
        rig.kiosk.refresh()
        assert next(t for t in rig.view.tiles if t.flow == Flow.QUEUE).enabled
        rig.kiosk.toggle_elder()
        rig.kiosk.open_tile(Flow.QUEUE)
        assert {s.code for s in rig.view.queue} >= {"A", "B", "C"} and rig.view.queue_take
        rig.kiosk.flows.queue.take("B")
        view = rig.view
        assert view.screen == Screen.QUEUE_DONE and view.session.ticket.number.startswith("B") and view.session.ticket.printed
        text = "\n".join(rig.pages(1)[0].text_lines())
        assert view.session.ticket.number in text and "发票业务" in text
        assert wait_for(lambda: next(s for s in queue.services() if s.code == "B").waiting == 1)
        rig.kiosk.finish()
        assert rig.view.session.ticket is None
    finally:
        engine.terminate()
        engine.wait(timeout=10)


def test_privacy_after_a_certificate_and_an_invoice(rig: Rig, bus_factory: Callable[..., HallBus],
                                                    kiosk_bus: Callable[[str], HallBus],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bus = kiosk_bus("kiosk-p")
    remote = _kiosk_on_bus(rig, bus, rig.data_dir / "kiosk-service.json")
    seen: list[str] = []
    bus_factory("spy").subscribe("#", lambda m: seen.append(f"{m.topic} {m.data!r}"))
    kiosk = rig.kiosk
    kiosk.open_tile(Flow.CERTIFICATE)
    rig.card(ZHANG)
    rig.poll()
    kiosk.flows.certificate.choose_period("last_36m")
    kiosk.flows.certificate.search()
    kiosk.flows.certificate.print_certificate()
    assert rig.screen == Screen.CERT_DONE and rig.view.notice is None
    kiosk.finish()
    kiosk.open_tile(Flow.SELF_INVOICE)
    rig.poll()
    kiosk.flows.buyer.individual()
    kiosk.flows.self_invoice.choose_category("labour")
    for key in "800":
        kiosk.flows.self_invoice.press(key)
    kiosk.flows.self_invoice.compute()
    kiosk.flows.self_invoice.confirm()
    assert rig.screen == Screen.SELF_DONE
    remote.report()
    time.sleep(0.5)
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "identified 110***********0519 by card" in logged
    for secret in (ZHANG_NAME, ZHANG_ID):
        assert secret not in logged
        assert not any(secret in line for line in seen)
        for path in rig.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path.name
    assert ZHANG_ID in "\n".join(rig.pages(2)[1].text_lines())  # on paper only: the taxpayer's own proof
