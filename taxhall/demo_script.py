"""The scripted morning of `taxhall demo --out DIR`: a quarter of an hour of a hall, played in
seconds over the bus alone — tickets taken at the dispenser, called, served and rated at the
counters, a recall and a no-show, the dispenser's printer running out of paper, a taxpayer
printing her tax payment certificate at the kiosk — with every screen photographed, then a
summary of what the hall produced in DIR.

It uses only the bus contract (docs/mqtt.md) and the devices' remote commands, like an
operator's tool would; it imports no application.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from taxhall.bus import BusError, HallBus


class _Ports(Protocol):
    printer_control: int


KIOSK = "kiosk-1"
# The taxpayer's ID card lies on the kiosk's reader (the demo's first card): the certificate
# tile reads it, three years of her payments are found and the certificate printed.
TO_RECORDS = [{"wait": "home"}, {"tap": "tile_certificate"}, {"wait": "cert_period"}, {"tap": "period_last_36m"},
              {"tap": "search"}, {"wait": "cert_records"}]
PRINT = [{"tap": "print"}, {"wait": "cert_done"}]
FINISH = [{"tap": "finish"}, {"wait": "home"}]


def run_morning(bus: HallBus, statuses: dict[str, str], devices: list[str], out: Path, data_dir: Path,
                ports: _Ports, stop: threading.Event) -> int:
    screens = out / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    log: list[str] = []

    def step(text: str) -> None:
        log.append(text)
        print(f"  [morning] {text}", flush=True)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not stop.is_set():
        if all(statuses.get(d) in ("online", "degraded") for d in devices):
            break
        time.sleep(0.2)
    missing = [d for d in devices if statuses.get(d) not in ("online", "degraded")]
    if missing:
        step(f"devices not online after 90 s: {', '.join(missing)} (see their logs)")
        return 1
    step(f"all {len(devices)} devices online")
    time.sleep(1.5)  # the screens draw their first frame
    shoot(bus, devices, screens, "0-opening", step)

    issued = []
    for service in "AABACBA":
        reply = ask(bus, "device/dispenser-1/cmd/issue", {"args": {"service": service}})
        ticket = reply.get("issued", {})
        issued.append(ticket)
        step(f"dispenser: {ticket.get('number')} ({service}) — {ticket.get('message')}")

    def queue(op: str, counter: str, **fields: Any) -> dict[str, Any]:
        reply = ask(bus, f"queue/req/{op}", {"counter": counter, **fields})
        ticket = (reply.get("ticket") or {}).get("number", "")
        step(f"counter {counter}: {op} {ticket}".rstrip() + ("" if reply.get("ok") else f" → {reply['error']['code']}"))
        return reply

    first = queue("call_next", "1")
    queue("call_next", "2")
    time.sleep(1.0)
    shoot(bus, devices, screens, "1-first-calls", step)
    queue("start", "1")
    queue("recall", "2")
    queue("finish", "1")
    time.sleep(1.0)
    shoot(bus, ["rater-1"], screens, "2-rating-asked", step)
    press = ask(bus, "device/rater-1/cmd/press", {"args": {"level": 5}})
    step(f"rating pad: {press.get('screen', {}).get('message', press.get('error'))}")
    rated = ask(bus, "queue/req/rate", {"ticket": (first.get("ticket") or {}).get("id", ""), "level": 1})
    step(f"a second rating of {first.get('ticket', {}).get('number')} is refused: {rated.get('error', {}).get('code')}")
    queue("no_show", "2")
    queue("call_next", "2")
    queue("call_next", "1")

    control(ports.printer_control, "paper_out on")
    step("dispenser printer: paper out")
    reply = ask(bus, "device/dispenser-1/cmd/issue", {"args": {"service": "B"}})
    step(f"dispenser: {reply.get('issued', {}).get('number')} — {reply.get('issued', {}).get('message')}")
    time.sleep(1.0)
    shoot(bus, ["dispenser-1"], screens, "3-paper-out", step)
    control(ports.printer_control, "paper_out off")
    step("dispenser printer: paper refilled")
    calls_said = time.monotonic() + 6.0  # the voice says every call; the boards show the last
    printers = ["dispenser-1"]
    if KIOSK in devices:
        printers.append(KIOSK)
        if not kiosk_certificate(bus, screens, step):
            return 1
    time.sleep(max(0.0, calls_said - time.monotonic()))
    shoot(bus, devices, screens, "5-late-morning", step)

    return summary(out, data_dir, step, printers)


def kiosk_certificate(bus: HallBus, screens: Path, step: Any) -> bool:
    """At the kiosk, over its `cmd/script`: the certificate tile, her card read, her payment
    records, the certificate printed, the visit finished (and wiped); screenshots between."""
    records = tap_through(bus, TO_RECORDS, "kiosk: her ID card read, her payment records found", step)
    if records is None:
        return False
    shoot(bus, [KIOSK], screens, "4-kiosk-records", step)
    printed = tap_through(bus, PRINT, "", step)
    if printed is None:
        return False
    outcome = "printed" if printed.get("printed") else "issued, not printed"
    step(f"kiosk: certificate {printed.get('certificate')} {outcome}")
    shoot(bus, [KIOSK], screens, "4-kiosk-certificate", step)
    return tap_through(bus, FINISH, "kiosk: visit finished, its data wiped", step) is not None


def tap_through(bus: HallBus, steps: list[dict[str, Any]], done: str, step: Any) -> dict[str, Any] | None:
    """One tap script on the kiosk; its answer, or None (said) when a step failed."""
    reply = ask(bus, f"device/{KIOSK}/cmd/script", {"args": {"steps": steps}}, timeout_s=90)
    if not reply.get("ok"):
        error = reply.get("error") or {}
        step(f"kiosk: the script failed — {error.get('code')}: {error.get('message')}")
        return None
    if done:
        step(done)
    return reply


def ask(bus: HallBus, suffix: str, payload: dict[str, Any], timeout_s: float = 15) -> dict[str, Any]:
    try:
        return bus.request(suffix, payload, timeout_s=timeout_s, check=False)
    except BusError as exc:
        return {"ok": False, "error": {"code": "bus", "message": str(exc)}}


def shoot(bus: HallBus, devices: list[str], folder: Path, moment: str, step: Any) -> None:
    for device in devices:
        if device.split("-")[0] not in ("dispenser", "counter", "rater", "display", "kiosk") or device == "display-led":
            continue
        path = {"args": {"path": str(folder / f"{moment}-{device}.png")}}
        reply = ask(bus, f"device/{device}/cmd/screenshot", path)
        if (reply.get("error") or {}).get("code") == "not_ready":
            time.sleep(2.0)
            reply = ask(bus, f"device/{device}/cmd/screenshot", path)
        if not reply.get("ok"):
            step(f"no screenshot of {device}: {reply.get('error', {}).get('message')}")


def control(port: int, line: str) -> None:
    """A line to the printer simulator's control port (fault switches)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(line.encode() + b"\n")
        conn.recv(1024)


def summary(out: Path, data_dir: Path, step: Any, printers: list[str]) -> int:
    """What the morning left in `out`, one line per kind (and per printer); 1 when a kind is
    missing."""
    audio_out = out / "audio"
    audio_out.mkdir(parents=True, exist_ok=True)
    for wav in sorted((data_dir / "display-hall" / "audio").glob("*.wav")):
        shutil.copy2(wav, audio_out / wav.name)
    found = {
        **{f"printouts {device}": sorted((out / "printouts" / device).glob("page-*.png")) for device in printers},
        "LED frames": sorted((out / "led").glob("led-*.png")),
        "voice files": sorted(audio_out.glob("*.wav")),
        "screenshots": sorted((out / "screens").glob("*.png")),
    }
    print("\ntaxhall demo: the scripted morning left in", out, flush=True)
    width = max(len(what) for what in found)
    for what, files in found.items():
        print(f"  {len(files):4d} {what:{width}} {files[0].parent if files else '-'}", flush=True)
    missing = [what for what, files in found.items() if not files]
    if missing:
        print(f"taxhall demo: nothing was produced for: {', '.join(missing)}", flush=True)
        return 1
    return 0
