"""Tap scripts: a list of steps the running kiosk app taps through with real Kivy touch events.

The same steps come from a `--script FILE` (tests, benchmarks) and from the bus command
`device/{id}/cmd/script` `{"args": {"steps": [...]}}` (the scripted demo, a technician's remote
check). A step is one of

    {"wait": "<screen>"}    until that screen shows, settled (no busy overlay, nothing pending)
    {"tap": "<tap id>"}     a touch on the button with that tap id, once the worker is idle
    {"sleep": S}            S seconds
    {"screenshot": "x.png"} the window as it is now
    {"quit": true}          stop the app (files only: a remote script cannot end the kiosk)

and may carry "timeout" (seconds, default 20). This module holds what needs no Kivy: checking
steps, the record of one run (`ScriptRun`), and the bus responder; kiosk.ui steps a run on the
Kivy clock.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from kiosk.session import Screen

if TYPE_CHECKING:
    from kiosk.core import View

DEFAULT_TIMEOUT_S = 20.0
MAX_TIMEOUT_S = 300.0
MAX_STEPS = 500
KINDS = ("wait", "tap", "sleep", "screenshot", "quit")
SCREENS = frozenset(s.value for s in Screen)


class ScriptError(ValueError):
    """A script that cannot run: says which step and why."""


def check_step(index: int, step: object, *, remote: bool) -> dict[str, Any]:
    """One step, checked: exactly one kind, a value of the right type, an optional timeout."""
    if not isinstance(step, dict):
        raise ScriptError(f"step {index}: expected an object like {{\"tap\": \"tile_certificate\"}}")
    kinds = [k for k in KINDS if k in step]
    unknown = sorted(set(step) - set(KINDS) - {"timeout"})
    if len(kinds) != 1 or unknown:
        raise ScriptError(f"step {index}: exactly one of {', '.join(KINDS)} (and an optional timeout), got {sorted(step)}")
    kind, value = kinds[0], step[kinds[0]]
    if kind == "wait" and value not in SCREENS:
        raise ScriptError(f"step {index}: wait for a screen, one of {', '.join(sorted(SCREENS))}")
    if kind == "tap" and not (isinstance(value, str) and value):
        raise ScriptError(f"step {index}: tap needs a button's tap id, e.g. tile_certificate")
    if kind == "sleep" and not (isinstance(value, (int, float)) and 0 <= value <= MAX_TIMEOUT_S):
        raise ScriptError(f"step {index}: sleep needs seconds, 0 to {MAX_TIMEOUT_S:.0f}")
    if kind == "screenshot" and not (isinstance(value, str) and value.endswith(".png")):
        raise ScriptError(f"step {index}: screenshot needs a .png path")
    if kind == "quit" and remote:
        raise ScriptError(f"step {index}: quit is for script files; a remote script cannot stop the kiosk")
    timeout = step.get("timeout", DEFAULT_TIMEOUT_S)
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT_S):
        raise ScriptError(f"step {index}: timeout in seconds, above 0 and at most {MAX_TIMEOUT_S:.0f}")
    return dict(step)


def check_steps(steps: object, *, remote: bool) -> list[dict[str, Any]]:
    """A whole script, checked before anything is tapped."""
    if not isinstance(steps, list) or not steps:
        raise ScriptError("steps: a non-empty list of steps")
    if len(steps) > MAX_STEPS:
        raise ScriptError(f"steps: at most {MAX_STEPS}")
    return [check_step(i, step, remote=remote) for i, step in enumerate(steps)]


def load_script(path: str) -> list[dict[str, Any]]:
    """A `--script` file: a JSON list of steps."""
    try:
        return check_steps(json.loads(Path(path).read_text(encoding="utf-8")), remote=False)
    except ScriptError as exc:
        raise ValueError(f"{path}: {exc}") from None


def step_timeout(step: dict[str, Any]) -> float:
    return float(step.get("timeout", DEFAULT_TIMEOUT_S))


@dataclass
class ScriptRun:
    """One run of a script on the app: where it is, and what the kiosk issued and printed
    meanwhile (documents by number only — never who they were for, since the answer goes on
    the bus)."""

    steps: list[dict[str, Any]]
    on_done: Callable[["ScriptRun"], None] = lambda run: None
    position: int = 0
    step_started: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)
    screen: str = ""
    failure: tuple[str, str] | None = None  # (code, message)
    finished: bool = False
    documents: dict[str, str] = field(default_factory=dict)
    printed: int = 0
    _prints_seen: int = 0

    def longest_s(self) -> float:
        """How long the run can take at most: every step up to its time-out, plus slack."""
        return sum(step_timeout(s) + float(s.get("sleep", 0)) for s in self.steps) + 5.0

    def begin(self, view: "View") -> None:
        """The run starts from `view`: what that visit printed before is not the run's."""
        self._prints_seen = view.session.prints
        self.started = self.step_started = time.monotonic()
        self.screen = view.screen.value

    def note(self, view: "View") -> None:
        """Every view the kiosk publishes during the run (worker thread): documents issued,
        pages printed. `prints` counts per visit and starts again at 0 with the next one."""
        session = view.session
        if session.certificate is not None:
            self.documents["certificate"] = session.certificate.number
        if session.invoice is not None:
            self.documents["invoice"] = session.invoice.number
        if session.ticket is not None:
            self.documents["ticket"] = session.ticket.number
        if session.prints < self._prints_seen:
            self._prints_seen = 0
        self.printed += session.prints - self._prints_seen
        self._prints_seen = session.prints
        self.screen = view.screen.value

    @property
    def current(self) -> dict[str, Any] | None:
        return self.steps[self.position] if self.position < len(self.steps) else None

    def advance(self) -> None:
        self.position += 1
        self.step_started = time.monotonic()

    def timed_out(self) -> bool:
        step = self.current
        return step is not None and time.monotonic() - self.step_started > step_timeout(step)

    def finish(self, screen: str, failure: tuple[str, str] | None = None) -> None:
        """Ends the run (Kivy thread) and tells whoever waits."""
        if self.finished:
            return
        self.finished = True
        self.screen = screen
        self.failure = failure
        self.on_done(self)

    def answer(self) -> dict[str, Any]:
        """The reply fields of `cmd/script`."""
        return {"screen": self.screen, "steps": self.position, "seconds": round(time.monotonic() - self.started, 2),
                "printed": self.printed, **self.documents}


def script_responder() -> Callable[[Any], dict[str, Any]]:
    """A bus responder for `device/{id}/cmd/script` (blocking=True): runs the steps on the
    running app and answers when they are done, or with the step that failed."""

    def respond(message: Any) -> dict[str, Any]:
        from taxhall.bus import RequestRejected

        # Kivy is looked up, never imported, here: an import from this (bus) thread would make
        # it Kivy's main thread and break the screen.
        app_module = sys.modules.get("kivy.app")
        app = app_module.App.get_running_app() if app_module is not None else None
        if app is None or not hasattr(app, "start_script"):
            raise RequestRejected("not_ready", "the screen is not up yet")
        try:
            steps = check_steps((message.data.args or {}).get("steps"), remote=True)
        except ScriptError as exc:
            raise RequestRejected("bad_request", f"args.{exc}") from None
        done = threading.Event()
        run = ScriptRun(steps, on_done=lambda finished: done.set())
        clock = sys.modules["kivy.clock"].Clock
        clock.schedule_once(lambda dt: app.start_script(run))
        if not done.wait(run.longest_s()):
            clock.schedule_once(lambda dt: app.stop_script(run, ("timeout", "the screen stopped turning")))
            raise RequestRejected("timeout", f"the script did not finish in {run.longest_s():.0f} s")
        if run.failure is not None:
            raise RequestRejected(*run.failure)
        return run.answer()

    return respond
