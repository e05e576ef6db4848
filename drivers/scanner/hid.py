"""HID keyboard-wedge scanners: key events → scanned strings, and the evdev driver.

Most counter and kiosk scanners pretend to be a USB keyboard and "type" each code, ended by
Enter. Read as a keyboard, a scan would land in whatever UI field has focus; so the driver opens
the scanner's own event node (`/dev/input/by-id/usb-…-event-kbd`, stable across reboots and
ports), grabs it (EVIOCGRAB: no other reader, X/Wayland included, sees its keys) and decodes the
key events itself.

`decode_events` / `HidDecoder` are pure: (type, code, value) triples in, strings out, so the
decoding is tested from recorded event sequences. The key codes are the kernel's
(linux/input-event-codes.h, a stable ABI) with a US layout, which is what scanners emit
whatever the host's layout. A keyboard wedge carries ASCII only: Chinese payloads need a
scanner in serial (USB-CDC) mode, or the camera.
"""

from __future__ import annotations

import errno
import select
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

from drivers.scanner.base import (
    Scan, Scanner, ScannerBusy, ScannerError, ScannerNotFound, ScannerPermission, ScannerUnplugged,
)

EV_SYN, EV_KEY = 0, 1
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

KEY_ENTER, KEY_KPENTER, KEY_TAB = 28, 96, 15
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_LEFTCTRL, KEY_RIGHTCTRL = 29, 97
KEY_LEFTALT, KEY_RIGHTALT = 56, 100
KEY_CAPSLOCK = 58

# code → (plain, shifted), US layout.
_KEYS: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"), 8: ("7", "&"),
    9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"), 13: ("=", "+"),
    16: ("q", "Q"), 17: ("w", "W"), 18: ("e", "E"), 19: ("r", "R"), 20: ("t", "T"), 21: ("y", "Y"),
    22: ("u", "U"), 23: ("i", "I"), 24: ("o", "O"), 25: ("p", "P"), 26: ("[", "{"), 27: ("]", "}"),
    30: ("a", "A"), 31: ("s", "S"), 32: ("d", "D"), 33: ("f", "F"), 34: ("g", "G"), 35: ("h", "H"),
    36: ("j", "J"), 37: ("k", "K"), 38: ("l", "L"), 39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"),
    43: ("\\", "|"), 44: ("z", "Z"), 45: ("x", "X"), 46: ("c", "C"), 47: ("v", "V"), 48: ("b", "B"),
    49: ("n", "N"), 50: ("m", "M"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"), 57: (" ", " "),
    # Keypad (scanners in "numeric keypad" mode); NumLock is assumed on.
    55: ("*", "*"), 71: ("7", "7"), 72: ("8", "8"), 73: ("9", "9"), 74: ("-", "-"), 75: ("4", "4"),
    76: ("5", "5"), 77: ("6", "6"), 78: ("+", "+"), 79: ("1", "1"), 80: ("2", "2"), 81: ("3", "3"),
    82: ("0", "0"), 83: (".", "."), 98: ("/", "/"),
}
# Ctrl+[ \ ] give ESC, FS, GS: GS1 codes use GS (0x1D) as the field separator.
_CTRL_PUNCT = {26: "\x1b", 43: "\x1c", 27: "\x1d"}
_SHIFTS = {KEY_LEFTSHIFT, KEY_RIGHTSHIFT}
_CTRLS = {KEY_LEFTCTRL, KEY_RIGHTCTRL}
_ALTS = {KEY_LEFTALT, KEY_RIGHTALT}
DEFAULT_TERMINATORS = frozenset({KEY_ENTER, KEY_KPENTER})
MAX_SCAN_LEN = 4096  # a stuck key or a keyboard mistaken for a scanner must not grow forever


@dataclass
class HidDecoder:
    """Turns key events into strings, one per terminator. Feed it every event in order."""

    terminators: frozenset[int] = DEFAULT_TERMINATORS
    shift: int = 0  # keys held, so left+right shift released in any order stays right
    ctrl: int = 0
    alt: int = 0
    caps: bool = False
    dropped: int = 0  # keys that are not text (unknown, or under Alt)

    def __post_init__(self) -> None:
        self._chars: list[str] = []

    def feed(self, kind: int, code: int, value: int) -> str | None:
        """One event; returns the scanned string when this event ends one."""
        if kind != EV_KEY or value == KEY_REPEAT:
            return None  # scanners do not auto-repeat; a repeat would double a character
        down = value == KEY_DOWN
        step = 1 if down else -1
        if code in _SHIFTS:
            self.shift = max(0, self.shift + step)
        elif code in _CTRLS:
            self.ctrl = max(0, self.ctrl + step)
        elif code in _ALTS:
            self.alt = max(0, self.alt + step)
        elif not down:
            return None
        elif code == KEY_CAPSLOCK:
            self.caps = not self.caps
        elif code in self.terminators:
            text = "".join(self._chars)
            self._chars.clear()
            return text
        else:
            char = self._char(code)
            if char is None:
                self.dropped += 1
            elif len(self._chars) < MAX_SCAN_LEN:
                self._chars.append(char)
        return None

    def _char(self, code: int) -> str | None:
        if self.alt:
            return None  # Alt+keypad "alt codes" depend on the host's code page: not text we can trust
        if self.ctrl:
            plain = _KEYS.get(code, ("", ""))[0]
            if plain.isalpha():
                return chr(ord(plain) - ord("a") + 1)
            return _CTRL_PUNCT.get(code)
        if code not in _KEYS:
            return None
        plain, shifted = _KEYS[code]
        upper = bool(self.shift) != (self.caps and plain.isalpha())
        return shifted if upper else plain

    def pending(self) -> str:
        """What has been typed since the last terminator."""
        return "".join(self._chars)


def decode_events(events: Iterable[tuple[int, int, int]],
                  terminators: frozenset[int] = DEFAULT_TERMINATORS) -> list[str]:
    """Recorded (type, code, value) events → the strings they scanned. An unterminated tail and
    empty scans (a bare Enter) are dropped."""
    decoder = HidDecoder(terminators)
    return [text for kind, code, value in events if (text := decoder.feed(kind, code, value))]


def encode_text(text: str, terminator: int = KEY_ENTER) -> list[tuple[int, int, int]]:
    """The events a US-layout scanner sends for `text` (the inverse, for tests and simulators)."""
    reverse: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in _KEYS.items():
        if code < 55 or code == 57:  # main block only: that is what scanners type
            reverse.setdefault(plain, (code, False))
            reverse.setdefault(shifted, (code, True))
    events: list[tuple[int, int, int]] = []
    for char in text:
        if char not in reverse:
            raise ValueError(f"{char!r} cannot be typed by a keyboard wedge")
        code, shifted = reverse[char]
        if shifted:
            events.append((EV_KEY, KEY_LEFTSHIFT, KEY_DOWN))
        events += [(EV_KEY, code, KEY_DOWN), (EV_SYN, 0, 0), (EV_KEY, code, KEY_UP), (EV_SYN, 0, 0)]
        if shifted:
            events.append((EV_KEY, KEY_LEFTSHIFT, KEY_UP))
    events += [(EV_KEY, terminator, KEY_DOWN), (EV_KEY, terminator, KEY_UP), (EV_SYN, 0, 0)]
    return events


class HidScanner(Scanner):
    """A keyboard-wedge scanner on an evdev node, grabbed so its keys reach nobody else."""

    def __init__(self, path: str, grab: bool = True, terminators: frozenset[int] = DEFAULT_TERMINATORS) -> None:
        import evdev  # Linux only; imported here so the pure decoder works anywhere

        self.path = path
        self._decoder = HidDecoder(terminators)
        self._ready: deque[str] = deque()
        try:
            self._device: Any = evdev.InputDevice(path)
        except FileNotFoundError:
            raise ScannerNotFound(f"no scanner at {path}") from None
        except PermissionError:
            raise ScannerPermission(
                f"may not open {path}: add the user to group 'input' or install the udev rule") from None
        except OSError as exc:
            if exc.errno == errno.ENOTTY:
                raise ScannerError(f"{path} is not an input event device") from None
            raise ScannerUnplugged(f"cannot open {path}: {exc.strerror or exc}") from None
        if grab:
            try:
                self._device.grab()
            except OSError as exc:
                self._device.close()
                if exc.errno == errno.EBUSY:
                    raise ScannerBusy(f"{path} is grabbed by another process") from None
                raise ScannerUnplugged(f"cannot grab {path}: {exc.strerror or exc}") from None

    @property
    def name(self) -> str:
        return str(self._device.name)

    def read(self, timeout_s: float) -> Scan | None:
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                readable, _, _ = select.select([self._device.fd], [], [], remaining)
                if not readable:
                    return None
                events = list(self._device.read())
            except BlockingIOError:
                continue
            except OSError as exc:  # ENODEV once the USB device is gone
                raise ScannerUnplugged(f"scanner {self.path} is gone: {exc.strerror or exc}") from None
            for event in events:
                text = self._decoder.feed(event.type, event.code, event.value)
                if text:
                    self._ready.append(text)
        return Scan(self._ready.popleft(), "hid", self.path)

    def close(self) -> None:
        try:
            self._device.ungrab()
        except OSError:
            pass  # never grabbed, or already gone
        try:
            self._device.close()
        except OSError:
            pass
