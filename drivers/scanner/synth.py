"""Camera-like pictures of QR codes, made from a payload: for the scanner simulator, the tests and
bench/qr_decode.py.

`render` places a segno QR code on a paper-like background and applies what a kiosk camera does
to it — rotation, perspective, defocus blur, sensor noise, glare from a lamp, low contrast,
and (for codes shown on a dark phone screen) inversion. Everything is seeded, so a corpus is
the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import segno


@dataclass(frozen=True)
class Distortion:
    module_px: float = 5.0  # size of one QR module in the picture
    angle_deg: float = 0.0
    perspective: float = 0.0  # 0 … ~0.3: how far the far edge shrinks
    blur_sigma: float = 0.0  # Gaussian blur, in pixels
    noise_sigma: float = 0.0  # Gaussian sensor noise, in grey levels
    glare: float = 0.0  # 0 … 1: strength of a bright spot over part of the code
    contrast: float = 1.0  # 1 = black on white; 0.2 = dark grey on light grey
    invert: bool = False  # light modules on a dark ground
    seed: int = 0

    def label(self) -> str:
        parts = []
        if self.module_px < 3:
            parts.append("small")
        if self.angle_deg:
            parts.append("rotated")
        if self.perspective:
            parts.append("perspective")
        if self.blur_sigma:
            parts.append("blur")
        if self.noise_sigma:
            parts.append("noise")
        if self.glare:
            parts.append("glare")
        if self.contrast < 1:
            parts.append("low-contrast")
        if self.invert:
            parts.append("inverted")
        return "+".join(parts) or "clean"


def qr_modules(payload: str, error: str = "m") -> np.ndarray:
    """The code's modules (1 = dark) with the 4-module quiet zone. Text goes in byte mode as
    UTF-8 without an ECI header, as phones and invoice systems in China write it."""
    code = segno.make(payload, error=error, mode="byte", encoding="utf-8", eci=False, micro=False)
    return np.array([list(row) for row in code.matrix_iter(scale=1, border=4)], dtype=np.uint8)


def render(payload: str, distortion: Distortion = Distortion(), size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A grey 8-bit camera frame (height × width) showing the QR code for `payload`."""
    rng = np.random.default_rng(distortion.seed)
    width, height = size
    modules = qr_modules(payload)
    side = int(round(modules.shape[0] * distortion.module_px))
    code = cv2.resize((1 - modules) * 255, (side, side), interpolation=cv2.INTER_NEAREST).astype(np.float32)

    # Paper: light, with a soft illumination gradient.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = 200 + 30 * (xx / width) - 20 * (yy / height)
    background += rng.normal(0, 3, (height, width)).astype(np.float32)

    # Where the code's corners land: centred with some jitter, rotated, one edge shrunk.
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.1, 0.1, 2) * [width - side, height - side]
    half = side / 2
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], dtype=np.float64)
    if distortion.perspective:
        shrink = distortion.perspective * half
        corners[0, 1] += shrink * 0.5
        corners[1, 1] += shrink * 0.5
        corners[0, 0] += shrink
        corners[1, 0] -= shrink
    theta = np.deg2rad(distortion.angle_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    target = (corners @ rotation.T + centre).astype(np.float32)
    source = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    warped = cv2.warpPerspective(code, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=-1)
    mask = cv2.warpPerspective(np.ones_like(code), matrix, (width, height), flags=cv2.INTER_LINEAR)
    # Printed ink darkens the paper under it instead of replacing it.
    frame = background * (1 - mask) + (background * (0.1 + 0.9 * warped / 255)) * mask

    if distortion.invert:
        frame = 255 - frame
    if distortion.contrast != 1.0:
        frame = frame.mean() + (frame - frame.mean()) * distortion.contrast
    if distortion.glare:
        gx, gy = centre + rng.uniform(-0.3, 0.3, 2) * side
        radius = side * rng.uniform(0.25, 0.45)
        spot = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius ** 2))
        frame = frame + distortion.glare * 255 * spot
    if distortion.blur_sigma:
        frame = cv2.GaussianBlur(frame, (0, 0), distortion.blur_sigma)
    if distortion.noise_sigma:
        frame = frame + rng.normal(0, distortion.noise_sigma, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)
