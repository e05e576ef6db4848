"""The Kivy side of the kiosk: widgets drawn from the kiosk's `View`s (kiosk.kv has the
layout), taps handed to the action worker. Imported only when a window is wanted.

Every screen has the same frame (title, body, actions, back/cancel) and its body is filled
from the View by one `fill_*` function per screen; a screen is rebuilt only when what it
shows changed, so an idle kiosk draws nothing but its clock. Tap scripts (kiosk.tapscript:
`--script` and the bus command `cmd/script`) drive the real app with Kivy touch events;
`driver` lets kiosk.screens walk through screens.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from kiosk.appeal_screens import APPEAL_FILLERS, APPEAL_TITLES
from kiosk.gateway.money import fen_to_yuan, format_rate
from kiosk.health import Tile
from kiosk.prefill import quantity_text
from kiosk.session import PERIOD_KEYS, TAX_TYPE_CHOICES, Flow, Screen
from kiosk.tapscript import ScriptRun
from kiosk.words import checkin_refusal, text
from taxhall.touchscreen import keep_watchdog_fed, prepare_kivy, save_screenshot

if TYPE_CHECKING:
    from kiosk.config import KioskSection
    from kiosk.core import Kiosk, View
    from kiosk.runner import ActionRunner

log = logging.getLogger("kiosk.ui")

TITLES: dict[Screen, str] = {
    Screen.HOME: "welcome", Screen.CLOSED: "closed_title", Screen.IDENTIFY: "identify_title",
    Screen.CERT_PERIOD: "period_title", Screen.CERT_RECORDS: "cert_title", Screen.CERT_DONE: "cert_done_title",
    Screen.REQ_SCAN: "req_title", Screen.BUYER: "buyer_title", Screen.BUYER_KEYPAD: "keypad_title",
    Screen.REQ_CONFIRM: "confirm_title", Screen.REQ_DONE: "invoice_done_title", Screen.SELF_ITEM: "item_title",
    Screen.SELF_QUOTE: "quote_title", Screen.SELF_PAY: "pay_title", Screen.SELF_DONE: "self_done_title",
    Screen.CHECK_SCAN: "check_title", Screen.CHECK_RESULT: "check_title", Screen.GUIDES: "guides_title",
    Screen.GUIDE: "guides_title", Screen.QUEUE: "queue_title", Screen.QUEUE_DONE: "queue_done_title",
    Screen.QUEUE_CHECKIN: "checkin_title",
    **APPEAL_TITLES,
}
CENTRED = {Screen.CLOSED, Screen.IDENTIFY, Screen.REQ_SCAN, Screen.BUYER, Screen.CHECK_SCAN, Screen.SELF_PAY,
           Screen.CERT_DONE, Screen.REQ_DONE, Screen.SELF_DONE, Screen.QUEUE_DONE, Screen.APPEAL_DONE}
NO_NAV = {Screen.HOME, Screen.CLOSED, Screen.CERT_DONE, Screen.REQ_DONE, Screen.SELF_DONE, Screen.QUEUE_DONE, Screen.APPEAL_DONE,
          Screen.SELF_PAY}

PALETTE = {  # standard, and elder mode: stronger contrast
    "bg": ((0.05, 0.13, 0.30, 1), (0, 0, 0, 1)),
    "header": ((0.03, 0.09, 0.22, 1), (0.1, 0.1, 0.1, 1)),
    "panel": ((0.09, 0.20, 0.42, 1), (0.12, 0.12, 0.12, 1)),
    "fg": ((1, 1, 1, 1), (1, 1, 1, 1)),
    "accent": ((1.0, 0.80, 0.25, 1), (1.0, 0.92, 0.0, 1)),
    "btn": ((0.16, 0.42, 0.78, 1), (0.0, 0.30, 0.85, 1)),
    "btn_fg": ((1, 1, 1, 1), (1, 1, 1, 1)),
    "btn_off": ((0.25, 0.30, 0.40, 1), (0.25, 0.25, 0.25, 1)),
    "sel": ((0.85, 0.55, 0.10, 1), (0.85, 0.45, 0.0, 1)),
    "good": ((0.45, 0.90, 0.50, 1), (0.3, 1.0, 0.3, 1)),
    "bad": ((1.0, 0.55, 0.45, 1), (1.0, 0.4, 0.3, 1)),
}

MISMATCH_FIELDS = {"kind": "field_kind", "amount": "field_amount", "date": "field_date", "check_code": "field_check_code"}
KEY_ROWS_LETTERS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")
AMOUNT_KEYS = ("7", "8", "9", "4", "5", "6", "1", "2", "3", ".", "0", "del")


def yuan(fen: int) -> str:
    return f"¥{fen_to_yuan(fen, grouping=True)}"


def run_window(kiosk: "Kiosk", runner: "ActionRunner | None", section: "KioskSection", size: str, fullscreen: bool,
               *, screenshot: str | None = None, exit_after: float | None = None, script: list[dict[str, Any]] | None = None,
               driver: Callable[[Any], Iterator[float]] | None = None, started_at: float | None = None,
               stop_requested: threading.Event | None = None) -> int:
    """Runs the kiosk's screen until it closes; the exit status. `stop_requested` (set from a
    SIGTERM handler) stops the app from its own clock, never from the signal handler."""
    if stop_requested is not None and stop_requested.is_set():
        return 0  # stopped before the window: nothing to close
    # Kivy reads these when its clock and window are made, and prepare_kivy's font set-up
    # already makes the clock: so they go in first (with the same no-argv switch it sets)
    prepare_kivy(size, fullscreen, max_fps=section.max_fps)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.lang import Builder
    from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.floatlayout import FloatLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import NoTransition, Screen as KivyScreen, ScreenManager
    from kivy.uix.widget import Widget

    class KLabel(Label):
        scale = NumericProperty(1.0)

    class KButton(Button):
        tap_id = StringProperty("")
        scale = NumericProperty(1.1)
        selected = BooleanProperty(False)

    class NavBar(BoxLayout):
        back_text = StringProperty("")
        cancel_text = StringProperty("")

    class KScreen(KivyScreen):
        pass

    class KioskRoot(FloatLayout):
        hall_text = StringProperty("")
        clock_text = StringProperty("")
        lang_text = StringProperty("")
        elder_text = StringProperty("")

    class Shield(Widget):
        """Under an overlay: swallows touches meant for the screen below."""

        def on_touch_down(self, touch: Any) -> bool:
            return True

    Builder.load_file(str(Path(__file__).with_name("kiosk.kv")))

    class SelfServiceApp(App):  # not "KioskApp": Kivy would load kiosk.kv a second time by name
        u = NumericProperty(20.0)
        portrait = BooleanProperty(False)
        elder = BooleanProperty(False)
        bg = ListProperty(PALETTE["bg"][0])
        header = ListProperty(PALETTE["header"][0])
        panel = ListProperty(PALETTE["panel"][0])
        fg = ListProperty(PALETTE["fg"][0])
        accent = ListProperty(PALETTE["accent"][0])
        btn = ListProperty(PALETTE["btn"][0])
        btn_fg = ListProperty(PALETTE["btn_fg"][0])
        btn_off = ListProperty(PALETTE["btn_off"][0])
        sel = ListProperty(PALETTE["sel"][0])
        good = ListProperty(PALETTE["good"][0])
        bad = ListProperty(PALETTE["bad"][0])

        def build(self) -> KioskRoot:
            self.title = "taxhall — kiosk"
            self.exit_code = 0
            self.kiosk_settings = kiosk.settings
            self.root_widget = KioskRoot()
            self.sm: ScreenManager = self.root_widget.ids.sm
            self.sm.transition = NoTransition()
            for screen in Screen:
                self.sm.add_widget(KScreen(name=screen.value))
            self._shown: dict[str, Any] = {}
            self._pending: View | None = None
            self._frame_seen = False
            Window.bind(size=self._resized, on_flip=self._first_frame)
            self._resized(Window, Window.size)
            kiosk.on_change = self._from_worker
            self.show(kiosk.view)
            self._clock(0)
            Clock.schedule_interval(self._clock, 5)
            # under systemd (taxhall-kiosk.service, Type=notify): ready once the loop turns, and
            # restarted should the screen's loop hang; nothing outside systemd
            keep_watchdog_fed()
            self._run: ScriptRun | None = None
            if script:
                self.start_script(ScriptRun(list(script), on_done=self._file_script_done))
            if driver:
                self._driver = driver(self)
                Clock.schedule_once(self._drive, 0.5)
            if exit_after is not None:
                Clock.schedule_once(self._finish, exit_after)
            if stop_requested is not None:
                # runs once the loop turns, so never before the window exists
                Clock.schedule_interval(self._stop_if_requested, 0.2)
            return self.root_widget

        def _stop_if_requested(self, dt: float) -> None:
            if stop_requested is not None and stop_requested.is_set():
                log.info("stopping (SIGTERM)")
                self.stop()

        # -- frame and sizes ---------------------------------------------------------------

        def _first_frame(self, window: Any) -> None:
            if not self._frame_seen:
                self._frame_seen = True
                since = f" ({time.time() - started_at:.2f} s after start)" if started_at else ""
                log.info("first frame drawn at epoch %.3f%s", time.time(), since)

        def _resized(self, window: Any, size: Any) -> None:
            width, height = size
            self.portrait = height > width
            base = min(width, height) / 34.0
            self.u = base * (1.3 if self.elder else 1.0)
            self._shown.clear()  # sizes changed: redraw what is shown
            if self.root_widget:
                self.show(kiosk.view)

        def _clock(self, dt: float) -> None:
            now = kiosk.now()
            self.root_widget.clock_text = now.strftime("%Y-%m-%d %H:%M")

        # -- views ----------------------------------------------------------------------------

        def _from_worker(self, view: View) -> None:
            run = self._run
            if run is not None:
                run.note(view)  # here, not when drawn: a view the screen skips may hold a document
            self._pending = view
            Clock.schedule_once(lambda dt: self._apply(), 0)

        def _apply(self) -> None:
            view, self._pending = self._pending, None
            if view is not None:
                self.show(view)

        def show(self, view: View) -> None:
            if view.elder != self.elder:
                self.elder = view.elder
                for name, (normal, elder) in PALETTE.items():
                    setattr(self, name, list(elder if view.elder else normal))
                self._resized(Window, Window.size)
                return
            lang = view.lang
            root = self.root_widget
            root.hall_text = kiosk.settings.hall_name_en if lang == "en" else kiosk.settings.hall_name
            root.lang_text = text("lang_switch", lang)
            root.elder_text = text("elder_off" if view.elder else "elder_on", lang)
            self._clock(0)
            key = replace(view, seq=0, countdown=None, notice=None, busy=None)
            if self._shown.get("screen") != key:
                self._shown["screen"] = key
                screen = self.sm.get_screen(view.screen.value)
                self.fill(screen, view)
                self.sm.current = view.screen.value
                if self.sm.transition.is_active:
                    self.sm.transition.stop()  # finish the switch now: never two screens on top of each other
            overlay_key = (view.notice, view.busy, view.countdown, view.lang, view.elder)
            if self._shown.get("overlay") != overlay_key:
                self._shown["overlay"] = overlay_key
                self.fill_overlay(view)

        def fill(self, screen: KScreen, view: View) -> None:
            log.debug("drawing screen %s", view.screen.value)
            ids = screen.ids
            lang = view.lang
            ids.title.text = text(TITLES[view.screen], lang)
            ids.body.clear_widgets()
            ids.actions.clear_widgets()
            ids.nav.back_text = text("back", lang)
            ids.nav.cancel_text = text("cancel", lang)
            ids.nav.opacity = 0 if view.screen in NO_NAV else 1
            ids.nav.disabled = view.screen in NO_NAV
            ids.nav.height = 0 if view.screen in NO_NAV else self.u * 3.4
            FILLERS[view.screen](self, ids, view)
            if all(child.size_hint_y is None for child in ids.body.children):
                # only fixed-height content: keep it at the top, or in the middle for one message
                if view.screen in CENTRED:
                    ids.body.add_widget(Widget(), index=len(ids.body.children))
                ids.body.add_widget(Widget())

        def fill_overlay(self, view: View) -> None:
            layer = self.root_widget.ids.overlay
            layer.clear_widgets()
            lang = view.lang
            box = None
            if view.busy is not None:
                box = self.dialog([self.label(view.busy.get(lang), 1.5, bold=True, halign="center")])
            elif view.notice is not None:
                notice = view.notice
                parts = [self.label(notice.title.get(lang), 1.6, bold=True, color=self.bad if notice.kind == "error" else self.good)]
                if notice.body is not None:
                    parts.append(self.label(notice.body.get(lang), 1.15))
                if notice.next_step is not None:
                    parts.append(self.label(notice.next_step.get(lang), 1.15, color=self.accent))
                parts.append(self.button(text("ok", lang), "dismiss_notice", tap_id="ok", height=3.4))
                box = self.dialog(parts)
            elif view.countdown is not None:
                parts = [self.label(text("countdown", lang, seconds=view.countdown), 1.5, bold=True, color=self.accent),
                         self.label(text("countdown_hint", lang), 1.1),
                         self.button(text("continue", lang), "touch", tap_id="continue", height=3.4)]
                box = self.dialog(parts)
            if box is not None:
                layer.add_widget(Shield(size=Window.size, pos=(0, 0), size_hint=(1, 1)))
                layer.add_widget(box)

        def dialog(self, parts: list[Any]) -> Any:
            from kivy.factory import Factory

            panel = Factory.Panel(orientation="vertical", size_hint=(0.8 if self.portrait else 0.6, None),
                                  pos_hint={"center_x": 0.5, "center_y": 0.5})
            for part in parts:
                panel.add_widget(part)
            panel.height = sum(p.height for p in parts) + self.u * (1.2 + 0.4 * len(parts))
            for part in parts:  # labels learn their height once they know their width
                part.bind(height=lambda *a: setattr(panel, "height", sum(p.height for p in parts) + self.u * (1.2 + 0.4 * len(parts))))
            return panel

        # -- widget helpers ---------------------------------------------------------------------

        def label(self, words: str, scale: float = 1.0, *, bold: bool = False, color: Any = None,
                  halign: str = "left") -> KLabel:
            made = KLabel(text=words, scale=scale, halign=halign)
            if bold:
                made.font_name = "CJK-Bold"
            if color is not None:
                made.color = color
            return made

        def button(self, words: str, action: str, *args: Any, tap_id: str = "", scale: float = 1.1,
                   selected: bool = False, disabled: bool = False, height: float | None = 3.6) -> KButton:
            made = KButton(text=words, tap_id=tap_id or action, scale=scale, selected=selected, disabled=disabled)
            if height is not None:
                made.size_hint_y = None
                made.height = self.u * height
            made.bind(on_release=lambda *_: self.do(action, *args))
            return made

        def grid(self, cols: int, **kwargs: Any) -> GridLayout:
            return GridLayout(cols=cols, spacing=self.u * 0.4, **kwargs)

        def row(self, cells: list[str], weights: list[float], *, bold: bool = False, color: Any = None) -> BoxLayout:
            line = BoxLayout(size_hint_y=None, spacing=self.u * 0.4)
            labels = []
            for cell, weight in zip(cells, weights):
                made = self.label(cell, 1.0, bold=bold, color=color)
                made.size_hint_x = weight
                labels.append(made)
                line.add_widget(made)
            line.height = max(l.height for l in labels)
            for made in labels:
                made.bind(height=lambda *a: setattr(line, "height", max(l.height for l in labels)))
            return line

        def scroller(self, content: Any) -> Any:
            from kivy.factory import Factory

            view = Factory.Scroller()
            view.add_widget(content)
            return view

        def rows(self) -> Any:
            from kivy.factory import Factory

            return Factory.Rows()

        # -- taps ----------------------------------------------------------------------------

        def do(self, path: str, *args: Any) -> None:
            """Hands a kiosk action (a dotted path on the kiosk) to the worker."""
            if path == "cancel" or path == "cancel_payment":
                kiosk.terminal.cancel()  # the worker may be waiting on the terminal
                if path == "cancel_payment":
                    return
            target: Any = kiosk
            for part in path.split("."):
                target = getattr(target, part)
            if runner is not None:
                runner.submit(target, *args)
            else:
                target(*args)

        def on_touch_down_any(self) -> None:
            if runner is not None:
                runner.submit(kiosk.touch)

        # -- exits, scripts, drivers -----------------------------------------------------------

        def _finish(self, dt: float) -> None:
            if screenshot:
                save_screenshot(Window, screenshot)
            self.stop()

        def tap_targets(self) -> list[KButton]:
            found = []
            for widget in self.root_widget.walk(restrict=False):
                if isinstance(widget, KButton) and widget.get_root_window() is not None:
                    found.append(widget)
            return found

        def tap(self, tap_id: str) -> bool:
            from kivy.tests.common import UnitTestTouch

            overlay = self.root_widget.ids.overlay
            candidates = [b for b in self.tap_targets() if b.tap_id == tap_id and not b.disabled]
            if overlay.children:  # a dialog is up: only its buttons can be reached
                candidates = [b for b in candidates if b.parent is not None and b.parent.parent is overlay]
            if not candidates:
                return False
            button = candidates[0]
            x, y = button.to_window(*button.center)
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()
            return True

        def start_script(self, run: ScriptRun) -> None:
            """Starts a tap script (Kivy thread); one at a time, a second is refused."""
            if self._run is not None:
                run.finish(kiosk.view.screen.value, ("busy", "another script is running"))
                return
            run.begin(kiosk.view)
            self._run = run
            log.info("script: %d steps", len(run.steps))
            Clock.schedule_interval(self._script_step, 0.1)

        def stop_script(self, run: ScriptRun, failure: tuple[str, str] | None) -> None:
            """Ends `run` where it is (Kivy thread)."""
            if self._run is run:
                self._run = None
                Clock.unschedule(self._script_step)
            run.finish(kiosk.view.screen.value, failure)

        def _file_script_done(self, run: ScriptRun) -> None:
            # a --script file that fails ends the app with exit code 1, so a test sees it
            if run.failure is not None:
                self.exit_code = 1
                self.stop()

        def _step_done(self, step: dict[str, Any]) -> bool:
            """Whether one step is done now (taps and shots are done by trying)."""
            settled = kiosk.view.busy is None and self._pending is None
            if "sleep" in step:
                return time.monotonic() - self._run.step_started >= float(step["sleep"])  # type: ignore[union-attr]
            if "wait" in step:
                return settled and kiosk.view.screen.value == step["wait"]
            if "tap" in step:
                return settled and (runner is None or runner.idle.is_set()) and self.tap(str(step["tap"]))
            if "screenshot" in step:
                save_screenshot(Window, str(step["screenshot"]))
                return True
            return False

        def _script_step(self, dt: float) -> None:
            run = self._run
            if run is None:
                Clock.unschedule(self._script_step)
                return
            step = run.current
            if step is None or "quit" in step:
                self.stop_script(run, None)
                if step is not None:
                    self.stop()
                return
            if self._step_done(step):
                log.info("script: %s", json.dumps(step, ensure_ascii=False))
                run.advance()
            elif run.timed_out():
                screen = kiosk.view.screen.value
                notice = kiosk.view.notice.title.en if kiosk.view.notice else "none"
                shown = json.dumps(step, ensure_ascii=False)
                what = f"step {run.position} {shown} timed out on screen {screen} (notice: {notice})"
                log.error("script: %s", what)
                self.stop_script(run, ("script_failed", what))

        def _drive(self, dt: float) -> None:
            try:
                delay = next(self._driver)
            except StopIteration:
                self.stop()
                return
            Clock.schedule_once(self._drive, delay)

    def on_touch(window: Any, touch: Any) -> bool:
        if runner is not None:
            runner.submit(kiosk.touch)
        return False

    Window.bind(on_touch_down=on_touch)
    app = SelfServiceApp()
    app.root_widget = None  # type: ignore[assignment]
    app.run()
    return app.exit_code


# ---------------------------------------------------------------- one filler per screen


def _tile_text(app: Any, tile: Tile, lang: str) -> str:
    title = text(f"tile_{tile.flow.value}", lang)
    sub = text(f"tile_{tile.flow.value}_sub", lang)
    # English words are longer than Chinese ones: a smaller size keeps them inside the tile
    big, small = (int(app.u * 1.6), int(app.u * 0.95)) if lang == "zh" else (int(app.u * 1.15), int(app.u * 0.8))
    lines = f"[size={big}]{title}[/size]\n[size={small}]{sub}[/size]"
    if tile.reason is not None:
        color = "ffb08a" if not tile.enabled else "ffe08a"
        lines += f"\n[size={small}][color={color}]{tile.reason.get(lang)}[/color][/size]"
    return lines


def fill_home(app: Any, ids: Any, view: View) -> None:
    lang = view.lang
    settings = app.kiosk_settings
    ids.body.add_widget(app.label(text("tap_tile", lang), 1.2))
    grid = app.grid(2 if app.portrait else 3)
    for tile in view.tiles:
        made = app.button(_tile_text(app, tile, lang), "open_tile", tile.flow.value, tap_id=f"tile_{tile.flow.value}",
                          disabled=not tile.enabled, height=None)
        made.scale = 1.0
        grid.add_widget(made)
    ids.body.add_widget(grid)
    ids.body.add_widget(app.label(settings.hours_en if lang == "en" else settings.hours, 1.0, color=app.accent))


def fill_closed(app: Any, ids: Any, view: View) -> None:
    message = view.closed_message or text("closed_default", view.lang)
    ids.body.add_widget(app.label(message, 1.6, bold=True, halign="center"))


def _person_line(app: Any, view: View) -> Any:
    person = view.session.person
    if person is None:
        return app.label("", 1.0)
    return app.label(text("identified", view.lang, name=person.masked_name, id_number=person.masked_id_number), 1.1,
                     color=app.accent)


def fill_identify(app: Any, ids: Any, view: View) -> None:
    lang = view.lang
    flow = view.session.flow
    ids.title.text = text("cert_title" if flow == Flow.CERTIFICATE else "self_title", lang)
    ids.body.add_widget(app.label(text("identify_card", lang), 2.0, bold=True, halign="center"))
    second = "identify_etax" if flow == Flow.CERTIFICATE and app.kiosk_settings.etax_qr else "identify_card_only"
    ids.body.add_widget(app.label(text(second, lang), 1.3, halign="center", color=app.accent))


def fill_cert_period(app: Any, ids: Any, view: View) -> None:
    lang, session = view.lang, view.session
    ids.body.add_widget(_person_line(app, view))
    periods = app.grid(2 if app.portrait else 4, size_hint_y=None)
    for key in PERIOD_KEYS:
        periods.add_widget(app.button(text(f"period_{key}", lang), "flows.certificate.choose_period", key,
                                      tap_id=f"period_{key}", selected=session.period_key == key))
    periods.bind(minimum_height=periods.setter("height"))
    ids.body.add_widget(periods)
    types = app.grid(2 if app.portrait else 4, size_hint_y=None)
    types.add_widget(app.button(text("tax_all", lang), "flows.certificate.toggle_tax_type", None, tap_id="tax_all",
                                selected=not session.tax_types, scale=1.0))
    for tax_type in TAX_TYPE_CHOICES:
        types.add_widget(app.button(tax_type.en if lang == "en" else tax_type.zh, "flows.certificate.toggle_tax_type",
                                    tax_type.value, tap_id=f"tax_{tax_type.value}", selected=tax_type in session.tax_types,
                                    scale=0.9))
    types.bind(minimum_height=types.setter("height"))
    ids.body.add_widget(types)
    ids.body.add_widget(app.label("", 0.5))
    ids.actions.add_widget(app.button(text("search_records", lang), "flows.certificate.search", tap_id="search",
                                      scale=1.3, height=4.0))


def fill_cert_records(app: Any, ids: Any, view: View) -> None:
    lang, records = view.lang, view.session.records
    total = sum(r.amount_fen for r in records)
    ids.body.add_widget(app.label(text("records_title", lang, count=len(records), total=yuan(total)), 1.2, bold=True))
    # portrait screens are narrow: the payment date goes, the period and amount stay
    columns = ("col_tax", "col_period", "col_amount") if app.portrait else ("col_tax", "col_period", "col_paid", "col_amount")
    weights = [0.38, 0.37, 0.25] if app.portrait else [0.34, 0.3, 0.16, 0.2]
    ids.body.add_widget(app.row([text(k, lang) for k in columns], weights, bold=True, color=app.accent))
    rows = app.rows()
    for record in records:
        cells = [record.tax_type.en if lang == "en" else record.tax_type.zh,
                 f"{record.period_start:%Y-%m-%d}~{record.period_end:%m-%d}", f"{record.paid_on:%Y-%m-%d}",
                 fen_to_yuan(record.amount_fen, grouping=True)]
        if app.portrait:
            del cells[2]
        rows.add_widget(app.row(cells, weights))
    ids.body.add_widget(app.scroller(rows))
    ids.body.add_widget(app.label(text("records_hint", lang), 1.0, color=app.accent))
    ids.actions.add_widget(app.button(text("print_certificate", lang), "flows.certificate.print_certificate",
                                      tap_id="print", scale=1.3, height=4.0))


def _done(app: Any, ids: Any, view: View, lines: list[tuple[str, float, bool]], hint: str, failed: bool) -> None:
    lang = view.lang
    for words, scale, bold in lines:
        ids.body.add_widget(app.label(words, scale, bold=bold, halign="center", color=app.accent if bold else None))
    if failed:
        ids.body.add_widget(app.label(text("not_printed_hint", lang), 1.1, color=app.bad, halign="center"))
    else:
        ids.body.add_widget(app.label(text(hint, lang), 1.2, halign="center"))
    ids.actions.add_widget(app.button(text("print_again", lang), "flows.reprint", tap_id="print_again"))
    ids.actions.add_widget(app.button(text("finish", lang), "finish", tap_id="finish"))


def fill_cert_done(app: Any, ids: Any, view: View) -> None:
    cert = view.session.certificate
    if cert is None:
        return
    lines = [(text("cert_number", view.lang, number=cert.number), 1.8, True),
             (text("cert_code", view.lang, code=cert.verification_code), 1.8, True),
             (f"{len(cert.records)} · {yuan(cert.total_fen)}", 1.3, False)]
    _done(app, ids, view, lines, "cert_done_hint", view.session.print_failed)


def _header_lines(app: Any, view: View, title_key: str) -> list[Any]:
    buyer = view.session.buyer
    lang = view.lang
    if buyer is None:
        return []
    made = [app.label(f"{text(title_key, lang)}：{buyer.name}" if lang == "zh" else f"{text(title_key, lang)}: {buyer.name}",
                      1.2, bold=True)]
    if buyer.taxpayer_id:
        made.append(app.label(f"{text('tax_id', lang)} {buyer.taxpayer_id}", 1.0))
    return made


def fill_req_scan(app: Any, ids: Any, view: View) -> None:
    lang = view.lang
    more = view.session.buyer is not None
    ids.body.add_widget(app.label(text("req_scan_more" if more else "req_scan", lang), 1.9, bold=True, halign="center"))
    if more:
        for made in _header_lines(app, view, "buyer"):
            ids.body.add_widget(made)
    else:
        ids.body.add_widget(app.label(text("req_scan_hint", lang), 1.2, halign="center", color=app.accent))


def fill_buyer(app: Any, ids: Any, view: View) -> None:
    lang = view.lang
    order = view.session.order
    if order is not None:
        ids.body.add_widget(app.label(f"{text('seller', lang)}: {order.seller.name} · {text('total_incl', lang)} "
                                      f"{yuan(order.total_fen)}", 1.1, color=app.accent))
    ids.body.add_widget(app.label(text("buyer_scan", lang), 1.9, bold=True, halign="center"))
    if view.session.flow == Flow.SELF_INVOICE:
        ids.body.add_widget(app.label(text("buyer_prefill_hint", lang), 1.2, halign="center", color=app.accent))
    ids.body.add_widget(app.label(text("buyer_or", lang), 1.2))
    ids.actions.add_widget(app.button(text("buyer_individual", lang), "flows.buyer.individual", tap_id="individual"))
    ids.actions.add_widget(app.button(text("buyer_keypad", lang), "flows.buyer.open_keypad", tap_id="keypad"))


def _keyboard(app: Any, action: str) -> Any:
    """Digits, letters, space, delete, clear: rows share whatever height the screen leaves."""
    from kivy.uix.boxlayout import BoxLayout

    board = BoxLayout(orientation="vertical", spacing=app.u * 0.3)
    for keys in KEY_ROWS_LETTERS:
        line = BoxLayout(spacing=app.u * 0.3)
        for key in keys:
            line.add_widget(app.button(key, action, key, tap_id=f"key_{key}", height=None, scale=1.1))
        board.add_widget(line)
    tail = BoxLayout(spacing=app.u * 0.3)
    tail.add_widget(app.button("␣", action, "space", tap_id="key_space", height=None))
    tail.add_widget(app.button(text("delete", "zh") + " / Del", action, "del", tap_id="key_del", height=None, scale=0.9))
    tail.add_widget(app.button(text("clear", "zh") + " / Clear", action, "clear", tap_id="key_clear", height=None, scale=0.9))
    board.add_widget(tail)
    return board


def typing_panel(app: Any, ids: Any, lang: str, fields: tuple[tuple[str, str, str, str], ...], focused: str,
                 flow: str) -> None:
    """Fields the on-screen keyboard types into — (name, value, word key, tap id) each; a tap
    picks one (`{flow}.focus`) — and the keyboard under them (`{flow}.press`)."""
    grid = app.grid(1 if app.portrait else 2, size_hint_y=None)
    for name, value, key, tap_id in fields:
        shown = f"{text(key, lang)}\n[b]{value or '—'}[/b]"
        grid.add_widget(app.button(shown, f"{flow}.focus", name, tap_id=tap_id, selected=focused == name, height=4.2, scale=1.0))
    grid.bind(minimum_height=grid.setter("height"))
    ids.body.add_widget(grid)
    ids.body.add_widget(_keyboard(app, f"{flow}.press"))


def fill_buyer_keypad(app: Any, ids: Any, view: View) -> None:
    lang, session = view.lang, view.session
    typing_panel(app, ids, lang, (("taxpayer_id", session.keypad_tax_id, "keypad_tax_id", "field_taxpayer_id"),
                                  ("name", session.keypad_name, "keypad_name", "field_name")), session.keypad_field, "flows.buyer")
    ids.actions.add_widget(app.button(text("keypad_done", lang), "flows.buyer.done", tap_id="keypad_done", scale=1.3))


def fill_req_confirm(app: Any, ids: Any, view: View) -> None:
    lang, order = view.lang, view.session.order
    if order is None:
        return
    ids.body.add_widget(app.label(f"{text('seller', lang)}: {order.seller.name}", 1.2, bold=True))
    ids.body.add_widget(app.label(f"{text('order', lang)}: {order.order_ref}", 1.0))
    weights = [0.6, 0.2, 0.2]
    rows = app.rows()
    for line in order.lines:
        rows.add_widget(app.row([line.name, format_rate(line.tax_rate), fen_to_yuan(line.total_fen, grouping=True)], weights))
    ids.body.add_widget(app.scroller(rows))
    ids.body.add_widget(app.label(f"{text('total_incl', lang)}: {yuan(order.total_fen)}", 1.4, bold=True, color=app.accent))
    for made in _header_lines(app, view, "buyer"):
        ids.body.add_widget(made)
    ids.actions.add_widget(app.button(text("change_buyer", lang), "back", tap_id="change_buyer"))
    ids.actions.add_widget(app.button(text("issue_invoice", lang), "flows.request.confirm", tap_id="issue", scale=1.3))


def fill_invoice_done(app: Any, ids: Any, view: View) -> None:
    invoice = view.session.invoice
    if invoice is None:
        return
    lines = [(text("invoice_number", view.lang, number=invoice.number), 1.8, True),
             (f"{invoice.kind.en if view.lang == 'en' else invoice.kind.zh} · {yuan(invoice.total_fen)}", 1.3, False)]
    _done(app, ids, view, lines, "invoice_done_hint", view.session.print_failed)


def fill_self_item(app: Any, ids: Any, view: View) -> None:
    from kivy.uix.boxlayout import BoxLayout

    lang, session = view.lang, view.session
    if session.buyer is not None:
        ids.body.add_widget(app.label(f"{text('buyer', lang)}: {session.buyer.name}", 1.1, color=app.accent))
    split = BoxLayout(orientation="vertical" if app.portrait else "horizontal", spacing=app.u)
    left = BoxLayout(orientation="vertical", spacing=app.u * 0.5)
    for category in ("goods", "services", "labour"):
        left.add_widget(app.button(text(f"cat_{category}", lang), "flows.self_invoice.choose_category", category,
                                   tap_id=f"cat_{category}", height=None,
                                   selected=session.category is not None and session.category.value == category))
    left.add_widget(app.label(text("amount_label", lang), 1.1))
    left.add_widget(app.label(f"¥ {session.amount_text or '0'}", 2.4, bold=True, color=app.accent))
    split.add_widget(left)
    pad = app.grid(3)
    for key in AMOUNT_KEYS:
        shown = text("delete", lang) if key == "del" else key
        pad.add_widget(app.button(shown, "flows.self_invoice.press", key, tap_id=f"key_{key}", height=None,
                                  scale=1.0 if key == "del" else 1.6))
    split.add_widget(pad)
    ids.body.add_widget(split)
    ids.actions.add_widget(app.button(text("compute", lang), "flows.self_invoice.compute", tap_id="compute", scale=1.3))


def fill_self_quote(app: Any, ids: Any, view: View) -> None:
    lang, quote = view.lang, view.session.quote
    if quote is None:
        return
    ids.body.add_widget(app.label(text("quote_hint", lang, total=yuan(quote.total_fen), amount=yuan(quote.amount_fen)), 1.1))
    if view.session.prefill is not None:
        _prefill_items(app, ids, view)
    if quote.vat_exempt and quote.exemption_threshold_fen is not None:
        ids.body.add_widget(app.label(text("quote_exempt", lang, threshold=yuan(quote.exemption_threshold_fen)), 1.0,
                                      color=app.good))
    weights = [0.46, 0.2, 0.14, 0.2]
    ids.body.add_widget(app.row([text(k, lang) for k in ("col_line", "col_base", "col_rate", "col_due")], weights,
                                bold=True, color=app.accent))
    rows = app.rows()
    for line in quote.lines:
        name = line.name_en if lang == "en" else line.name_zh
        rows.add_widget(app.row([name, fen_to_yuan(line.base_fen, grouping=True), format_rate(line.rate),
                                 fen_to_yuan(line.amount_fen, grouping=True)], weights))
    ids.body.add_widget(app.scroller(rows))
    ids.body.add_widget(app.label(text("tax_due", lang, due=yuan(quote.tax_due_fen)), 1.6, bold=True, color=app.accent))
    key = "pay" if quote.tax_due_fen else "confirm_free"
    ids.actions.add_widget(app.button(text(key, lang, due=yuan(quote.tax_due_fen)), "flows.self_invoice.confirm",
                                      tap_id="pay", scale=1.3, height=4.0))


def _prefill_items(app: Any, ids: Any, view: View) -> None:
    """The items of a pre-filled request, for the taxpayer to check before paying."""
    prefill = view.session.prefill
    assert prefill is not None
    lang = view.lang
    ids.body.add_widget(app.label(f"{text('buyer', lang)}: {view.session.buyer.name if view.session.buyer else ''} · "
                                  f"{text('prefill_items', lang)}", 1.0, bold=True))
    weights = [0.46, 0.34, 0.2]
    rows = app.rows()
    for item in prefill.items:
        unit = f" {item.unit}" if item.unit else ""
        rows.add_widget(app.row([item.name, f"{quantity_text(item)}{unit} × {fen_to_yuan(item.unit_price_fen)}",
                                 fen_to_yuan(item.total_fen, grouping=True)], weights))
    ids.body.add_widget(app.scroller(rows))


def fill_self_pay(app: Any, ids: Any, view: View) -> None:
    lang, session = view.lang, view.session
    quote, payment = session.quote, session.payment
    if payment is not None and session.invoice is None:
        ids.body.add_widget(app.label(text("paid_not_issued", lang, reference=payment.reference), 1.5, bold=True, color=app.bad))
        ids.body.add_widget(app.label(text("paid_not_issued_hint", lang), 1.2))
        ids.actions.add_widget(app.button(text("retry", lang), "flows.self_invoice.retry_issue", tap_id="retry", scale=1.3))
        ids.actions.add_widget(app.button(text("cancel", lang), "cancel", tap_id="cancel"))
        return
    due = yuan(quote.tax_due_fen) if quote else ""
    ids.body.add_widget(app.label(text("pay_hint", lang, due=due), 1.8, bold=True, halign="center", color=app.accent))
    ids.actions.add_widget(app.button(text("cancel", lang), "cancel_payment", tap_id="cancel_payment"))


def fill_check_scan(app: Any, ids: Any, view: View) -> None:
    ids.body.add_widget(app.label(text("check_scan", view.lang), 1.9, bold=True, halign="center"))


def fill_check_result(app: Any, ids: Any, view: View) -> None:
    lang, fields, result = view.lang, view.session.check_fields, view.session.check_result
    if fields is None or result is None:
        return
    if result.genuine:
        verdict, color = text("check_genuine", lang), app.good
    elif result.status == "mismatch":
        names = "、".join if lang == "zh" else ", ".join
        fields_named = names(text(MISMATCH_FIELDS.get(name, "field_kind"), lang) for name in result.mismatched)
        verdict, color = text("check_mismatch", lang, fields=fields_named), app.bad
    else:
        verdict, color = text("check_not_found", lang), app.bad
    ids.body.add_widget(app.label(verdict, 1.6, bold=True, color=color))
    ids.body.add_widget(app.label(result.message_en if lang == "en" else result.message_zh, 1.0))
    pairs = [("field_kind", fields.kind.en if lang == "en" else fields.kind.zh), ("field_code", fields.code or "—"),
             ("field_number", fields.number), ("field_amount", yuan(fields.amount_fen)),
             ("field_date", fields.issued_on.isoformat()), ("field_check_code", fields.check_code or "—")]
    if result.invoice is not None:
        pairs += [("field_seller", result.invoice.seller_name), ("field_buyer", result.invoice.buyer_name),
                  ("field_total", yuan(result.invoice.total_fen))]
    rows = app.rows()
    for key, value in pairs:
        rows.add_widget(app.row([text(key, lang), value], [0.3, 0.7]))
    ids.body.add_widget(app.scroller(rows))
    ids.actions.add_widget(app.button(text("check_another", lang), "flows.check.another", tap_id="check_another"))
    ids.actions.add_widget(app.button(text("finish", lang), "finish", tap_id="finish"))


def fill_guides(app: Any, ids: Any, view: View) -> None:
    from kivy.uix.boxlayout import BoxLayout

    lang, session = view.lang, view.session
    ids.body.add_widget(app.label(text("guides_search", lang), 1.0))
    ids.body.add_widget(app.label(f"» {session.guide_query}", 1.4, bold=True, color=app.accent))
    chips = app.grid(4 if app.portrait else 8, size_hint_y=None)
    for keyword in view.popular:
        chips.add_widget(app.button(keyword, "flows.guides.keyword", keyword, tap_id=f"kw_{keyword}", height=2.8, scale=1.0,
                                    selected=session.guide_query == keyword))
    chips.bind(minimum_height=chips.setter("height"))
    ids.body.add_widget(chips)
    split = BoxLayout(orientation="vertical" if app.portrait else "horizontal", spacing=app.u * 0.6)
    results = app.rows()
    results.add_widget(app.label(text("guides_count", lang, count=len(view.guides)) if view.guides else text("guides_none", lang),
                                 1.0, color=app.accent))
    for entry in view.guides:
        title = entry.title_en if lang == "en" and entry.title_en else entry.title
        results.add_widget(app.button(title, "flows.guides.open", entry.id, tap_id=f"guide_{entry.id}", height=3.0, scale=1.0))
    split.add_widget(app.scroller(results))
    split.add_widget(_keyboard(app, "flows.guides.press"))
    ids.body.add_widget(split)


def fill_guide(app: Any, ids: Any, view: View) -> None:
    entry = view.guide
    if entry is None:
        return
    en = view.lang == "en" and entry.title_en
    ids.body.add_widget(app.label(entry.title_en if en else entry.title, 1.5, bold=True, color=app.accent))
    rows = app.rows()
    rows.add_widget(app.label(entry.answer_en if en else entry.answer, 1.3))
    ids.body.add_widget(app.scroller(rows))


def fill_queue(app: Any, ids: Any, view: View) -> None:
    lang = view.lang
    ids.body.add_widget(app.label(text("queue_pick" if view.queue_take else "queue_view", lang), 1.3))
    grid = app.grid(1 if app.portrait else 2, size_hint_y=None)
    for service in view.queue:
        name = service.name_en if lang == "en" else service.name
        if service.open:
            minutes = max(1, round(service.est_wait_s / 60)) if service.est_wait_s else 0
            detail = text("queue_waiting", lang, waiting=service.waiting, minutes=minutes)
        else:
            detail = text("queue_closed", lang)
        small = int(app.u * 1.0)
        words = f"{service.code}  {name}\n[size={small}]{detail}[/size]"
        grid.add_widget(app.button(words, "flows.queue.take", service.code, tap_id=f"service_{service.code}",
                                   disabled=not (view.queue_take and service.open), height=4.6, scale=1.4))
    grid.bind(minimum_height=grid.setter("height"))
    ids.body.add_widget(grid)
    ids.body.add_widget(app.label("", 1.0))
    if view.queue_take:
        ids.actions.add_widget(app.button(text("checkin_button", lang), "flows.queue.open_checkin", tap_id="checkin"))


def _digit_pad(app: Any, action: str) -> Any:
    """0–9, delete and clear in the telephone layout: an appointment code is digits only."""
    grid = app.grid(3)
    for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):
        grid.add_widget(app.button(key, action, key, tap_id=f"key_{key}", height=None, scale=1.4))
    grid.add_widget(app.button(text("delete", "zh") + " / Del", action, "del", tap_id="key_del", height=None, scale=0.9))
    grid.add_widget(app.button("0", action, "0", tap_id="key_0", height=None, scale=1.4))
    grid.add_widget(app.button(text("clear", "zh") + " / Clear", action, "clear", tap_id="key_clear", height=None, scale=0.9))
    return grid


def checkin_shown(digits: str) -> str:
    """`1234` → `123-4__-___`: the places left show how many digits are still to type."""
    padded = digits + "_" * (9 - len(digits))
    return "-".join(padded[i : i + 3] for i in range(0, 9, 3))


def fill_queue_checkin(app: Any, ids: Any, view: View) -> None:
    lang, session = view.lang, view.session
    refusal = session.checkin_refusal
    ids.body.add_widget(app.label(text("checkin_hint", lang), 1.3, halign="center"))
    ids.body.add_widget(app.label(checkin_shown(session.checkin_digits), 2.6, bold=True, halign="center", color=app.accent))
    if refusal is not None:
        why = checkin_refusal(refusal.reason, refusal.slot, refusal.checkin_from, refusal.checkin_until)
        ids.body.add_widget(app.label(why.get(lang), 1.3, halign="center", color=app.bad))
        if refusal.service:
            name = refusal.service_name_en if lang == "en" else refusal.service_name
            ids.actions.add_widget(app.button(text("checkin_normal", lang, service=name), "flows.queue.take_offered",
                                              tap_id="take_normal"))
    ids.body.add_widget(_digit_pad(app, "flows.queue.press"))
    ids.actions.add_widget(app.button(text("checkin_go", lang), "flows.queue.check_in", tap_id="checkin_go", scale=1.3,
                                      disabled=len(session.checkin_digits) != 9))


def fill_queue_done(app: Any, ids: Any, view: View) -> None:
    lang, ticket = view.lang, view.session.ticket
    if ticket is None:
        return
    ids.body.add_widget(app.label(ticket.number, 5.0, bold=True, halign="center", color=app.accent))
    name = ticket.service_name_en if lang == "en" else ticket.service_name
    ids.body.add_widget(app.label(f"{name} · {text('queue_ahead', lang, ahead=ticket.ahead)}", 1.5, halign="center"))
    if ticket.slot:
        ids.body.add_widget(app.label(text("checkin_mark", lang, slot=ticket.slot), 1.4, bold=True, halign="center",
                                      color=app.accent))
    hint = "queue_done_hint" if ticket.printed else "queue_not_printed"
    ids.body.add_widget(app.label(text(hint, lang), 1.2, halign="center", color=None if ticket.printed else app.bad))
    ids.actions.add_widget(app.button(text("finish", lang), "finish", tap_id="finish"))


FILLERS: dict[Screen, Callable[[Any, Any, Any], None]] = {
    Screen.HOME: fill_home, Screen.CLOSED: fill_closed, Screen.IDENTIFY: fill_identify,
    Screen.CERT_PERIOD: fill_cert_period, Screen.CERT_RECORDS: fill_cert_records, Screen.CERT_DONE: fill_cert_done,
    Screen.REQ_SCAN: fill_req_scan, Screen.BUYER: fill_buyer, Screen.BUYER_KEYPAD: fill_buyer_keypad,
    Screen.REQ_CONFIRM: fill_req_confirm, Screen.REQ_DONE: fill_invoice_done, Screen.SELF_ITEM: fill_self_item,
    Screen.SELF_QUOTE: fill_self_quote, Screen.SELF_PAY: fill_self_pay, Screen.SELF_DONE: fill_invoice_done,
    Screen.CHECK_SCAN: fill_check_scan, Screen.CHECK_RESULT: fill_check_result, Screen.GUIDES: fill_guides,
    Screen.GUIDE: fill_guide, Screen.QUEUE: fill_queue, Screen.QUEUE_DONE: fill_queue_done,
    Screen.QUEUE_CHECKIN: fill_queue_checkin,
    **APPEAL_FILLERS,
}
