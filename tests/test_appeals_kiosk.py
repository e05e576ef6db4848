"""The kiosk's 意见簿 tile against the real `taxhall ticketer` process (its appeals desk from
the [appeals] config) on Mosquitto, with the printer, reader and scanner simulators: a taxpayer
files an appeal by category, preset phrase, keyboard text and phone, takes the printed receipt,
and the appeal then lives on — owned, reassigned, answered, followed up."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from kiosk.appeal import BusAppeals
from kiosk.session import Flow, Screen, Session
from taxhall.broker import BrokerProcess
from taxhall.bus import BusError, HallBus
from tests.kiosk_support import Rig, make_rig, wait_for

PHONE = "13912345678"
CONFIG = """[appeals]
intake_owner = "纳税服务组"
[[appeals.categories]]
tag = "system"
name = "系统故障"
name_en = "System fault"
phrases = {kiosk_down = ["自助机不能使用", "Kiosk out of order"], slow = ["系统太慢", "System too slow"]}
[[appeals.categories]]
tag = "conduct"
name = "服务态度"
name_en = "Staff conduct"
days = 2
"""


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    yield made
    made.close()


@pytest.fixture
def engine(broker: BrokerProcess, tmp_path: Path) -> Iterator[None]:
    config = tmp_path / "ticketer.toml"
    config.write_text(CONFIG, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "ticketer", "--config", str(config), "--broker", broker.url,
                                "--hall", "test-hall", "--device", "ticketer", "--data-dir", str(tmp_path / "ticketer")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield
    process.terminate()
    _, err = process.communicate(timeout=10)
    assert PHONE not in err.decode("utf-8", "replace")  # the engine's log never has the clear number


def desk_answers(bus: HallBus) -> bool:
    try:
        return bool(bus.request("appeals/req/catalog", {}, timeout_s=1.0, check=False).get("ok"))
    except BusError:  # the engine is still starting
        return False


def type_on(rig: Rig, keys: str) -> None:
    for key in keys:
        rig.kiosk.flows.appeal.press("space" if key == " " else key)


def test_an_appeal_filed_on_the_kiosk_lives_on(rig: Rig, engine: None, bus_factory: Callable[..., HallBus]) -> None:
    kiosk_bus = bus_factory("kiosk-t", role="kiosk")
    rig.kiosk.appeals = BusAppeals(kiosk_bus)
    rig.kiosk.refresh()
    assert next(t for t in rig.view.tiles if t.flow == Flow.APPEAL).enabled
    web = bus_factory("web", role="web")
    assert wait_for(lambda: desk_answers(web), 30), "the ticketer's appeals desk did not answer"

    rig.kiosk.open_tile(Flow.APPEAL)
    assert rig.screen == Screen.APPEAL and [c.tag for c in rig.view.session.appeal.categories] == ["system", "conduct"]
    appeal = rig.kiosk.flows.appeal
    appeal.next()
    assert rig.view.notice.title.zh == "请先选择类别" and rig.screen == Screen.APPEAL
    rig.kiosk.dismiss_notice()
    appeal.choose_category("system")
    appeal.toggle_phrase("kiosk_down")
    appeal.toggle_phrase("nonsense")  # not a phrase of this category: nothing happens
    assert rig.view.session.appeal.phrases == ("kiosk_down",)
    appeal.next()
    assert rig.screen == Screen.APPEAL_TEXT
    type_on(rig, "NO 2 SCREEN")
    appeal.focus("phone")
    type_on(rig, "1391234567X8")  # a letter on the phone field is ignored
    assert rig.view.session.appeal.text == "NO 2 SCREEN" and rig.view.session.appeal.phone == PHONE
    appeal.submit()
    view = rig.view
    assert view.screen == Screen.APPEAL_DONE, view.notice
    draft = view.session.appeal
    assert draft.ref and draft.printed and draft.phone == ""  # the number is gone from the screen's memory too
    printed = rig.pages(1)[0]
    text = "\n".join(printed.text_lines())
    assert draft.ref in text and "意见簿回执" in text and "系统故障" in text and PHONE not in text
    assert printed.qr_payloads() == [f"http://127.0.0.1:8080/appeal/{draft.ref}"]
    ref = draft.ref
    rig.kiosk.finish()
    assert rig.view.session == Session()

    def ask(op: str, **fields: Any) -> dict[str, Any]:
        return web.request(f"appeals/req/{op}", fields, check=False)

    got = ask("get", ref=ref)["appeal"]
    assert got["channel"] == "kiosk" and got["source"] == "kiosk-t" and got["owner"] == "纳税服务组"
    assert got["description"] == "NO 2 SCREEN" and got["tags"] == ["system", "system.kiosk_down"] and got["phone"] == "139****5678"
    assert ask("assign", ref=ref, owner="信息中心", by="zhang", reason="自助机硬件")["ok"]
    assert ask("answer", ref=ref, answer="已更换显示屏", by="it-wu")["ok"]
    assert ask("contact", ref=ref, by="li", reason="回访")["phone"] == PHONE
    assert ask("follow_up", ref=ref, kind="return_visit", by="li", satisfaction=5, note="已解决")["ok"]
    history = [(h["action"], h["by"]) for h in ask("get", ref=ref)["appeal"]["history"]]
    assert history == [("filed", "纳税服务组"), ("reassigned", "zhang"), ("answered", "it-wu"), ("contact_opened", "li"),
                       ("return_visit", "li")]


def test_the_tile_says_so_when_the_desk_cannot_be_reached(rig: Rig, bus_factory: Callable[..., HallBus]) -> None:
    rig.kiosk.appeals = BusAppeals(bus_factory("kiosk-t", role="kiosk"), timeout_s=1.0)  # no ticketer on this broker
    rig.kiosk.refresh()
    rig.kiosk.open_tile(Flow.APPEAL)
    assert rig.screen == Screen.HOME and rig.view.notice.title.zh == "意见簿暂时无法提交"
    assert rig.view.notice.next_step.en.startswith("Please try again later")


def test_no_opinion_book_tile_without_the_hall_bus(rig: Rig) -> None:
    assert Flow.APPEAL not in {t.flow for t in rig.view.tiles}


APP_SCRIPT = [
    {"wait": "home"}, {"tap": "tile_appeal"}, {"wait": "appeal"}, {"tap": "appeal_category_system"},
    {"tap": "appeal_phrase_slow"}, {"tap": "appeal_next"}, {"wait": "appeal_text"}, {"tap": "key_N"}, {"tap": "key_O"},
    {"tap": "key_space"}, {"tap": "key_5"}, {"tap": "appeal_field_phone"},
    *({"tap": f"key_{d}"} for d in PHONE), {"tap": "appeal_submit"}, {"wait": "appeal_done"}, {"tap": "finish"},
    {"wait": "home"}, {"quit": True},
]


def test_tapping_through_the_opinion_book_in_the_real_kiosk(broker: BrokerProcess, engine: None, tmp_path: Path,
                                                             bus_factory: Callable[..., HallBus]) -> None:
    """The real `taxhall kiosk` under Xvfb, tapped through with Kivy touch events (--script)."""
    web = bus_factory("web", role="web")
    assert wait_for(lambda: desk_answers(web), 30), "the ticketer's appeals desk did not answer"
    printer = SimulatedPrinter(BUILTIN_PROFILES["generic-80"])
    server = SimulatorServer(printer).listen_tcp().start()
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nvoice = false\nsize = "1280x800"\n[printer]\nstatus_interval_s = 1.0\n', encoding="utf-8")
    script = tmp_path / "script.json"
    script.write_text(json.dumps(APP_SCRIPT), encoding="utf-8")
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "taxhall.cli", "kiosk",
         "--config", str(config), "--broker", broker.url, "--hall", "test-hall", "--device", "kiosk-x",
         "--data-dir", str(tmp_path / "kiosk"), "--printer", server.url, "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    assert proc.returncode == 0, log[-4000:]
    assert "Traceback" not in log and PHONE not in log
    text = "\n".join(printer.wait_for_pages(1, 5)[0].text_lines())
    ref = re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text).group(0)  # type: ignore[union-attr]
    got = web.request("appeals/req/get", {"ref": ref})["appeal"]
    assert got["description"] == "NO 5" and got["tags"] == ["system", "system.slow"] and got["phone"] == "139****5678"
    assert got["source"] == "kiosk-x" and got["channel"] == "kiosk"


def test_the_deadline_reads_in_the_kiosks_own_zone() -> None:
    from datetime import datetime, timedelta, timezone

    from kiosk.appeal import in_zone_of

    china = datetime(2026, 11, 28, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    # A ticketer on a UTC clock: 02:15 UTC next day is 10:15 in the hall.
    assert in_zone_of("2026-11-29T02:15:00+00:00", china).startswith("2026-11-29T10:15:00+08:00")
    assert in_zone_of("not a time", china) == "not a time"
