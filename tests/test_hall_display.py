"""The hall screen: its texts without a window, and the real Kivy app under Xvfb on a broker."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from display.hall_model import HallModel
from display.hall_view import HallView
from display.voice import audio_facts
from taxhall.broker import BrokerProcess
from taxhall.bus import HallBus
from taxhall.bus.schemas import CallEvent, Notice, PosterManifest, QueueState
from tests.conftest import HALL

STATE = {"seq": 0, "services": {
    "A": {"name": "综合业务", "waiting": 6, "est_wait_s": 540, "open": True},
    "V": {"name": "预约", "waiting": 1, "est_wait_s": 60, "open": False}},
    "counters": {}}


def call(seq: int, ticket: str, counter: str, recall: bool = False) -> dict[str, Any]:
    return {"seq": seq, "ticket": ticket, "ticket_id": ticket, "service": ticket[0], "counter": counter,
            "recall": recall, "at": "2026-11-27T10:00:00+08:00"}


def test_view_texts_in_both_languages() -> None:
    model = HallModel()
    view = HallView(model)
    model.apply_state(QueueState.model_validate(STATE))
    assert view.headline()[2] == "欢迎光临，请取号等候叫号"
    model.apply_call(CallEvent.model_validate(call(1, "A018", "2")))
    model.apply_call(CallEvent.model_validate(call(2, "A019", "3", recall=True)))
    assert view.headline() == ("A019", "3 号窗口", "请 A019 号到 3 号窗口办理（重呼）")
    assert view.recent_rows() == [("A018", "2号窗口")]
    cards = view.service_cards()
    assert (cards[0].title, cards[0].waiting, cards[0].wait) == ("A 综合业务", "等候 6 人", "约 9 分钟")
    assert cards[1].wait == "暂停办理" and not cards[1].open
    assert view.clock(datetime(2026, 11, 27, 9, 5)) == "2026年11月27日 星期五 09:05"

    view.lang = "en"
    assert view.headline()[2] == "Number A019, please go to window 3 (recall)"
    assert view.service_cards()[0].title == "A General" and view.service_cards()[1].wait == "closed"
    view.notice = Notice(text="夜间请走东门", text_en="Use the east door at night", at="x")
    assert view.notice_text() == "Use the east door at night"


def test_posters_rotate_by_their_seconds() -> None:
    view = HallView(HallModel())
    view.posters = PosterManifest.model_validate({"version": 1, "posters": [
        {"id": "a", "title": "甲", "seconds": 5}, {"id": "b", "title": "乙", "title_en": "B", "seconds": 3}]})
    assert view.poster()[0] == "甲"
    assert not view.tick(4.0)
    assert view.tick(1.0) and view.poster()[0] == "乙"
    assert view.tick(3.0) and view.poster()[0] == "甲"


def test_hall_app_under_xvfb_shows_calls_and_speaks(broker: BrokerProcess, tmp_path: Path,
                                                     bus_factory: Callable[..., HallBus]) -> None:
    ticketer = bus_factory("ticketer", role="ticketer")
    ticketer.publish("queue/state", STATE, qos=1, retain=True)
    config = tmp_path / "hall.toml"
    config.write_text('[voice]\nplayer = ""\nlanguages = ["zh"]\n[display_hall]\nsize = "1280x720"\n')
    shot = tmp_path / "hall.png"
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", sys.executable, "-m", "taxhall.cli", "display", "hall",
         "--config", str(config), "--broker", broker.url, "--hall", HALL, "--device", "hall-screen",
         "--data-dir", str(tmp_path / "data"), "--screenshot", str(shot), "--exit-after", "8"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    watcher = bus_factory("watcher")
    statuses: list[str] = []
    watcher.subscribe("device/hall-screen/status", lambda m: statuses.append(m.data.state))
    deadline = time.monotonic() + 20
    while "online" not in statuses and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "online" in statuses, "the hall display never came online"
    time.sleep(0.5)
    ticketer.publish_event("queue/calls", call(1, "A018", "2"))
    ticketer.publish_event("queue/calls", call(2, "A019", "3"))
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    assert "Traceback" not in output

    image = Image.open(shot)
    assert image.size == (1280, 720)
    assert len(image.convert("L").resize((64, 36)).getcolors(4096) or []) > 10  # drawn, not a blank frame
    wavs = sorted((tmp_path / "data" / "audio").glob("*.wav"))
    assert [w.name.split("-")[2] for w in wavs] == ["A018", "A019"]
    assert all(audio_facts(w).rms > 300 for w in wavs)


def test_a_recall_moves_the_ticket_up_instead_of_listing_it_twice() -> None:
    model = HallModel()
    view = HallView(model)
    for seq, (ticket, counter, recall) in enumerate([("A001", "1", False), ("A002", "2", False), ("A002", "2", True),
                                                     ("B001", "2", False)], start=1):
        model.apply_call(CallEvent.model_validate(call(seq, ticket, counter, recall)))
    assert view.recent_rows() == [("A002", "2号窗口"), ("A001", "1号窗口")]
