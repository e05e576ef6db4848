"""Keyboard-wedge scanners: key events recorded from scanners (as `evtest` shows them) decode to
the scanned strings; opening a device that is missing or not an input device is a typed error.

This machine has no /dev/uinput, so the grab-and-read path on a real (virtual) input device runs
only where uinput exists (test_uinput_scanner_is_grabbed_and_read); here the decoding is tested
from recorded events and the open path from its failures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from drivers.scanner.base import ScannerError, ScannerNotFound
from drivers.scanner.hid import (
    EV_KEY, HidDecoder, HidScanner, KEY_ENTER, KEY_TAB, MAX_SCAN_LEN, _KEYS, decode_events, encode_text,
)

EV_SYN, EV_MSC = 0, 4


def press(code: int, scancode: int = 0x70004) -> list[tuple[int, int, int]]:
    """A key stroke the way the kernel reports a USB HID key: MSC_SCAN, KEY down, SYN, KEY up, SYN."""
    return [(EV_MSC, 4, scancode), (EV_KEY, code, 1), (EV_SYN, 0, 0), (EV_MSC, 4, scancode), (EV_KEY, code, 0),
            (EV_SYN, 0, 0)]


def shifted(code: int) -> list[tuple[int, int, int]]:
    return [(EV_KEY, 42, 1), *press(code), (EV_KEY, 42, 0)]


# A scan of "A17-x" recorded from a Honeywell-style wedge: A (shift+a), 1, 7, minus, x, Enter.
RECORDED_A17 = [*shifted(30), *press(2), *press(8), *press(12), *press(45), *press(KEY_ENTER)]


def test_recorded_scan() -> None:
    assert decode_events(RECORDED_A17) == ["A17-x"]


def test_two_scans_back_to_back_and_an_unfinished_one() -> None:
    events = RECORDED_A17 + [*press(3), *press(KEY_ENTER)] + [*press(4)]
    assert decode_events(events) == ["A17-x", "2"]


def test_url_with_shifted_punctuation() -> None:
    events = encode_text("https://x.cn/q?id=A017&t=8F")
    assert decode_events(events) == ["https://x.cn/q?id=A017&t=8F"]


def test_right_shift_and_overlapping_shifts() -> None:
    events = [(EV_KEY, 54, 1), *press(30), (EV_KEY, 42, 1), (EV_KEY, 54, 0), *press(31), (EV_KEY, 42, 0),
              *press(32), *press(KEY_ENTER)]
    assert decode_events(events) == ["ASd"]


def test_caps_lock_affects_letters_only() -> None:
    events = [*press(58), *press(30), *press(2), *shifted(31), *press(58), *press(32), *press(KEY_ENTER)]
    assert decode_events(events) == ["A1sd"]


def test_keypad_digits_and_keypad_enter() -> None:
    events = [*press(79), *press(80), *press(82), *press(83), *press(96)]
    assert decode_events(events) == ["120."]


def test_ctrl_gives_control_characters_for_gs1() -> None:
    # GS1 DataMatrix/128 through a wedge: FNC1 separators arrive as Ctrl+] (GS, 0x1D).
    events = [*press(11), *press(3), (EV_KEY, 29, 1), *press(27), (EV_KEY, 29, 0), *press(4), *press(KEY_ENTER)]
    assert decode_events(events) == ["02\x1d3"]


def test_autorepeat_unknown_keys_and_alt_codes_are_not_text() -> None:
    decoder = HidDecoder()
    events = [(EV_KEY, 30, 1), (EV_KEY, 30, 2), (EV_KEY, 30, 0),  # repeat must not double the 'a'
              *press(59),  # F1: not text
              (EV_KEY, 56, 1), *press(79), *press(80), (EV_KEY, 56, 0),  # Alt+keypad 1 2: code page dependent
              *press(KEY_ENTER)]
    assert [t for e in events if (t := decoder.feed(*e))] == ["a"]
    assert decoder.dropped == 3


def test_bare_enter_is_no_scan_and_tab_can_terminate() -> None:
    assert decode_events(press(KEY_ENTER) * 2) == []
    assert decode_events([*press(2), *press(KEY_TAB)], terminators=frozenset({KEY_TAB})) == ["1"]


def test_runaway_input_is_bounded() -> None:
    decoder = HidDecoder()
    for _ in range(MAX_SCAN_LEN + 100):
        decoder.feed(EV_KEY, 30, 1)
        decoder.feed(EV_KEY, 30, 0)
    assert len(decoder.pending()) == MAX_SCAN_LEN


def test_key_table_matches_the_kernel_codes() -> None:
    from evdev import ecodes

    for name, char in [("KEY_A", "a"), ("KEY_Z", "z"), ("KEY_1", "1"), ("KEY_0", "0"), ("KEY_MINUS", "-"),
                       ("KEY_SLASH", "/"), ("KEY_SEMICOLON", ";"), ("KEY_SPACE", " "), ("KEY_KP0", "0"),
                       ("KEY_KPDOT", "."), ("KEY_KPSLASH", "/"), ("KEY_GRAVE", "`")]:
        assert _KEYS[ecodes.ecodes[name]][0] == char, name
    assert ecodes.KEY_ENTER == KEY_ENTER and ecodes.KEY_KPENTER == 96 and ecodes.KEY_LEFTSHIFT == 42


@settings(deadline=None)  # timing is not the point; a loaded CI machine must not fail it
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=80))
def test_any_printable_ascii_round_trips(text: str) -> None:
    assert decode_events(encode_text(text)) == [text]


def test_chinese_cannot_be_typed_by_a_wedge() -> None:
    with pytest.raises(ValueError, match="keyboard wedge"):
        encode_text("发票")


def test_missing_device_is_not_found() -> None:
    with pytest.raises(ScannerNotFound, match="no scanner at /dev/input/by-id/usb-none-event-kbd"):
        HidScanner("/dev/input/by-id/usb-none-event-kbd")


@pytest.mark.parametrize("path", ["/dev/null"])
def test_a_node_that_is_not_an_input_device(path: str) -> None:
    with pytest.raises(ScannerError, match="not an input event device"):
        HidScanner(path)


def test_a_regular_file_is_not_an_input_device(tmp_path: Path) -> None:
    fake = tmp_path / "event-kbd"
    fake.write_bytes(b"\x00" * 24)
    with pytest.raises(ScannerError, match="not an input event device"):
        HidScanner(str(fake))


@pytest.mark.skipif(not os.path.exists("/dev/uinput"), reason="no /dev/uinput on this machine: cannot make a virtual keyboard")
def test_uinput_scanner_is_grabbed_and_read() -> None:
    from evdev import UInput, ecodes

    with UInput({ecodes.EV_KEY: [*range(1, 100)]}, name="taxhall test barcode scanner") as device:
        time.sleep(0.3)  # udev creates the node
        scanner = HidScanner(device.device.path)
        try:
            for kind, code, value in encode_text("TAXHALL-A017"):
                device.write(kind, code, value)
            device.syn()
            scan = scanner.read(timeout_s=5)
            assert scan is not None and scan.text == "TAXHALL-A017" and scan.source == "hid"
            assert scanner.read(timeout_s=0.2) is None
        finally:
            scanner.close()
