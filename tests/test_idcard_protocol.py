"""ID-card reader protocol from recorded bytes: exact frames both ways, and every way a frame
can be wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from drivers.idcard import protocol
from drivers.idcard.protocol import (
    BadChecksum, BadLength, BadPreamble, Command, Response, Status, TruncatedFrame,
)

# As logged from a reader's serial line (commands from the host, answers from the SAM).
FIND_CARD = bytes.fromhex("AA AA AA 96 69 00 03 20 01 22")
SELECT_CARD = bytes.fromhex("AA AA AA 96 69 00 03 20 02 21")
READ_BASE = bytes.fromhex("AA AA AA 96 69 00 03 30 01 32")
CARD_FOUND = bytes.fromhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
NO_CARD = bytes.fromhex("AA AA AA 96 69 00 04 00 00 80 84")
SELECTED = bytes.fromhex("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C")
SELECT_FAILED = bytes.fromhex("AA AA AA 96 69 00 04 00 00 81 85")


def test_commands_are_the_bytes_readers_expect() -> None:
    assert protocol.build_command(protocol.FIND_CARD) == FIND_CARD
    assert protocol.build_command(protocol.SELECT_CARD) == SELECT_CARD
    assert protocol.build_command(protocol.READ_BASE) == READ_BASE


def test_recorded_answers_parse() -> None:
    assert protocol.parse_response(CARD_FOUND) == Response(0, 0, Status.CARD_FOUND, bytes(4))
    assert protocol.parse_response(NO_CARD) == Response(0, 0, Status.NO_CARD)
    assert protocol.parse_response(SELECTED) == Response(0, 0, Status.OK, bytes(8))
    assert protocol.parse_response(SELECT_FAILED).sw3 == 0x81
    assert protocol.parse_response(CARD_FOUND).ok and not protocol.parse_response(NO_CARD).ok


def test_building_an_answer_gives_the_recorded_bytes() -> None:
    assert protocol.build_response(Response(0, 0, 0x9F, bytes(4))) == CARD_FOUND
    assert protocol.build_response(Response(0, 0, 0x80)) == NO_CARD


def test_read_base_answer_by_hand() -> None:
    text = bytes(range(256))
    photo = bytes([0x57]) * 1024
    data = bytes.fromhex("01 00 04 00") + text + photo
    body = bytes.fromhex("00 00 90") + data
    length = (len(body) + 1).to_bytes(2, "big")
    assert length == bytes.fromhex("05 08")  # 1288: SW 3 + lengths 4 + 256 + 1024 + checksum 1
    checksum = 0
    for byte in length + body:
        checksum ^= byte
    frame = bytes.fromhex("AA AA AA 96 69") + length + body + bytes([checksum])
    response = protocol.parse_response(frame)
    assert response.sw3 == Status.OK
    message = protocol.parse_base_message(response.data)
    assert message.text == text and message.photo == photo
    assert protocol.build_response(Response(0, 0, 0x90, protocol.build_base_message(text, photo))) == frame


def test_command_frames_parse_on_the_reader_side() -> None:
    assert protocol.parse_command(READ_BASE) == Command(0x30, 0x01)
    assert protocol.parse_command(protocol.build_command(Command(0x12, 0xFF, b"\x01\x02"))).data == b"\x01\x02"


def test_bad_checksum() -> None:
    with pytest.raises(BadChecksum):
        protocol.parse_response(CARD_FOUND[:-1] + b"\x00")


def test_truncated() -> None:
    with pytest.raises(TruncatedFrame):
        protocol.parse_response(SELECTED[:-3])
    with pytest.raises(TruncatedFrame):
        protocol.parse_response(SELECTED[:6])


def test_bad_preamble() -> None:
    with pytest.raises(BadPreamble):
        protocol.parse_response(b"\x00" + CARD_FOUND[1:])


def test_bad_length() -> None:
    with pytest.raises(BadLength):
        protocol.parse_response(CARD_FOUND + b"\x00")
    with pytest.raises(BadLength):  # too short to hold SW1-SW3
        protocol.parse_response(bytes.fromhex("AA AA AA 96 69 00 02 00 02"))


def test_truncated_base_message() -> None:
    with pytest.raises(TruncatedFrame):
        protocol.parse_base_message(bytes.fromhex("01 00 04 00") + bytes(300))


def test_status_descriptions() -> None:
    assert Status.describe(0x80) == "no card (SW3=80)"
    assert Status.describe(0x77) == "unknown status SW3=77"


def test_scan_skips_noise_and_keeps_the_rest() -> None:
    scan = protocol.scan_frame(b"\x01\x02\x03" + NO_CARD + CARD_FOUND[:4])
    assert scan.frame == NO_CARD and scan.skipped == b"\x01\x02\x03"
    assert scan.rest == CARD_FOUND[:4]
    pending = protocol.scan_frame(scan.rest)
    assert pending.frame is None and pending.rest == CARD_FOUND[:4] and pending.needed == 0  # preamble incomplete
    header = protocol.scan_frame(CARD_FOUND[:6])
    assert header.frame is None and header.needed == 1  # one length byte missing
    body = protocol.scan_frame(CARD_FOUND[:10])
    assert body.frame is None and body.needed == len(CARD_FOUND) - 10


def test_scan_keeps_a_split_preamble() -> None:
    scan = protocol.scan_frame(b"noise\xAA\xAA")
    assert scan.frame is None and scan.skipped == b"noise" and scan.rest == b"\xAA\xAA"


@settings(deadline=None)  # timing is not the point; a loaded CI machine must not fail it
@given(noise=st.binary(max_size=40).filter(lambda b: b"\xAA" not in b),
       payload=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_scan_finds_the_frame_however_the_bytes_arrive(noise: bytes, payload: bytes, cuts: list[int]) -> None:
    frame = protocol.build_response(Response(0, 0, 0x90, payload))
    stream = noise + frame
    points = sorted({min(c, len(stream)) for c in cuts} | {len(stream)})
    buffer, found, start = b"", None, 0
    for point in points:
        buffer += stream[start:point]
        start = point
        scan = protocol.scan_frame(buffer)
        buffer = scan.rest
        if scan.frame is not None:
            found = scan.frame
            break
    assert found == frame
    assert protocol.parse_response(found).data == payload


@settings(deadline=None)  # timing is not the point; a loaded CI machine must not fail it
@given(st.binary(min_size=1, max_size=200))
def test_any_corruption_of_a_frame_is_a_typed_error_or_a_different_frame(junk: bytes) -> None:
    frame = bytearray(protocol.build_response(Response(0, 0, 0x90, b"data")))
    for i, byte in enumerate(junk[: len(frame)]):
        frame[i] ^= byte
    try:
        protocol.parse_response(bytes(frame))
    except protocol.FrameError:
        pass
