"""What every taxhall Kivy screen shares: window set-up, the CJK fonts registered under the
names the .kv files use ("CJK", "CJK-Bold"), and the screenshot-and-quit switch that tests,
docs/screens and the headless demo use. Kivy is imported only inside these functions."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable


def prepare_kivy(size: str, fullscreen: bool, max_fps: int = 30) -> None:
    """Must run before the first `kivy.app`/`kivy.core.window` import of the process."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Kivy's own log handling would write every record of the process to ~/.kivy/logs, print
    # it a second time unmasked and open the root logger to DEBUG: our records stay in the one
    # masking handler of taxhall.logs, at the configured level.
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # not xclip/xsel, which a kiosk image lacks
    from kivy.config import Config

    width, height = full_screen_start(size) if fullscreen else size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    # A touch screen reports touches, not a mouse with a right button for multitouch emulation.
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    # A hall screen needs no 60 fps, nor multisampling for flat shapes and text: both cost
    # idle CPU and memory on a small board with a software renderer.
    Config.set("graphics", "maxfps", str(max_fps))
    Config.set("graphics", "multisamples", "0")

    from kivy.core.text import LabelBase

    from taxhall.fonts import single_face_font

    LabelBase.register("CJK", str(single_face_font()))
    LabelBase.register("CJK-Bold", str(single_face_font(bold=True)))


def full_screen_start(size: str, tallest: int = 1280) -> tuple[str, str]:
    """The window a full-screen app opens with before it fills the screen. Under cage on a
    1280x720 output (scripts/screen-under-cage), a dispenser opened at its portrait 1080x1920
    hung in SDL's resize handling (a screenshot never returned, twice), while 720x1280,
    600x800 and landscape 1920x1080 starts filled the screen; a landscape 1280x720 start came
    out 1280x800, so landscape sizes are left alone. A portrait size is scaled to at most
    `tallest` pixels high, same shape."""
    width, height = (int(part) for part in size.split("x"))
    if height <= width or height <= tallest:
        return str(width), str(height)
    return str(round(width * tallest / height)), str(tallest)


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


def screenshot_responder(timeout_s: float = 5.0) -> Callable[[Any], dict[str, Any]]:
    """A bus responder for `device/{id}/cmd/screenshot` (args: {"path"}): saves the window as
    it is now. Lets a technician, the demo and tests see a running screen remotely."""
    import threading

    def respond(message: Any) -> dict[str, Any]:
        from taxhall.bus import RequestRejected

        # Only once the app runs: importing Kivy's window from this (bus) thread would make it
        # Kivy's main thread and break the screen.
        # While Kivy is still importing, kivy.app is in sys.modules but has no App yet.
        app_class = getattr(sys.modules.get("kivy.app"), "App", None)
        if app_class is None or app_class.get_running_app() is None:
            raise RequestRejected("not_ready", "the screen is not up yet")
        Clock = sys.modules["kivy.clock"].Clock
        Window = sys.modules["kivy.core.window"].Window

        path = str((message.data.args or {}).get("path") or "")
        if not path.endswith(".png"):
            raise RequestRejected("bad_request", "args.path: a .png file to write")
        done = threading.Event()
        result: dict[str, Any] = {}

        def shoot(dt: float) -> None:
            try:
                result["path"] = save_screenshot(Window, path)
            except Exception as exc:  # reported to the caller, the screen keeps running
                result["error"] = str(exc)
            done.set()

        Clock.schedule_once(shoot)
        if not done.wait(timeout_s):
            raise RequestRejected("timeout", "the screen did not draw in time")
        if "error" in result:
            raise RequestRejected("screenshot_failed", result["error"])
        return {"path": result["path"]}

    return respond


def keep_watchdog_fed() -> None:
    """Under systemd (Type=notify, WatchdogSec=): READY=1 once the first frame is drawn, then
    WATCHDOG=1 from Kivy's clock, so a UI whose main loop hangs stops the keep-alives and is
    restarted. Call once from the App's build(); a no-op outside systemd."""
    from kivy.clock import Clock

    from taxhall.watchdog import Watchdog

    watchdog = Watchdog.from_env()
    if not watchdog.enabled:
        return
    # The clock callbacks keep `watchdog` alive; scheduled from the UI thread, they run only
    # while that thread turns, which is the point.
    def kick(dt: float) -> None:
        # returns None, never kick()'s False (sent nothing this time): Kivy cancels an interval
        # whose callback returns False, and the keep-alives would stop after the first
        watchdog.kick()

    Clock.schedule_once(lambda dt: watchdog.ready())
    Clock.schedule_interval(kick, watchdog.kick_every_s / 2)


def screen_bus(config: Any, **kwargs: Any) -> Any:
    """The hall bus of a device with a screen: a HallBus (kwargs as HallBus takes them) that
    already answers the standard commands and `cmd/screenshot`, each logged with who asked."""
    from taxhall.bus import HallBus
    from taxhall.commands import serve_command, serve_standard_commands

    bus = HallBus(config, **kwargs)
    serve_standard_commands(bus)
    serve_command(bus, "screenshot", screenshot_responder(), blocking=True)
    return bus
