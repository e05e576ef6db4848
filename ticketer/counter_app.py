"""`taxhall counter --counter N`: the counter caller staff use (touch or keyboard: F1 call next,
F2 recall, F3 start, F4 finish, F5 no-show, F8 pause/resume). The logic is CounterDesk; this
module binds it to a Kivy screen (counter.kv) and runs each action off the UI thread."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Callable, Literal

from pydantic import Field

from taxhall.config import ConfigSection, DeviceConfig
from taxhall.touchscreen import keep_watchdog_fed, prepare_kivy, schedule_exit, screen_bus
from taxhall.prefill import PublicKeyList
from ticketer.counter_appeal import CounterAppeals, open_appeal_popup, said
from ticketer.counter_desk import CounterDesk, DeskScreen, serve_service_commands
from ticketer.counter_prefill import card_text
from ticketer.queue_words import PAUSE_REASONS, words


class CounterSection(ConfigSection):
    counter: str = Field("", description='the counter this caller serves, e.g. "3" (or --counter)')
    services: list[str] = Field(default_factory=list, description="services counted as waiting for this counter; empty = all")
    lang: Literal["zh", "en"] = "zh"
    size: str = Field("1280x800", pattern=r"^\d{3,4}x\d{3,4}$")
    fullscreen: bool = False
    prefill_keys: PublicKeyList = Field(default_factory=list, description="public keys of the hall's pre-filled request codes "
                                        "(`taxhall web` shows them at /prepare/key); empty: such codes are refused")


SECTIONS = {"counter": CounterSection}

LABELS = {
    "zh": dict(t_login="登录", t_call="叫号 F1", t_recall="重呼 F2", t_start="开始 F3", t_finish="办结 F4",
               t_no_show="过号 F5", t_transfer="转移", t_pause="暂停 F8", t_resume="恢复", t_logout="退出",
               t_lang="English", staff_hint="请输入工号"),
    "en": dict(t_login="Log in", t_call="Call F1", t_recall="Recall F2", t_start="Start F3", t_finish="Finish F4",
               t_no_show="No-show F5", t_transfer="Transfer", t_pause="Pause F8", t_resume="Resume", t_logout="Log out",
               t_lang="中文", staff_hint="Staff id"),
}


def header_text(desk: CounterDesk, screen: DeskScreen) -> str:
    zh = desk.lang == "zh"
    who = (f"工号 {screen.staff}" if zh else f"staff {screen.staff}") if screen.staff else ""
    place = f"{desk.counter} 号窗口" if zh else f"Counter {desk.counter}"
    return "  ·  ".join(p for p in (place, who, desk.state_text()) if p)


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall counter", description="the counter caller")
    parser.add_argument("--counter", help="counter id (overrides [counter] counter)")
    parser.add_argument("--staff", help="log this staff id in at start")
    parser.add_argument("--lang", choices=["zh", "en"])
    parser.add_argument("--size")
    parser.add_argument("--screenshot", metavar="PNG")
    parser.add_argument("--exit-after", type=float, metavar="S")
    parser.add_argument("--scan", metavar="CODE", help="read this pre-filled request code at start, as if scanned (demos, tests)")
    args = parser.parse_args(argv)
    section: CounterSection = config.section("counter")
    counter = args.counter or section.counter
    if not counter:
        print("taxhall counter: which counter? give --counter N or [counter] counter = \"N\"", flush=True)
        return 2
    bus = screen_bus(config)
    desk = CounterDesk(bus, counter, tuple(section.services), args.lang or section.lang,
                       prefill_keys=tuple(section.prefill_keys))
    bus.subscribe("queue/state", desk.on_state)
    serve_service_commands(bus, desk, config.data_dir / "counter-service.json")  # out_of_service / in_service
    bus.start(wait_s=5)
    if args.staff:
        desk.login(args.staff)
    if args.scan:
        desk.scan_prefill(args.scan)
    try:
        return _run_window(desk, args.size or section.size, section.fullscreen, args.screenshot, args.exit_after)
    finally:
        bus.close()


def _run_window(desk: CounterDesk, size: str, fullscreen: bool, screenshot: str | None, exit_after: float | None) -> int:
    prepare_kivy(size, fullscreen)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.popup import Popup

    Builder.load_file(str(Path(__file__).with_name("counter.kv")))

    class CounterScreen(BoxLayout):
        header = StringProperty("")
        waiting_text = StringProperty("")
        ticket_text = StringProperty("")
        detail_text = StringProperty("")
        message = StringProperty("")
        message_ok = BooleanProperty(True)
        logged_out = BooleanProperty(True)
        busy = BooleanProperty(False)
        closed_text = StringProperty("")  # out of service from afar: why, else ""
        staff_hint = StringProperty("")
        t_login = StringProperty("")
        t_call = StringProperty("")
        t_recall = StringProperty("")
        t_start = StringProperty("")
        t_finish = StringProperty("")
        t_no_show = StringProperty("")
        t_transfer = StringProperty("")
        t_pause = StringProperty("")
        t_resume = StringProperty("")
        t_logout = StringProperty("")
        t_lang = StringProperty("")
        prefill_text = StringProperty("")  # a scanned pre-filled request (免填单), else ""
        scan_hint = StringProperty("")
        t_appeal = StringProperty("")

        def show(self, screen: DeskScreen) -> None:
            zh = desk.lang == "zh"
            for name, text in LABELS[desk.lang].items():
                setattr(self, name, text)
            self.header = header_text(desk, screen)
            self.waiting_text = f"等候 {screen.waiting} 人" if zh else f"{screen.waiting} waiting"
            self.ticket_text = screen.ticket or "—"
            service = f"{screen.service} {desk.service_names().get(screen.service, '')}" if screen.service else ""
            self.detail_text = "  ·  ".join(p for p in (service.strip(), desk.waited_text()) if p)
            self.message, self.message_ok = screen.message, screen.ok
            self.logged_out = screen.state == "closed"
            self.busy = screen.busy
            closed = screen.closed
            self.closed_text = f"{closed.title(desk.lang)}  ·  {desk.closed_text()}" if closed else ""
            self.prefill_text = card_text(screen.prefill)
            self.scan_hint = "扫描预填申请二维码" if zh else "Scan a pre-filled request code"
            self.t_appeal = said(desk, "button")

        def scan(self, text: str) -> None:
            """What a keyboard-wedge scanner typed into the scan field, Enter included."""
            if text.strip():
                desk.scan_prefill(text.strip())

        def do(self, op: str, *args: str) -> None:
            if op == "login" and not (args and args[0].strip()):
                return
            method = getattr(desk, op)
            threading.Thread(target=method, args=tuple(a.strip() for a in args), daemon=True).start()

        def ask_transfer(self) -> None:
            services = desk.service_names() or {code: code for code in ("A", "B", "C", "V")}
            self._choose([(f"{code} {name}", code) for code, name in services.items()], desk.transfer)

        def ask_appeal(self) -> None:
            def fetch() -> None:  # the categories come over the bus: not on the UI thread
                appeals.categories()
                Clock.schedule_once(lambda dt: open_appeal_popup(appeals))

            threading.Thread(target=fetch, daemon=True).start()

        def ask_pause(self) -> None:
            self._choose([(words(PAUSE_REASONS, r, desk.lang), r) for r in PAUSE_REASONS], desk.pause)

        def _choose(self, options: list[tuple[str, str]], action: Callable[[str], object]) -> None:
            box = BoxLayout(spacing=8, padding=8)
            popup = Popup(title="", separator_height=0, content=box, size_hint=(0.9, 0.3))
            for label, value in options:
                button = Button(text=label, font_name="CJK-Bold", font_size="24sp")
                button.bind(on_release=lambda b, v=value: (popup.dismiss(),
                                                            threading.Thread(target=action, args=(v,), daemon=True).start()))
                box.add_widget(button)
            popup.open()

        def switch_lang(self) -> None:
            desk.lang = "en" if desk.lang == "zh" else "zh"
            self.show(desk.screen)

    keys = {282: "call_next", 283: "recall", 284: "start", 285: "finish", 286: "no_show"}  # F1–F5
    appeals = CounterAppeals(desk)

    class CounterCallerApp(App):  # not "CounterApp": Kivy would load counter.kv again by name
        def build(self) -> CounterScreen:
            self.title = f"taxhall — counter {desk.counter}"
            self.screen = CounterScreen()
            self.screen.show(desk.screen)
            desk.on_change = lambda s: Clock.schedule_once(lambda dt: self.screen.show(s))
            Clock.schedule_interval(lambda dt: self.screen.show(desk.screen), 15)  # the minutes count on
            Window.bind(on_key_down=self.on_key)
            keep_watchdog_fed()
            schedule_exit(self, screenshot, exit_after)
            return self.screen

        def on_key(self, window: object, key: int, *rest: object) -> bool:
            if desk.screen.state == "closed":
                return False
            if key in keys:
                self.screen.do(keys[key])
                return True
            if key == 289:  # F8
                self.screen.do("resume") if desk.screen.state == "paused" else self.screen.ask_pause()
                return True
            return False

    CounterCallerApp().run()
    return 0
