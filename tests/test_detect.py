"""`taxhall provision detect`: runs cleanly on a machine with nothing attached (this one: no USB
bus, no /dev/input, no cameras), and classifies devices and suggests config lines from what the
kernel shows (sysfs and /dev layouts built in a temporary directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from provisioning.detect import (
    Report, UsbDevice, _usb_from_sysfs, by_id_links, camera_findings, identify_usb, looks_like_keyboard,
    looks_like_scanner, lp_findings, serial_findings, usb_findings,
)


def provision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", "provision", *args], capture_output=True, text=True,
                          timeout=60)


def test_detect_runs_cleanly_here() -> None:
    result = provision("detect")
    assert result.returncode == 0, result.stderr
    for title in ("USB printers and readers", "Serial ports", "Input devices", "Cameras"):
        assert title in result.stdout
    assert "nothing found" in result.stdout
    assert "Traceback" not in result.stderr


def test_detect_json() -> None:
    result = provision("detect", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"found", "notes"}
    assert all({"kind", "via", "path", "config"} <= set(item) for item in data["found"])


def test_every_action_is_built() -> None:
    for action in ("init", "credentials", "install", "selftest"):
        result = provision(action, "--help")
        assert result.returncode == 0 and "not built yet" not in result.stderr + result.stdout, action


def test_usb_table() -> None:
    assert identify_usb(0x04B8, 0x0E28) == ("printer", "Epson receipt printer (TM series)")
    assert identify_usb(0x0416, 0x5011)[0] == "printer"  # type: ignore[index]
    assert identify_usb(0x0416, 0x0001) is None  # the vendor alone is not enough for generic chips
    assert identify_usb(0x0C2E, 0x1234)[0] == "scanner"  # type: ignore[index]
    assert identify_usb(0x1A86, 0x7523)[0] == "serial"  # type: ignore[index]


def test_usb_findings_and_config_lines() -> None:
    devices = [
        UsbDevice(0x04B8, 0x0E28, "EPSON TM-T20III", frozenset({7})),
        UsbDevice(0x1234, 0x5678, "", frozenset({7})),  # unknown vendor, printer class
        UsbDevice(0x0C2E, 0x0B61, "Honeywell 1900", frozenset({3})),
        UsbDevice(0x1D6B, 0x0002, "Linux Foundation 2.0 root hub", frozenset({9})),
    ]
    found = usb_findings(devices)
    assert [(f.kind, f.path) for f in found] == [("printer", "usb:04b8:0e28"), ("printer", "usb:1234:5678"),
                                                 ("scanner", "0c2e:0b61")]
    assert found[0].config == ("[printer]", 'url = "usb:04b8:0e28"')


def test_usb_from_sysfs_layout(tmp_path: Path) -> None:
    device = tmp_path / "1-1"
    (device / "1-1:1.0").mkdir(parents=True)
    for name, value in (("idVendor", "0416"), ("idProduct", "5011"), ("manufacturer", "Winbond"),
                        ("product", "POS80 Printer"), ("1-1:1.0/bInterfaceClass", "07")):
        (device / name).write_text(value + "\n")
    (tmp_path / "usb1").mkdir()  # a root hub without ids here: skipped
    [usb] = _usb_from_sysfs(tmp_path)
    assert usb == UsbDevice(0x0416, 0x5011, "Winbond POS80 Printer", frozenset({7}))


def test_by_id_links(tmp_path: Path) -> None:
    target = tmp_path / "ttyUSB0"
    target.write_text("")
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-1a86_USB_Serial-if00-port0").symlink_to(target)
    assert by_id_links(by_id) == {os.path.realpath(target): str(by_id / "usb-1a86_USB_Serial-if00-port0")}
    assert by_id_links(tmp_path / "absent") == {}


def test_scanner_heuristics() -> None:
    keyboard = [*range(1, 60)]
    assert looks_like_keyboard(keyboard)
    assert not looks_like_keyboard([28, 103, 108])  # a remote's arrows and OK: no letters
    assert looks_like_scanner("Honeywell Imaging & Mobility 1900", 0x0C2E, 0x0B61, keyboard)
    assert looks_like_scanner("SM SM-2D PRODUCT HID KBW barcode scanner", 0x1234, 1, keyboard)
    assert looks_like_scanner("USB Keyboard", 0x05E0, 0x1200, keyboard)  # known scanner vendor
    assert not looks_like_scanner("Dell USB Keyboard", 0x413C, 0x2107, keyboard)
    assert not looks_like_scanner("barcode scanner", 0x1234, 1, [28])


def test_cameras_and_printer_files(tmp_path: Path) -> None:
    dev, sysfs = tmp_path / "dev", tmp_path / "sys"
    (dev / "v4l" / "by-id").mkdir(parents=True)
    (dev / "usb").mkdir()
    for node, index in (("video0", "0"), ("video1", "1")):
        (dev / node).write_text("")
        (sysfs / node).mkdir(parents=True)
        (sysfs / node / "index").write_text(index + "\n")
        (sysfs / node / "name").write_text("HD USB Camera\n")
    (dev / "v4l" / "by-id" / "usb-HD_Camera-video-index0").symlink_to(dev / "video0")
    (dev / "usb" / "lp0").write_text("")
    [camera] = camera_findings(dev, sysfs)
    assert camera.name == "HD USB Camera" and camera.path.endswith("usb-HD_Camera-video-index0")
    assert camera.config[1:] == ('kind = "camera"', f'device = "{camera.path}"')
    [printer] = lp_findings(dev)
    assert printer.path == f"file:{dev / 'usb' / 'lp0'}"


def test_serial_ports_here_do_not_crash() -> None:
    report = Report()
    for found in serial_findings(report):
        assert found.via == "serial" and found.path.startswith("/dev/")
