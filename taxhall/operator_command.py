"""`taxhall command DEVICE NAME [KEY=VALUE ...]`: an operator's remote command to one device of
the hall, from a technician's laptop or the operations desk, and its answer.

The command goes out on `device/{DEVICE}/cmd/{NAME}` as an MQTT 5 request (taxhall.commands.
send_command), under this tool's own credentials: the broker's ACL lets only the operator role
send commands, and the device logs who asked. Exit status: 0 done, 1 refused by the device,
3 no answer or no broker, 2 a mistake on the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from taxhall.bus import HallBus
from taxhall.bus.errors import BusUnavailable, RequestFailed, RequestTimeout
from taxhall.commands import send_command
from taxhall.config import DeviceConfig

EXAMPLES = """examples:
  taxhall command kiosk-01 ping
  taxhall command kiosk-01 out_of_service message=维护中 message_en="Under maintenance"
  taxhall command dispenser-1 print_test_page
  taxhall command display-hall screenshot path=/var/lib/taxhall/shot.png
  taxhall command counter-3 in_service --json
"""


def parse_args_pairs(pairs: list[str], as_json: str | None) -> dict[str, Any]:
    """`KEY=VALUE` words (a VALUE that reads as JSON — a number, true, a list — is taken as
    such) merged over `--args JSON`. Raises ValueError with the word at fault."""
    args: dict[str, Any] = {}
    if as_json:
        try:
            loaded = json.loads(as_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--args is not JSON: {exc.msg} at character {exc.pos}") from None
        if not isinstance(loaded, dict):
            raise ValueError("--args wants a JSON object, e.g. '{\"message\": \"维护中\"}'")
        args.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{pair!r}: arguments are KEY=VALUE, e.g. message=维护中")
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


def render_answer(reply: dict[str, Any]) -> str:
    """The answer's fields, one per line, without the envelope."""
    lines = []
    for key, value in reply.items():
        if key in ("ok", "request_id"):
            continue
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines)


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="taxhall command", description="send a remote command to one device of the hall and print its answer",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", metavar="DEVICE", help="the device id, as `taxhall monitor` lists it")
    parser.add_argument("name", metavar="NAME", help="ping, restart, reload_config, out_of_service, in_service, "
                                                     "print_test_page, screenshot, ... (docs/fleet.md)")
    parser.add_argument("pairs", metavar="KEY=VALUE", nargs="*", help="the command's arguments")
    parser.add_argument("--args", dest="as_json", metavar="JSON", help="the arguments as one JSON object")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    parser.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    options = parser.parse_args(argv)
    try:
        args = parse_args_pairs(options.pairs, options.as_json)
    except ValueError as exc:
        print(f"taxhall command: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(logging.WARNING)  # stdout carries the answer alone
    bus = HallBus(config)
    bus.start(wait_s=5)
    try:
        reply = send_command(bus, options.target, options.name, args, timeout_s=options.timeout)
    except BusUnavailable:
        print(f"taxhall command: cannot reach the broker {config.bus.broker} (is it running? are this tool's "
              f"user and password right?)", file=sys.stderr)
        return 3
    except RequestTimeout:
        print(f"taxhall command: {options.target} did not answer {options.name} within {options.timeout:g} s — "
              f"it may be offline (taxhall monitor), not know this command, or this user may not send commands "
              f"(only the operator role may)", file=sys.stderr)
        return 3
    except RequestFailed as exc:
        if options.json:
            print(json.dumps(exc.reply or {"ok": False, "error": {"code": exc.code, "message": exc.message}},
                             ensure_ascii=False, indent=2))
        else:
            print(f"{options.target} refused {options.name}: {exc.code}: {exc.message}")
        return 1
    finally:
        bus.close()
    if options.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    else:
        body = render_answer(reply)
        print(f"{options.target}: {options.name} done" + (f"\n{body}" if body else ""))
    return 0
