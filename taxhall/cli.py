"""The `taxhall` command: one subcommand per process of DESIGN.md.

Every subcommand takes `--config FILE` and the overrides `--broker --hall --device --data-dir`.
Applications are imported only when their subcommand runs (core imports no application
otherwise). Subcommands whose application is not built yet say so and exit with status 3.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

from taxhall import __version__
from taxhall.config import ConfigError, ConfigSection, DeviceConfig, Overrides, load_config

EXIT_CONFIG = 2
EXIT_NOT_BUILT = 3


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    run: Callable[[DeviceConfig, argparse.Namespace], int] | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    role: str | None = None
    # The application's own config sections, imported only when this subcommand runs.
    sections: Callable[[], dict[str, type[ConfigSection]]] | None = None


def _run_broker(config: DeviceConfig, args: argparse.Namespace) -> int:
    from taxhall.broker import run_broker

    return run_broker(config)


def _run_demo(config: DeviceConfig, args: argparse.Namespace) -> int:
    from taxhall.demo import run_demo

    return run_demo(config, args)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no windows: devices run without a screen")
    parser.add_argument("--port", type=int, default=None, help="broker port (default 1883, or a free one if taken)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")


def _run_config(config: DeviceConfig, args: argparse.Namespace) -> int:
    where = config.path or "built-in defaults (no file)"
    print(f"# effective configuration from {where}")
    for name, section in config.sections.items():
        print(f"[{name}]")
        for key, value in section.model_dump().items():
            shown = "***" if "password" in key and value else value
            print(f"{key} = {shown!r}")
    return 0


def _display_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["hall", "led"], help="hall screen or LED window boards")


def _provision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="detect", help="detect, write-config, credentials, self-test, install")


def _sim_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("device_kind", nargs="?", default="all", help="printer, scanner, idcard, led")


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("broker", "run Mosquitto with a generated configuration", _run_broker),
    Subcommand("ticketer", "the hall's queue engine"),
    Subcommand("dispenser", "the queue ticket dispenser touch UI (取号机)"),
    Subcommand("counter", "the counter caller used by staff"),
    Subcommand("rater", "the rating pad at a counter"),
    Subcommand("kiosk", "the 24-hour self-service kiosk"),
    Subcommand("gateway", "the local tax gateway the kiosk calls"),
    Subcommand("display", "hall screen or LED window boards, with voice", add_arguments=_display_arguments),
    Subcommand("monitor", "fleet health from the bus"),
    Subcommand("provision", "technician tools: detect hardware, write config, self-test", add_arguments=_provision_arguments),
    Subcommand("sim", "simulated hardware speaking the real wire protocols", add_arguments=_sim_arguments),
    Subcommand("print", "print a test page or a file on the configured printer"),
    Subcommand("idcard", "read one ID card from the configured reader"),
    Subcommand("scan", "read codes from the configured scanner"),
    Subcommand("demo", "a whole hall on simulated hardware on one machine", _run_demo, _demo_arguments),
    Subcommand("config", "validate the device config and print the effective values", _run_config),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxhall", description="Self-service devices of a 24-hour tax service hall.")
    parser.add_argument("--version", action="version", version=f"taxhall {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="device config (default /etc/taxhall/device.toml)")
    common.add_argument("--broker", metavar="URL", help="broker URL, e.g. mqtt://127.0.0.1:1883")
    common.add_argument("--hall", metavar="ID", help="hall id")
    common.add_argument("--device", metavar="ID", help="device id")
    common.add_argument("--data-dir", metavar="DIR", help="where the device keeps its data")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for sub in SUBCOMMANDS:
        child = subparsers.add_parser(sub.name, help=sub.help, description=sub.help, parents=[common])
        if sub.add_arguments:
            sub.add_arguments(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = next(s for s in SUBCOMMANDS if s.name == args.command)
    role = sub.role or sub.name
    if sub.name == "display":
        role = f"display-{args.what}"
    try:
        config = load_config(
            args.config,
            role,
            Overrides(broker=args.broker, hall=args.hall, device=args.device, data_dir=args.data_dir),
            sections=sub.sections() if sub.sections else None,
        )
    except ConfigError as exc:
        print(f"taxhall {sub.name}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if sub.run is None:
        print(f"taxhall {sub.name}: not built yet in taxhall {__version__} ({sub.help}); nothing was started.", file=sys.stderr)
        return EXIT_NOT_BUILT
    from taxhall.logs import setup_logging

    setup_logging(config.hall, config.device_id, config.log.level)
    try:
        return sub.run(config, args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
