"""Zero-touch enrolment: a QR code holding what a new device needs to join its hall (hall,
device id, role, broker, and its secret), printed by `credentials --qr` and scanned at the
device by `taxhall provision init --enrol-scan` (or pasted with `--enrol TEXT`).

The text is a URI of URL-safe characters only, `taxhall:enrol?v=1&hall=…&device=…`, because a
keyboard-wedge scanner types it through a keyboard layout, where JSON's quotes and braces are
the first characters to come out wrong.

The secret is the device's MQTT password: the QR is a key and is handled like one (printed for
one device, handed to the technician, destroyed once the device is online). Rotating a
device's password (`credentials --rotate DEVICE`) makes an old or lost code worthless.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from provisioning.acl import ROLES, AclError, check_name
from taxhall.config import parse_broker_url

PREFIX = "taxhall:enrol?"
VERSION = "1"


class EnrolError(ValueError):
    """Text that is not a usable enrolment code; str() is one line."""


@dataclass(frozen=True)
class Enrolment:
    hall: str
    device: str
    role: str
    broker: str
    secret: str

    def text(self) -> str:
        return PREFIX + urlencode({"v": VERSION, "hall": self.hall, "device": self.device, "role": self.role,
                                   "broker": self.broker, "secret": self.secret})


def parse_enrolment(text: str) -> Enrolment:
    """The enrolment in a scanned or pasted code; EnrolError names what is wrong."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise EnrolError(f"not a taxhall enrolment code (it should start with {PREFIX!r})")
    fields = {k: v[0] for k, v in parse_qs(text[len(PREFIX):], keep_blank_values=True).items()}
    if fields.get("v") != VERSION:
        raise EnrolError(f"enrolment code version {fields.get('v')!r}; this taxhall reads version {VERSION}")
    missing = [k for k in ("hall", "device", "role", "broker", "secret") if not fields.get(k)]
    if missing:
        raise EnrolError(f"enrolment code without {', '.join(missing)} (damaged or cut short?)")
    try:
        check_name(fields["hall"], "hall id")
        check_name(fields["device"])
        parse_broker_url(fields["broker"])
    except (AclError, ValueError) as exc:
        raise EnrolError(f"enrolment code: {exc}") from None
    if fields["role"] not in ROLES:
        raise EnrolError(f"enrolment code: unknown role {fields['role']!r}")
    return Enrolment(fields["hall"], fields["device"], fields["role"], fields["broker"], fields["secret"])


def write_qr(enrolment: Enrolment, path: Path) -> Path:
    """The code as a PNG to print (segno; error correction M survives a crease)."""
    import segno

    segno.make(enrolment.text(), error="m", micro=False).save(str(path), scale=6, border=4)
    return path
