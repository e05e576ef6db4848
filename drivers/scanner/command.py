"""`taxhall scan`: decode QR/bar codes from image files, or print what a scanner reads.

    taxhall scan --image FILE...            one JSON line per file: {"file", "codes", "ms", ...}
    taxhall scan --port /dev/ttyACM0        a serial scanner: one JSON line per scan
    taxhall scan --hid /dev/input/by-id/... a keyboard-wedge scanner (grabbed while we read)
    taxhall scan --camera /dev/video0       a camera
    taxhall scan                            the scanner of the [scanner] config section

Technicians use it to check a camera's pictures and a scanner's wiring. ID-number-shaped runs
of digits in scanned text are masked unless --unmasked is given.

Exit status: --image: 0 when every file gave at least one code, 1 otherwise; scanners: 0 after
--count scans or at the time-out, 1 when the scanner fails or gave fewer scans than --count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from drivers.scanner.base import Scanner, ScannerError
from drivers.scanner.config import SYMBOLOGY_NAMES, ScannerSection, open_scanner
from taxhall.privacy import mask_text


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="taxhall scan", description="Decode QR/bar codes from images or a scanner.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--image", nargs="+", type=Path, metavar="FILE", help="decode these image files")
    source.add_argument("--port", metavar="PORT", help="a serial scanner on PORT")
    source.add_argument("--hid", metavar="PATH", help="a keyboard-wedge scanner's evdev node")
    source.add_argument("--camera", metavar="DEVICE", help="a camera: /dev/videoN, an index, or a video file")
    parser.add_argument("--baud", type=int, help="serial scanners: baud rate (default from config, else 9600)")
    parser.add_argument("--symbology", action="append", choices=SYMBOLOGY_NAMES,
                        help="images and camera: code types to look for (repeatable; default QRCODE)")
    parser.add_argument("--count", type=int, default=0, help="scanners: stop after this many scans (default: no limit)")
    parser.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS",
                        help="scanners: stop after this long (default: until Ctrl-C)")
    parser.add_argument("--unmasked", action="store_true", help="do not mask ID-number-shaped text")
    return parser.parse_args(list(argv))


def _shown(text: str, unmasked: bool) -> str:
    return text if unmasked else mask_text(text)


def scan_images(paths: Sequence[Path], symbologies: Sequence[str], unmasked: bool) -> int:
    from drivers.scanner.camera import CodeDecoder, read_image

    decoder = CodeDecoder(symbologies)
    all_found = True
    try:
        for path in paths:
            line: dict[str, Any] = {"file": str(path)}
            elapsed = 0.0
            try:
                frame = read_image(path)
                start = time.perf_counter()  # decoding only, comparable with bench/qr_decode.py
                codes = decoder.decode(frame)
                elapsed = time.perf_counter() - start
            except ScannerError as exc:
                codes = []
                line["error"] = str(exc)
            line["codes"] = [_shown(code.text, unmasked) for code in codes]
            line["ms"] = round(elapsed * 1000, 2)
            line["symbologies"] = [code.symbology for code in codes]
            line["pass"] = codes[0].method if codes else None
            all_found = all_found and bool(codes)
            print(json.dumps(line, ensure_ascii=False), flush=True)
    finally:
        decoder.close()
    return 0 if all_found else 1


def read_scanner(scanner: Scanner, count: int, timeout_s: float, unmasked: bool) -> int:
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
    seen = 0
    while count <= 0 or seen < count:
        wait = 1.0 if deadline is None else deadline - time.monotonic()
        if wait <= 0:
            break
        scan = scanner.read(min(wait, 1.0))
        if scan is None:
            continue
        seen += 1
        print(json.dumps({"text": _shown(scan.text, unmasked), "source": scan.source, "device": scan.device,
                          "symbology": scan.symbology, "at": round(scan.at, 3)}, ensure_ascii=False), flush=True)
    return 0 if seen >= count else 1


def run(config: Any, argv: Sequence[str]) -> int:
    args = _parse_args(argv)
    section: ScannerSection = config.section("scanner") if "scanner" in config.sections else ScannerSection()
    symbologies = args.symbology or section.symbologies
    if args.image:
        return scan_images(args.image, symbologies, args.unmasked)
    updates: dict[str, Any] = {"symbologies": symbologies}
    if args.port:
        updates.update(kind="serial", device=args.port)
    elif args.hid:
        updates.update(kind="hid", device=args.hid)
    elif args.camera:
        updates.update(kind="camera", device=args.camera)
    if args.baud:
        updates["baud"] = args.baud
    chosen = section.model_copy(update=updates)
    try:
        with open_scanner(chosen) as scanner:
            return read_scanner(scanner, args.count, args.timeout, args.unmasked)
    except ScannerError as exc:
        print(f"taxhall scan: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"taxhall scan: {exc}; give --image, --port, --hid or --camera", file=sys.stderr)
        return 2
