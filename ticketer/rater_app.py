"""`taxhall rater --counter N`: the rating pad facing the taxpayer at a counter. The logic is
RatingPad; this module shows it with Kivy (rater.kv) and goes back to idle by itself."""

from __future__ import annotations

import argparse
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from pydantic import Field

from taxhall.config import ConfigSection, DeviceConfig
from taxhall.touchscreen import keep_watchdog_fed, prepare_kivy, schedule_exit, screen_bus
from ticketer.counter_desk import serve_service_commands
from ticketer.rating_pad import PadScreen, RatingPad

# Green for satisfied through red for dissatisfied, as on the pads halls already use.
LEVEL_TINTS = {5: (0.13, 0.60, 0.30, 1), 4: (0.30, 0.68, 0.32, 1), 3: (0.85, 0.65, 0.15, 1),
               2: (0.88, 0.42, 0.16, 1), 1: (0.80, 0.20, 0.18, 1)}


class RaterSection(ConfigSection):
    counter: str = Field("", description='the counter this pad faces, e.g. "3" (or --counter)')
    lang: Literal["zh", "en"] = "zh"
    size: str = Field("1280x800", pattern=r"^\d{3,4}x\d{3,4}$")
    fullscreen: bool = False
    ask_s: float = Field(30.0, gt=0, description="how long the question stays up")


SECTIONS = {"rater": RaterSection}


def pad_texts(pad: RatingPad, screen: PadScreen) -> tuple[str, str, str]:
    """(title, detail, footer) for the pad's screen."""
    zh = pad.lang == "zh"
    window = f"{pad.counter} 号窗口" if zh else f"Window {pad.counter}"
    if screen.mode == "asking":
        staff = (f"  工号 {screen.staff}" if zh else f"  staff {screen.staff}") if screen.staff else ""
        return (screen.message, f"{window}{staff}  ·  {screen.ticket}", "请轻触一项" if zh else "Tap one")
    if screen.mode in ("thanks", "error"):
        return (screen.message, window, "")
    if screen.mode == "closed":  # out of service: the reason, in the pad's language
        return ("暂停服务" if zh else "Out of service", pad.closed_text(), window)
    return ("欢迎光临" if zh else "Welcome", window, "办结后请对我们的服务进行评价" if zh else "Please rate our service when you are done")


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall rater", description="the rating pad")
    parser.add_argument("--counter")
    parser.add_argument("--lang", choices=["zh", "en"])
    parser.add_argument("--size")
    parser.add_argument("--screenshot", metavar="PNG")
    parser.add_argument("--exit-after", type=float, metavar="S")
    args = parser.parse_args(argv)
    section: RaterSection = config.section("rater")
    counter = args.counter or section.counter
    if not counter:
        print('taxhall rater: which counter? give --counter N or [rater] counter = "N"', flush=True)
        return 2
    bus = screen_bus(config)
    pad = RatingPad(bus, counter, args.lang or section.lang, ask_s=section.ask_s)
    bus.subscribe("queue/state", pad.on_state)
    serve_service_commands(bus, pad, config.data_dir / "rater-service.json")  # out_of_service / in_service
    # A press from afar (the scripted demo, a remote check): the same as touching a level.
    bus.serve(f"device/{config.device_id}/cmd/press",
              lambda m: {"screen": asdict(pad.rate(int((m.data.args or {}).get("level", 0))))}, blocking=True)
    bus.start(wait_s=5)
    try:
        return _run_window(pad, args.size or section.size, section.fullscreen, args.screenshot, args.exit_after)
    finally:
        bus.close()


def _run_window(pad: RatingPad, size: str, fullscreen: bool, screenshot: str | None, exit_after: float | None) -> int:
    prepare_kivy(size, fullscreen)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, ListProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button

    Builder.load_file(str(Path(__file__).with_name("rater.kv")))

    class LevelButton(Button):
        tint = ListProperty([0.3, 0.3, 0.3, 1])

    class RaterScreen(BoxLayout):
        title_text = StringProperty("")
        detail_text = StringProperty("")
        footer_text = StringProperty("")
        asking = BooleanProperty(False)

        def show(self, screen: PadScreen) -> None:
            self.title_text, self.detail_text, self.footer_text = pad_texts(pad, screen)
            self.asking = screen.mode == "asking"
            levels = self.ids.levels
            levels.clear_widgets()
            if self.asking:
                for level, words in pad.levels():
                    button = LevelButton(text=f"{level}\n{words}", tint=LEVEL_TINTS[level])
                    button.bind(on_release=lambda b, lv=level: threading.Thread(target=pad.rate, args=(lv,), daemon=True).start())
                    levels.add_widget(button)

    class RatingPadApp(App):  # not "RaterApp": Kivy would load rater.kv a second time by name
        def build(self) -> RaterScreen:
            self.title = f"taxhall — rating pad {pad.counter}"
            self.screen = RaterScreen()
            self.screen.show(pad.screen)
            pad.on_change = lambda s: Clock.schedule_once(lambda dt: self.screen.show(s))
            Clock.schedule_interval(lambda dt: pad.expire(), 0.5)
            keep_watchdog_fed()
            schedule_exit(self, screenshot, exit_after)
            return self.screen

    RatingPadApp().run()
    return 0
