"""The ID-card reader driver against the simulator on a real pseudo-terminal (os.openpty, pyserial
on the slave): a card is read; every fault is a typed error within its time-out, never a hang."""

from __future__ import annotations

import os
import threading
import time
from typing import Iterator

import pytest

from drivers.idcard.reader import (
    BadFrame, IdCardReader, NoCard, ReaderFault, ReaderSettings, ReaderSilent, ReaderUnplugged,
)
from drivers.idcard.simulator import IdReaderSimulator, default_identities

RESPONSE_S = 0.3
# Generous: the bound is there to catch a hang, not to time the driver on a loaded machine.
SLACK_S = 3.0


@pytest.fixture
def sim() -> Iterator[IdReaderSimulator]:
    with IdReaderSimulator() as simulator:
        yield simulator


@pytest.fixture
def reader(sim: IdReaderSimulator) -> Iterator[IdCardReader]:
    with IdCardReader(ReaderSettings(sim.port, response_timeout_s=RESPONSE_S, poll_interval_s=0.05)) as r:
        yield r


def test_reads_the_card_on_the_reader(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    identity = reader.read_card(timeout_s=5)
    expected = default_identities()[0]
    assert identity == expected
    assert identity.photo == expected.photo and len(identity.photo) == 1024


def test_reads_each_card_placed(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    for index, expected in enumerate(default_identities()):
        sim.set_card(index)
        assert reader.read_card(timeout_s=5).id_number == expected.id_number
    assert reader.read_card(timeout_s=5).valid_until is not None
    sim.set_card(1)
    assert reader.read_card(timeout_s=5).valid_until is None  # 长期


def test_waits_for_a_card_to_be_placed(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_card(None)
    timer = threading.Timer(0.3, sim.set_card, args=(2,))
    timer.start()
    try:
        assert reader.read_card(timeout_s=5).name == "买买提·艾力"
    finally:
        timer.cancel()


def _timed(call: object) -> float:
    start = time.monotonic()
    call()  # type: ignore[operator]
    return time.monotonic() - start


def test_no_card_after_the_timeout(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("no_card")
    start = time.monotonic()
    with pytest.raises(NoCard, match="no card on .* within 0.5 s"):
        reader.read_card(timeout_s=0.5)
    assert 0.3 <= time.monotonic() - start < 0.5 + SLACK_S


def test_bad_checksum_is_a_bad_frame(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("bad_checksum")
    with pytest.raises(BadFrame, match="checksum"):
        reader.read_card(timeout_s=5)


def test_truncated_frame_is_a_bad_frame_not_a_hang(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("truncated")
    start = time.monotonic()
    with pytest.raises(BadFrame, match="truncated"):
        reader.read_card(timeout_s=30)
    assert time.monotonic() - start < RESPONSE_S + SLACK_S


def test_silent_reader_times_out(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("silence")
    start = time.monotonic()
    with pytest.raises(ReaderSilent, match="did not answer within 0.3 s"):
        reader.read_card(timeout_s=30)
    assert RESPONSE_S <= time.monotonic() - start < RESPONSE_S + SLACK_S


def test_garbage_on_the_line_is_a_bad_frame(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("garbage")
    with pytest.raises(BadFrame, match="line noise"):
        reader.read_card(timeout_s=30)


def test_noise_before_a_good_frame_is_skipped(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    sim.set_fault("noise")
    assert reader.read_card(timeout_s=5) == default_identities()[0]


def test_garbage_written_straight_into_the_pty(sim: IdReaderSimulator) -> None:
    """Bytes that arrive before the command (a reader babbling at power-up) are flushed."""
    settings = ReaderSettings(sim.port, response_timeout_s=RESPONSE_S, poll_interval_s=0.05)
    with IdCardReader(settings) as reader:
        assert sim._master is not None
        os.write(sim._master, b"\x00\xff\x13garbage\xaa\xaa")
        time.sleep(0.05)
        assert reader.read_card(timeout_s=5).name == "张三丰"


def test_recovers_when_the_fault_is_switched_off(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    for fault in ("bad_checksum", "truncated", "garbage"):
        sim.set_fault(fault)
        with pytest.raises(BadFrame):
            reader.read_card(timeout_s=5)
        sim.set_fault(None)
        assert reader.read_card(timeout_s=5).name == "张三丰"


def test_unplugged_reader(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    assert reader.find_card()
    sim.unplug()  # closes the pty master, as pulling the USB cable hangs up the tty
    start = time.monotonic()
    with pytest.raises(ReaderUnplugged, match="is gone"):
        reader.read_card(timeout_s=30)
    assert time.monotonic() - start < SLACK_S


def test_missing_port() -> None:
    with pytest.raises(ReaderUnplugged, match="cannot open /dev/does-not-exist"):
        IdCardReader(ReaderSettings("/dev/does-not-exist")).open()


def test_reader_error_status_is_a_fault(sim: IdReaderSimulator, reader: IdCardReader) -> None:
    from drivers.idcard.protocol import Command

    assert reader.transact(Command(0x99, 0x01)).sw3 == 0x21  # the reader refuses unknown commands
    sim.set_card(None)
    with pytest.raises(ReaderFault, match="read failed"):
        reader.read_base()  # read without a card: the SAM says 41


def test_fault_names_are_checked(sim: IdReaderSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sim.set_fault("smoke")
