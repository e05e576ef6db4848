"""Appointment codes: nine digits — eight random and a Damm check digit — short enough to type
on a dispenser's keypad, checked before anything is asked of the bus (a typo is caught at once,
and a mistyped code is never someone else's), and read back from the `/book/{code}` address
its QR code holds. Pure functions; the dispenser and the appointment desk both use them."""

from __future__ import annotations

import re
import secrets

# Damm's quasigroup: one check digit that catches every single wrong digit and every swap of
# two neighbours — the usual typing mistakes on a keypad.
_DAMM = ("0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
         "3674209581", "5869720134", "8945362017", "9438617205", "2581436790")
CODE_DIGITS = 9  # 8 random digits and the check digit


def _damm(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = int(_DAMM[interim][int(digit)])
    return interim


def new_code() -> str:
    """Eight random digits (10^8 codes for a few hundred live ones: a guess is right about once
    in a hundred thousand tries, and the web throttles misses) and a Damm check digit."""
    body = f"{secrets.randbelow(10**8):08d}"
    return body + str(_damm(body))


def normalize_code(text: str) -> str | None:
    """The code in what was typed or scanned — digits with any spaces or dashes, or the
    `/book/{code}` address of its QR code — or None when it cannot be a valid code."""
    value = (text or "").strip()
    if "/book/" in value:
        value = value.split("/book/", 1)[1].split("?", 1)[0].split("#", 1)[0]
    digits = re.sub(r"[\s-]", "", value)
    if len(digits) != CODE_DIGITS or not digits.isdigit() or _damm(digits) != 0:
        return None
    return digits


def format_code(code: str) -> str:
    """`123456789` → `123-456-789`, as printed and shown."""
    return "-".join(code[i : i + 3] for i in range(0, len(code), 3))
