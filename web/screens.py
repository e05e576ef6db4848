"""Screenshots of the supervisor's dashboard in both languages: `python -m web.screens` →
docs/screens/{zh,en}-web-dashboard.png.

It plays two weeks of a simulated hall into a queue database (an engine on a clock of its
own: tickets taken, called, served, some no-shows and ratings), then starts Mosquitto, the
queue engine on that database with a few tickets waiting, counters at work, one paused and
one service stopped by the supervisor, `taxhall web` on a free port, and photographs
`/admin` with Debian's Chromium (headless, driven by Playwright). The PNGs are reduced to a
palette, as the kiosk's screens are, so they stay small in the repository.

    python -m web.screens                       # docs/screens, 1440 px wide
    python -m web.screens --out /tmp/shots --width 390
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import Overrides, load_config
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.model import TicketerError
from ticketer.service import TicketerService
from ticketer.store import Store
from web.app import ServerThread, WebApp, create_app
from web.auth import hash_password
from web.config import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ZONE = "Asia/Shanghai"
USER, PASSWORD = "zhang", "screens"
STAFF = {str(n): f"S10{n:02d}" for n in range(1, 7)}


def hall_config() -> TicketerSection:
    return TicketerSection.model_validate({"timezone": ZONE, "services": [
        {"code": "A", "name": "综合业务", "name_en": "General", "target_service_s": 300},
        {"code": "B", "name": "发票业务", "name_en": "Invoices", "target_service_s": 240},
        {"code": "C", "name": "申报纳税", "name_en": "Tax filing", "target_service_s": 420},
        {"code": "V", "name": "预约", "name_en": "Appointments", "target_service_s": 300, "hours": ["08:30-17:00"]}],
        "counters": [{"id": counter, "services": ["A", "B", "C", "V"]} for counter in STAFF]})


class _Clock:
    """The simulation's time, moved by the simulation only."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate_history(db: Path, config: TicketerSection, days: int = 14, seed: int = 7) -> None:
    """`days` business days up to today (Sundays closed), 08:30–18:00, through the engine's
    own operations, so that the statistics are the engine's real figures."""
    rng = random.Random(seed)
    clock = _Clock()
    engine = Engine(config, Store(db), clock=clock)
    ids = iter(range(10**9))

    def rid() -> str:
        return f"sim-{next(ids)}"

    today = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            if day.weekday() == 6 and back:
                continue
            load = 0.7 + 0.6 * rng.random()
            for hour in range(8, 18 if back else 17):
                clock.now = max(clock.now, (day + timedelta(hours=hour, minutes=30 if hour == 8 else 0)).timestamp())
                if hour == 8:
                    for counter, staff in STAFF.items():
                        engine.login(rid(), counter, staff)
                peak = 1.6 if hour in (9, 10, 14, 15) else (0.6 if hour == 12 else 1.0)
                arrivals = max(2, int(rng.gauss(11 * peak * load, 3)))
                for _ in range(arrivals):
                    clock.now += rng.uniform(20, 3600 / arrivals * 0.3)
                    try:
                        engine.take_ticket(rid(), rng.choice("AAABBCCV"), "dispenser-1")
                    except TicketerError:  # 预约 outside its hours
                        pass
                for counter in STAFF:
                    _serve_some(engine, rid, rng, clock, counter)
            for counter in STAFF:  # the day's last tickets, then the counters close
                while _serve_one(engine, rid, clock, counter):
                    pass
                engine.logout(rid(), counter)
    finally:
        engine.close()


def _serve_some(engine: Engine, rid: Callable[[], str], rng: random.Random, clock: _Clock, counter: str) -> None:
    """A counter's work in an hour: two to four tickets, now and then a no-show and a rating."""
    for _ in range(rng.randint(2, 4)):
        try:
            ticket = engine.call_next(rid(), counter).ticket
        except TicketerError:
            return
        clock.now += rng.uniform(10, 60)
        if rng.random() < 0.06:
            engine.recall(rid(), counter)
            engine.no_show(rid(), counter)
            continue
        engine.start(rid(), counter)
        clock.now += rng.uniform(150, 480) * (1.4 if counter == "3" else 1.0)
        engine.finish(rid(), counter)
        if ticket is not None and rng.random() < 0.5:
            engine.rate(rid(), ticket.id, rng.choices([5, 4, 3, 2, 1], [60, 25, 8, 5, 2])[0])


def _serve_one(engine: Engine, rid: Callable[[], str], clock: _Clock, counter: str) -> bool:
    try:
        engine.call_next(rid(), counter)
    except TicketerError:
        return False
    clock.now += 200
    engine.finish(rid(), counter)
    return True


def photograph(out: Path, width: int) -> list[Path]:
    """Runs the hall and the dashboard and saves one PNG per language."""
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="web-screens-"))
    db = work / "ticketer" / "queue.sqlite"
    config = hall_config()
    simulate_history(db, config)
    broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=work / "broker", persistence=False))
    broker.start()
    saved: list[Path] = []
    buses: list[HallBus] = []
    try:
        def device(name: str, role: str, config_file: str | None = None) -> HallBus:
            bus = HallBus(load_config(config_file, role, Overrides(broker=broker.url, hall="demo", device=name,
                                                                   data_dir=str(work / name)),
                                      sections=SECTIONS if role == "web" else None))
            buses.append(bus)
            return bus

        engine = TicketerService(Engine(config, Store(db), event_topic="device/ticketer/event"), device("ticketer", "ticketer"))
        engine.start()
        desk = device("desk", "counter")
        desk.start(wait_s=5)
        for service in "AAAAABBBCCCCCCCV":
            desk.request("queue/req/take_ticket", {"service": service, "source": "dispenser-1"})
        for counter in ("1", "2", "3", "5"):
            desk.request("queue/req/login", {"counter": counter, "staff": STAFF[counter]})
        for op, counter in (("call_next", "1"), ("start", "1"), ("call_next", "2")):
            desk.request(f"queue/req/{op}", {"counter": counter})
        desk.request("queue/req/pause", {"counter": "5", "reason": "break"})
        desk.request("queue/req/close_service", {"service": "C", "by": USER, "reason": "系统维护"})
        engine.tick()

        users = work / "users.toml"
        users.write_text(f'[users.{USER}]\npassword_hash = "{hash_password(PASSWORD)}"\n', encoding="utf-8")
        web_toml = work / "web.toml"
        settings = {"users_file": str(users), "ticketer_db": str(db), "timezone": ZONE}
        web_toml.write_text("[web]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
        web_bus = device("web", "web", str(web_toml))
        web_bus.start(wait_s=5)
        app = WebApp(web_bus.config, web_bus.config.section("web"), web_bus)
        server = ServerThread(create_app(app), "127.0.0.1", free_port()).start()
        try:
            time.sleep(1.0)  # the bridge takes the retained state and alarms
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for lang in ("zh", "en"):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.goto(f"{server.url}/admin/login?lang={lang}")
                    page.fill("#user", USER)
                    page.fill("#password", PASSWORD)
                    page.click("#login")
                    page.wait_for_selector('tr[data-service="C"][data-closed="supervisor"]')
                    path = out / f"{lang}-web-dashboard.png"
                    page.screenshot(path=str(path), full_page=True)
                    _palette(path)
                    saved.append(path)
                    page.close()
                browser.close()
        finally:
            server.stop()
            engine.close()
    finally:
        for bus in buses:
            if bus.connected:
                bus.close(drain_s=0.2)
        broker.stop()
    return saved


def _palette(path: Path) -> None:
    """A palette PNG: the dashboard uses few colours, so 128 keep it sharp at a third of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.screens", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens", help="folder for the PNGs (default docs/screens)")
    parser.add_argument("--width", type=int, default=1440, help="browser window width in pixels (default 1440)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in photograph(args.out, args.width):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
