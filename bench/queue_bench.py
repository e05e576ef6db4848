"""Queue engine benchmarks. Prints figures; asserts nothing.

    .venv/bin/python bench/queue_bench.py [--cycles 10000] [--counters 30] [--displays 10] [--duration 15]

1. Durable cycles per second on the engine alone: take_ticket → call_next → finish, each
   its own committed SQLite transaction (WAL, synchronous=NORMAL) with its answer stored
   under its request id, and the call event committed with it — on an empty queue and with
   200 people waiting. Target: ≥ 2,000 cycles/s.
2. Call latency over the bus: the `taxhall ticketer` process on its own Mosquitto (started
   here, free loopback port), 30 counter clients calling and finishing at a steady pace and
   10 display clients; latency is from the moment a counter sends `call_next` to the moment
   a display receives the call on `queue/calls`, over every (call, display) pair. Target:
   p99 ≤ 20 ms. Counters and displays run in separate processes, as in a hall; they share
   the machine's monotonic clock.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from taxhall.broker import BrokerProcess, BrokerSettings, free_port
from taxhall.bus import BusMessage, HallBus, RequestFailed
from taxhall.config import Overrides, load_config
from ticketer.config import TicketerSection
from ticketer.engine import Engine
from ticketer.store import Store

HALL = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- 1. the engine alone


def engine_cycles(folder: Path, cycles: int, backlog: int) -> float:
    """Cycles per second with `backlog` tickets waiting throughout (routing looks at all)."""
    store = Store(folder / f"queue-{backlog}.sqlite")
    engine = Engine(TicketerSection(), store)
    engine.login("login", "1", "S1")
    for i in range(backlog):
        engine.take_ticket(f"pre-{i}", "ABC"[i % 3], "bench")
    stop = threading.Event()

    def checkpoints() -> None:  # what the service's housekeeping tick does, once a second
        while not stop.wait(1.0):
            store.checkpoint()

    checkpointer = threading.Thread(target=checkpoints, daemon=True)
    checkpointer.start()
    drop = lambda topic, payload: None  # noqa: E731 — the bus is not part of this figure
    started = time.perf_counter()
    for i in range(cycles):
        engine.take_ticket(f"t-{i}", "V", "bench")
        engine.call_next(f"c-{i}", "1")
        engine.finish(f"f-{i}", "1")
        engine.hand_events(drop)
    elapsed = time.perf_counter() - started
    stop.set()
    checkpointer.join()
    engine.close()
    return cycles / elapsed


# ---------------------------------------------------------------- 2. latency over the bus


def hall_config(folder: Path, counters: int) -> Path:
    lines = ["[ticketer]", "crowd_waiting = 100000", "crowd_est_wait_s = 10000000", ""]
    for n in range(1, counters + 1):
        lines += ["[[ticketer.counters]]", f'id = "{n}"', 'services = ["A", "B", "C", "V"]', ""]
    path = folder / "ticketer.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def bus(url: str, folder: Path, name: str, role: str) -> HallBus:
    config = load_config(None, role, Overrides(broker=url, hall=HALL, device=name, data_dir=str(folder / name)))
    return HallBus(config).start()


def run_displays(url: str, folder: Path, count: int, seconds: float) -> None:
    """Child process: `count` displays; prints {ticket_id: [receive times]} as JSON at the end."""
    received: dict[str, list[float]] = {}
    lock = threading.Lock()
    displays = []
    for n in range(count):
        display = bus(url, folder, f"display-{n}", "display-hall")

        def on_call(message: BusMessage) -> None:
            now = time.monotonic()
            if not message.data.recall:
                with lock:
                    received.setdefault(message.data.ticket_id, []).append(now)

        display.subscribe("queue/calls", on_call, dedupe=True)
        displays.append(display)
    print("READY", flush=True)
    time.sleep(seconds)
    for display in displays:
        display.close(drain_s=0)
    print(json.dumps(received), flush=True)


def run_counters(url: str, folder: Path, ids: list[str], pace_s: float) -> None:
    """Child process: counters that log in, say READY, wait for `GO <start> <deadline>` on
    stdin, then call and finish at their pace; prints {"sent": {ticket: t}, "rtt": [...]}."""
    sent: dict[str, float] = {}
    round_trips: list[float] = []
    lock = threading.Lock()
    buses = {cid: bus(url, folder, f"counter-{cid}", "counter") for cid in ids}
    for cid, me in buses.items():
        me.request("queue/req/login", {"counter": cid, "staff": f"S{cid}"}, timeout_s=10)
    print("READY", flush=True)
    _, start_at, deadline = sys.stdin.readline().split()

    def counter(counter_id: str, me: HallBus) -> None:
        rnd = random.Random(counter_id)
        time.sleep(max(0.0, float(start_at) - time.monotonic()) + rnd.uniform(0, pace_s))
        while time.monotonic() < float(deadline):
            began = time.monotonic()
            try:
                reply = me.request("queue/req/call_next", {"counter": counter_id}, timeout_s=10)
            except RequestFailed:
                time.sleep(pace_s)
                continue
            answered = time.monotonic()
            with lock:
                sent[reply["ticket"]["id"]] = began
                round_trips.append(answered - began)
            me.request("queue/req/finish", {"counter": counter_id}, timeout_s=10)
            time.sleep(max(0.0, rnd.uniform(0.5, 1.5) * pace_s - (time.monotonic() - began)))

    threads = [threading.Thread(target=counter, args=item) for item in buses.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for me in buses.values():
        me.close(drain_s=0)
    print(json.dumps({"sent": sent, "rtt": round_trips}), flush=True)


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def wait_ready(proc: subprocess.Popen[str], what: str) -> None:
    assert proc.stdout is not None
    if "READY" not in proc.stdout.readline():
        raise SystemExit(f"the {what} process did not start")


def bus_latency(folder: Path, counters: int, displays: int, seconds: float, pace_s: float, per_process: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    broker = BrokerProcess(BrokerSettings(port=free_port(), data_dir=folder / "broker")).start()
    engine = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", "ticketer", "--config", str(hall_config(folder, counters)), "--broker", broker.url,
         "--hall", HALL, "--device", "ticketer", "--data-dir", str(folder / "ticketer")],
        stdout=(folder / "ticketer.log").open("wb"), stderr=subprocess.STDOUT)
    children: list[subprocess.Popen[str]] = []
    try:
        dispenser = bus(broker.url, folder, "dispenser", "dispenser")
        ready = threading.Event()
        dispenser.subscribe("queue/state", lambda message: ready.set())  # retained once the engine is up
        if not ready.wait(30):
            raise SystemExit(f"the engine did not come up; see {folder / 'ticketer.log'}")
        backlog = int(counters * seconds / pace_s * 1.2) + 100
        for i in range(backlog):  # enough people that no counter ever finds the queue empty
            dispenser.request("queue/req/take_ticket", {"service": "ABCV"[i % 4], "source": "dispenser"}, timeout_s=10)
        dispenser.close(drain_s=0)

        watch = child("--displays-child", broker.url, str(folder), str(displays), str(seconds + 10))
        children.append(watch)
        ids = [str(n) for n in range(1, counters + 1)]
        groups = [ids[i:i + per_process] for i in range(0, counters, per_process)]
        callers = [child("--counters-child", broker.url, str(folder), ",".join(group), str(pace_s)) for group in groups]
        children += callers
        wait_ready(watch, "display")
        for caller in callers:
            wait_ready(caller, "counter")
        start_at = time.monotonic() + 1.0
        for caller in callers:
            assert caller.stdin is not None
            caller.stdin.write(f"GO {start_at} {start_at + seconds}\n")
            caller.stdin.flush()
        sent: dict[str, float] = {}
        round_trips: list[float] = []
        for caller in callers:
            out, _ = caller.communicate(timeout=seconds + 60)
            result = json.loads(out.strip().splitlines()[-1])
            sent.update(result["sent"])
            round_trips += result["rtt"]
        output, _ = watch.communicate(timeout=seconds + 60)
        received: dict[str, list[float]] = json.loads(output.strip().splitlines()[-1])
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
        engine.terminate()
        engine.wait(timeout=15)
        broker.stop()

    latencies = [(at - sent[ticket]) for ticket, times in received.items() if ticket in sent for at in times]
    deliveries = sum(len(received.get(ticket, [])) for ticket in sent)
    return {
        "calls": len(sent), "calls_per_s": len(sent) / seconds, "expected_deliveries": len(sent) * displays,
        "deliveries": deliveries, "latencies_ms": [x * 1000 for x in latencies],
        "round_trips_ms": [x * 1000 for x in round_trips],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10000, help="take→call→finish cycles on the engine alone")
    parser.add_argument("--counters", type=int, default=30)
    parser.add_argument("--displays", type=int, default=10)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of calling over the bus")
    parser.add_argument("--pace", type=float, nargs="+", default=[3.0, 0.3],
                        help="mean seconds between one counter's calls, one run each (default: a busy hall, then 10× that)")
    parser.add_argument("--counters-per-process", type=int, default=10,
                        help="counter clients per process (on 2 cores, 3 processes of 10 disturb the figures least)")
    parser.add_argument("--displays-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--counters-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.displays_child:
        url, folder, count, seconds = args.displays_child
        run_displays(url, Path(folder), int(count), float(seconds))
        return
    if args.counters_child:
        url, folder, ids, pace = args.counters_child
        run_counters(url, Path(folder), ids.split(","), float(pace))
        return

    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        folder = Path(tmp)
        print(f"queue engine alone, {args.cycles} durable take→call→finish cycles (3 transactions each):")
        for backlog in (0, 200):
            rate = engine_cycles(folder, args.cycles, backlog)
            print(f"  {backlog:>3} waiting: {rate:8.0f} cycles/s  ({3 * rate:6.0f} transactions/s)   target ≥ 2000 cycles/s")

        for run, pace in enumerate(args.pace):
            print(f"\ncall latency over the bus: {args.counters} counters, {args.displays} displays, "
                  f"one call per counter every ~{pace:g} s for {args.duration:g} s")
            figures = bus_latency(folder / f"run-{run}", args.counters, args.displays, args.duration, pace, args.counters_per_process)
            lat, rtt = figures["latencies_ms"], figures["round_trips_ms"]
            print(f"  {figures['calls']} calls ({figures['calls_per_s']:.0f}/s), {figures['deliveries']} of "
                  f"{figures['expected_deliveries']} deliveries to displays")
            if lat:
                print(f"  call_next sent → display received: p50 {statistics.median(lat):.1f} ms, "
                      f"p99 {percentile(lat, 0.99):.1f} ms, max {max(lat):.1f} ms   target p99 ≤ 20 ms")
            if rtt:
                print(f"  call_next round trip (counter's answer): p50 {statistics.median(rtt):.1f} ms, "
                      f"p99 {percentile(rtt, 0.99):.1f} ms")


if __name__ == "__main__":
    main()
