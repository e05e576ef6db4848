"""Camera scanning: frames from OpenCV (a camera, or image files) decoded with zbar, through
preprocessing passes for the pictures a kiosk camera takes.

`CodeDecoder.decode(frame)` tries cheap passes first and stops at the first that finds a code:

1. zbar on the frame at half size — a code held to the camera is big, and zbar's time grows
   with the pixel count (~2 ms here against ~10 ms at 640×480);
2. zbar at full size — mid-sized and noisy codes;
3. inverted (light code on a dark phone screen: zbar only looks for dark finder patterns);
4. CLAHE, local contrast — glare and washed-out prints;
5. unsharp mask — defocus blur;
6. the code's region cut out and enlarged 3× — small codes (modules under ~2.5 px);
7. OpenCV's QRCodeDetector — a second decoder, kept because bench/qr_decode.py shows it
   decoding frames no zbar pass does (see docs/drivers.md for the figures).

A time budget stops the passes for live video; `taxhall scan --image` gives no budget.

Chinese text: zbar converts a QR code's byte segments to UTF-8 itself, guessing the source
encoding when the code has no ECI header (most Chinese codes have none) — and it tries
Shift-JIS and Big5 before UTF-8. Many short Chinese UTF-8 strings are also valid Shift-JIS, so
发票 comes out as 蜿醍･ｨ. We switch zbar to binary mode (ZBAR_CFG_BINARY, zbar ≥ 0.23; pyzbar
does not expose it, so it is set through pyzbar's own ctypes binding) and decode the raw bytes
ourselves: UTF-8 when they are valid UTF-8, else GB18030. With an older libzbar,
`repair_zbar_text` undoes zbar's guess instead.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from drivers.scanner.base import Scan, Scanner, ScannerError, ScannerNotFound, ScannerUnplugged

# zbar's symbology numbers (zbar.h) for the names used in config.
SYMBOLOGIES = {"QRCODE": 64, "CODE128": 128, "EAN13": 13, "EAN8": 8, "CODE39": 39, "I25": 25,
               "PDF417": 57, "DATABAR": 34, "CODE93": 93}
_CFG_ENABLE, _CFG_BINARY = 0, 4  # zbar.h; pyzbar's ZBarConfig predates BINARY
_Y800 = 0x30303859  # fourcc "Y800": 8-bit grey


@dataclass(frozen=True)
class Code:
    """One code found in a frame."""

    text: str
    symbology: str
    raw: bytes  # the code's bytes as encoded (QR with zbar in binary mode), else zbar's text
    method: str  # which pass found it: "zbar/half", "zbar/inverted", "opencv", ...


def decode_text(raw: bytes) -> str:
    """A code's raw bytes → text: UTF-8 when valid (phones, invoices, most of the world), else
    GB18030 (older Chinese systems write GBK, which GB18030 contains)."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def repair_zbar_text(text: str) -> str:
    """Undoes zbar's encoding guess on a text it produced without binary mode.

    zbar decoded the bytes as Shift-JIS, Big5 or ISO 8859-1 and re-encoded the result as UTF-8;
    encoding that text back with the guessed codec restores the original bytes. The first
    guess whose bytes are valid UTF-8 with non-ASCII content wins; text that is plain ASCII, or
    that no guess explains, is returned unchanged.
    """
    if text.isascii():
        return text
    for guess in ("shift_jis", "big5", "latin-1"):
        try:
            original = text.encode(guess)
        except UnicodeEncodeError:
            continue
        if original.isascii():
            continue
        try:
            return original.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return text


class ZbarScanner:
    """One zbar image scanner, configured once: only the wanted symbologies, QR in binary mode."""

    def __init__(self, symbologies: Iterable[str] = ("QRCODE",)) -> None:
        from pyzbar import wrapper  # loads libzbar; an ImportError names the missing library

        self._z = wrapper
        self._scanner = wrapper.zbar_image_scanner_create()
        if not self._scanner:
            raise ScannerError("zbar could not create an image scanner")
        wrapper.zbar_image_scanner_set_config(self._scanner, 0, _CFG_ENABLE, 0)
        self.symbologies = {SYMBOLOGIES[name]: name for name in symbologies}
        for number in self.symbologies:
            wrapper.zbar_image_scanner_set_config(self._scanner, number, _CFG_ENABLE, 1)
        # 0 = accepted; libzbar before 0.23 has no BINARY and refuses the key.
        self.binary = SYMBOLOGIES["QRCODE"] in self.symbologies and wrapper.zbar_image_scanner_set_config(
            self._scanner, SYMBOLOGIES["QRCODE"], _CFG_BINARY, 1) == 0

    def scan(self, gray: np.ndarray) -> list[tuple[str, bytes]]:
        """(symbology, bytes) for each code zbar finds in an 8-bit grey image."""
        z = self._z
        height, width = gray.shape
        data = np.ascontiguousarray(gray).tobytes()
        image = z.zbar_image_create()
        try:
            z.zbar_image_set_format(image, _Y800)
            z.zbar_image_set_size(image, width, height)
            z.zbar_image_set_data(image, ctypes.cast(data, ctypes.c_void_p), len(data), None)
            z.zbar_scan_image(self._scanner, image)
            found = []
            symbol = z.zbar_image_first_symbol(image)
            while symbol:
                raw = ctypes.string_at(z.zbar_symbol_get_data(symbol), z.zbar_symbol_get_data_length(symbol))
                found.append((self.symbologies.get(symbol.contents.type, str(symbol.contents.type)), raw))
                symbol = z.zbar_symbol_next(symbol)
            return found
        finally:
            z.zbar_image_destroy(image)

    def close(self) -> None:
        if self._scanner:
            self._z.zbar_image_scanner_destroy(self._scanner)
            self._scanner = None


def to_gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class _Views:
    """The versions of one frame the passes look at, each made once and only when asked for."""

    def __init__(self, gray: np.ndarray) -> None:
        self.gray = gray
        self._half: np.ndarray | None = None
        self._region: np.ndarray | None = None
        self._region_done = False

    @property
    def half(self) -> np.ndarray:
        if self._half is None:
            self._half = cv2.resize(self.gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        return self._half

    @property
    def region(self) -> np.ndarray | None:
        """The busiest area, enlarged 3×, or None if there is no small busy area."""
        if not self._region_done:
            self._region_done = True
            box = _busy_region(self.gray)
            if box is not None:
                x0, y0, x1, y1 = box
                # A big busy area is not a small code; enlarging it costs a lot for nothing.
                if (x1 - x0) * (y1 - y0) <= self.gray.size // 4:
                    self._region = cv2.resize(self.gray[y0:y1, x0:x1], None, fx=3, fy=3,
                                              interpolation=cv2.INTER_CUBIC)
        return self._region


def _clahe(gray: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)


def _sharpen(gray: np.ndarray) -> np.ndarray:
    soft = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 2.0, soft, -1.0, 0)


def _adaptive(gray: np.ndarray) -> np.ndarray:
    """Black and white by the neighbourhood's mean: uneven light and glare flatten out."""
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.0)
    return cv2.adaptiveThreshold(smooth, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 31, 5)


def _busy_region(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box around the most textured area — where a small code sits on plain paper."""
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    edges = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    level = max(int(np.percentile(edges, 99)) // 2, 12)
    mask = cv2.dilate((edges >= level).astype(np.uint8), np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) * 4 for v in stats[best, :4])
    pad = max(w, h) // 4 + 8
    height, width = gray.shape
    return max(0, x - pad), max(0, y - pad), min(width, x + w + pad), min(height, y + h + pad)


def _smoothed(image: np.ndarray | None) -> np.ndarray | None:
    # Sensor noise enlarged 3x is blotches the size of a module; smoothing at that scale
    # removes them and keeps the modules.
    return None if image is None else cv2.GaussianBlur(image, (0, 0), 2.0)


# (name, views → image for zbar, or None to skip). Cheapest and most often useful first: the
# first pass that finds a code ends the search, so common frames cost one half-size scan.
PASSES: tuple[tuple[str, Callable[[_Views], np.ndarray | None]], ...] = (
    ("zbar/half", lambda v: v.half),
    ("zbar/full", lambda v: v.gray),
    ("zbar/inverted", lambda v: 255 - v.half),
    ("zbar/inverted-full", lambda v: 255 - v.gray),
    ("zbar/clahe", lambda v: _clahe(v.gray)),
    ("zbar/sharpen", lambda v: _sharpen(v.gray)),
    ("zbar/enlarged", lambda v: v.region),
    ("zbar/enlarged-smooth", lambda v: _smoothed(v.region)),
    ("zbar/adaptive", lambda v: _adaptive(v.gray)),
)


class CodeDecoder:
    """zbar through the passes above, then OpenCV's detector. Not thread-safe: one per thread."""

    def __init__(self, symbologies: Sequence[str] = ("QRCODE",), use_opencv: bool = True) -> None:
        unknown = [s for s in symbologies if s not in SYMBOLOGIES]
        if unknown:
            raise ValueError(f"unknown symbologies {unknown}; known: {', '.join(SYMBOLOGIES)}")
        self._zbar = ZbarScanner(symbologies)
        self._opencv = cv2.QRCodeDetector() if use_opencv and "QRCODE" in symbologies else None

    @property
    def binary(self) -> bool:
        return self._zbar.binary

    def decode(self, frame: np.ndarray, budget_ms: float | None = None) -> list[Code]:
        """Codes in one frame (BGR or grey). With `budget_ms`, no new pass starts after it is spent."""
        start = time.perf_counter()
        gray = to_gray(frame)
        views = _Views(gray)
        for name, prepare in PASSES:
            image = prepare(views)
            if image is not None:
                found = self._zbar.scan(image)
                if found:
                    return [self._code(symbology, raw, name) for symbology, raw in found]
            if budget_ms is not None and (time.perf_counter() - start) * 1000 >= budget_ms:
                return []
        if self._opencv is not None:
            text, _, _ = self._opencv.detectAndDecode(gray)
            if text:
                return [Code(text, "QRCODE", text.encode("utf-8"), "opencv")]
        return []

    def _code(self, symbology: str, raw: bytes, method: str) -> Code:
        if symbology == "QRCODE" and self._zbar.binary:
            return Code(decode_text(raw), symbology, raw, method)
        text = raw.decode("utf-8", errors="replace")
        return Code(repair_zbar_text(text) if symbology == "QRCODE" else text, symbology, raw, method)

    def decode_file(self, path: Path | str) -> list[Code]:
        frame = read_image(path)
        return self.decode(frame)

    def close(self) -> None:
        self._zbar.close()


def read_image(path: Path | str) -> np.ndarray:
    """An image file as a grey frame; `ScannerError` if it is missing or not an image."""
    path = Path(path)
    if not path.is_file():
        raise ScannerNotFound(f"no image file {path}")
    # imdecode from bytes, because cv2.imread cannot open non-ASCII paths on every platform
    # and prints warnings instead of raising.
    frame = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    if frame is None:
        raise ScannerError(f"{path} is not an image OpenCV can read")
    return frame


def frames_from_files(paths: Iterable[Path | str]) -> Iterator[tuple[str, np.ndarray]]:
    for path in paths:
        yield str(path), read_image(path)


class CameraScanner(Scanner):
    """A camera (V4L2 via cv2.VideoCapture) read frame by frame until a code shows up.

    A code held in front of the camera stays there for many frames: the same text is reported
    once, and again only after it has been out of sight for `repeat_after_s`.
    """

    def __init__(self, device: str | int = 0, symbologies: Sequence[str] = ("QRCODE",), width: int = 640,
                 height: int = 480, frame_budget_ms: float = 60.0, repeat_after_s: float = 2.0) -> None:
        self.device = str(device)
        source: str | int = int(device) if str(device).isdigit() else str(device)
        self._capture = cv2.VideoCapture(source, cv2.CAP_V4L2) if isinstance(source, int) or source.startswith(
            "/dev/") else cv2.VideoCapture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise ScannerNotFound(f"cannot open camera {device}")
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._decoder = CodeDecoder(symbologies)
        self._budget_ms = frame_budget_ms
        self._repeat_after_s = repeat_after_s
        self._last: tuple[str, float] | None = None

    def read(self, timeout_s: float) -> Scan | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok, frame = self._capture.read()
            if not ok:
                raise ScannerUnplugged(f"camera {self.device} gives no frames")
            codes = self._decoder.decode(frame, budget_ms=self._budget_ms)
            now = time.monotonic()
            if not codes:
                continue
            code = codes[0]
            if self._last and self._last[0] == code.text and now - self._last[1] < self._repeat_after_s:
                self._last = (code.text, now)
                continue
            self._last = (code.text, now)
            return Scan(code.text, "camera", self.device, code.symbology)
        return None

    def close(self) -> None:
        self._capture.release()
        self._decoder.close()
