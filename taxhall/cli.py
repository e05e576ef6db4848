"""The `taxhall` command: one subcommand per process of DESIGN.md.

Every subcommand takes `--config FILE` and the overrides `--broker --hall --device --data-dir`.
Applications are imported only when their subcommand runs (core imports no application
otherwise). Subcommands whose application is not built yet say so and exit with status 3.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

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
    # "module:function" taking (config, argv) for commands with their own arguments; the
    # arguments argparse does not know here are handed on. A dict picks by the first argument.
    target: str | dict[str, str] | None = None
    # "module:attribute" naming a dict of config sections, for `target` commands.
    target_sections: str | dict[str, str] | None = None


def is_built(sub: Subcommand) -> bool:
    """Whether the application behind a subcommand exists in this installation."""
    return sub.run is not None or (sub.target is not None and _module_exists(sub.target))


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
    parser.add_argument("--out", metavar="DIR", help="run the scripted morning and leave printouts, LED frames, "
                                                     "voice files and screenshots in DIR")


def _run_ticketer(config: DeviceConfig, args: argparse.Namespace) -> int:
    from ticketer.run import run_ticketer

    return run_ticketer(config, args)


def _ticketer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["run", "stats"], default="run",
                        help="run the engine (default), or print a day's statistics")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="stats: the business day (default today)")
    parser.add_argument("--csv", action="store_true", help="stats: CSV instead of tables")


def _ticketer_sections() -> dict[str, type[ConfigSection]]:
    from ticketer.config import TicketerSection
    from ticketer.workdays import CalendarSection
    from ticketer.appointments import AppointmentsSection
    from ticketer.appeals import AppealsSection

    return {"ticketer": TicketerSection, "calendar": CalendarSection, "appointments": AppointmentsSection,
            "appeals": AppealsSection}


def all_sections() -> dict[str, type[ConfigSection]]:
    """Every application section model of this installation (imports each application)."""
    found: dict[str, type[ConfigSection]] = {}
    for sub in SUBCOMMANDS:
        if sub.name == "config":
            continue
        if sub.sections:
            found.update(sub.sections())
        refs = sub.target_sections.values() if isinstance(sub.target_sections, dict) else [sub.target_sections]
        for ref in refs:
            if ref and _module_exists(ref):
                found.update(_load(ref))
    return found


def _run_config(config: DeviceConfig, args: argparse.Namespace) -> int:
    where = config.path or "built-in defaults (no file)"
    print(f"# effective configuration from {where}")
    for name, section in config.sections.items():
        print(f"[{name}]")
        for key, value in section.model_dump().items():
            shown = "***" if "password" in key and value else value
            print(f"{key} = {shown!r}")
    return 0


def _load(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _pick(value: str | dict[str, str] | None, extra: list[str]) -> str | None:
    """The reference for this invocation: a dict is keyed by the first extra argument."""
    if value is None or isinstance(value, str):
        return value
    if extra and extra[0] in value:
        return value[extra[0]]
    return None


# Every application section a device file may hold. A process validates its own and lets the
# others be (one file can serve a kiosk's printer, reader and scanner); `taxhall config`
# validates them all. tests/test_cli.py checks this list against the applications' SECTIONS.
SECTION_NAMES = ("ticketer", "dispenser", "counter", "rater", "kiosk", "gateway", "printer", "idreader", "scanner",
                 "display_hall", "voice", "display_led", "web", "calendar",
                 "appointments", "appeals")


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("broker", "run Mosquitto with a generated configuration", _run_broker),
    Subcommand("ticketer", "the hall's queue engine", _run_ticketer, _ticketer_arguments, sections=_ticketer_sections),
    Subcommand("dispenser", "the queue ticket dispenser touch UI (取号机)", target="ticketer.dispenser_app:run",
               target_sections="ticketer.dispenser_app:SECTIONS"),
    Subcommand("counter", "the counter caller used by staff (counter --counter N)", target="ticketer.counter_app:run",
               target_sections="ticketer.counter_app:SECTIONS"),
    Subcommand("rater", "the rating pad at a counter (rater --counter N)", target="ticketer.rater_app:run",
               target_sections="ticketer.rater_app:SECTIONS"),
    Subcommand("kiosk", "the 24-hour self-service kiosk", target="kiosk.app:run", target_sections="kiosk.config:SECTIONS"),
    Subcommand("gateway", "the local tax gateway the kiosk calls", target="kiosk.gateway.command:run", target_sections="kiosk.gateway.config:SECTIONS"),
    Subcommand("display", "hall screen or LED boards, with voice (display hall|led ...)",
               target={"hall": "display.hall_app:run", "led": "display.led_service:run"},
               target_sections={"hall": "display.hall_app:SECTIONS", "led": "display.led_service:SECTIONS"}),
    Subcommand("monitor", "device health of a hall or a fleet (monitor [--fleet] [--json] [--prometheus HOST:PORT])",
               target="taxhall.monitor:run"),
    Subcommand("command", "an operator's remote command to one device, and its answer (command DEVICE NAME [KEY=VALUE ...])",
               target="taxhall.operator_command:run"),
    Subcommand("web", "the hall on the web: mobile queue page and supervisor dashboard (web --listen HOST:PORT)",
               target="web.app:run", target_sections="web.config:SECTIONS"),
    Subcommand("provision", "technician tools: detect hardware, write config, self-test (provision detect ...)",
               target="provisioning.command:run"),
    Subcommand("sim", "simulated hardware speaking the real wire protocols (sim printer|idreader|scanner|led ...)",
               target={"printer": "drivers.printer.simulator:run", "idreader": "drivers.idcard.simulator:run",
                       "scanner": "drivers.scanner.simulator:run", "led": "drivers.led.simulator:run"},
               target_sections={"printer": "drivers.printer.config:SECTIONS", "idreader": "drivers.idcard.config:SECTIONS",
                                "scanner": "drivers.scanner.config:SECTIONS"}),
    Subcommand("print", "print on a receipt printer (print test-ticket --printer URL ...)", target="drivers.printer.command:run",
               target_sections="drivers.printer.config:SECTIONS"),
    Subcommand("idcard", "read an ID card (idcard read --port PORT ...)", target="drivers.idcard.command:run",
               target_sections="drivers.idcard.config:SECTIONS"),
    Subcommand("scan", "decode QR/bar codes from images or a scanner (scan --image FILE ...)", target="drivers.scanner.command:run",
               target_sections="drivers.scanner.config:SECTIONS"),
    Subcommand("demo", "a whole hall on simulated hardware on one machine", _run_demo, _demo_arguments),
    Subcommand("config", "validate the device config and print the effective values", _run_config,
               sections=lambda: all_sections()),
)


def _module_exists(reference: str | dict[str, str]) -> bool:
    refs = reference.values() if isinstance(reference, dict) else [reference]
    found = False
    for ref in refs:
        try:
            found = found or importlib.util.find_spec(ref.partition(":")[0]) is not None
        except ModuleNotFoundError:
            pass
    return found


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
        # A command with arguments of its own answers --help itself (with ours in its epilog).
        child = subparsers.add_parser(sub.name, help=sub.help, description=sub.help, parents=[common],
                                      add_help=sub.target is None)
        if sub.target is not None:
            child.add_argument("-h", "--help", action="store_true", dest="wants_help", help="show this help")
        if sub.add_arguments:
            sub.add_arguments(child)
    return parser


COMMON_HELP = ("every command also takes --config FILE (default /etc/taxhall/device.toml), --broker URL, "
               "--hall ID, --device ID, --data-dir DIR")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    sub = next(s for s in SUBCOMMANDS if s.name == args.command)
    if extra and sub.target is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    target = _pick(sub.target, extra)
    if getattr(args, "wants_help", False):
        if target is None or not _module_exists(target):
            choices = f" {{{','.join(sub.target)}}} ..." if isinstance(sub.target, dict) else " ..."
            print(f"usage: taxhall {sub.name}{choices}\n\n{sub.help}\n\n{COMMON_HELP}")
            return 0
        extra = [*extra, "--help"]
    if sub.target is not None and target is None:
        if not _module_exists(sub.target):
            print(f"taxhall {sub.name}: not built yet in taxhall {__version__} ({sub.help}); nothing was started.", file=sys.stderr)
            return EXIT_NOT_BUILT
        choices = ", ".join(sub.target) if isinstance(sub.target, dict) else ""
        parser.error(f"{sub.name}: say which one: {choices}")
    role = sub.role or sub.name
    if isinstance(sub.target, dict):
        role = f"{sub.name}-{extra[0]}"
    sections_ref = _pick(sub.target_sections, extra)
    try:
        if target is not None and not _module_exists(target):
            print(f"taxhall {sub.name}: not built yet in taxhall {__version__} ({sub.help}); nothing was started.", file=sys.stderr)
            return EXIT_NOT_BUILT
        sections = sub.sections() if sub.sections else (_load(sections_ref) if sections_ref and _module_exists(sections_ref) else None)
        config = load_config(
            args.config,
            role,
            Overrides(broker=args.broker, hall=args.hall, device=args.device, data_dir=args.data_dir),
            sections=sections,
            accepted=SECTION_NAMES,
        )
    except ConfigError as exc:
        print(f"taxhall {sub.name}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if target is not None:
        from taxhall.logs import setup_logging

        setup_logging(config.hall, config.device_id, config.log.level)
        try:
            return int(_load(target)(config, extra[1:] if isinstance(sub.target, dict) else extra))
        except SystemExit as done:
            if getattr(args, "wants_help", False):
                print(f"\n{COMMON_HELP}")
            raise done
        except KeyboardInterrupt:
            return 130
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
