"""Remote commands on `device/{id}/cmd/{name}`: who may send them, and the log of who asked.

Who may: the broker decides. The hall ACL (provisioning/acl.py) lets only the operator role
(and the bridge that carries a central operator's commands into the hall) publish to
`device/+/cmd/#`; a device therefore never has to judge a sender itself.

Who asked: a command carries `"operator": NAME` in its payload (the Command schema allows
extra fields), and its MQTT 5 response topic is the sender's own
`device/{sender}/reply`, which only the sender's credentials may read. The device logs both
with the outcome. The response topic is the stronger of the two — a sender that names another
reply topic never sees its answer — and a command whose named operator differs from its reply
topic is logged as such. (MQTT 5 user properties were the alternative; a payload field needs
no change to the bus client and survives any bridge or broker unchanged.)
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from pydantic import BaseModel

from taxhall.bus import BusMessage, HallBus, RequestRejected

log = logging.getLogger("taxhall.commands")

Responder = Callable[[BusMessage], "dict[str, Any] | BaseModel"]


def sender_of(message: BusMessage) -> str:
    """The device whose reply topic the command named ("" when it wants no answer)."""
    topic = message.response_topic or ""
    parts = topic.split("/")
    # taxhall/v1/{hall}/device/{id}/reply
    if len(parts) == 6 and parts[3] == "device" and parts[5] == "reply":
        return parts[4]
    return topic


def operator_of(message: BusMessage) -> str:
    data = message.data
    extra = getattr(data, "model_extra", None) or {}
    value = extra.get("operator") if isinstance(data, BaseModel) else (data or {}).get("operator")
    return value if isinstance(value, str) else ""


def who_asked(message: BusMessage) -> str:
    """One phrase for the log: `ops-li (reply to ops-li)`, flagged when the two disagree."""
    operator, sender = operator_of(message) or "?", sender_of(message) or "nobody"
    if operator != "?" and sender not in (operator, "nobody"):
        return f"{operator} (says; reply to {sender} — not the same)"
    return f"{operator} (reply to {sender})"


def audited(name: str, responder: Responder) -> Responder:
    """`responder` with a log line per command: which, who asked, and how it ended."""

    def respond(message: BusMessage) -> dict[str, Any] | BaseModel:
        asker = who_asked(message)
        request_id = getattr(message.data, "request_id", "?")
        try:
            result = responder(message)
        except RequestRejected as exc:
            log.warning("command %s [%s] from %s: refused, %s", name, request_id, asker, exc.code)
            raise
        except Exception as exc:
            log.warning("command %s [%s] from %s: failed, %s", name, request_id, asker, type(exc).__name__)
            raise
        log.info("command %s [%s] from %s: done", name, request_id, asker)
        return result

    return respond


def serve_command(bus: HallBus, name: str, responder: Responder, *, blocking: bool = False) -> None:
    """Answers `device/{this device}/cmd/{name}` with `responder`, logging who asked."""
    bus.serve(f"device/{bus.device}/cmd/{name}", audited(name, responder), blocking=blocking)


def send_command(bus: HallBus, device: str, name: str, args: dict[str, Any] | None = None, *,
                 operator: str | None = None, timeout_s: float | None = None, check: bool = True) -> dict[str, Any]:
    """An operator's command to `device`; the answer, or RequestFailed/RequestTimeout. The
    operator name defaults to this client's device id, which is its MQTT user name."""
    payload = {"args": args or {}, "operator": operator or bus.device}
    return bus.request(f"device/{device}/cmd/{name}", payload, timeout_s=timeout_s, check=check)


def serve_standard_commands(bus: HallBus) -> None:
    """The commands every taxhall process answers: `ping` (its health figures), `restart`, and
    `reload_config`. A process reads its device file once, at start; reloading is therefore a
    clean restart, which systemd (Restart=always) or the demo performs — said in the answer."""
    import os
    import signal
    import threading

    def ping(message: BusMessage) -> dict[str, Any]:
        return {"device": bus.device, "role": bus.role, "figures": bus.figures()}

    def stop_soon(why: str) -> Responder:
        def respond(message: BusMessage) -> dict[str, Any]:
            # After the answer has gone out: SIGTERM takes the process's own clean way out.
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
            return {"state": "restarting", "why": why}

        return respond

    serve_command(bus, "ping", ping)
    serve_command(bus, "restart", stop_soon("restart requested"))
    serve_command(bus, "reload_config", stop_soon("restarting to read the device config again"))
