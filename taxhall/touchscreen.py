"""What every taxhall Kivy screen shares: window set-up, the CJK fonts registered under the
names the .kv files use ("CJK", "CJK-Bold"), and the screenshot-and-quit switch that tests,
docs/screens and the headless demo use. Kivy is imported only inside these functions."""

from __future__ import annotations

import os
from typing import Any, Callable


def prepare_kivy(size: str, fullscreen: bool) -> None:
    """Must run before the first `kivy.app`/`kivy.core.window` import of the process."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # not xclip/xsel, which a kiosk image lacks
    from kivy.config import Config

    width, height = size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    # A touch screen reports touches, not a mouse with a right button for multitouch emulation.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")

    from kivy.core.text import LabelBase

    from taxhall.fonts import single_face_font

    LabelBase.register("CJK", str(single_face_font()))
    LabelBase.register("CJK-Bold", str(single_face_font(bold=True)))


def schedule_exit(app: Any, screenshot: str | None, exit_after: float | None,
                  before_shot: Callable[[], None] | None = None) -> None:
    """After `exit_after` seconds: optionally save the window to `screenshot`, then stop."""
    if exit_after is None:
        return
    from kivy.clock import Clock
    from kivy.core.window import Window

    def finish(dt: float) -> None:
        if before_shot:
            before_shot()
        if screenshot:
            save_screenshot(Window, screenshot)
        app.stop()

    Clock.schedule_once(finish, exit_after)


def save_screenshot(window: Any, path: str) -> str:
    """Kivy numbers screenshot files; this one lands exactly at `path`."""
    saved = window.screenshot(name=path)
    if saved and saved != path:
        os.replace(saved, path)
    return path
