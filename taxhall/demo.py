"""`taxhall demo`: a whole hall on one machine — the embedded broker, the queue engine, the tax
gateway, a dispenser, two counter callers, a rating pad, the hall screen, an LED window board
and (when built) a kiosk, each a child `taxhall <name>` on simulated hardware (printer and LED
simulators speaking their real protocols on loopback ports; the kiosk's ID-card reader and
scanner simulators on pseudo-terminals, the reader holding the demo taxpayers' cards).

With a screen the windows open on it; `--headless` (or no $DISPLAY) runs them on a private
Xvfb. `--out DIR` then runs a scripted morning (taxhall.demo_script) and leaves the printouts,
LED frames, voice files and screenshots in DIR with a summary. Devices are started only through
the command line, as systemd would, so this module imports no application.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from taxhall.broker import BrokerError, BrokerProcess, BrokerSettings, free_port
from taxhall.bus import BusMessage, HallBus
from taxhall.config import DeviceConfig, Overrides, load_config
from taxhall.demo_script import sim_commands
from taxhall.logs import setup_logging

DEMO_HALL = "demo"  # unless --hall says otherwise


@dataclass(frozen=True)
class MadeFile:
    """A file a device needs before it starts: the stdout of `python <argv...>`. A program
    makes it, not this module, so the core imports no application to write it."""

    path: Path
    argv: tuple[str, ...]


@dataclass
class DemoDevice:
    """One child process of the demo: `taxhall <argv...>` as device `device`."""

    device: str
    argv: list[str]
    what: str
    config: str = ""  # TOML written to <data-dir>/<device>.toml and passed with --config
    screen: bool = False
    on_bus: bool = True  # says online on the bus (simulators and the HTTP gateway do not)
    makes: tuple[MadeFile, ...] = ()  # written before the first start
    waits_for: tuple[Path, ...] = ()  # paths another device makes (a simulator's pty link)
    after: str = ""  # a device that must say online on the bus first (as systemd's After= on a notify unit)
    commands: Path | None = None  # a named pipe given as stdin: the morning's lines to a simulator
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log_path: Path = field(default=Path("/dev/null"))


@dataclass(frozen=True)
class DemoPorts:
    gateway: int
    printer: int
    printer_control: int
    led: int
    kiosk_printer: int
    web: int


def _built(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def demo_devices(ports: DemoPorts, out: Path, data_dir: Path, prefill_key: str = "") -> list[DemoDevice]:
    """The hall's devices, wired to each other's simulated hardware. `prefill_key`: the public
    key of the hall's pre-filled request codes (the web signs them; kiosk and counters read them)."""
    printouts, led_frames = out / "printouts", out / "led"
    prefill = f'prefill_keys = ["{prefill_key}"]\n' if prefill_key else ""
    users = data_dir / "web" / "users.toml"
    dispenser_scanner = data_dir / "scanner-2.pty"
    devices = [
        # Appointments round the clock, every day, check-in from 150 minutes ahead: the morning
        # books the next hour and checks it in at whatever hour the demo runs (the example hall
        # otherwise).
        DemoDevice("ticketer", ["ticketer"], "queue engine (SQLite)",
                   config='[appointments]\nslot_minutes = 60\nwindows = ["00:00-23:59"]\ncheckin_before_min = 150\n'
                          '[calendar]\nweekend = []\n'),
        DemoDevice("gateway", ["gateway", "--listen", f"127.0.0.1:{ports.gateway}"],
                   f"tax gateway on http://127.0.0.1:{ports.gateway} (demo data)", on_bus=False),
        DemoDevice("printer-sim-1", ["sim", "printer", "--listen", f"127.0.0.1:{ports.printer}", "--out",
                                     str(printouts / "dispenser-1"), "--control", f"127.0.0.1:{ports.printer_control}"],
                   f"ESC/POS printer simulator of dispenser-1 on tcp://127.0.0.1:{ports.printer} "
                   f"(pages in {printouts / 'dispenser-1'})", on_bus=False),
        DemoDevice("led-sim-1", ["sim", "led", "--listen", f"127.0.0.1:{ports.led}", "--width", "128", "--height", "32",
                                 "--out", str(led_frames)],
                   f"LED board simulator (Alpha protocol) on 127.0.0.1:{ports.led} (frames in {led_frames})", on_bus=False),
        DemoDevice("scanner-2", ["sim", "scanner", "--link", str(dispenser_scanner)],
                   f"QR scanner simulator of dispenser-1 on {dispenser_scanner} (appointment check-in)", on_bus=False,
                   commands=sim_commands(data_dir, "scanner-2")),
        DemoDevice("dispenser-1", ["dispenser", "--printer", f"tcp://127.0.0.1:{ports.printer}", "--size", "540x960"],
                   "ticket dispenser (取号机)", screen=True, after="ticketer", waits_for=(dispenser_scanner,),
                   config='[dispenser]\nhall_name = "示范办税服务厅"\nhall_name_en = "Demo Tax Service Hall"\n'
                          f'follow_url = "http://127.0.0.1:{ports.web}/t/{{token}}"\n'
                          f'[scanner]\nkind = "serial"\ndevice = "{dispenser_scanner}"\n'),
        # the counters log in once, at start: the queue engine must be there to hear it
        DemoDevice("counter-1", ["counter", "--counter", "1", "--staff", "S1001", "--size", "800x500"],
                   "counter caller, window 1", screen=True, after="ticketer", config=f"[counter]\n{prefill}" if prefill else ""),
        DemoDevice("counter-2", ["counter", "--counter", "2", "--staff", "S1002", "--size", "800x500"],
                   "counter caller, window 2", screen=True, after="ticketer", config=f"[counter]\n{prefill}" if prefill else ""),
        DemoDevice("rater-1", ["rater", "--counter", "1", "--size", "800x500"], "rating pad, window 1", screen=True),
        DemoDevice("display-hall", ["display", "hall", "--size", "1280x720"], "hall screen with voice", screen=True,
                   config=f'[display_hall]\nhall_name = "示范办税服务厅"\nhall_name_en = "Demo Tax Service Hall"\n'
                          f'[voice]\nplayer = ""\nlanguages = ["zh", "en"]\n'),
        DemoDevice("display-led", ["display", "led"], "LED window board of counter 1",
                   config=f'[[display_led.boards]]\nport = "socket://127.0.0.1:{ports.led}"\ncounter = "1"\n'
                          'width = 128\nheight = 32\n'),
        DemoDevice("web", ["web", "--listen", f"127.0.0.1:{ports.web}"],
                   f"the hall on the web: http://127.0.0.1:{ports.web}/ — phones' queue, /book, /prepare, /appeal; "
                   f"the supervisor's /admin (user duty, password demo)", after="ticketer",
                   makes=(MadeFile(users, ("-m", "web.demo_users")),),
                   config=f'[web]\nhall_name = "示范办税服务厅"\nhall_name_en = "Demo Tax Service Hall"\n'
                          f'users_file = "{users}"\nticketer_db = "{data_dir / "ticketer" / "ticketer" / "queue.sqlite"}"\n'
                          f'prefill_key_file = "{data_dir / "web" / "prefill-ed25519.pem"}"\n'),
    ]
    if _built("kiosk.app"):
        devices += kiosk_devices(ports, out, data_dir, prefill)
    return devices


def kiosk_devices(ports: DemoPorts, out: Path, data_dir: Path, prefill: str = "") -> list[DemoDevice]:
    """The kiosk and its own simulated printer, ID-card reader (the demo taxpayers' cards, the
    first on the reader) and QR scanner, on the demo's tax gateway."""
    cards, reader, scanner = data_dir / "idreader-1" / "cards.json", data_dir / "idreader-1.pty", data_dir / "scanner-1.pty"
    pages = out / "printouts" / "kiosk-1"
    return [
        DemoDevice("printer-sim-2", ["sim", "printer", "--listen", f"127.0.0.1:{ports.kiosk_printer}", "--out", str(pages)],
                   f"ESC/POS printer simulator of kiosk-1 on tcp://127.0.0.1:{ports.kiosk_printer} (pages in {pages})",
                   on_bus=False),
        DemoDevice("idreader-1", ["sim", "idreader", "--identity", str(cards), "--link", str(reader)],
                   f"ID-card reader simulator of kiosk-1 on {reader} (a demo taxpayer's card on it)", on_bus=False,
                   makes=(MadeFile(cards, ("-m", "kiosk.demo_cards", "--identity-file")),)),
        DemoDevice("scanner-1", ["sim", "scanner", "--link", str(scanner)],
                   f"QR scanner simulator of kiosk-1 on {scanner}", on_bus=False, commands=sim_commands(data_dir, "scanner-1")),
        DemoDevice("kiosk-1", ["kiosk", "--size", "1280x800", "--printer", f"tcp://127.0.0.1:{ports.kiosk_printer}",
                               "--reader", str(reader), "--scanner", str(scanner)],
                   "24-hour self-service kiosk", screen=True, waits_for=(reader, scanner),
                   config=f'[kiosk]\nhall_name = "示范办税服务厅"\nhall_name_en = "Demo Tax Service Hall"\n'
                          f'voice_player = ""\n{prefill}queue_follow_url = "http://127.0.0.1:{ports.web}/t/{{token}}"\n'
                          f'appeal_lookup_url = "http://127.0.0.1:{ports.web}/appeal/{{ref}}"\n'
                          f'[printer]\nstatus_interval_s = 1.0\n'
                          f'[gateway]\nurl = "http://127.0.0.1:{ports.gateway}"\n'),
    ]


def _prefill_key(data_dir: Path) -> str:
    """The public key of the demo hall's pre-filled request codes, the private key made first
    (as `taxhall web` would on its first start) so kiosk and counters can be given it."""
    from taxhall.prefill import public_key_text
    from taxhall.prefill_keys import SigningKeyError, load_or_create_signing_key

    try:
        return public_key_text(load_or_create_signing_key(data_dir / "web" / "prefill-ed25519.pem").public_key())
    except SigningKeyError as exc:
        say(f"pre-filled codes are off in this demo: {exc}")
        return ""


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_xvfb() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """A private X server for the windows of a headless demo."""
    if not shutil.which("Xvfb"):
        return None, None
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not Path(f"/tmp/.X11-unix/X{number}").exists():
                time.sleep(0.05)
            return proc, f":{number}"
    return None, None


def run_demo(config: DeviceConfig, args: argparse.Namespace) -> int:
    hall = args.hall or DEMO_HALL
    setup_logging(hall, "demo", config.log.level)
    data_dir = Path(args.data_dir or ".demo").resolve()
    out = Path(args.out).resolve() if args.out else data_dir / "out"
    port = args.port or (1883 if _port_is_free(1883) else free_port())
    broker = BrokerProcess(BrokerSettings(port=port, data_dir=data_dir / "broker"))
    try:
        broker.start()
    except BrokerError as exc:
        print(f"taxhall demo: {exc}", file=sys.stderr)
        return 1
    say(f"started the broker — Mosquitto on {broker.url} (data in {data_dir})")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    env = dict(os.environ)
    # The demo hall keeps China's time whatever the machine's clock zone (the kiosk always
    # does): the web, the appointment slots and the appeal deadlines then read alike.
    env.setdefault("TZ", "Asia/Shanghai")
    xvfb = None
    if args.headless or not os.environ.get("DISPLAY"):
        xvfb, display = _start_xvfb()
        if display:
            env["DISPLAY"] = display
            say(f"screens run on a private X server {display} (headless)"
                + ("" if args.out else "; to see them, `make demo-morning` leaves screenshots in .demo/out/screens"))
        else:
            say("no X server (install xvfb); devices with screens are left out")

    web_port = 8080 if not args.out and _port_is_free(8080) else free_port()
    ports = DemoPorts(*(free_port() for _ in range(5)), web=web_port)
    devices = [d for d in demo_devices(ports, out, data_dir, _prefill_key(data_dir)) if not d.screen or env.get("DISPLAY")]
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    watcher = HallBus(load_config(None, "demo", Overrides(broker=broker.url, hall=hall, device="demo-watch",
                                                        data_dir=str(data_dir))))
    statuses: dict[str, str] = {}
    watcher.subscribe("device/+/status", lambda m: _note_status(m, statuses, quiet=bool(args.out)))
    watcher.start()
    code = 0
    try:
        # inside the try: a Ctrl-C or a failure half-way still stops what was started
        for dev in devices:
            if stop.is_set():
                break
            dev.log_path = logs / f"{dev.device}.log"
            if dev.after:
                _wait_online(dev.after, statuses, stop)
            start_device(dev, broker.url, hall, data_dir, env)
            say(f"started {dev.device:14} {dev.what}")
        say(f"hall '{hall}' is up; logs in {logs}; Ctrl-C stops everything.")
        if args.out:
            from taxhall.demo_script import run_morning

            code = run_morning(watcher, statuses, [d.device for d in devices if d.on_bus], out, data_dir, ports, stop)
        else:
            deadline = time.monotonic() + args.duration if args.duration else None
            while not stop.wait(0.5):
                if deadline and time.monotonic() >= deadline:
                    break
                _restart_dead(devices, broker.url, hall, data_dir, env)
    finally:
        for dev in devices:
            if dev.proc and dev.proc.poll() is None:
                dev.proc.terminate()
        for dev in devices:
            if dev.proc:
                try:
                    dev.proc.wait(timeout=8)
                except subprocess.TimeoutExpired:
                    dev.proc.kill()
        watcher.close()
        broker.stop()
        if xvfb:
            xvfb.terminate()
        say("stopped.")
    return code


def say(text: str) -> None:
    print(f"taxhall demo: {text}", flush=True)


def _restart_dead(devices: list[DemoDevice], broker_url: str, hall: str, data_dir: Path, env: dict[str, str]) -> None:
    for dev in devices:
        if dev.proc and dev.proc.poll() is not None:
            say(f"{dev.device} exited with {dev.proc.returncode}; restarting (see {dev.log_path})")
            dev.restarts += 1
            start_device(dev, broker_url, hall, data_dir, env)


def _wait_online(device: str, statuses: dict[str, str], stop: threading.Event, timeout_s: float = 30.0) -> None:
    """Until `device` says online (or degraded) on the bus; after `timeout_s`, go on and say so."""
    deadline = time.monotonic() + timeout_s
    while statuses.get(device) not in ("online", "degraded"):
        if stop.is_set() or time.monotonic() >= deadline:
            say(f"{device} is not online after {timeout_s:.0f} s; starting the rest anyway")
            return
        time.sleep(0.05)


def _make_files(dev: DemoDevice, env: dict[str, str]) -> None:
    """The files `dev` needs, written fresh at the demo's start (kept for its restarts)."""
    for made in dev.makes:
        made.path.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, *made.argv], capture_output=True, env=env, timeout=60)
        if result.returncode != 0:
            say(f"could not make {made.path} for {dev.device}: {result.stderr.decode(errors='replace').strip()}")
            continue
        made.path.write_bytes(result.stdout)


def _wait_for_paths(dev: DemoDevice, timeout_s: float = 15.0) -> None:
    """Until what `dev` opens at start exists: a device that finds its reader missing would
    only look again after its retry time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(p.exists() for p in dev.waits_for):
        time.sleep(0.05)
    for missing in (p for p in dev.waits_for if not p.exists()):
        say(f"{dev.device}: {missing} is not there; starting without it")


def start_device(dev: DemoDevice, broker_url: str, hall: str, data_dir: Path, env: dict[str, str]) -> None:
    """Starts `dev` as `taxhall <argv>` with its config, data dir and log, as the demo does (and
    scripts/screen-under-cage, which runs one screen under cage among the demo's simulators)."""
    device_dir = data_dir / dev.device
    device_dir.mkdir(parents=True, exist_ok=True)
    if dev.restarts == 0:
        _make_files(dev, env)
    _wait_for_paths(dev)
    extra: list[str] = []
    if dev.config:
        path = data_dir / f"{dev.device}.toml"
        path.write_text(dev.config, encoding="utf-8")
        extra = ["--config", str(path)]
    log_file = dev.log_path.open("ab")
    stdin = _open_commands(dev.commands) if dev.commands else subprocess.DEVNULL
    dev.proc = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", *dev.argv, *extra, "--broker", broker_url, "--hall", hall,
         "--device", dev.device, "--data-dir", str(device_dir)],
        # never the demo's own stdin: the simulators read commands from it, and would take the
        # lines typed into the demo's terminal; the morning's lines come through `commands`
        stdin=stdin, stdout=log_file, stderr=subprocess.STDOUT, env=env,
    )
    log_file.close()
    if isinstance(stdin, int) and stdin >= 0:
        os.close(stdin)


def _open_commands(path: Path) -> int:
    """The named pipe `path` (made if missing), opened for reading and writing: the child
    never sees its end while the demo runs, and the morning's writes never block on a reader."""
    if not path.exists():
        os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR)


def _note_status(message: BusMessage, statuses: dict[str, str], quiet: bool) -> None:
    status = message.data
    device = message.suffix.split("/")[1]
    if statuses.get(device) == status.state:
        return
    statuses[device] = status.state
    if not quiet:
        health = ", ".join(f"{name} {c.state}" for name, c in status.components.items()) or "no components"
        print(f"  [bus] {device}: {status.state} ({status.role} {status.version}; {health})", flush=True)
