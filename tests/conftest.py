"""Shared fixtures: a real Mosquitto per test on a free loopback port, and bus clients on it."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from drivers.printer.config import BUILTIN_PROFILES
from drivers.printer.simulator import SimulatedPrinter, SimulatorServer
from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import DeviceConfig, Overrides, load_config

HALL = "test-hall"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A Mosquitto of our own, generated config, persistence on; `.stop()` and `.start()`
    again give a broker outage on the same port."""
    process = BrokerProcess(BrokerSettings(port=free_port(), data_dir=tmp_path / "broker"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def device_config(broker: BrokerProcess, tmp_path: Path) -> Callable[..., DeviceConfig]:
    """Makes the config a device `name` of `role` would have on this broker."""
    def make(name: str, role: str = "test") -> DeviceConfig:
        return load_config(
            None, role, Overrides(broker=broker.url, hall=HALL, device=name, data_dir=str(tmp_path / name))
        )
    return make


@pytest.fixture
def bus_factory(device_config: Callable[..., DeviceConfig]) -> Iterator[Callable[..., HallBus]]:
    """Starts HallBus clients and closes them at the end of the test."""
    started: list[HallBus] = []
    counter = itertools.count(1)

    def make(name: str | None = None, role: str = "test", wait: bool = True) -> HallBus:
        bus = HallBus(device_config(name or f"dev{next(counter)}", role))
        bus.start(wait_s=5.0 if wait else None)
        if wait:
            assert bus.connected, "test client could not reach its broker"
        started.append(bus)
        return bus

    yield make
    for bus in started:
        bus.close(drain_s=0.5)


@pytest.fixture
def printer_sim(tmp_path: Path) -> Iterator[SimulatorServer]:
    """An 80 mm ESC/POS printer simulator on a TCP port, pages drawn into tmp_path/pages."""
    server = SimulatorServer(SimulatedPrinter(BUILTIN_PROFILES["generic-80"], out_dir=tmp_path / "pages"))
    server.listen_tcp().start()
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"  # Debian's; `playwright install` cannot download a browser here


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, for the web pages' tests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: tests run as root here, where Chromium refuses its sandbox.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()
