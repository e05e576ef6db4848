"""Zero-touch enrolment codes: the QR code a technician prints on the hall server with
`taxhall provision enrol --device ID --role ROLE` and scans (or pastes) at the new device with
`taxhall provision enrol --qr IMAGE.png | --code TEXT` (or `provision init --enrol-scan`).

The code says who the device is and where to ask for its credentials — hall, device id, role,
broker, the hall server's enrolment URL — and holds a ONE-TIME enrolment secret, never the
device's password: the device trades the secret at the enrolment service
(provisioning.enrolment) for its MQTT password (or TLS client certificate). The hall server
keeps only a hash of the secret, which expires (24 h by default) and works once, so a code
photographed or left in a drawer is worthless after the device is in service.

In a hall that uses TLS the enrolment service speaks HTTPS with the broker's certificate, and the
code also carries `ca`, the SHA-256 of the hall CA (base64url): the device fetches the CA from
the service, checks it against the code, and only then sends its secret over a connection
verified by that CA — the answer holds its private key.

The text is a URI of URL-safe characters only, `taxhall:enrol?v=2&hall=…&device=…`, because a
keyboard-wedge scanner types it through a keyboard layout, where JSON's quotes and braces are
the first characters to come out wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from provisioning.acl import ROLES, AclError, check_name
from taxhall.config import parse_broker_url

PREFIX = "taxhall:enrol?"
VERSION = "2"  # 1 carried the device's password; such codes are refused with a word on why


class EnrolError(ValueError):
    """Text that is not a usable enrolment code, or an enrolment that failed; str() is one line."""


@dataclass(frozen=True)
class Enrolment:
    hall: str
    device: str
    role: str
    broker: str
    url: str  # the hall server's enrolment endpoint, e.g. http://10.20.0.2:8470/enrol
    secret: str  # one-time enrolment secret (not a password)
    ca: str = ""  # https: SHA-256 of the hall CA certificate (DER), base64url without padding

    def text(self) -> str:
        fields = {"v": VERSION, "hall": self.hall, "device": self.device, "role": self.role, "broker": self.broker,
                  "url": self.url, "secret": self.secret}
        return PREFIX + urlencode({**fields, "ca": self.ca} if self.ca else fields)


def ca_pin(ca_pem: bytes) -> str:
    """The code's `ca`: SHA-256 of the CA certificate's DER, base64url without padding."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def check_enrolment_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnrolError(f"enrolment URL {url!r}: expected http://HOST:PORT/enrol or https://…")
    return url


def parse_enrolment(text: str) -> Enrolment:
    """The enrolment in a scanned or pasted code; EnrolError names what is wrong."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise EnrolError(f"not a taxhall enrolment code (it should start with {PREFIX!r})")
    fields = {k: v[0] for k, v in parse_qs(text[len(PREFIX):], keep_blank_values=True).items()}
    if fields.get("v") == "1":
        raise EnrolError("an old enrolment code (version 1, made by `credentials --qr`); "
                         "make a new one on the hall server with `taxhall provision enrol`")
    if fields.get("v") != VERSION:
        raise EnrolError(f"enrolment code version {fields.get('v')!r}; this taxhall reads version {VERSION}")
    missing = [k for k in ("hall", "device", "role", "broker", "url", "secret") if not fields.get(k)]
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
    check_enrolment_url(fields["url"])
    if fields["url"].startswith("https://") and not fields.get("ca"):
        raise EnrolError("enrolment code with an https URL but no ca (the hall CA's fingerprint): damaged?")
    return Enrolment(fields["hall"], fields["device"], fields["role"], fields["broker"], fields["url"], fields["secret"],
                     fields.get("ca", ""))


def write_qr(enrolment: Enrolment, path: Path) -> Path:
    """The code as a PNG to print (segno; error correction M survives a crease)."""
    import segno

    path.parent.mkdir(parents=True, exist_ok=True)
    segno.make(enrolment.text(), error="m", micro=False).save(str(path), scale=6, border=4)
    return path


def read_qr(path: Path) -> str:
    """The enrolment code in a photo or scan of the printout (the camera scanner's decoder:
    zbar through its passes, then OpenCV)."""
    from drivers.scanner.base import ScannerError
    from drivers.scanner.camera import CodeDecoder

    decoder = CodeDecoder(("QRCODE",))
    try:
        codes = decoder.decode_file(path)
    except ScannerError as exc:
        raise EnrolError(str(exc)) from None
    finally:
        decoder.close()
    texts = [code.text for code in codes if code.text.startswith(PREFIX)]
    if not texts:
        raise EnrolError(f"{path}: no taxhall enrolment code found in the image (in focus? the whole code in view?)")
    return texts[0]
