"""A simulated scanner for the demo and the tests: `taxhall sim scanner`.

On a pseudo-terminal it behaves as a serial scanner: each scan is the payload's bytes (UTF-8 or
GB18030) and CR LF. It sends the configured payloads in turn every `--interval` seconds, or
when told on stdin (`next`, `scan TEXT`, `garbage`, `quit`). With `--images DIR` it also writes
each payload as a camera-like PNG (drivers.scanner.synth), for `taxhall scan --image` and the
camera path.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import tty
from pathlib import Path
from typing import Any, Sequence

import cv2

from drivers.scanner.synth import Distortion, render

DEFAULT_PAYLOADS = (
    "TAXHALL-TICKET:A017:8f3a2c9d",
    "https://inv-veri.chinatax.gov.cn/verify?fpdm=011002100111&fphm=12345678&je=1280.00",
    "发票",
    "北京市东城区税务局 完税证明 2026-11-27",
)


class ScannerSimulator:
    """A serial scanner on a fresh pseudo-terminal; `port` is the path a driver opens."""

    def __init__(self, payloads: Sequence[str] = DEFAULT_PAYLOADS, encoding: str = "utf-8",
                 terminator: bytes = b"\r\n") -> None:
        if not payloads:
            raise ValueError("at least one payload")
        "".join(payloads).encode(encoding)  # fails here, not mid-demo, if a payload cannot be sent
        self.payloads = list(payloads)
        self.encoding = encoding
        self.terminator = terminator
        self._next = 0
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self.port = ""

    def start(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: the bytes arrive as sent
        # With nobody reading the port, the pty fills up; a scanner's output is lost then
        # too, so writes that would block are dropped instead of hanging the simulator.
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        return self.port

    def send(self, text: str) -> bool:
        """One scan of `text`."""
        return self.send_raw(text.encode(self.encoding) + self.terminator)

    def send_raw(self, data: bytes) -> bool:
        """Writes bytes as the scanner would; False if the pty was full and they were dropped."""
        with self._lock:
            if self._master is None:
                raise OSError("simulator stopped")
            try:
                return os.write(self._master, data) == len(data)
            except BlockingIOError:
                return False

    def send_next(self) -> str:
        """The next configured payload, in turn."""
        text = self.payloads[self._next % len(self.payloads)]
        self._next += 1
        self.send(text)
        return text

    def drain(self) -> None:
        """Throws away what a client wrote (scanners take configuration commands we ignore)."""
        if self._master is not None:
            while select.select([self._master], [], [], 0)[0]:
                try:
                    if not os.read(self._master, 4096):
                        break
                except OSError:
                    break

    def stop(self) -> None:
        """Closes the pty: clients see the scanner unplugged."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None

    unplug = stop

    def __enter__(self) -> ScannerSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_images(payloads: Sequence[str], directory: Path) -> list[Path]:
    """One camera-like 640×480 PNG per payload: scan-0.png, scan-1.png, ..."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, payload in enumerate(payloads):
        frame = render(payload, Distortion(module_px=4.0, angle_deg=8.0, noise_sigma=4.0, seed=index))
        path = directory / f"scan-{index}.png"
        ok, encoded = cv2.imencode(".png", frame)
        if not ok:
            raise OSError(f"could not encode {path}")
        path.write_bytes(encoded.tobytes())
        paths.append(path)
    return paths


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="taxhall sim scanner",
        description="A simulated serial QR scanner on a pseudo-terminal. While it runs, lines on stdin: "
                    "'next', 'scan TEXT', 'garbage', 'quit'.")
    parser.add_argument("--payload", action="append", metavar="TEXT", help="a payload to scan (repeatable)")
    parser.add_argument("--payload-file", type=Path, metavar="FILE", help="payloads, one per line (UTF-8)")
    parser.add_argument("--interval", type=float, default=0.0, metavar="SECONDS",
                        help="scan the next payload every SECONDS (default 0: only when told on stdin)")
    parser.add_argument("--encoding", choices=("utf-8", "gb18030"), default="utf-8", help="bytes on the line")
    parser.add_argument("--images", type=Path, metavar="DIR", help="also write each payload as a PNG in DIR")
    parser.add_argument("--link", type=Path, metavar="PATH", help="also make PATH a symlink to the pty")
    return parser.parse_args(list(argv))


def _payloads(args: argparse.Namespace) -> list[str]:
    payloads = list(args.payload or [])
    if args.payload_file:
        lines = args.payload_file.read_text(encoding="utf-8").splitlines()
        payloads += [line for line in lines if line.strip()]
    return payloads or list(DEFAULT_PAYLOADS)


def run(config: Any, argv: Sequence[str]) -> int:
    args = _parse_args(argv)
    try:
        payloads = _payloads(args)
        sim = ScannerSimulator(payloads, args.encoding)
    except (OSError, ValueError) as exc:
        print(f"taxhall sim scanner: {exc}", file=sys.stderr)
        return 2
    port = sim.start()
    stop = threading.Event()
    try:
        if args.link:
            if args.link.is_symlink():
                args.link.unlink()
            args.link.symlink_to(port)
        print(f"scanner simulator on {port}" + (f" ({args.link})" if args.link else "")
              + f"; {len(payloads)} payloads; {args.encoding}", flush=True)
        if args.images:
            for path in write_images(payloads, args.images):
                print(f"image {path}", flush=True)
        if args.interval > 0:
            def feed() -> None:
                while not stop.wait(args.interval):
                    sim.drain()
                    sim.send_next()
            threading.Thread(target=feed, name="scanner-sim-feed", daemon=True).start()
        stdin_open = True
        while True:
            if not stdin_open:
                stop.wait(3600)  # stdin closed (e.g. under systemd): run until a signal
                continue
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
                continue
            command, _, rest = line.rstrip("\n").partition(" ")
            if command == "quit":
                return 0
            if command == "next":
                print(f"sent {sim.send_next()}", flush=True)
            elif command == "scan" and rest:
                sim.send(rest)
                print(f"sent {rest}", flush=True)
            elif command == "garbage":
                sim.send_raw(b"\x00\xff\xfe garbage")
                print("sent garbage", flush=True)
            elif command:
                print("? expected 'next', 'scan TEXT', 'garbage' or 'quit'", flush=True)
    finally:
        stop.set()
        sim.stop()
        if args.link and args.link.is_symlink():
            args.link.unlink()
