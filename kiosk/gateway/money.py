"""Money as integer fen (分), never float (pure).

Amounts travel and are stored as `int` fen. Yuan appear only at the edges — text printed on a
QR code or a screen — and are converted with `Decimal`, refusing anything finer than a fen.
Rounding is always explicit: `round_fen` rounds half up, as invoices and tax forms do.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_FEN = Decimal(1)


def round_fen(value: Decimal) -> int:
    """A Decimal amount of fen rounded half up (0.5 fen → 1 fen) to an int."""
    return int(value.quantize(_FEN, rounding=ROUND_HALF_UP))


def percent_of(base_fen: int, rate: Decimal) -> int:
    """`base_fen × rate`, rounded half up to a whole fen."""
    return round_fen(Decimal(base_fen) * rate)


def split_inclusive(total_fen: int, rate: Decimal) -> tuple[int, int]:
    """A tax-inclusive amount (价税合计) split into (amount excluding tax, tax).

    The amount excluding tax is rounded and the tax is the remainder, so the two always add
    up to the total to the fen — the way invoicing software prints them.
    """
    excluding = round_fen(Decimal(total_fen) / (Decimal(1) + rate))
    return excluding, total_fen - excluding


def yuan_to_fen(text: str) -> int:
    """`"1234.5"` → 123450. Refuses signs, thousands separators and sub-fen digits."""
    value = text.strip()
    if not value or value[0] in "+-" or "," in value or value.lower() in ("nan", "inf", "infinity"):
        raise ValueError(f"not an amount in yuan: {text!r}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not an amount in yuan: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount in yuan: {text!r}")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals in {text!r}")
    return int(fen)


def fen_to_yuan(fen: int, grouping: bool = False) -> str:
    """123450 → `"1234.50"` (or `"1,234.50"` with grouping, for screens)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    digits = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{digits}.{cents:02d}"


def format_rate(rate: Decimal) -> str:
    """Decimal("0.015") → `"1.5%"`."""
    percent = (rate * 100).normalize()
    text = format(percent, "f")
    return f"{text}%"
