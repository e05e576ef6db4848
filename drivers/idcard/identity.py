"""The identity on a 二代身份证: the card's 256-byte text block ↔ `Identity`, the ID number's
check digit (GB 11643), ethnicity codes (GB/T 3304), and the masked forms shown anywhere
outside memory.

The text block is UCS-2 little-endian, 128 characters in fixed-width fields padded with spaces:

    name 15 | sex 1 | ethnicity 2 | birth date 8 | address 35 | ID number 18 |
    issuing authority 15 | valid from 8 | valid until 8 | reserved 18

"Valid until" is a date or 长期 (no expiry). In the reserved part, character 124 is the card
type: a space for the resident ID card, `J` for the 港澳台居民居住证 (same layout for the
fields above), `I` for the foreigner's permanent residence card (a different layout, refused).

An `Identity` lives in memory for one session; its repr and `as_dict()` are masked unless the
caller asks for the full data by name, and the photo is only ever held as bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from taxhall.privacy import mask_id_number, mask_name

TEXT_LEN = 256
PERMANENT = "长期"

# (name, width in characters) in card order; the widths add up to 128 characters.
_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 15), ("sex", 1), ("ethnicity", 2), ("birth", 8), ("address", 35), ("id_number", 18),
    ("authority", 15), ("valid_from", 8), ("valid_until", 8), ("reserved", 18),
)
_CARD_TYPE_AT = 124  # character index inside the block (GA 450 amendment for new card kinds)

SEX = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}  # GB/T 2261.1

ETHNICITY = {  # GB/T 3304: the names as printed on the card
    "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗", "07": "彝", "08": "壮",
    "09": "布依", "10": "朝鲜", "11": "满", "12": "侗", "13": "瑶", "14": "白", "15": "土家", "16": "哈尼",
    "17": "哈萨克", "18": "傣", "19": "黎", "20": "傈僳", "21": "佤", "22": "畲", "23": "高山", "24": "拉祜",
    "25": "水", "26": "东乡", "27": "纳西", "28": "景颇", "29": "柯尔克孜", "30": "土", "31": "达斡尔",
    "32": "仫佬", "33": "羌", "34": "布朗", "35": "撒拉", "36": "毛南", "37": "仡佬", "38": "锡伯",
    "39": "阿昌", "40": "普米", "41": "塔吉克", "42": "怒", "43": "乌孜别克", "44": "俄罗斯", "45": "鄂温克",
    "46": "德昂", "47": "保安", "48": "裕固", "49": "京", "50": "塔塔尔", "51": "独龙", "52": "鄂伦春",
    "53": "赫哲", "54": "门巴", "55": "珞巴", "56": "基诺", "97": "其他", "98": "外国血统中国籍人士",
}

CARD_TYPES = {" ": "resident", "J": "gat_resident"}  # 'I' (foreigner's card) has another layout

# GB 11643: weight of position i is 2^(17-i) mod 11; the check character indexes this string
# with the weighted sum mod 11.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
_ID_SHAPE = re.compile(r"\d{17}[\dX]")


class IdentityFormatError(ValueError):
    """A text block that is not a readable identity; str() is one line."""


class InvalidIdNumber(IdentityFormatError):
    pass


class UnsupportedCard(IdentityFormatError):
    pass


def check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("17 digits expected")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def is_valid_id_number(id_number: str) -> bool:
    """Shape and check digit of an 18-character resident ID number."""
    return bool(_ID_SHAPE.fullmatch(id_number)) and check_digit(id_number[:17]) == id_number[17]


@dataclass(frozen=True, repr=False)
class Identity:
    """One card's identity. repr() and `as_dict()` are masked; `as_dict(masked=False)` is the
    only way to the full data, for the session that needs it."""

    name: str
    sex_code: str
    ethnicity_code: str
    birth_date: date
    address: str
    id_number: str
    authority: str
    valid_from: date
    valid_until: date | None  # None: 长期, no expiry
    card_type: str = "resident"
    photo: bytes = field(default=b"", compare=False)  # WLT-compressed, as read; memory only

    @property
    def sex(self) -> str:
        return SEX.get(self.sex_code, "未知")

    @property
    def ethnicity(self) -> str:
        return ETHNICITY.get(self.ethnicity_code, "")

    def expired(self, today: date) -> bool:
        return self.valid_until is not None and today > self.valid_until

    def as_dict(self, masked: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; masked: name, ID number, address and birth day starred."""
        until = self.valid_until.isoformat() if self.valid_until else PERMANENT
        return {
            "name": mask_name(self.name) if masked else self.name,
            "sex": self.sex,
            "ethnicity": self.ethnicity,
            "birth_date": f"{self.birth_date.year}-**-**" if masked else self.birth_date.isoformat(),
            "address": mask_address(self.address) if masked else self.address,
            "id_number": mask_id_number(self.id_number) if masked else self.id_number,
            "authority": self.authority,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": until,
            "card_type": self.card_type,
            "photo_bytes": len(self.photo),
        }

    def masked(self) -> dict[str, Any]:
        return self.as_dict(masked=True)

    def __repr__(self) -> str:
        return (f"Identity(name={mask_name(self.name)!r}, id_number={mask_id_number(self.id_number)!r}, "
                f"card_type={self.card_type!r}, photo_bytes={len(self.photo)})")

    __str__ = __repr__


def mask_address(address: str) -> str:
    """Keeps the first six characters (province and city/district, usually) and stars the rest."""
    value = address.strip()
    return value[:6] + "*" * max(0, len(value) - 6)


def _split(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    at = 0
    for name, width in _LAYOUT:
        fields[name] = text[at:at + width]
        at += width
    return fields


def _parse_date(value: str, what: str) -> date:
    value = value.strip()
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise IdentityFormatError(f"{what} is not a YYYYMMDD date: {value!r}") from None


def parse_text(block: bytes, photo: bytes = b"") -> Identity:
    """The 256-byte text block (and the photo, kept as is) → `Identity`.

    Raises `IdentityFormatError` (or its `InvalidIdNumber`, `UnsupportedCard`) for a block of
    the wrong size, undecodable text, impossible dates, an ID number whose check digit or
    birth date does not match, or a card kind with another layout. Error messages never carry
    the ID number or name.
    """
    if len(block) != TEXT_LEN:
        raise IdentityFormatError(f"text block of {len(block)} bytes, {TEXT_LEN} expected")
    try:
        text = block.decode("utf-16-le")
    except UnicodeDecodeError:
        raise IdentityFormatError("text block is not UCS-2") from None
    kind = text[_CARD_TYPE_AT]
    if kind not in CARD_TYPES:
        raise UnsupportedCard(f"card type {kind!r} has a layout this reader does not parse")
    f = _split(text)
    id_number = f["id_number"].strip().upper()
    if not _ID_SHAPE.fullmatch(id_number):
        raise InvalidIdNumber("ID number is not 17 digits and a check character")
    if check_digit(id_number[:17]) != id_number[17]:
        raise InvalidIdNumber("ID number check digit (GB 11643) does not match")
    birth = _parse_date(f["birth"], "birth date")
    if id_number[6:14] != birth.strftime("%Y%m%d"):
        raise InvalidIdNumber("ID number does not carry the card's birth date")
    sex_code = f["sex"].strip() or "0"
    if sex_code not in SEX:
        raise IdentityFormatError(f"sex code {sex_code!r} is not a GB/T 2261.1 code")
    until_text = f["valid_until"].strip()
    return Identity(
        name=f["name"].strip(),
        sex_code=sex_code,
        ethnicity_code=f["ethnicity"].strip(),
        birth_date=birth,
        address=f["address"].strip(),
        id_number=id_number,
        authority=f["authority"].strip(),
        valid_from=_parse_date(f["valid_from"], "validity start"),
        valid_until=None if until_text == PERMANENT else _parse_date(until_text, "validity end"),
        card_type=CARD_TYPES[kind],
        photo=photo,
    )


def _field(value: str, width: int, what: str) -> str:
    if len(value) > width:
        raise ValueError(f"{what} longer than {width} characters")
    if any(ord(c) > 0xFFFF for c in value):
        raise ValueError(f"{what} has a character outside UCS-2 (the card holds 16-bit characters)")
    return value.ljust(width)


def encode_text(identity: Identity) -> bytes:
    """`Identity` → the 256-byte block as a card holds it (the simulator's side)."""
    kind = next(k for k, v in CARD_TYPES.items() if v == identity.card_type)
    reserved = list(" " * 18)
    reserved[_CARD_TYPE_AT - 110] = kind
    values = {
        "name": identity.name,
        "sex": identity.sex_code,
        "ethnicity": identity.ethnicity_code,
        "birth": identity.birth_date.strftime("%Y%m%d"),
        "address": identity.address,
        "id_number": identity.id_number,
        "authority": identity.authority,
        "valid_from": identity.valid_from.strftime("%Y%m%d"),
        "valid_until": identity.valid_until.strftime("%Y%m%d") if identity.valid_until else PERMANENT,
        "reserved": "".join(reserved),
    }
    text = "".join(_field(values[name], width, name) for name, width in _LAYOUT)
    return text.encode("utf-16-le")
