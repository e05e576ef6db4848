"""`taxhall sim led`: a simulated Alpha-protocol LED board on a pseudo-terminal or TCP port.

It parses what it receives with the same protocol module the driver writes with, keeps the
pictures and text files as a board does, and writes each shown frame to a PNG (and the frame's
rows to a .txt beside it, so tests can read them exactly)."""

from __future__ import annotations

import argparse
import logging
import os
import pty
import selectors
import socket
import threading
import tty
from dataclasses import dataclass, field
from pathlib import Path

from drivers.led.alpha import AlphaProtocolError, PacketSplitter, WriteSmallDots, WriteText, decode
from drivers.led.bitmap import Frame, frame_png, render_lines
from taxhall.config import DeviceConfig

log = logging.getLogger("drivers.led.sim")


@dataclass
class BoardState:
    """What a board holds: pictures by label; each shown frame written under `out_dir`."""

    width: int
    height: int
    out_dir: Path
    pictures: dict[str, Frame] = field(default_factory=dict)
    shown: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def receive(self, frame_bytes: bytes) -> None:
        try:
            packet = decode(frame_bytes)
        except AlphaProtocolError as exc:
            self.errors.append(str(exc))
            log.warning("bad packet ignored: %s", exc)
            return
        for command in packet.commands:
            if isinstance(command, WriteSmallDots):
                self.pictures[command.label] = Frame(command.rows)
            elif isinstance(command, WriteText):
                self._show(command)

    def _show(self, command: WriteText) -> None:
        if command.text.startswith("\x14"):
            frame = self.pictures.get(command.text[1:2])
            if frame is None:
                self.errors.append(f"text calls picture {command.text[1:2]!r} which was never written")
                return
        else:
            frame = render_lines(command.text.split("\r"), self.width, self.height)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"led-{len(self.shown) + 1:05d}.png"
        frame_png(frame).save(path)
        path.with_suffix(".txt").write_text("\n".join(frame.rows) + "\n")
        self.shown.append(path)
        log.info("showed frame %s", path.name)


class LedSimulator:
    """Serves one board on a pty (`open_pty`) or a TCP port (`listen`), in a thread."""

    def __init__(self, state: BoardState) -> None:
        self.state = state
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._thread: threading.Thread | None = None
        self.pty_path: str | None = None
        self.address: tuple[str, int] | None = None

    def open_pty(self) -> str:
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._slave = slave  # kept open so the master never sees a hang-up between clients
        self._selector.register(master, selectors.EVENT_READ, ("fd", PacketSplitter()))
        self.pty_path = os.ttyname(slave)
        return self.pty_path

    def listen(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen()
        server.setblocking(False)
        self._selector.register(server, selectors.EVENT_READ, ("server", None))
        self.address = server.getsockname()
        return self.address

    def start(self) -> "LedSimulator":
        self._thread = threading.Thread(target=self._serve, name="led-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                kind, splitter = key.data
                if kind == "server":
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    conn.setblocking(False)
                    self._selector.register(conn, selectors.EVENT_READ, ("sock", PacketSplitter()))
                    continue
                try:
                    data = os.read(key.fd, 65536) if kind == "fd" else key.fileobj.recv(65536)  # type: ignore[union-attr]
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    if kind == "sock":
                        self._selector.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
                    continue
                for frame in splitter.feed(data):
                    self.state.receive(frame)


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall sim led", description=__doc__.splitlines()[0])
    parser.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="serve on a TCP port instead")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--out", default=str(config.data_dir / "led"), help="folder for the PNG frames")
    args = parser.parse_args(argv)
    sim = LedSimulator(BoardState(args.width, args.height, Path(args.out)))
    if args.listen:
        host, _, port = args.listen.rpartition(":")
        where = "socket://%s:%d" % sim.listen(host or "127.0.0.1", int(port))
    else:
        where = sim.open_pty()
    print(f"taxhall sim led: {args.width}×{args.height} board on {where}; frames to {args.out}", flush=True)
    sim.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    sim.stop()
    return 0
