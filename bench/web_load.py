"""`taxhall web` under load on loopback: N ticket pages (default 500) hold their live update
streams open while counters call tickets; prints how fast the pages serve (requests/s) and how
long an update takes to reach the pages (p50/p99) — the called ticket's "go to counter N", and
the people-ahead figure of every other page of the service.

Real parts only: Mosquitto, `taxhall ticketer` and `taxhall web` as processes of their own;
this script takes the tickets and drives the counters over the bus, and reads the pages with
httpx like phones would.

    .venv/bin/python bench/web_load.py [--pages 500] [--calls 40] [--interval 0.1]

Prints figures; asserts nothing (the target of issue 9: update delay p99 ≤ 500 ms at 500 pages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import HallBus
from taxhall.config import Overrides, load_config

HALL = "bench-hall"
SERVICES = ("A", "B", "C")


def start(name: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "taxhall.cli", name, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Page:
    """One phone's ticket page: the update stream and when each state was first seen."""

    def __init__(self, ticket: dict[str, Any]) -> None:
        self.ticket = ticket
        self.ready = asyncio.Event()
        self.called_at: float | None = None
        self.ahead_seen: dict[int, float] = {}  # people ahead → when the page first showed it

    async def follow(self, host: str, port: int) -> None:
        """Reads the event stream over a bare connection (one event per HTTP chunk, so the
        chunk-size lines are skipped): httpx's async streams would be the slowest part here."""
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET /t/{self.ticket['token']}/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n")[0].decode())
            while line := await reader.readline():
                if not line.startswith(b"data:"):
                    continue
                status = json.loads(line[5:])
                now = time.monotonic()
                self.ready.set()
                if status["state"] == "called" and self.called_at is None:
                    self.called_at = now
                    return
                self.ahead_seen.setdefault(status.get("ahead") or 0, now)
        finally:
            writer.close()

    def ahead_now(self) -> int | None:
        return min(self.ahead_seen) if self.ahead_seen else None


async def hammer(url: str, paths: list[str], seconds: float, concurrency: int) -> float:
    """Requests per second of plain page loads over keep-alive connections. A bare HTTP/1.1
    client: httpx's async pool itself slows down past ~10 concurrent requests and would be
    what this measured."""
    host, port = url.removeprefix("http://").split(":")
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        i = n
        try:
            while time.monotonic() < deadline:
                writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n")[0].decode())
                length = re.search(rb"content-length: *(\d+)", head, re.I)
                await reader.readexactly(int(length.group(1)) if length else 0)
                done += 1
                i += concurrency
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done / (time.monotonic() - started)


async def run_load(url: str, desk: HallBus, tickets: list[dict[str, Any]], calls: int, interval: float) -> dict[str, Any]:
    pages = [Page(t) for t in tickets]
    host, port = url.removeprefix("http://").split(":")
    followers = [asyncio.create_task(p.follow(host, int(port))) for p in pages]
    opened = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in pages)), 120)
    open_s = time.monotonic() - opened

    by_service = {s: [p for p in pages if p.ticket["service"] == s] for s in SERVICES}
    counters = [str(n) for n in range(1, 7)]
    for c in counters:
        desk.request("queue/req/login", {"counter": c, "staff": f"S{c}"})
    called: list[tuple[float, Page, list[tuple[Page, int | None]]]] = []
    by_id = {p.ticket["id"]: p for p in pages}
    for n in range(calls):
        counter = counters[n % len(counters)]
        await asyncio.to_thread(desk.request, "queue/req/finish", {"counter": counter}, check=False)
        before = {p: p.ahead_now() for p in pages if p.called_at is None}  # taken before the call, not after its answer
        sent = time.monotonic()
        reply = await asyncio.to_thread(desk.request, "queue/req/call_next", {"counter": counter}, check=False)
        if reply.get("ok"):
            page = by_id[reply["ticket"]["id"]]
            # Pages of the same service that should now show one fewer ahead.
            others = [(o, before[o]) for o in by_service[page.ticket["service"]] if o is not page and o in before]
            called.append((sent, page, others))
        await asyncio.sleep(interval)
    await asyncio.sleep(2.0)
    for task in followers:
        task.cancel()
    await asyncio.gather(*followers, return_exceptions=True)

    call_delays = [(p.called_at - sent) * 1000 for sent, p, _ in called if p.called_at is not None]
    missed = sum(1 for _, p, _ in called if p.called_at is None)
    ahead_delays: list[float] = []
    for sent, _, others in called:
        for other, shown in others:
            if not shown:  # nothing shown yet, or nobody ahead to move up past
                continue
            seen = [t for ahead, t in other.ahead_seen.items() if ahead < shown and t >= sent]
            if seen:
                ahead_delays.append((min(seen) - sent) * 1000)
    return {"open_s": open_s, "call_delays": call_delays, "missed": missed, "ahead_delays": ahead_delays}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-load-") as tmp:
        folder = Path(tmp)
        broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=folder / "broker"))
        broker.start()
        common = ["--broker", broker.url, "--hall", HALL]
        web_port = free_port()
        processes = [start("ticketer", *common, "--data-dir", str(folder / "ticketer-host")),
                     start("web", *common, "--data-dir", str(folder / "web-host"), "--listen", f"127.0.0.1:{web_port}")]
        desk = HallBus(load_config(None, "counter", Overrides(broker=broker.url, hall=HALL, device="bench-desk", data_dir=str(folder / "desk"))))
        desk.start()
        try:
            url = f"http://127.0.0.1:{web_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).json().get("state"):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("taxhall web did not come up")
                time.sleep(0.2)
            tickets = [desk.request("queue/req/take_ticket", {"service": SERVICES[i % len(SERVICES)], "source": "bench"})["ticket"]
                       for i in range(args.pages)]
            paths = [f"/t/{t['token']}" for t in tickets]
            page_rps = asyncio.run(hammer(url, paths, 3.0, 50))
            home_rps = asyncio.run(hammer(url, ["/"], 2.0, 50))
            result = asyncio.run(run_load(url, desk, tickets, args.calls, args.interval))
        finally:
            desk.close(drain_s=0.2)
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            broker.stop()
    calls, ahead = result["call_delays"], result["ahead_delays"]
    print(f"taxhall web, {args.pages} ticket pages with live updates open (opened in {result['open_s']:.1f} s), "
          f"{len(calls)} calls every {args.interval:g} s")
    print(f"  page loads  /t/{{token}}: {page_rps:,.0f} requests/s   /: {home_rps:,.0f} requests/s (50 concurrent)")
    if calls:
        print(f"  called ticket's page shows 'go to counter N': p50 {statistics.median(calls):.1f} ms  "
              f"p99 {pct(calls, 0.99):.1f} ms  max {max(calls):.1f} ms  (missed {result['missed']})")
    if ahead:
        print(f"  other pages of the service show one fewer ahead: p50 {statistics.median(ahead):.1f} ms  "
              f"p99 {pct(ahead, 0.99):.1f} ms  ({len(ahead)} updates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
