"""QR/bar-code scanners: HID keyboard-wedge (evdev), serial, camera (OpenCV + zbar), one `Scanner`
interface above them, and a simulator."""
