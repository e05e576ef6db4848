"""Check digits of Chinese identifiers (pure): resident ID numbers and credit codes.

- GB 11643-1999 居民身份证号码: 17 digits + a check character (0-9 or X), ISO 7064 MOD 11-2.
  The same rule covers the 2023 foreigner's permanent residence ID (外国人永久居留身份证,
  18 characters, first digit 9).
- GB 32100-2015 统一社会信用代码 (unified social credit code): 17 characters + a check
  character over the 31-character alphabet without I, O, Z, S, V (MOD 31).

Functions return a reason in plain words, English and Chinese, rather than raising, so that
callers (QR parsing, pydantic validators, the gateway) can word their own errors around it.
"""

from __future__ import annotations

from datetime import date

Problem = tuple[str, str]  # what is wrong, in English and in Chinese

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("17 digits expected")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def id_number_problem(value: str) -> Problem | None:
    """None if `value` is a well-formed 18-character ID number, else what is wrong with it.

    The message never repeats the number itself: it may end up in a log or on a screen.
    """
    text = value.strip().upper()
    if len(text) != 18:
        return (f"an ID number has 18 characters, this one has {len(text)}", f"证件号码应为18位，这里是{len(text)}位")
    if not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        return ("an ID number is 17 digits followed by a digit or X", "证件号码应为17位数字加1位数字或X")
    # Both residents' and (since 2023) foreigners' numbers carry the birth date in
    # characters 7-14; a wrong date there is a typo worth naming on its own.
    try:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return ("the birth date inside the ID number is not a real date", "证件号码中的出生日期无效")
    if id_check_char(text[:17]) != text[17]:
        return ("the last character of the ID number does not match its check digit", "证件号码最后一位校验码不符")
    return None


def is_valid_id_number(value: str) -> bool:
    return id_number_problem(value) is None


def normalize_id_number(value: str) -> str:
    """Upper-case X, no surrounding spaces: the form used for lookups."""
    return value.strip().upper()


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise ValueError("17 characters from the credit-code alphabet expected")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: str) -> Problem | None:
    """None if `value` is a well-formed unified social credit code, else what is wrong."""
    text = value.strip().upper()
    if len(text) != 18:
        return (f"a unified social credit code has 18 characters, this one has {len(text)}",
                f"统一社会信用代码应为18位，这里是{len(text)}位")
    bad = sorted({c for c in text if c not in USCC_ALPHABET})
    if bad:
        return (f"a unified social credit code uses digits and capitals except I, O, Z, S, V; found {''.join(bad)}",
                f"统一社会信用代码不使用字符{''.join(bad)}")
    if not text[2:8].isdigit():
        return ("characters 3-8 of a unified social credit code are the region code (digits)",
                "统一社会信用代码第3-8位应为行政区划代码（数字）")
    if uscc_check_char(text[:17]) != text[17]:
        return ("the last character of the unified social credit code does not match its check character",
                "统一社会信用代码最后一位校验码不符")
    return None


def is_valid_uscc(value: str) -> bool:
    return uscc_problem(value) is None


def normalize_uscc(value: str) -> str:
    """Upper case without spaces: buyers type and print codes in both cases."""
    return "".join(value.split()).upper()
