"""The Kivy side of the hall screen: widgets bound to HallController's view. Imported only
when a window is wanted (importing Kivy opens nothing, but configures it for our process)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from taxhall.touchscreen import keep_watchdog_fed, prepare_kivy, schedule_exit

if TYPE_CHECKING:
    from display.hall_app import DisplayHallSection, HallController


def run_app(controller: "HallController", section: "DisplayHallSection", screenshot: str | None, exit_after: float | None) -> int:
    prepare_kivy(section.size, section.fullscreen)

    from kivy.app import App
    from kivy.clock import Clock
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout

    class ServiceCardWidget(BoxLayout):
        title = StringProperty("")
        waiting = StringProperty("")
        wait = StringProperty("")
        is_open = BooleanProperty(True)

    class HallScreen(BoxLayout):
        title_text = StringProperty("")
        clock_text = StringProperty("")
        call_ticket = StringProperty("")
        call_counter = StringProperty("")
        call_sentence = StringProperty("")
        recent_title = StringProperty("")
        recent_text = StringProperty("")
        poster_title = StringProperty("")
        poster_body = StringProperty("")
        notice_text = StringProperty("")

    Builder.load_file(str(Path(__file__).with_name("hall.kv")))

    class HallDisplayApp(App):  # not "HallApp": Kivy would load hall.kv a second time by name
        def build(self) -> HallScreen:
            self.title = "taxhall — hall display"
            self.screen = HallScreen()
            self.refresh()
            Clock.schedule_interval(self.poll, 0.1)
            Clock.schedule_interval(self.tick, 1.0)
            keep_watchdog_fed()
            schedule_exit(self, screenshot, exit_after)
            return self.screen

        def poll(self, dt: float) -> None:
            if controller.changed.is_set():
                controller.changed.clear()
                self.refresh()

        def tick(self, dt: float) -> None:
            with controller.lock:
                changed = controller.view.tick(dt)
            self.screen.clock_text = controller.view.clock(datetime.now())
            if changed:
                self.refresh()

        def refresh(self) -> None:
            view, screen = controller.view, self.screen
            with controller.lock:
                ticket, counter, sentence = view.headline()
                recent = view.recent_rows()
                cards = view.service_cards()
                poster = view.poster()
                notice = view.notice_text()
            screen.title_text = view.title()
            screen.clock_text = view.clock(datetime.now())
            screen.call_ticket, screen.call_counter, screen.call_sentence = ticket, counter, sentence
            screen.recent_title = "最近叫号" if view.lang == "zh" else "Recent calls"
            screen.recent_text = "\n".join(f"{t}   →   {c}" for t, c in recent)
            screen.poster_title, screen.poster_body = poster
            screen.notice_text = notice
            grid = screen.ids.services
            grid.clear_widgets()
            for card in cards:
                grid.add_widget(ServiceCardWidget(title=card.title, waiting=card.waiting, wait=card.wait, is_open=card.open))

    HallDisplayApp().run()
    return 0
