"""What hardware is attached, and the config lines that would use it: `taxhall provision detect`.

Looks at USB devices (pyusb; the kernel's sysfs when libusb is missing), serial ports
(pyserial's list_ports, named by their /dev/serial/by-id links, which survive re-plugging into
another port), evdev input devices that look like barcode scanners, cameras (/dev/video*) and
usblp printer nodes. Every probe copes with what a field machine may lack — no libusb, no
permission, no /dev/input — by adding a note instead of failing.

The tables of vendor/product ids name what is common in Chinese tax halls; an unknown id is
still listed by its class (USB printer class, serial adapter, keyboard).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

USB_CLASS_PRINTER = 0x07
USB_CLASS_HID = 0x03

# (vendor, product or None for any) → (kind, label). Kinds: printer, idreader, scanner, serial.
KNOWN_USB: dict[tuple[int, int | None], tuple[str, str]] = {
    (0x04B8, None): ("printer", "Epson receipt printer (TM series)"),
    (0x0519, None): ("printer", "Star Micronics receipt printer"),
    (0x1504, None): ("printer", "Bixolon receipt printer"),
    (0x0DD4, None): ("printer", "Custom receipt printer"),
    (0x154F, None): ("printer", "SNBC (北洋) receipt printer"),
    (0x0416, 0x5011): ("printer", "generic POS-58/80 receipt printer (Winbond chip)"),
    (0x0483, 0x5743): ("printer", "generic POS receipt printer (STM32 chip)"),
    (0x0483, 0x070B): ("printer", "generic POS receipt printer (STM32 chip)"),
    (0x1FC9, 0x2016): ("printer", "Xprinter receipt printer (NXP chip)"),
    (0x28E9, 0x0289): ("printer", "Xprinter receipt printer (GD32 chip)"),
    (0x0FE6, 0x811E): ("printer", "generic POS-58 receipt printer"),
    (0x0400, 0xC35A): ("idreader", "二代证阅读器 (CVR-100U class, USB)"),
    (0x0C2E, None): ("scanner", "Honeywell (Metrologic) barcode scanner"),
    (0x0536, None): ("scanner", "Honeywell (Hand Held Products) barcode scanner"),
    (0x05E0, None): ("scanner", "Zebra (Symbol) barcode scanner"),
    (0x05F9, None): ("scanner", "Datalogic barcode scanner"),
    (0x1EAB, None): ("scanner", "Newland (新大陆) barcode scanner"),
    (0x1A86, 0x7523): ("serial", "CH340 USB-serial adapter"),
    (0x1A86, 0x55D4): ("serial", "CH9102 USB-serial adapter"),
    (0x10C4, 0xEA60): ("serial", "CP210x USB-serial adapter"),
    (0x067B, 0x2303): ("serial", "PL2303 USB-serial adapter"),
    (0x0403, 0x6001): ("serial", "FTDI USB-serial adapter"),
    (0x0403, 0x6015): ("serial", "FTDI USB-serial adapter"),
}
SCANNER_NAME = re.compile(r"barcode|bar code|scanner|\bscan|qr|honeywell|symbol|zebra|datalogic|newland|扫描|扫码",
                          re.IGNORECASE)
_KEY_ENTER, _KEY_A, _KEY_Z, _KEY_1, _KEY_0 = 28, 30, 44, 2, 11


@dataclass(frozen=True)
class Found:
    """One device and the config lines that would use it."""

    kind: str  # printer, idreader, scanner, serial, keyboard, camera
    via: str  # usb, file, serial, input, camera: how it was found
    name: str
    path: str  # the name config should use
    detail: str = ""
    config: tuple[str, ...] = ()


@dataclass
class Report:
    found: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Found]:
        return [f for f in self.found if f.kind in kinds]


def identify_usb(vendor: int, product: int) -> tuple[str, str] | None:
    """(kind, label) from the table: the exact id first, then the vendor."""
    return KNOWN_USB.get((vendor, product)) or KNOWN_USB.get((vendor, None))


def by_id_links(directory: Path | str) -> dict[str, str]:
    """Resolved device path → its stable by-id link, for one /dev/.../by-id directory."""
    links: dict[str, str] = {}
    try:
        entries = sorted(Path(directory).iterdir())
    except OSError:
        return links
    for link in entries:
        try:
            links.setdefault(os.path.realpath(link), str(link))
        except OSError:
            continue
    return links


# -- USB --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsbDevice:
    vendor: int
    product: int
    name: str
    interface_classes: frozenset[int]

    @property
    def ids(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


def _usb_from_pyusb() -> list[UsbDevice]:
    import usb.core
    import usb.util

    devices = []
    for device in usb.core.find(find_all=True) or []:
        classes: set[int] = set()
        try:
            for configuration in device:
                classes.update(interface.bInterfaceClass for interface in configuration)
        except (usb.core.USBError, NotImplementedError, ValueError):
            pass  # descriptors unreadable: the ids alone still say something
        names = []
        for index in (device.iManufacturer, device.iProduct):
            try:
                names.append(usb.util.get_string(device, index) or "" if index else "")
            except (usb.core.USBError, NotImplementedError, ValueError):
                names.append("")  # reading strings needs the device open: often no permission
        devices.append(UsbDevice(device.idVendor, device.idProduct, " ".join(n for n in names if n), frozenset(classes)))
    return devices


def _usb_from_sysfs(root: Path) -> list[UsbDevice]:
    devices = []
    for node in sorted(root.glob("*")):
        vendor_file = node / "idVendor"
        if not vendor_file.exists():
            continue  # interfaces (1-1:1.0) and hubs' ports have no ids
        try:
            vendor = int(vendor_file.read_text().strip(), 16)
            product = int((node / "idProduct").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        name = " ".join(_read(node / f) for f in ("manufacturer", "product") if _read(node / f))
        classes = {int(c, 16) for c in (_read(i) for i in node.glob(f"{node.name}:*/bInterfaceClass")) if c}
        devices.append(UsbDevice(vendor, product, name, frozenset(classes)))
    return devices


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def list_usb(report: Report, sysfs: Path = Path("/sys/bus/usb/devices")) -> list[UsbDevice]:
    try:
        return _usb_from_pyusb()
    except ImportError:
        report.notes.append("pyusb is not installed; USB devices listed from sysfs")
    except Exception as exc:  # noqa: BLE001 - pyusb raises NoBackendError, USBError, OSError...
        if type(exc).__name__ == "NoBackendError":
            report.notes.append("pyusb has no libusb backend (Debian package libusb-1.0-0); USB devices listed from sysfs")
        else:
            report.notes.append(f"pyusb could not list USB devices ({exc}); listed from sysfs")
    if not sysfs.exists():
        report.notes.append(f"no {sysfs}: USB devices cannot be listed on this machine")
        return []
    return _usb_from_sysfs(sysfs)


def usb_findings(devices: Iterable[UsbDevice]) -> list[Found]:
    """Printers, ID-card readers and scanners among USB devices (serial adapters show up as ports)."""
    found = []
    for device in devices:
        known = identify_usb(device.vendor, device.product)
        kind, label = known if known else ("usb", "")
        if USB_CLASS_PRINTER in device.interface_classes and kind == "usb":
            kind, label = "printer", "USB printer class device"
        if kind == "printer":
            found.append(Found("printer", "usb", device.name or label, f"usb:{device.ids}", label,
                               ("[printer]", f'url = "usb:{device.ids}"')))
        elif kind == "idreader":
            found.append(Found("idreader", "usb", device.name or label, device.ids,
                               f"{label}; USB (not serial) readers need the vendor's SDK, not supported here"))
        elif kind == "scanner":
            found.append(Found("scanner", "usb", device.name or label, device.ids,
                               f"{label}; see its input device or serial port below for the config"))
    return found


# -- serial ports -------------------------------------------------------------------------------

def serial_findings(report: Report, by_id_dir: str = "/dev/serial/by-id") -> list[Found]:
    try:
        from serial.tools import list_ports
    except ImportError:
        report.notes.append("pyserial is not installed: serial ports not listed")
        return []
    links = by_id_links(by_id_dir)
    found = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        path = links.get(os.path.realpath(port.device), port.device)
        ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid is not None else ""
        known = identify_usb(port.vid, port.pid) if ids else None
        description = port.description if port.description not in ("", "n/a") else ""
        name = description or (known[1] if known else "on-board serial port" if "ttyS" in port.device else "serial port")
        detail = ", ".join(x for x in (port.device if port.device != path else "", ids,
                                       known[1] if known and known[1] != name else "") if x)
        if known and known[0] == "idreader":
            config: tuple[str, ...] = ("[idreader]", f'port = "{path}"')
        elif known and known[0] == "scanner":
            config = ("[scanner]", 'kind = "serial"', f'device = "{path}"')
        else:
            # A bare serial port or USB-serial adapter: ID-card readers (115200 baud) and
            # serial scanners both use them; `taxhall idcard read --port` tells which it is.
            config = ("# an ID-card reader:", "[idreader]", f'port = "{path}"',
                      "# or a serial scanner:", "[scanner]", 'kind = "serial"', f'device = "{path}"')
        found.append(Found("serial", "serial", name, path, detail, config))
    if links and not found:
        report.notes.append(f"{by_id_dir} has links but pyserial lists no ports")
    return found


# -- input devices (keyboard-wedge scanners) ----------------------------------------------------

def looks_like_keyboard(keys: Iterable[int]) -> bool:
    """Can type letters, digits and Enter: what a wedge scanner announces itself as."""
    have = set(keys)
    return _KEY_ENTER in have and {_KEY_A, _KEY_Z, _KEY_1, _KEY_0} <= have


def looks_like_scanner(name: str, vendor: int, product: int, keys: Iterable[int]) -> bool:
    known = identify_usb(vendor, product)
    return looks_like_keyboard(keys) and (bool(SCANNER_NAME.search(name)) or (known is not None and known[0] == "scanner"))


def input_findings(report: Report, by_id_dir: str = "/dev/input/by-id") -> list[Found]:
    try:
        import evdev
    except ImportError:
        report.notes.append("python-evdev is not installed: input devices not listed")
        return []
    paths = evdev.list_devices()
    if not paths:
        if not os.path.isdir("/dev/input"):
            report.notes.append("no /dev/input on this machine: no keyboard-wedge scanners can be seen")
        elif glob.glob("/dev/input/event*"):
            report.notes.append("cannot read /dev/input/event*: run as root or add the user to group 'input'")
        return []
    links = by_id_links(by_id_dir)
    found = []
    for path in paths:
        try:
            device = evdev.InputDevice(path)
        except OSError as exc:
            report.notes.append(f"cannot open {path}: {exc.strerror or exc}")
            continue
        try:
            keys = device.capabilities().get(evdev.ecodes.EV_KEY, [])
            name, vendor, product = device.name, device.info.vendor, device.info.product
        finally:
            device.close()
        stable = links.get(os.path.realpath(path), path)
        ids = f"{vendor:04x}:{product:04x}"
        config = ("[scanner]", 'kind = "hid"', f'device = "{stable}"')
        if looks_like_scanner(name, vendor, product, keys):
            found.append(Found("scanner", "input", name, stable, f"{path}, {ids}, keyboard wedge", config))
        elif looks_like_keyboard(keys) and vendor not in (0, 1):
            # Cheap scanners often call themselves "USB Keyboard": list USB keyboards too,
            # commented out, so the technician decides (scan something: does it type?).
            found.append(Found("keyboard", "input", name, stable, f"{path}, {ids}; a keyboard, or a scanner that says it is one",
                               tuple("# " + line for line in config)))
    return found


# -- cameras and printer device files ------------------------------------------------------------

def camera_findings(dev: Path = Path("/dev"), sysfs: Path = Path("/sys/class/video4linux")) -> list[Found]:
    links = by_id_links(dev / "v4l" / "by-id")
    found = []
    for node in sorted(dev.glob("video*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0)):
        index = _read(sysfs / node.name / "index")
        if index not in ("", "0"):
            continue  # a camera's second node carries metadata, not pictures
        stable = links.get(os.path.realpath(node), str(node))
        name = _read(sysfs / node.name / "name") or node.name
        found.append(Found("camera", "camera", name, stable, str(node),
                           ("[scanner]", 'kind = "camera"', f'device = "{stable}"')))
    return found


def lp_findings(dev: Path = Path("/dev")) -> list[Found]:
    return [Found("printer", "file", node.name, f"file:{node}", "usblp printer device file",
                  ("[printer]", f'url = "file:{node}"')) for node in sorted((dev / "usb").glob("lp*"))]


def detect() -> Report:
    """Everything attached to this machine that taxhall can use."""
    report = Report()
    report.found += usb_findings(list_usb(report))
    report.found += lp_findings()
    report.found += serial_findings(report)
    report.found += input_findings(report)
    report.found += camera_findings()
    return report
