"""Who may publish and read what on a hall's broker: the roles and the Mosquitto ACL file.

Each device connects with its device id as MQTT user name (password or the common name of its
TLS certificate), so one `pattern` block with `%u` gives every device its own
`device/{id}/…` topics, and a `user` block per device adds what its role needs (docs/mqtt.md
says who publishes and reads each topic). Nothing is granted that a role does not use:
Mosquitto refuses anything not granted (a QoS 1 publish gets "not authorized", a
subscription gets a failure code) and delivers nothing a user may not read.

One deliberate exception: every user may write to any `device/+/reply`, because answers go to
the requester's own reply topic. A forged answer is harmless: requesters match answers on
16 random bytes of correlation data that only the real server saw (nobody else may read
`queue/req/#` or another device's `cmd/#`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

ROOT = "taxhall/v1"
COUNTER_OPS = ("login", "logout", "call_next", "recall", "start", "finish", "no_show", "transfer", "pause", "resume")

# Taxpayer appeals (ticketer.appeals): kiosks and counter callers file them; the web does everything.
APPEAL_INTAKE = (("write", "appeals/req/catalog"), ("write", "appeals/req/file"))

# role → (access, topic below taxhall/v1/{hall}/). "read" covers subscribing and receiving.
ROLE_RIGHTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "ticketer": (("read", "queue/req/#"), ("write", "queue/calls"), ("write", "queue/state"), ("write", "queue/alarms"),
                 ("read", "appeals/req/#")),
    "dispenser": (("write", "queue/req/take_ticket"), ("write", "queue/req/lease"), ("write", "queue/req/hand_in"),
                  ("read", "queue/state")),
    "kiosk": (("write", "queue/req/take_ticket"), ("read", "queue/state"), ("read", "display/#"),
              ("read", "kiosk/#")) + APPEAL_INTAKE,
    "counter": tuple(("write", f"queue/req/{op}") for op in COUNTER_OPS) + (("read", "queue/state"),) + APPEAL_INTAKE,
    "rater": (("write", "queue/req/rate"), ("read", "queue/state")),
    # The hall screen and the LED boards: calls and state, notices and posters.
    "display": (("read", "queue/calls"), ("read", "queue/state"), ("read", "display/#")),
    "led": (("read", "queue/calls"), ("read", "queue/state"), ("read", "display/#")),
    # Fleet health: statuses, telemetry, events and queue lengths; commands nowhere.
    "monitor": (("read", "device/+/status"), ("read", "device/+/telemetry"), ("read", "device/+/event"),
                ("read", "queue/state"), ("read", "queue/calls"), ("read", "queue/alarms")),
    # `taxhall web` (on the ticketer host): the queue, alarms and notices to show; a ticket's
    # status for its phone page; the supervisor's actions (pause, resume, open or close a
    # service, the notice line).
    "web": (("read", "queue/state"), ("read", "queue/calls"), ("read", "queue/alarms"), ("read", "device/+/event"),
            ("read", "display/notice"), ("write", "display/notice"), ("write", "queue/req/ticket_status"),
            ("write", "queue/req/pause"), ("write", "queue/req/resume"), ("write", "queue/req/open_service"),
            ("write", "queue/req/close_service"), ("write", "appeals/req/#")),
    # People: read everything, command devices, publish hall content.
    "operator": (("read", "#"), ("write", "device/+/cmd/#"), ("write", "display/#"), ("write", "kiosk/#")),
    # The hall broker's bridge to the central broker (its local_username): health and queue
    # figures out, commands and content in, answers to central operators out.
    "bridge": (("read", "device/+/status"), ("read", "device/+/telemetry"), ("read", "device/+/event"),
               ("read", "queue/state"), ("read", "queue/alarms"), ("read", "queue/calls"), ("read", "device/+/reply"),
               ("write", "device/+/cmd/#"), ("write", "display/#"), ("write", "kiosk/#")),
}
ROLES = tuple(ROLE_RIGHTS)
# What every named user may do with its own device topics (pattern lines, %u = user name).
OWN_RIGHTS: tuple[tuple[str, str], ...] = (
    ("write", "device/%u/status"),
    ("write", "device/%u/telemetry"),
    ("write", "device/%u/event"),
    ("read", "device/%u/cmd/#"),
    ("read", "device/%u/reply"),
)
ANSWER_RIGHT = ("write", "device/+/reply")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Appointments (预约办税, docs/appointments.md): the ticketer's appointment desk answers; the web
# books, looks up, cancels and shows the dashboard; dispensers and kiosks check in by code or QR.
APPOINTMENT_RIGHTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "ticketer": (("read", "appointments/req/#"),),
    "dispenser": (("write", "appointments/req/check_in"), ("write", "appointments/req/lookup")),
    "kiosk": (("write", "appointments/req/check_in"), ("write", "appointments/req/lookup")),
    "web": tuple(("write", f"appointments/req/{op}") for op in ("slots", "book", "lookup", "cancel", "list", "stats")),
}


class AclError(ValueError):
    """A device list the ACL cannot be made from; str() is one line."""


@dataclass(frozen=True)
class Account:
    """One MQTT user: a device (or a person, for operators) and its role."""

    name: str
    role: str


def check_name(name: str, what: str = "device id") -> str:
    """Names become topic levels and `%u` in ACL patterns: no `/ + #`, spaces or colons."""
    if not _NAME.match(name):
        raise AclError(f"{what} {name!r}: use letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit")
    return name


def check_accounts(accounts: Iterable[Account]) -> list[Account]:
    seen: set[str] = set()
    result = []
    for account in accounts:
        check_name(account.name)
        if account.role not in ROLE_RIGHTS:
            raise AclError(f"device {account.name}: unknown role {account.role!r}; expected one of: {', '.join(ROLES)}")
        if account.name in seen:
            raise AclError(f"device {account.name} is listed twice")
        seen.add(account.name)
        result.append(account)
    return result


def acl_text(hall: str, accounts: Iterable[Account]) -> str:
    """The Mosquitto ACL file for one hall's broker."""
    check_name(hall, "hall id")
    root = f"{ROOT}/{hall}"
    lines = [
        f"# Mosquitto ACL of hall {hall}, written by `taxhall provision credentials`; edit devices.toml and rerun.",
        "# Topic lines before the first `user` line would apply to anonymous clients: there are none.",
        "",
        "# Every device: its own status, telemetry and events; its own commands and answers.",
        *(f"pattern {access} {root}/{topic}" for access, topic in OWN_RIGHTS),
        "# Answers go to the requester's reply topic (forgeries fail the correlation check).",
        f"pattern {ANSWER_RIGHT[0]} {root}/{ANSWER_RIGHT[1]}",
    ]
    for account in check_accounts(accounts):
        lines += ["", f"# {account.name}: {account.role}", f"user {account.name}"]
        rights = (*ROLE_RIGHTS[account.role], *APPOINTMENT_RIGHTS.get(account.role, ()))
        lines += [f"topic {access} {root}/{topic}" for access, topic in rights]
    return "\n".join(lines) + "\n"
