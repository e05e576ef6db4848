"""The serial protocol of 二代身份证 readers (the SAM module's frame format, GA 467): bytes ↔ typed
frames, no I/O.

Every frame, both ways, is

    AA AA AA 96 69 | LEN (2 bytes, big-endian) | body | CHK

where LEN counts the body plus the checksum byte and CHK is the XOR of the LEN bytes and the
body. A command body is `CMD PARA [data]`; a response body is `SW1 SW2 SW3 [data]`, SW3 being
the status (90 done, 9F card found, 80 no card, 81 select failed, ...).

The commands a reader needs for one card: find card (20 01), select card (20 02), read base
message (30 01). The base message answer carries the 256-byte text block (see identity.py) and
the 1024-byte photo, each announced by a 2-byte big-endian length.

`scan_frame` finds one frame in a stream of bytes, skipping line noise before the preamble, so a
driver can feed it whatever the serial port gave so far.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import reduce

PREAMBLE = b"\xAA\xAA\xAA\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2  # preamble + length
# LEN is two bytes; real answers are at most a few KB (base message with fingerprint ~2.3 KB).
MAX_BODY_LEN = 0xFFFF


class FrameError(ValueError):
    """Bytes that are not a valid frame; str() says what is wrong in one line."""


class BadPreamble(FrameError):
    pass


class TruncatedFrame(FrameError):
    pass


class BadChecksum(FrameError):
    pass


class BadLength(FrameError):
    pass


@dataclass(frozen=True)
class Command:
    """A command from the host to the reader."""

    cmd: int
    para: int
    data: bytes = b""


FIND_CARD = Command(0x20, 0x01)
SELECT_CARD = Command(0x20, 0x02)
READ_BASE = Command(0x30, 0x01)
READ_SAM_ID = Command(0x12, 0xFF)


class Status(enum.IntEnum):
    """SW3 values of GA 467 (the SAM's answer codes)."""

    OK = 0x90
    CARD_FOUND = 0x9F
    BAD_CHECKSUM = 0x10  # the reader got our frame with a wrong checksum
    BAD_LENGTH = 0x11
    BAD_COMMAND = 0x21
    NOT_ALLOWED = 0x23
    UNKNOWN_ERROR = 0x24
    CARD_AUTH_FAILED = 0x31
    SAM_AUTH_FAILED = 0x32
    VERIFY_FAILED = 0x33
    UNKNOWN_CARD = 0x40
    READ_FAILED = 0x41
    RANDOM_FAILED = 0x47
    SAM_SELF_TEST_FAILED = 0x60
    SAM_NOT_AUTHORISED = 0x66
    NO_CARD = 0x80
    SELECT_FAILED = 0x81
    NO_CONTENT = 0x91

    @classmethod
    def describe(cls, sw3: int) -> str:
        try:
            return f"{cls(sw3).name.lower().replace('_', ' ')} (SW3={sw3:02X})"
        except ValueError:
            return f"unknown status SW3={sw3:02X}"


@dataclass(frozen=True)
class Response:
    """A reader's answer: three status bytes and the data after them."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return self.sw1 == 0 and self.sw2 == 0 and self.sw3 in (Status.OK, Status.CARD_FOUND)


@dataclass(frozen=True)
class BaseMessage:
    """The answer to READ_BASE: the identity text block and the photo (WLT-compressed)."""

    text: bytes
    photo: bytes


def xor_checksum(data: bytes) -> int:
    return reduce(lambda acc, byte: acc ^ byte, data, 0)


def _frame(body: bytes) -> bytes:
    if len(body) + 1 > MAX_BODY_LEN:
        raise BadLength(f"body of {len(body)} bytes does not fit a frame")
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([xor_checksum(length + body)])


def build_command(command: Command) -> bytes:
    """`FIND_CARD` → `AA AA AA 96 69 00 03 20 01 22`."""
    return _frame(bytes([command.cmd, command.para]) + command.data)


def build_response(response: Response) -> bytes:
    """What a reader sends back; the simulator speaks with this."""
    return _frame(bytes([response.sw1, response.sw2, response.sw3]) + response.data)


def _frame_body(frame: bytes, minimum: int) -> bytes:
    """Checks preamble, length and checksum of one complete frame; returns the body."""
    if not frame.startswith(PREAMBLE):
        raise BadPreamble(f"frame does not start with AA AA AA 96 69: {frame[:5].hex(' ')}")
    if len(frame) < HEADER_LEN:
        raise TruncatedFrame(f"truncated frame: {len(frame)} bytes, no length field")
    declared = int.from_bytes(frame[5:7], "big")
    if declared < minimum + 1:
        raise BadLength(f"length field {declared} too small for this frame")
    expected = HEADER_LEN + declared
    if len(frame) < expected:
        raise TruncatedFrame(f"truncated frame: {len(frame)} of {expected} bytes")
    if len(frame) > expected:
        raise BadLength(f"frame of {len(frame)} bytes, length field says {expected}")
    body = frame[HEADER_LEN:-1]
    if xor_checksum(frame[5:-1]) != frame[-1]:
        raise BadChecksum(f"checksum {frame[-1]:02X}, computed {xor_checksum(frame[5:-1]):02X}")
    return body


def parse_response(frame: bytes) -> Response:
    """One complete frame from the reader → `Response`; raises a `FrameError` subclass."""
    body = _frame_body(frame, minimum=3)
    return Response(body[0], body[1], body[2], body[3:])


def parse_command(frame: bytes) -> Command:
    """One complete frame from the host → `Command` (the simulator's side)."""
    body = _frame_body(frame, minimum=2)
    return Command(body[0], body[1], body[2:])


def parse_base_message(data: bytes) -> BaseMessage:
    """The data of a READ_BASE answer: text length, photo length (2 bytes each, big-endian),
    then the text and the photo."""
    if len(data) < 4:
        raise TruncatedFrame(f"base message of {len(data)} bytes has no length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if len(data) < 4 + text_len + photo_len:
        raise TruncatedFrame(f"base message of {len(data)} bytes, lengths say {4 + text_len + photo_len}")
    text = data[4:4 + text_len]
    photo = data[4 + text_len:4 + text_len + photo_len]
    return BaseMessage(text, photo)


def build_base_message(text: bytes, photo: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo


@dataclass(frozen=True)
class FrameScan:
    """What `scan_frame` found in a buffer.

    `frame` is one complete frame (not yet checked) or None; `skipped` is the line noise
    before it; `rest` is what follows and belongs to the next scan. With no complete frame,
    `needed` says how many more bytes the pending frame wants (0 when even the preamble is
    still missing).
    """

    frame: bytes | None
    skipped: bytes
    rest: bytes
    needed: int


def scan_frame(buffer: bytes) -> FrameScan:
    """Finds the first frame in `buffer`, skipping any noise before its preamble."""
    start = buffer.find(PREAMBLE)
    if start < 0:
        # Keep a tail that could be the start of a preamble split across two reads.
        keep = 0
        for size in range(min(len(PREAMBLE) - 1, len(buffer)), 0, -1):
            if PREAMBLE.startswith(buffer[-size:]):
                keep = size
                break
        cut = len(buffer) - keep
        return FrameScan(None, buffer[:cut], buffer[cut:], 0)
    skipped, pending = buffer[:start], buffer[start:]
    if len(pending) < HEADER_LEN:
        return FrameScan(None, skipped, pending, HEADER_LEN - len(pending))
    total = HEADER_LEN + int.from_bytes(pending[5:7], "big")
    if len(pending) < total:
        return FrameScan(None, skipped, pending, total - len(pending))
    return FrameScan(pending[:total], skipped, pending[total:], 0)
