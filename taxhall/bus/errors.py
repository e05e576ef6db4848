"""The hall bus's one error family. Callers catch `BusError`; the subclasses say what kind."""

from __future__ import annotations


class BusError(Exception):
    """Anything the hall bus could not do."""


class BusUnavailable(BusError):
    """The broker could not be reached in time."""


class RequestTimeout(BusError):
    """A request got no answer in time (nobody serves the topic, or the server is down)."""

    def __init__(self, topic: str, timeout_s: float) -> None:
        super().__init__(f"no answer on {topic} within {timeout_s:g} s")
        self.topic = topic
        self.timeout_s = timeout_s


class RequestFailed(BusError):
    """The server answered `{"ok": false, "error": {...}}`."""

    def __init__(self, code: str, message: str, reply: dict | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reply = reply or {}


class RequestRejected(BusError):
    """Raised by a request handler to answer with an error code; the bus turns it into
    `{"ok": false, "error": {"code", "message"}}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
