"""The camera decoder on generated camera-like frames: Chinese UTF-8 payloads come out right
(where plain zbar guesses Shift-JIS), and inverted, small, blurred, glared and low-contrast
codes decode; `taxhall scan --image` prints one JSON line per file; CameraScanner reads frames
from OpenCV's VideoCapture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from drivers.scanner.base import ScannerError, ScannerNotFound, ScannerUnplugged
from drivers.scanner.camera import (
    SYMBOLOGIES, CameraScanner, CodeDecoder, decode_text, read_image, repair_zbar_text,
)
from drivers.scanner.config import SYMBOLOGY_NAMES
from drivers.scanner.synth import Distortion, render

INVOICE = "https://inv-veri.chinatax.gov.cn/verify?fpdm=011002100111&fphm=12345678&je=1280.00"


@pytest.fixture(scope="module")
def decoder() -> CodeDecoder:
    return CodeDecoder()


def texts(decoder: CodeDecoder, frame: np.ndarray) -> list[str]:
    return [code.text for code in decoder.decode(frame)]


@pytest.mark.parametrize("payload", ["发票", "税务", "纳税人", "北京市东城区税务局第一税务所", "开票人", "增值税电子普通发票 ¥1,280.00"])
def test_chinese_utf8_payloads(decoder: CodeDecoder, payload: str) -> None:
    assert texts(decoder, render(payload)) == [payload]


def test_why_binary_mode_short_chinese_is_valid_shift_jis() -> None:
    """What plain zbar returns for 发票: it tries Shift-JIS before UTF-8, and these six UTF-8
    bytes are valid Shift-JIS. Repairing undoes that guess when binary mode is missing."""
    mojibake = "发票".encode("utf-8").decode("shift_jis")
    assert mojibake == "蜿醍･ｨ"
    assert repair_zbar_text(mojibake) == "发票"
    from pyzbar import pyzbar

    plain = pyzbar.decode(render("发票"))
    assert plain and plain[0].data.decode("utf-8") != "发票"  # the bug this module works around


def test_repair_leaves_good_text_alone() -> None:
    assert repair_zbar_text("A017") == "A017"
    assert repair_zbar_text("Grüße") == "Grüße"
    assert repair_zbar_text("发票") == "发票"


def test_decode_text_falls_back_to_gb18030() -> None:
    assert decode_text("发票".encode("utf-8")) == "发票"
    assert decode_text("北京市税务局".encode("gb18030")) == "北京市税务局"


def test_gbk_encoded_code(decoder: CodeDecoder, tmp_path: Path) -> None:
    path = tmp_path / "gbk.png"
    segno.make("北京市东城区税务局".encode("gb18030"), mode="byte", micro=False).save(path, scale=5, border=4)
    assert [c.text for c in decoder.decode_file(path)] == ["北京市东城区税务局"]


@pytest.mark.parametrize("distortion", [
    Distortion(),
    Distortion(invert=True, seed=2),
    Distortion(module_px=2.0, seed=3),
    Distortion(blur_sigma=2.0, module_px=5, seed=4),
    Distortion(glare=0.9, seed=5),
    Distortion(contrast=0.15, seed=6),
    Distortion(angle_deg=137, perspective=0.2, seed=7),
    Distortion(noise_sigma=30, seed=8),
], ids=lambda d: d.label())
def test_camera_frames(decoder: CodeDecoder, distortion: Distortion) -> None:
    assert texts(decoder, render(INVOICE, distortion)) == [INVOICE]


def test_inverted_small_blurred_chinese(decoder: CodeDecoder) -> None:
    for distortion in (Distortion(invert=True), Distortion(module_px=2.2), Distortion(blur_sigma=1.8)):
        assert texts(decoder, render("完税证明 张三", distortion)) == ["完税证明 张三"], distortion.label()


def test_colour_frames_and_empty_frames(decoder: CodeDecoder) -> None:
    colour = cv2.cvtColor(render("A017"), cv2.COLOR_GRAY2BGR)
    assert texts(decoder, colour) == ["A017"]
    assert decoder.decode(np.full((480, 640), 200, np.uint8)) == []
    assert decoder.decode(np.full((480, 640), 200, np.uint8), budget_ms=0.001) == []


def test_barcodes_when_enabled(tmp_path: Path) -> None:
    import barcode
    from barcode.writer import ImageWriter

    path = Path(barcode.get("code128", "TAXHALL-0017", writer=ImageWriter()).save(str(tmp_path / "b")))
    assert [c.text for c in CodeDecoder(["QRCODE", "CODE128"]).decode_file(path)] == ["TAXHALL-0017"]
    assert CodeDecoder(["QRCODE"]).decode_file(path) == []  # off unless configured: each type costs time


def test_symbology_names_agree() -> None:
    assert set(SYMBOLOGY_NAMES) == set(SYMBOLOGIES)
    with pytest.raises(ValueError, match="unknown symbologies"):
        CodeDecoder(["QR"])


def test_read_image_errors(tmp_path: Path) -> None:
    with pytest.raises(ScannerNotFound):
        read_image(tmp_path / "none.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ScannerError, match="not an image"):
        read_image(bad)


def test_scan_image_command(tmp_path: Path) -> None:
    files = []
    for name, payload in (("票据-1.png", "发票"), ("ticket.png", "TAXHALL-TICKET:A017")):
        path = tmp_path / name
        cv2.imencode(".png", render(payload, Distortion(angle_deg=20)))[1].tofile(str(path))
        files.append(path)
    blank = tmp_path / "blank.png"
    cv2.imencode(".png", np.full((480, 640), 220, np.uint8))[1].tofile(str(blank))
    result = subprocess.run([sys.executable, "-m", "taxhall.cli", "scan", "--data-dir", str(tmp_path), "--image",
                             *map(str, files), str(blank), str(tmp_path / "missing.png")],
                            capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [*map(str, files), str(blank), str(tmp_path / "missing.png")]
    assert [line["codes"] for line in lines] == [["发票"], ["TAXHALL-TICKET:A017"], [], []]
    assert all(isinstance(line["ms"], float) for line in lines)
    assert "error" in lines[3] and "error" not in lines[2]
    assert result.returncode == 1  # two files without a code


def test_camera_scanner_reads_video_frames(tmp_path: Path) -> None:
    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480), isColor=False)
    assert writer.isOpened()
    blank = np.full((480, 640), 200, np.uint8)
    for frame in [blank] * 2 + [render("发票")] * 4 + [blank] * 2 + [render("A017", Distortion(invert=True))] * 2:
        writer.write(frame)
    writer.release()
    scanner = CameraScanner(str(video), repeat_after_s=60)
    try:
        first, second = scanner.read(timeout_s=10), scanner.read(timeout_s=10)
        # 发票 held in front of the camera for four frames is one scan, not four.
        assert first is not None and first.text == "发票" and first.source == "camera"
        assert second is not None and second.text == "A017"
        with pytest.raises(ScannerUnplugged):
            scanner.read(timeout_s=10)  # the end of the video is a camera that stopped giving frames
    finally:
        scanner.close()


def test_missing_camera() -> None:
    with pytest.raises(ScannerNotFound):
        CameraScanner("/dev/video99")
