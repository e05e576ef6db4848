"""A minimal device process for bus tests: connects as `--device`, serves one request topic,
listens to events, and runs until killed. Prints READY when connected."""

from __future__ import annotations

import argparse
import sys
import time

from taxhall.bus import HallBus, RequestRejected
from taxhall.config import Overrides, load_config
from taxhall.logs import setup_logging


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--hall", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    config = load_config(None, "probe", Overrides(args.broker, args.hall, args.device, args.data_dir))
    setup_logging(config.hall, config.device_id)
    bus = HallBus(config)
    received = {"calls": 0, "status": 0}

    def on_call(message: object) -> None:
        received["calls"] += 1

    def take(message: object) -> dict:
        if message.data.service == "Z":  # type: ignore[attr-defined]
            raise RequestRejected("unknown_service", "no service Z in this hall")
        return {"ticket": {"id": "t1", "number": "A001", "service": message.data.service}, "calls_seen": received["calls"]}  # type: ignore[attr-defined]

    bus.subscribe("queue/calls", on_call, dedupe=True)
    bus.subscribe("queue/state", lambda m: None)
    bus.subscribe("device/+/status", lambda m: None)
    bus.serve("queue/req/take_ticket", take)
    bus.serve("queue/req/call_next", lambda m: {"ticket": None})
    bus.start()
    print("READY" if bus.connected else "NOT CONNECTED", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
