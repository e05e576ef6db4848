"""Masking of taxpayer identity for anything that is written: logs, databases, telemetry.

Names and ID numbers live unmasked in memory for one session only; every other place sees
them through these functions. `mask_text` is a second line of defence: the log formatter
(taxhall.logs) runs every line through it, should a caller forget.
"""

from __future__ import annotations

import re

_ID18 = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])")
_ID15 = re.compile(r"(?<!\d)\d{15}(?!\d)")


def mask_id_number(id_number: str) -> str:
    """`110101199003071234` → `110***********1234`: first 3 and last 4 kept, rest starred."""
    value = id_number.strip()
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(name: str) -> str:
    """`张三` → `张*`, `欧阳娜娜` → `欧***`: the first character only."""
    value = name.strip()
    if not value:
        return ""
    return value[0] + "*" * max(1, len(value) - 1)


def mask_text(text: str) -> str:
    """Masks every ID-number-shaped run of digits inside free text."""
    text = _ID18.sub(lambda m: mask_id_number(m.group(0)), text)
    return _ID15.sub(lambda m: mask_id_number(m.group(0)), text)
