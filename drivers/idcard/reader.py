"""Driver for 二代身份证 readers on a serial port (USB-serial or RS-232), over pyserial.

`IdCardReader.read_card(timeout_s)` polls find card → select card → read base message, as
these readers need (they do not announce a card), until a card is read or the time-out ends.
Every read on the port has a deadline; every failure is one of the typed `ReaderError`s below,
whose str() is one line fit for a technician and never carries the card holder's data.
"""

from __future__ import annotations

import logging
import termios
import time
from dataclasses import dataclass
from types import TracebackType

import serial

from drivers.idcard import protocol
from drivers.idcard.identity import Identity, IdentityFormatError, parse_text
from drivers.idcard.protocol import Command, FrameError, Response, Status

log = logging.getLogger(__name__)

_READ_SLICE_S = 0.05
# What a serial port raises when it goes away: pyserial's own error, the OS error under it,
# and termios.error (not an OSError) from tcflush on a hung-up tty.
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class ReaderError(Exception):
    """Base of every reader failure; str() is one line."""


class NoCard(ReaderError):
    """No card was placed (or it was lifted) before the time-out."""


class ReaderSilent(ReaderError):
    """The reader did not answer within the response time-out."""


class BadFrame(ReaderError):
    """The reader answered with bytes that are not a valid frame (checksum, truncation, noise)."""


class BadCardData(BadFrame):
    """A valid frame whose identity block does not hold together (check digit, dates)."""


class ReaderUnplugged(ReaderError):
    """The serial port cannot be opened or went away (USB unplugged, pty closed)."""


class ReaderFault(ReaderError):
    """The reader answered with an error status (SAM trouble, command refused, read failed)."""

    def __init__(self, message: str, sw3: int) -> None:
        super().__init__(message)
        self.sw3 = sw3


@dataclass(frozen=True)
class ReaderSettings:
    port: str
    baud: int = 115200
    response_timeout_s: float = 2.0  # base message: ~1.3 KB at 115200 plus the card's ~0.5 s
    poll_interval_s: float = 0.25


class IdCardReader:
    """One reader on one serial port. Use as a context manager, or `open()`/`close()`."""

    def __init__(self, settings: ReaderSettings) -> None:
        self.settings = settings
        self._port: serial.Serial | None = None

    def open(self) -> None:
        try:
            self._port = serial.Serial(
                self.settings.port,
                self.settings.baud,
                # Short reads, looped up to each answer's deadline: changing pyserial's
                # time-out per read would reconfigure the tty every time.
                timeout=_READ_SLICE_S,
                write_timeout=self.settings.response_timeout_s,
            )
        except (*_PORT_ERRORS, ValueError) as exc:
            raise ReaderUnplugged(f"cannot open {self.settings.port}: {_reason(exc)}") from None

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except _PORT_ERRORS:
                pass  # a port that went away is closed enough
            self._port = None

    def __enter__(self) -> IdCardReader:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def transact(self, command: Command) -> Response:
        """Sends one command and waits for its one answer frame, up to the response time-out."""
        port = self._require_port()
        try:
            # Bytes left from an earlier truncated or noisy answer would be taken for this one.
            port.reset_input_buffer()
            port.write(protocol.build_command(command))
            port.flush()
        except serial.SerialTimeoutException:
            raise ReaderSilent(f"reader on {self.settings.port} does not take commands (write time-out)") from None
        except _PORT_ERRORS as exc:
            raise ReaderUnplugged(f"reader on {self.settings.port} is gone: {_reason(exc)}") from None
        frame = self._receive_frame(port)
        try:
            response = protocol.parse_response(frame)
        except FrameError as exc:
            raise BadFrame(f"bad frame from reader on {self.settings.port}: {exc}") from exc
        log.debug("reader %s: %02X %02X → SW3 %02X, %d data bytes",
                  self.settings.port, command.cmd, command.para, response.sw3, len(response.data))
        return response

    def _receive_frame(self, port: serial.Serial) -> bytes:
        deadline = time.monotonic() + self.settings.response_timeout_s
        buffer = b""
        noise = 0
        while True:
            scan = protocol.scan_frame(buffer)
            noise += len(scan.skipped)
            buffer = scan.rest
            if scan.frame is not None:
                if noise:
                    log.debug("reader %s: skipped %d bytes of line noise", self.settings.port, noise)
                return scan.frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                chunk = port.read(max(scan.needed, port.in_waiting, 1))
            except _PORT_ERRORS as exc:
                raise ReaderUnplugged(f"reader on {self.settings.port} is gone: {_reason(exc)}") from None
            buffer += chunk
        where = f"reader on {self.settings.port}"
        timeout = self.settings.response_timeout_s
        if buffer.startswith(protocol.PREAMBLE):
            raise BadFrame(f"truncated frame from {where}: {len(buffer)} bytes, then nothing for {timeout:g} s")
        if noise or buffer:
            raise BadFrame(f"{noise + len(buffer)} bytes of line noise from {where}, no frame within {timeout:g} s")
        raise ReaderSilent(f"{where} did not answer within {timeout:g} s")

    def find_card(self) -> bool:
        response = self.transact(protocol.FIND_CARD)
        if response.sw3 == Status.CARD_FOUND:
            return True
        if response.sw3 == Status.NO_CARD:
            return False
        raise self._fault("find card", response)

    def select_card(self) -> bool:
        response = self.transact(protocol.SELECT_CARD)
        if response.sw3 == Status.OK:
            return True
        if response.sw3 == Status.SELECT_FAILED:
            return False
        raise self._fault("select card", response)

    def read_base(self) -> Identity:
        """Reads the card's text and photo; the card must have been found and selected."""
        response = self.transact(protocol.READ_BASE)
        if response.sw3 != Status.OK:
            raise self._fault("read base message", response)
        try:
            message = protocol.parse_base_message(response.data)
        except FrameError as exc:
            raise BadFrame(f"bad base message from reader on {self.settings.port}: {exc}") from exc
        try:
            return parse_text(message.text, message.photo)
        except IdentityFormatError as exc:
            raise BadCardData(f"card data from reader on {self.settings.port} does not hold together: {exc}") from exc

    def read_card(self, timeout_s: float) -> Identity:
        """Waits up to `timeout_s` for a card and reads it. A card lifted during the read is
        polled for again; a silent reader or a bad frame ends the wait at once."""
        deadline = time.monotonic() + timeout_s
        last = "no card found"
        while True:
            try:
                if self.find_card() and self.select_card():
                    return self.read_base()
                last = "no card found"
            except ReaderFault as exc:
                if exc.sw3 not in (Status.READ_FAILED, Status.SELECT_FAILED, Status.CARD_AUTH_FAILED):
                    raise
                last = str(exc)  # the card moved away mid-read: try again
            if time.monotonic() + self.settings.poll_interval_s >= deadline:
                raise NoCard(f"no card on {self.settings.port} within {timeout_s:g} s ({last})")
            time.sleep(self.settings.poll_interval_s)

    def _fault(self, what: str, response: Response) -> ReaderFault:
        return ReaderFault(f"{what} failed on {self.settings.port}: {Status.describe(response.sw3)}", response.sw3)

    def _require_port(self) -> serial.Serial:
        if self._port is None:
            raise ReaderUnplugged(f"reader on {self.settings.port} is not open")
        return self._port


def _reason(exc: BaseException) -> str:
    if isinstance(exc, termios.error) and len(exc.args) == 2:
        return str(exc.args[1])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
