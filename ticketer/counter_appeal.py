"""Counter staff log an appeal (纳税人诉求) — a phone call they took or a complaint a taxpayer
made at the counter — on the counter caller. Under first-contact ownership (首问负责制) the
logged-in staff member who takes it owns it until it is answered; the appeals desk in the
ticketer process keeps it (`appeals/req/file`, docs/appeals.md).

The plain logic (`CounterAppeals`) is used by the Kivy caller (`open_appeal_popup`) and by tests.
The phone number is passed on once and not kept here.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from taxhall.bus import BusError
from ticketer.counter_desk import CounterDesk

log = logging.getLogger("ticketer.counter")

CHANNELS = ("phone", "counter")
WORDS = {
    "zh": {"button": "登记诉求", "title": "登记纳税人诉求（首问负责）", "phone_call": "电话来电", "at_counter": "窗口现场",
           "what": "诉求内容", "contact": "回复电话（选填）", "save": "登记", "cancel": "取消", "login_first": "请先登录",
           "say_what": "请填写诉求内容", "logged": "诉求已登记 {ref}，由您负责答复", "offline": "无法连接诉求台账，请稍后再试",
           "refused": "未能登记：{message}"},
    "en": {"button": "Log appeal", "title": "Log a taxpayer appeal (you own it)", "phone_call": "Phone call",
           "at_counter": "At the counter", "what": "What it is about", "contact": "Phone for the reply (optional)",
           "save": "Log it", "cancel": "Cancel", "login_first": "Log in first", "say_what": "Say what the appeal is about",
           "logged": "Appeal {ref} logged; you own it until it is answered",
           "offline": "The appeals ledger cannot be reached; try again later", "refused": "Not logged: {message}"},
}


def said(desk: CounterDesk, key: str, **values: Any) -> str:
    return WORDS["en" if desk.lang == "en" else "zh"][key].format(**values)


@dataclass(frozen=True)
class Logged:
    ok: bool
    message: str
    ref: str | None = None


class CounterAppeals:
    """Appeals taken at one counter, by its logged-in staff member."""

    def __init__(self, desk: CounterDesk) -> None:
        self.desk = desk
        self._categories: list[dict[str, Any]] = []

    def categories(self) -> list[dict[str, Any]]:
        """The hall's categories (asked once; the list changes only with the ticketer's config)."""
        if not self._categories:
            reply = self.desk.bus.request("appeals/req/catalog", {}, timeout_s=self.desk.timeout_s, check=False)
            if reply.get("ok"):
                self._categories = list(reply["categories"])
        return self._categories

    def log(self, category: str, channel: str, description: str, phone: str = "") -> Logged:
        """Files the appeal with this counter and staff member as its first owner."""
        staff = self.desk.screen.staff
        if not staff:
            return self._show(Logged(False, said(self.desk, "login_first")))
        if not description.strip():
            return self._show(Logged(False, said(self.desk, "say_what")))
        payload = {"request_id": f"{self.desk.counter}-appeal-{uuid.uuid4().hex[:12]}", "category": category,
                   "channel": channel if channel in CHANNELS else "counter", "source": f"counter-{self.desk.counter}",
                   "counter": self.desk.counter, "staff": staff, "description": description.strip()[:2000],
                   "phone": phone.strip()[:20]}
        try:  # retried with the same request id: never two appeals for one
            reply: dict[str, Any] | None = self.desk.bus.request_retried("appeals/req/file", payload,
                                                                         timeout_s=self.desk.timeout_s)
        except BusError:
            reply = None
        if reply is None:
            return self._show(Logged(False, said(self.desk, "offline")))
        if not reply.get("ok"):
            return self._show(Logged(False, said(self.desk, "refused", message=reply["error"]["message"])))
        ref = str(reply["appeal"]["ref"])
        log.info("counter %s: appeal %s logged by %s (%s)", self.desk.counter, ref, staff, channel)
        return self._show(Logged(True, said(self.desk, "logged", ref=ref), ref))

    def _show(self, result: Logged) -> Logged:
        self.desk.say(result.ok, result.message)
        return result


def open_appeal_popup(appeals: CounterAppeals, run: Callable[..., object] | None = None) -> None:
    """The Kivy form: category, phone call or at the counter, what it is about, a reply phone."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.popup import Popup
    from kivy.uix.textinput import TextInput
    from kivy.uix.togglebutton import ToggleButton

    desk = appeals.desk
    start = run or (lambda target, *args: threading.Thread(target=target, args=args, daemon=True).start())
    categories = appeals.categories()
    if not categories:
        desk.say(False, said(desk, "offline"))
        return
    form = BoxLayout(orientation="vertical", spacing=8, padding=8)
    kinds = BoxLayout(spacing=6, size_hint_y=0.18)
    for index, category in enumerate(categories):
        kinds.add_widget(ToggleButton(text=category["name_en" if desk.lang == "en" else "name"], group="appeal-category",
                                      state="down" if index == 0 else "normal", font_name="CJK", font_size="18sp"))
    channels = BoxLayout(spacing=6, size_hint_y=0.15)
    for index, key in enumerate(("phone_call", "at_counter")):
        channels.add_widget(ToggleButton(text=said(desk, key), group="appeal-channel", state="down" if index == 0 else "normal",
                                         font_name="CJK", font_size="18sp"))
    what = TextInput(hint_text=said(desk, "what"), font_name="CJK", size_hint_y=0.35)
    phone = TextInput(hint_text=said(desk, "contact"), font_name="CJK", multiline=False, input_filter="int", size_hint_y=0.14)
    buttons = BoxLayout(spacing=8, size_hint_y=0.18)
    popup = Popup(title=said(desk, "title"), title_font="CJK", content=form, size_hint=(0.92, 0.8))

    def save(*_: object) -> None:
        # kinds and channels list their children last-added first
        chosen = [c for c, b in zip(categories, reversed(kinds.children)) if b.state == "down"]
        channel = "phone" if list(reversed(channels.children))[0].state == "down" else "counter"
        popup.dismiss()
        start(appeals.log, (chosen or categories)[0]["tag"], channel, what.text, phone.text)

    save_button = Button(text=said(desk, "save"), font_name="CJK-Bold", font_size="22sp")
    save_button.bind(on_release=save)
    cancel_button = Button(text=said(desk, "cancel"), font_name="CJK", font_size="22sp")
    cancel_button.bind(on_release=lambda *_: popup.dismiss())
    buttons.add_widget(save_button)
    buttons.add_widget(cancel_button)
    for part in (kinds, channels, what, phone, buttons):
        form.add_widget(part)
    popup.open()
