"""`taxhall display hall`: the hall screen (Kivy) — the latest call large, recent calls, waiting
per service, rotating posters and a notice line from the bus — and the voice that announces
each call. Everything it shows comes from HallView; this module only binds it to widgets."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from display.hall_model import HallModel, SeenCalls
from display.hall_view import HallView
from display.voice import Announcer, Call, VoiceSection
from taxhall.bus import BusMessage
from taxhall.config import ConfigSection, DeviceConfig
from taxhall.touchscreen import screen_bus

log = logging.getLogger("display.hall")


class DisplayHallSection(ConfigSection):
    hall_name: str = Field("办税服务厅", description="hall name in Chinese, at the top of the screen")
    hall_name_en: str = Field("Tax Service Hall", description="hall name in English")
    lang: Literal["zh", "en"] = Field("zh", description="screen language")
    size: str = Field("1920x1080", pattern=r"^\d{3,4}x\d{3,4}$", description="window size when not fullscreen")
    fullscreen: bool = Field(False, description="fill the screen (a hall device) or run in a window")
    voice: bool = Field(True, description="announce calls")


SECTIONS = {"display_hall": DisplayHallSection, "voice": VoiceSection}


class HallController:
    """Bus → model → view, with the voice; no Kivy here, so tests can drive it."""

    def __init__(self, config: DeviceConfig, section: DisplayHallSection, voice: VoiceSection | None,
                 audio_dir: Path | None = None) -> None:
        self.model = HallModel(SeenCalls(config.data_dir / "hall-seen-calls.json"))
        self.view = HallView(self.model, section.hall_name, section.hall_name_en, section.lang)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.announcer = Announcer(voice, audio_dir or config.data_dir / "audio") if voice else None
        self.bus = screen_bus(config)
        self.bus.subscribe("queue/state", self._on_state)
        self.bus.subscribe("queue/calls", self._on_call, dedupe=True)
        self.bus.subscribe("display/notice", self._on_notice)
        self.bus.subscribe("display/posters", self._on_posters)

    def start(self) -> "HallController":
        if self.announcer:
            self.announcer.start()
        self.bus.start(wait_s=None)
        return self

    def close(self) -> None:
        self.bus.close()
        if self.announcer:
            self.announcer.close(wait_s=5)

    def _update(self, apply: Any) -> None:
        with self.lock:
            apply()
        self.changed.set()

    def _on_state(self, message: BusMessage) -> None:
        self._update(lambda: self.model.apply_state(message.data, message.retained))

    def _on_call(self, message: BusMessage) -> None:
        with self.lock:
            shown = self.model.apply_call(message.data)
        if shown is None:
            return
        self.changed.set()
        if self.announcer:
            self.announcer.announce(Call(shown.ticket, shown.counter, shown.recall))

    def _on_notice(self, message: BusMessage) -> None:
        self._update(lambda: setattr(self.view, "notice", message.data))

    def _on_posters(self, message: BusMessage) -> None:
        def apply() -> None:
            self.view.posters = message.data
            self.view.poster_index = 0
        self._update(apply)


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall display hall", description="the hall screen")
    parser.add_argument("--screenshot", metavar="PNG", help="save the screen to this file after --exit-after seconds")
    parser.add_argument("--exit-after", type=float, default=None, metavar="S", help="quit after S seconds")
    parser.add_argument("--lang", choices=["zh", "en"], help="override the screen language")
    parser.add_argument("--size", help="window size WxH, e.g. 1280x800")
    args = parser.parse_args(argv)
    section: DisplayHallSection = config.section("display_hall")
    if args.lang:
        section = section.model_copy(update={"lang": args.lang})
    if args.size:
        section = section.model_copy(update={"size": args.size})
    voice: VoiceSection = config.section("voice")
    controller = HallController(config, section, voice if section.voice else None).start()
    try:
        from display.hall_kivy import run_app

        return run_app(controller, section, args.screenshot, args.exit_after)
    finally:
        controller.close()
