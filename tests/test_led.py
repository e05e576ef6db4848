"""LED boards: the Alpha protocol from exact bytes, and the driver against the simulator over
a real pseudo-terminal and a TCP socket."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from drivers.led.alpha import AlphaProtocolError, Packet, PacketSplitter, WriteSmallDots, WriteText, decode, encode
from drivers.led.bitmap import render_lines
from drivers.led.board import LedBoard, LedError, LedSection
from drivers.led.simulator import BoardState, LedSimulator
from tests.ticketer_helpers import wait_for


def test_write_text_packet_is_byte_exact() -> None:
    wire = encode(Packet("Z", "00", (WriteText("A", "A023 -> 3"),)))
    block = b"\x02AA\x1b bA023 -> 3\x03"
    assert wire == b"\x00" * 5 + b"\x01Z00" + block + f"{sum(block):04X}".encode() + b"\x04"
    assert decode(wire).commands == (WriteText("A", "A023 -> 3"),)


def test_small_dots_picture_round_trips() -> None:
    rows = ("0110", "1001", "0110")
    wire = encode(Packet("Z", "01", (WriteSmallDots("P", rows),)))
    assert b"\x02IP0304" + b"0110\r1001\r0110\r\x03" in wire
    packet = decode(wire)
    assert packet.address == "01" and packet.commands == (WriteSmallDots("P", rows),)


def test_bad_checksum_and_broken_frames_are_refused() -> None:
    wire = bytearray(encode(Packet("Z", "00", (WriteText("A", "HELLO"),))))
    wire[wire.index(b"HELLO")] = ord("J")
    with pytest.raises(AlphaProtocolError, match="checksum"):
        decode(bytes(wire))
    with pytest.raises(AlphaProtocolError):
        decode(b"\x01Z00\x02IP0203" + b"010\r\x03" + b"0000\x04")
    with pytest.raises(AlphaProtocolError, match="1–255"):
        WriteSmallDots("P", ("0" * 300,)).data()


def test_splitter_finds_packets_in_noise_and_pieces() -> None:
    one = encode(Packet("Z", "00", (WriteText("A", "ONE"),)))
    two = encode(Packet("Z", "00", (WriteText("A", "TWO"),)))
    stream = b"\xff\xfegarbage" + one + b"noise" + two
    splitter = PacketSplitter()
    got = []
    for i in range(0, len(stream), 7):
        got += list(splitter.feed(stream[i : i + 7]))
    assert [decode(p).commands[0].text for p in got] == ["ONE", "TWO"]  # type: ignore[union-attr]


def test_chinese_is_rendered_legibly_into_the_board_frame() -> None:
    frame = render_lines(["请A023号", "3号窗口"], 128, 32)
    assert frame.width == 128 and frame.height == 32
    # both bands carry text, neither is a solid block
    top, bottom = frame.rows[:16], frame.rows[16:]
    for band in (top, bottom):
        lit = sum(r.count("1") for r in band)
        assert 80 < lit < 16 * 128 * 0.6


def test_board_over_a_pty_shows_what_the_driver_rendered(tmp_path: Path) -> None:
    state = BoardState(128, 32, tmp_path / "frames")
    sim = LedSimulator(state)
    path = sim.open_pty()
    sim.start()
    board = LedBoard(LedSection(port=path, baud=9600))
    try:
        shown = board.show(["请A023号", "3号窗口"])
        assert wait_for(lambda: len(state.shown) == 1)
        received = state.shown[0].with_suffix(".txt").read_text().split()
        assert shown.frame is not None and tuple(received) == shown.frame.rows
        assert state.shown[0].stat().st_size > 1000  # a PNG to look at
        board.show(["请B105号", "5号窗口"])
        assert wait_for(lambda: len(state.shown) == 2)
        assert state.errors == []
    finally:
        board.close()
        sim.stop()


def test_text_mode_board_over_tcp_uses_the_board_font(tmp_path: Path) -> None:
    state = BoardState(96, 16, tmp_path / "frames")
    sim = LedSimulator(state)
    host, port = sim.listen()
    sim.start()
    board = LedBoard(LedSection(port=f"socket://{host}:{port}", width=96, height=16, mode="text"))
    try:
        shown = board.show(["A023 > 3"])
        assert shown.frame is None and b"A023 > 3" in shown.wire
        assert wait_for(lambda: len(state.shown) == 1)
        chinese = board.show(["请A023号"])  # not ASCII: falls back to a picture
        assert chinese.frame is not None
        assert wait_for(lambda: len(state.shown) == 2)
    finally:
        board.close()
        sim.stop()


def test_an_absent_board_is_a_typed_error_not_a_hang(tmp_path: Path) -> None:
    board = LedBoard(LedSection(port=str(tmp_path / "ttyUSB9")))
    started = time.monotonic()
    with pytest.raises(LedError, match="cannot open LED board"):
        board.show(["请A023号"])
    assert time.monotonic() - started < 3
    refused = LedBoard(LedSection(port="socket://127.0.0.1:1"))
    with pytest.raises(LedError):
        refused.show(["A"])
