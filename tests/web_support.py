"""The hall on the web for tests: the real queue engine and Mosquitto, `taxhall web` served by
uvicorn on a free loopback port in this process, and a dashboard user."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from taxhall.broker import free_port
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig, Overrides, load_config
from ticketer.service import TicketerService
from tests.test_ticketer_bus import ticketer  # noqa: F401  (the engine fixture)
from tests.ticketer_helpers import wait_for
from web.app import ServerThread, WebApp, create_app
from web.auth import hash_password
from web.config import SECTIONS

USER, PASSWORD = "zhang", "correct horse 值班"


@dataclass
class HallWeb:
    url: str
    app: WebApp
    engine: TicketerService
    desk: HallBus  # a dispenser and counter in one, for driving the queue

    def take(self, service: str = "A") -> dict[str, Any]:
        ticket: dict[str, Any] = self.desk.request("queue/req/take_ticket", {"service": service, "source": "dispenser-1"})["ticket"]
        return ticket

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.desk.request(f"queue/req/{op}", fields, check=False)

    def login(self, client: httpx.Client, user: str = USER, password: str = PASSWORD) -> httpx.Response:
        form = client.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        return client.post("/admin/login", data={"user": user, "password": password, "csrf": csrf})

    def wait_state(self, check: Callable[[dict[str, Any]], bool]) -> bool:
        return wait_for(lambda: self.app.bridge.state is not None and check(self.app.bridge.state))


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) from a server-sent event stream's lines."""
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


@pytest.fixture
def hall_web(ticketer: Callable[..., TicketerService], bus_factory: Callable[..., HallBus], broker: Any,  # noqa: F811
             tmp_path: Path) -> Iterator[Callable[..., HallWeb]]:
    servers: list[tuple[ServerThread, HallBus]] = []

    def start(**web: Any) -> HallWeb:
        engine = ticketer()
        users = tmp_path / "users.toml"
        users.write_text(f'[users.{USER}]\npassword_hash = "{hash_password(PASSWORD)}"\n', encoding="utf-8")
        path = tmp_path / "web.toml"
        settings = {"users_file": str(users), "ticketer_db": str(tmp_path / "ticketer" / "queue.sqlite"),
                    "refresh_s": 0.5, "timezone": "Asia/Shanghai", **web}
        path.write_text("[web]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in settings.items()),
                        encoding="utf-8")
        config: DeviceConfig = load_config(str(path), "web", Overrides(broker=broker.url, hall="test-hall", device="web",
                                                                         data_dir=str(tmp_path / "web")), sections=SECTIONS)
        bus = HallBus(config)
        bus.start(wait_s=5.0)
        app = WebApp(config, config.section("web"), bus)
        server = ServerThread(create_app(app), "127.0.0.1", free_port()).start()
        servers.append((server, bus))
        hall = HallWeb(server.url, app, engine, bus_factory("desk", role="counter"))
        assert hall.wait_state(lambda s: bool(s.get("services")))
        return hall

    yield start
    for server, bus in servers:
        server.stop()
        bus.close(drain_s=0.5)
