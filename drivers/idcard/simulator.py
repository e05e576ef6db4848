"""A simulated 二代身份证 reader on a pseudo-terminal: `taxhall sim idreader`.

It answers the SAM protocol with real frames (protocol.py) for configured test identities, so
the driver, `taxhall idcard read` and the demo run the same code as against a reader in the
field. Faults can be switched while it runs — from tests through `IdReaderSimulator.set_fault`,
on the command line through stdin (`fault bad_checksum`, `fault none`, `card 2`, `card none`):

- `bad_checksum`: answers with a wrong XOR checksum
- `truncated`: sends the first half of each answer, then nothing
- `silence`: reads commands, answers nothing
- `no_card`: no card on the reader (find card → 80, select → 81)
- `garbage`: line noise instead of answers
- `noise`: line noise before each (valid) answer

The default identities are made up (valid check digits, no real person).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import sys
import threading
import tomllib
import tty
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from drivers.idcard import protocol
from drivers.idcard.identity import (
    ETHNICITY, PERMANENT, SEX, Identity, check_digit, encode_text, is_valid_id_number,
)
from drivers.idcard.protocol import Command, Response, Status

FAULTS = ("bad_checksum", "truncated", "silence", "no_card", "garbage", "noise")


def _id(first17: str) -> str:
    return first17 + check_digit(first17)


def _fake_photo(seed: int) -> bytes:
    """1024 bytes standing in for the WLT-compressed photo (its decoder is proprietary)."""
    return random.Random(seed).randbytes(1024)


def default_identities() -> list[Identity]:
    """Made-up card holders for tests and the demo."""
    return [
        Identity("张三丰", "1", "01", date(1990, 3, 7), "北京市东城区景山前街4号", _id("11010119900307123"),
                 "北京市公安局东城分局", date(2015, 6, 1), date(2035, 6, 1), photo=_fake_photo(1)),
        Identity("欧阳娜娜", "2", "11", date(1962, 12, 24), "广东省广州市越秀区府前路1号大院3栋502房",
                 _id("44010419621224002"), "广州市公安局越秀分局", date(2012, 1, 15), None, photo=_fake_photo(2)),
        Identity("买买提·艾力", "1", "05", date(2001, 8, 30), "新疆乌鲁木齐市天山区解放南路88号",
                 _id("65010220010830551"), "乌鲁木齐市公安局天山区分局", date(2021, 9, 1), date(2031, 9, 1),
                 photo=_fake_photo(3)),
    ]


class IdentityFileError(ValueError):
    """An identity file that cannot be used; str() names the file and the entry."""


def _date(value: Any, what: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what}: expected YYYY-MM-DD, got {value!r}") from None


def _code(value: Any, table: dict[str, str], what: str) -> str:
    text = str(value)
    if text in table:
        return text
    for code, name in table.items():
        if name == text or name + "族" == text:
            return code
    raise ValueError(f"{what}: unknown value {value!r}")


def identity_from_dict(entry: dict[str, Any]) -> Identity:
    """One entry of an identity file: name, sex, ethnicity, birth_date, address, id_number,
    authority, valid_from, valid_until (a date or 长期)."""
    try:
        id_number = str(entry["id_number"]).upper()
        if not is_valid_id_number(id_number):
            raise ValueError("id_number: not 17 digits and a matching GB 11643 check character")
        until = entry.get("valid_until", PERMANENT)
        return Identity(
            name=str(entry["name"]),
            sex_code=_code(entry.get("sex", "1"), SEX, "sex"),
            ethnicity_code=_code(entry.get("ethnicity", "01"), ETHNICITY, "ethnicity"),
            birth_date=_date(entry["birth_date"], "birth_date"),
            address=str(entry["address"]),
            id_number=id_number,
            authority=str(entry["authority"]),
            valid_from=_date(entry["valid_from"], "valid_from"),
            valid_until=None if until == PERMANENT else _date(until, "valid_until"),
            photo=_fake_photo(int(id_number[-5:-1])),
        )
    except KeyError as exc:
        raise ValueError(f"missing key {exc.args[0]!r}") from None


def load_identities(path: Path) -> list[Identity]:
    """A JSON list of identities, or a TOML file of `[[identity]]` tables."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text).get("identity", []) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise IdentityFileError(f"{path}: cannot read identities: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise IdentityFileError(f"{path}: expected a non-empty list of identities")
    identities = []
    for number, entry in enumerate(raw, 1):
        try:
            if not isinstance(entry, dict):
                raise ValueError("expected a table of fields")
            identity = identity_from_dict(entry)
            encode_text(identity)  # fields too long for the card fail here, not mid-read
        except ValueError as exc:
            raise IdentityFileError(f"{path}: identity {number}: {exc}") from None
        identities.append(identity)
    return identities


class IdReaderSimulator:
    """A reader on a fresh pseudo-terminal; `port` is the path a driver opens."""

    def __init__(self, identities: Sequence[Identity] | None = None, fault: str | None = None,
                 card: int | None = 0) -> None:
        self.identities = list(identities) if identities is not None else default_identities()
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._card: int | None = None
        self.set_fault(fault)
        self.set_card(card)
        self._noise = random.Random(7)
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self.port = ""
        self.commands_seen = 0

    # -- control, safe from any thread ------------------------------------------------------
    def set_fault(self, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of: {', '.join(FAULTS)}")
        with self._lock:
            self._fault = fault

    def set_card(self, index: int | None) -> None:
        """Places identity `index` on the reader; None lifts the card."""
        if index is not None and not 0 <= index < len(self.identities):
            raise ValueError(f"no identity {index}; have 0–{len(self.identities) - 1}")
        with self._lock:
            self._card = index

    @property
    def fault(self) -> str | None:
        with self._lock:
            return self._fault

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> str:
        self._master, self._slave = os.openpty()
        # Raw mode: a pty starts in canonical mode with echo, which would mangle binary
        # frames for a client that does not set the mode itself. The slave stays open here
        # so the master keeps working while clients come and go.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="idreader-sim", daemon=True)
        self._thread.start()
        return self.port

    def unplug(self) -> None:
        """Closes the pty as a USB unplug would: clients get an I/O error."""
        self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> IdReaderSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the reader's side of the protocol -------------------------------------------------
    def _serve(self) -> None:
        assert self._master is not None
        buffer = b""
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buffer += chunk
            while True:
                scan = protocol.scan_frame(buffer)
                buffer = scan.rest
                if scan.frame is None:
                    break
                answer = self.answer(scan.frame)
                if answer:
                    try:
                        os.write(self._master, answer)
                    except OSError:
                        return

    def answer(self, frame: bytes) -> bytes:
        """The bytes the reader sends back for one command frame (faults applied)."""
        self.commands_seen += 1
        with self._lock:
            fault, card = self._fault, self._card
        try:
            command = protocol.parse_command(frame)
        except protocol.BadChecksum:
            response = Response(0, 0, Status.BAD_CHECKSUM)
        except protocol.FrameError:
            response = Response(0, 0, Status.BAD_LENGTH)
        else:
            present = card is not None and fault != "no_card"
            response = self._respond(command, self.identities[card] if present and card is not None else None)
        return self._apply_fault(protocol.build_response(response), fault)

    def _respond(self, command: Command, identity: Identity | None) -> Response:
        if command == protocol.FIND_CARD:
            return Response(0, 0, Status.CARD_FOUND, bytes(4)) if identity else Response(0, 0, Status.NO_CARD)
        if command == protocol.SELECT_CARD:
            return Response(0, 0, Status.OK, bytes(8)) if identity else Response(0, 0, Status.SELECT_FAILED)
        if command == protocol.READ_BASE:
            if identity is None:
                return Response(0, 0, Status.READ_FAILED)
            return Response(0, 0, Status.OK, protocol.build_base_message(encode_text(identity), identity.photo))
        if command == protocol.READ_SAM_ID:
            return Response(0, 0, Status.OK, bytes(range(16)))
        return Response(0, 0, Status.BAD_COMMAND)

    def _apply_fault(self, frame: bytes, fault: str | None) -> bytes:
        if fault == "bad_checksum":
            return frame[:-1] + bytes([frame[-1] ^ 0x5A])
        if fault == "truncated":
            return frame[:max(protocol.HEADER_LEN + 1, len(frame) // 2)]
        if fault == "silence":
            return b""
        if fault in ("garbage", "noise"):
            # Never 0xAA, so the noise cannot hold a preamble by chance.
            noise = bytes(b if b != 0xAA else 0x55 for b in self._noise.randbytes(24))
            return noise if fault == "garbage" else noise + frame
        return frame


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="taxhall sim idreader",
        description="A simulated ID-card reader on a pseudo-terminal. While it runs, lines on stdin "
                    "switch it: 'fault NAME', 'fault none', 'card N', 'card none', 'quit'.")
    parser.add_argument("--identity", type=Path, metavar="FILE",
                        help="identities to answer with (JSON list or TOML [[identity]]); default: made-up test identities")
    parser.add_argument("--fault", choices=FAULTS, help="start with this fault switched on")
    parser.add_argument("--no-card", action="store_true", help="start with no card on the reader")
    parser.add_argument("--link", type=Path, metavar="PATH", help="also make PATH a symlink to the pty (a stable name)")
    return parser.parse_args(list(argv))


def _control(sim: IdReaderSimulator, line: str) -> str:
    """One stdin command → what the simulator says back."""
    words = line.split()
    if len(words) == 2 and words[0] == "fault":
        sim.set_fault(None if words[1] == "none" else words[1])
        return f"fault {words[1]}"
    if len(words) == 2 and words[0] == "card":
        sim.set_card(None if words[1] == "none" else int(words[1]))
        return f"card {words[1]}"
    raise ValueError("expected 'fault NAME|none', 'card N|none' or 'quit'")


def run(config: Any, argv: Sequence[str]) -> int:
    args = _parse_args(argv)
    try:
        identities = load_identities(args.identity) if args.identity else default_identities()
    except IdentityFileError as exc:
        print(f"taxhall sim idreader: {exc}", file=sys.stderr)
        return 2
    sim = IdReaderSimulator(identities, fault=args.fault, card=None if args.no_card else 0)
    port = sim.start()
    try:
        if args.link:
            if args.link.is_symlink():
                args.link.unlink()
            args.link.symlink_to(port)
        print(f"ID-card reader simulator on {port}" + (f" ({args.link})" if args.link else "")
              + f"; {len(identities)} identities; fault: {args.fault or 'none'}", flush=True)
        stdin_open = True
        while True:
            if not stdin_open:
                threading.Event().wait(3600)  # stdin closed (e.g. under systemd): run until a signal
                continue
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
                continue
            if line.strip() == "quit":
                return 0
            if not line.strip():
                continue
            try:
                print(_control(sim, line), flush=True)
            except ValueError as exc:
                print(f"? {exc}", flush=True)
    finally:
        sim.stop()
        if args.link and args.link.is_symlink():
            args.link.unlink()
