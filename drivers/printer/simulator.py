"""`taxhall sim printer`: a receipt printer that speaks ESC/POS on a real transport.

    taxhall sim printer --listen 127.0.0.1:9100 [--out DIR] [--profile generic-80]
    taxhall sim printer --pty                    # prints the pseudo-terminal's path
    taxhall sim printer --file /tmp/printer.fifo # a FIFO to write to; an existing regular
                                                 # file is a recording: parsed, drawn, done

It parses what it receives (escpos_parse), answers DLE EOT and GS r like a printer, and draws
every page to PNG when it is cut (sim_page). Faults, as a real printer shows them:
- switches at start: --paper-out --paper-low --cover-open --offline --cutter-error --silent
- mid-job: --fail-after-bytes N [--fail-with FAULT] turns FAULT (paper_out) on after N bytes
- at run time: --control HOST:PORT takes lines like `paper_out on`, `cover_open off`,
  `status`, `pages` (answered with one line); tests call `SimulatedPrinter.set_fault`.
A stopped printer (paper out, cover open, offline, cutter error) keeps what it receives in its
buffer and still answers real-time status; `DLE DC4 8` clears the buffer. `silent` is a printer
that takes bytes and never answers (powered off behind a network box).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import socket
import stat
import threading
import time
import tty
from collections import deque
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable

from drivers.printer.config import BUILTIN_PROFILES, PrinterProfile, UnknownProfile, resolve_profile
from drivers.printer.escpos_parse import REALTIME, Command, Control, Page, PageBuilder, Tokenizer, parse_pages
from drivers.printer.sim_page import save_page
from drivers.printer.status import PrinterStatus, paper_sensor_byte, status_bytes
from taxhall.config import DeviceConfig
from taxhall.privacy import mask_text

log = logging.getLogger("drivers.printer.simulator")

POLL_S = 0.05  # how often the serving loop looks at its fds, output and idle timer
TEAR_OFF_IDLE_S = 0.5  # a printer without a cutter: a page ends when the paper stops moving


@dataclass(frozen=True)
class Faults:
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    offline: bool = False
    cutter_error: bool = False
    silent: bool = False

    @property
    def stopped(self) -> bool:
        """Whether the printer has stopped printing (it still answers real-time status)."""
        return self.paper_out or self.cover_open or self.offline or self.cutter_error


FAULT_NAMES = tuple(f.name for f in fields(Faults))


class SimulatedPrinter:
    """The printer itself, transport-free and thread-safe: bytes in (`receive`), answers out
    (`take_output`), pages collected in `pages` and drawn into `out_dir`."""

    def __init__(
        self,
        profile: PrinterProfile,
        *,
        faults: Faults = Faults(),
        fail_after_bytes: int | None = None,
        fail_with: str = "paper_out",
        out_dir: Path | None = None,
        on_page: Callable[[Page, Path | None], None] | None = None,
    ) -> None:
        if fail_with not in FAULT_NAMES:
            raise ValueError(f"unknown fault {fail_with!r}; expected one of {', '.join(FAULT_NAMES)}")
        self.profile = profile
        self.out_dir = out_dir
        self.on_page = on_page
        self._faults = faults
        self._fail_at = fail_after_bytes
        self._fail_with = fail_with
        self._tokenizer = Tokenizer()
        self._builder = PageBuilder(profile)
        self._queue: deque[Command] = deque()
        self._output = bytearray()
        self._lock = threading.Condition()
        self._last_data = time.monotonic()
        self.bytes_received = 0
        self.status_requests = 0

    # -- what tests and the control port use

    @property
    def faults(self) -> Faults:
        return self._faults

    @property
    def pages(self) -> list[Page]:
        with self._lock:
            return list(self._builder.pages)

    def set_fault(self, name: str, on: bool) -> None:
        """Turns a fault on or off; clearing the last one resumes printing what is buffered."""
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(FAULT_NAMES)}")
        with self._lock:
            self._faults = replace(self._faults, **{name: on})
            self._drain()

    def fail_after(self, count: int, fault: str = "paper_out") -> None:
        """Turns `fault` on after `count` more bytes have been received (mid-job faults)."""
        if fault not in FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._fail_at, self._fail_with = self.bytes_received + count, fault

    def status(self) -> PrinterStatus:
        f = self._faults
        return PrinterStatus(online=not f.offline, cover_open=f.cover_open, paper_near_end=f.paper_near_end,
                             paper_out=f.paper_out, cutter_error=f.cutter_error)

    def wait_for_pages(self, count: int, timeout: float) -> list[Page]:
        """Waits until at least `count` pages have been printed (or the time-out); returns them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._builder.pages) < count and time.monotonic() < deadline:
                self._lock.wait(min(POLL_S, max(0.0, deadline - time.monotonic())))
            return list(self._builder.pages)

    # -- the transport's side

    def receive(self, data: bytes) -> None:
        with self._lock:
            self._last_data = time.monotonic()
            while data:
                if self._fail_at is not None and self.bytes_received + len(data) >= self._fail_at:
                    split = max(0, self._fail_at - self.bytes_received)
                    self._ingest(data[:split])
                    data = data[split:]
                    self._faults = replace(self._faults, **{self._fail_with: True})
                    self._fail_at = None
                    log.info("fault %s after %d bytes", self._fail_with, self.bytes_received)
                else:
                    self._ingest(data)
                    data = b""

    def take_output(self) -> bytes:
        with self._lock:
            out = bytes(self._output)
            self._output.clear()
            return out

    def tick(self, now: float | None = None) -> None:
        """Called every POLL_S by the transport: a tear-off printer's page ends when idle."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if (not self.profile.cutter and not self._queue and not self._faults.stopped
                    and now - self._last_data >= TEAR_OFF_IDLE_S and self._builder.has_content()):
                self._finish(self._builder.end_page())

    def end_of_stream(self) -> None:
        """The sender went away: what is printed and not cut is a page of its own."""
        with self._lock:
            if not self._queue and not self._faults.stopped:
                self._finish(self._builder.end_page())

    # -- inside

    def _ingest(self, chunk: bytes) -> None:
        self.bytes_received += len(chunk)
        if self._faults.silent:
            return
        for command in self._tokenizer.feed(chunk):
            if isinstance(command, Control) and command.name in REALTIME:
                self._realtime(command)
            else:
                self._queue.append(command)
        self._drain()

    def _realtime(self, command: Control) -> None:
        if command.name == "status_request" and command.args[0] in (1, 2, 3, 4):
            self.status_requests += 1
            self._output.append(status_bytes(self.status())[command.args[0]])
        elif command.name == "clear_buffers":
            self._queue.clear()
            self._tokenizer = Tokenizer()
            self._finish(self._builder.abandon_page())

    def _drain(self) -> None:
        while self._queue and not self._faults.stopped and not self._faults.silent:
            command = self._queue.popleft()
            if isinstance(command, Control) and command.name == "paper_sensor":
                self._output.append(paper_sensor_byte(self._faults.paper_near_end, self._faults.paper_out))
                continue
            before = len(self._builder.pages)
            self._builder.apply(command)
            if len(self._builder.pages) > before:
                self._finish(self._builder.pages[-1])

    def _finish(self, page: Page | None) -> None:
        if page is None:
            return
        path = None
        if self.out_dir is not None:
            number = len(self._builder.pages)
            suffix = "" if page.complete else "-unfinished"
            path = save_page(page, self.profile.width_dots, self.out_dir / f"page-{number:04d}{suffix}.png")
            # the page's text beside its picture, so a test can read what was printed exactly
            path.with_suffix(".txt").write_text("".join(f"{line}\n" for line in page.text_lines()), encoding="utf-8")
        if self.on_page:
            self.on_page(page, path)
        self._lock.notify_all()


# ---------------------------------------------------------------- transports


class SimulatorServer:
    """Serves one SimulatedPrinter on one transport from a thread of its own."""

    def __init__(self, printer: SimulatedPrinter) -> None:
        self.printer = printer
        self.url = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._fifo_path: str | None = None
        self._fifo: int | None = None
        self._drop_requests: deque[threading.Event] = deque()

    # -- set-up

    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> "SimulatorServer":
        """A raw TCP port like a network printer's 9100; one connection at a time, the next
        waits in the backlog, as on real printers."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(4)
        self._listener = listener
        bound_host, bound_port = listener.getsockname()[:2]
        self.url = f"tcp://{bound_host}:{bound_port}"
        return self

    def open_pty(self) -> "SimulatorServer":
        """A pseudo-terminal: the driver opens the slave path as a serial port."""
        master, slave = os.openpty()
        # Raw: no echo, no CR/LF translation, no signals on 0x03 — binary ESC/POS must pass
        # unchanged. We keep the slave open ourselves so that reads on the master do not fail
        # with EIO while no driver has the port open.
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.url = f"serial:{os.ttyname(slave)}"
        return self

    def open_fifo(self, path: str) -> "SimulatorServer":
        """A FIFO that a `file:` printer URL writes to (one-way: no status answers)."""
        if not os.path.exists(path):
            os.mkfifo(path)
        elif not stat.S_ISFIFO(os.stat(path).st_mode):
            raise ValueError(f"{path} exists and is not a FIFO")
        self._fifo_path = path
        self._fifo = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.url = f"file:{path}"
        return self

    def start(self) -> "SimulatorServer":
        self._thread = threading.Thread(target=self._serve, name="printer-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        for sock in (self._client, self._listener):
            if sock:
                sock.close()
        for fd in (self._master, self._slave, self._fifo):
            if fd is not None:
                os.close(fd)
        self._client = self._listener = None
        self._master = self._slave = self._fifo = None

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_client(self, timeout: float = 5.0) -> None:
        """Closes the current TCP connection (a printer losing its network link). The serving
        thread does the closing — a socket closed under another thread's select() is not
        safe — and this waits until it has."""
        done = threading.Event()
        self._drop_requests.append(done)
        done.wait(timeout)

    # -- the loop

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self._listener is not None:
                    self._serve_tcp_once()
                elif self._master is not None:
                    self._serve_fd_once(self._master)
                elif self._fifo is not None:
                    self._serve_fifo_once()
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("printer simulator transport: %s", exc)
                time.sleep(POLL_S)
            self.printer.tick()

    def _serve_tcp_once(self) -> None:
        assert self._listener is not None
        while self._drop_requests:
            if self._client is not None:
                self._client.close()
                self._client = None
                self.printer.end_of_stream()
            self._drop_requests.popleft().set()
        client = self._client
        if client is None:
            ready, _, _ = select.select([self._listener], [], [], POLL_S)
            if ready:
                client, _ = self._listener.accept()
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._client = client
            return
        try:
            ready, _, _ = select.select([client], [], [], POLL_S)
            data = client.recv(65536) if ready else None
            if data == b"":
                raise ConnectionResetError("closed by the client")
            if data:
                self.printer.receive(data)
            out = self.printer.take_output()
            if out:
                client.sendall(out)
        except (ConnectionError, OSError):
            if self._client is client:
                self._client = None
                client.close()
            self.printer.end_of_stream()

    def _serve_fd_once(self, fd: int) -> None:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if ready:
            self.printer.receive(os.read(fd, 65536))
        out = self.printer.take_output()
        if out:
            os.write(fd, out)

    def _serve_fifo_once(self) -> None:
        assert self._fifo is not None and self._fifo_path is not None
        ready, _, _ = select.select([self._fifo], [], [], POLL_S)
        if not ready:
            return
        data = os.read(self._fifo, 65536)
        if data:
            self.printer.receive(data)
            return
        # the writer closed: the job is over; reopen so select waits for the next writer
        self.printer.end_of_stream()
        os.close(self._fifo)
        self._fifo = os.open(self._fifo_path, os.O_RDONLY | os.O_NONBLOCK)
        self.printer.take_output()  # nobody to answer on a FIFO


class ControlServer:
    """`--control HOST:PORT`: fault switches at run time, one line per command."""

    def __init__(self, printer: SimulatedPrinter, host: str, port: int) -> None:
        self.printer = printer
        self._listener = socket.create_server((host, port))
        self.address = self._listener.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name="printer-sim-control", daemon=True)

    def start(self) -> "ControlServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as stream:
                conn.settimeout(30)
                try:
                    for line in stream:
                        stream.write(self.handle(line) + "\n")
                        stream.flush()
                except (OSError, ValueError):
                    continue

    def handle(self, line: str) -> str:
        words = line.split()
        if words == ["status"]:
            on = [name for name in FAULT_NAMES if getattr(self.printer.faults, name)]
            return "ok " + (" ".join(on) if on else "ready")
        if words == ["pages"]:
            return f"ok {len(self.printer.pages)}"
        if len(words) == 2 and words[0] in FAULT_NAMES and words[1] in ("on", "off"):
            self.printer.set_fault(words[0], words[1] == "on")
            return "ok"
        return f"error: expected `FAULT on|off` (FAULT: {', '.join(FAULT_NAMES)}), `status` or `pages`"


# ---------------------------------------------------------------- the command


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:9100, got {text!r}")
    return host or "127.0.0.1", int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxhall sim printer", description="An ESC/POS receipt printer simulator.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", type=_host_port, metavar="HOST:PORT", help="raw TCP like a network printer (port 0: any free port)")
    where.add_argument("--pty", action="store_true", help="a pseudo-terminal; its path is printed (use serial:PATH)")
    where.add_argument("--file", metavar="PATH", help="a FIFO to create and read; an existing regular file is a recording to draw")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write each page as DIR/page-NNNN.png, its text as page-NNNN.txt")
    parser.add_argument("--profile", default="generic-80", help=f"printer to be: {', '.join(BUILTIN_PROFILES)}")
    for name in FAULT_NAMES:
        parser.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=f"start with {name.replace('_', ' ')}")
    parser.add_argument("--paper-low", dest="paper_near_end", action="store_true", help="same as --paper-near-end")
    parser.add_argument("--fail-after-bytes", type=int, metavar="N", help="turn a fault on after N bytes received")
    parser.add_argument("--fail-with", default="paper_out", choices=FAULT_NAMES, help="the fault --fail-after-bytes turns on")
    parser.add_argument("--control", type=_host_port, metavar="HOST:PORT", help="accept `FAULT on|off`, `status`, `pages` lines here")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    return parser


def _draw_recording(path: Path, profile: PrinterProfile, out: Path | None) -> int:
    pages = parse_pages(path.read_bytes(), profile)
    for number, page in enumerate(pages, 1):
        target = (out or path.parent) / f"{path.stem}-page-{number:04d}.png"
        save_page(page, profile.width_dots, target)
        print(f"page {number}: {target}  {' / '.join(page.text_lines())[:120]}", flush=True)
    return 0


def run(config: DeviceConfig, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        profile = resolve_profile(args.profile)
    except UnknownProfile as exc:
        print(f"taxhall sim printer: {exc}", flush=True)
        return 2
    if args.file and Path(args.file).is_file():
        return _draw_recording(Path(args.file), profile, args.out)
    faults = Faults(**{name: getattr(args, name) for name in FAULT_NAMES})

    def announce(page: Page, path: Path | None) -> None:
        state = "page" if page.complete else "unfinished page"
        # this line ends up in a log: a certificate's ID number stays on the paper only
        print(f"{state}: {path or '(no --out)'}  {mask_text(' / '.join(page.text_lines())[:120])}", flush=True)

    printer = SimulatedPrinter(profile, faults=faults, fail_after_bytes=args.fail_after_bytes,
                               fail_with=args.fail_with, out_dir=args.out, on_page=announce)
    server = SimulatorServer(printer)
    try:
        if args.listen:
            server.listen_tcp(*args.listen)
        elif args.pty:
            server.open_pty()
        else:
            server.open_fifo(args.file)
    except (OSError, ValueError) as exc:
        print(f"taxhall sim printer: {exc}", flush=True)
        return 1
    control = ControlServer(printer, *args.control).start() if args.control else None
    server.start()
    print(f"printer simulator ({profile.name}) on {server.url}", flush=True)
    if control:
        print(f"control on {control.address[0]}:{control.address[1]}", flush=True)
    stop = threading.Event()
    # systemd and test harnesses stop us with SIGTERM: finish the page in progress first
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.duration)
    finally:
        server.stop()
        printer.end_of_stream()
        if control:
            control.close()
    return 0
