"""The 意见簿 screens of the Kivy kiosk (kiosk.ui draws them with these fillers): categories
and preset phrases, details and phone on the on-screen keyboard, the reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from kiosk.session import Screen
from kiosk.words import text

if TYPE_CHECKING:
    from kiosk.core import View


def fill_appeal(app: Any, ids: Any, view: View) -> None:
    lang, draft = view.lang, view.session.appeal
    if draft is None:
        return
    ids.body.add_widget(app.label(text("appeal_pick", lang), 1.2))
    kinds = app.grid(2 if app.portrait else 4, size_hint_y=None)
    for category in draft.categories:
        kinds.add_widget(app.button(category.name_en if lang == "en" else category.name, "flows.appeal.choose_category",
                                    category.tag, tap_id=f"appeal_category_{category.tag}",
                                    selected=draft.category == category.tag, height=3.8, scale=1.2))
    kinds.bind(minimum_height=kinds.setter("height"))
    ids.body.add_widget(kinds)
    chosen = draft.chosen()
    if chosen is not None and chosen.phrases:
        phrases = app.grid(1 if app.portrait else 2, size_hint_y=None)
        for phrase in chosen.phrases:
            phrases.add_widget(app.button(phrase.text_en if lang == "en" else phrase.text, "flows.appeal.toggle_phrase",
                                          phrase.tag, tap_id=f"appeal_phrase_{phrase.tag}",
                                          selected=phrase.tag in draft.phrases, height=3.6, scale=1.1))
        phrases.bind(minimum_height=phrases.setter("height"))
        ids.body.add_widget(phrases)
    ids.actions.add_widget(app.button(text("appeal_next", lang), "flows.appeal.next", tap_id="appeal_next",
                                      disabled=draft.category is None, scale=1.3))


def fill_appeal_text(app: Any, ids: Any, view: View) -> None:
    from kiosk.ui import typing_panel  # the same fields and keyboard as the buyer's keypad

    lang, draft = view.lang, view.session.appeal
    if draft is None:
        return
    typing_panel(app, ids, lang, (("text", draft.text, "appeal_field_text", "appeal_field_text"),
                                  ("phone", draft.phone, "appeal_field_phone", "appeal_field_phone")), draft.field, "flows.appeal")
    ids.actions.add_widget(app.button(text("appeal_submit", lang), "flows.appeal.submit", tap_id="appeal_submit", scale=1.3))


def fill_appeal_done(app: Any, ids: Any, view: View) -> None:
    lang, draft = view.lang, view.session.appeal
    if draft is None or draft.ref is None:
        return
    ids.body.add_widget(app.label(text("appeal_ref", lang), 1.3, halign="center"))
    ids.body.add_widget(app.label(draft.ref, 3.2, bold=True, halign="center", color=app.accent))
    due = (draft.deadline or "")[:16].replace("T", " ")
    ids.body.add_widget(app.label(text("appeal_due", lang, due=due), 1.4, halign="center"))
    hint = "appeal_done_hint" if draft.printed else "appeal_not_printed"
    ids.body.add_widget(app.label(text(hint, lang), 1.2, halign="center", color=None if draft.printed else app.bad))
    ids.actions.add_widget(app.button(text("finish", lang), "finish", tap_id="finish"))


APPEAL_TITLES = {Screen.APPEAL: "appeal_title", Screen.APPEAL_TEXT: "appeal_text_title", Screen.APPEAL_DONE: "appeal_done_title"}
APPEAL_FILLERS: dict[Screen, Callable[[Any, Any, Any], None]] = {
    Screen.APPEAL: fill_appeal, Screen.APPEAL_TEXT: fill_appeal_text, Screen.APPEAL_DONE: fill_appeal_done,
}
