"""`taxhall provision install --role R [--root DIR]`: the systemd units and udev rules of a role,
the `taxhall` user, the config and data folders, and the units enabled.

Everything goes through the tools a Debian system itself uses, so `--root DIR` (a directory
standing in for `/`, for tests and image builds) does the same as a real install:
`systemd-sysusers --root` creates the user in DIR/etc/passwd, `systemctl --root enable` makes
the symlinks. Only on the live system (`/` with systemd running) are systemd and udev also
told to reload. Running it again changes nothing that is already right.

The units start `taxhall` from the venv this command runs from (`--taxhall PATH` to choose),
so a checkout in /opt/taxhall (the documented place) gives /opt/taxhall/.venv/bin/taxhall.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "systemd"
SHIPPED_EXEC = "/opt/taxhall/.venv/bin/taxhall"  # what the files in systemd/ say

# role → units it runs (templates take --counter as their instance)
ROLE_UNITS: dict[str, tuple[str, ...]] = {
    # the hall server: broker, queue engine, enrolment service and the web (phone pages, dashboard)
    "ticketer": ("taxhall-broker.service", "taxhall-ticketer.service", "taxhall-enrolment.service",
                 "taxhall-web.service"),
    "kiosk": ("taxhall-gateway.service", "taxhall-kiosk.service"),
    "dispenser": ("taxhall-dispenser.service",),
    "counter": ("taxhall-counter@.service",),
    "rater": ("taxhall-rater@.service",),
    "display": ("taxhall-display-hall.service",),
    "led": ("taxhall-display-led.service",),
    "monitor": ("taxhall-monitor.service",),
}
ROLES = tuple(ROLE_UNITS)
SCREEN_ROLES = ("kiosk", "dispenser", "counter", "rater", "display")
# Alt+SysRq would let anyone at a screen kill the app or reboot; no screen device needs it.
SYSCTL_SCREEN = "# taxhall screen devices: no Magic SysRq key combinations from the keyboard\nkernel.sysrq = 0\n"


class InstallError(Exception):
    """An install that cannot go on; str() is one line."""


@dataclass
class Report:
    """What the install did, one line per step, so a second run shows it changed nothing."""

    lines: list[str] = field(default_factory=list)
    changed: int = 0

    def note(self, what: str, changed: bool) -> None:
        self.lines.append(f"{'changed ' if changed else 'ok      '} {what}")
        self.changed += int(changed)


def unit_names(role: str, instance: str) -> list[str]:
    """The unit names to enable: a template becomes its instance (taxhall-counter@3.service)."""
    return [unit.replace("@.", f"@{instance}.") for unit in ROLE_UNITS[role]]


def put_file(target: Path, text: str, report: Report, mode: int = 0o644) -> None:
    """Writes `text` unless the file already holds it."""
    if target.exists() and target.read_text() == text:
        report.note(str(target), False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.new")
    temp.write_text(text)
    os.chmod(temp, mode)
    os.replace(temp, target)
    report.note(str(target), True)


def unit_text(name: str, taxhall: str) -> str:
    return (SOURCE / name).read_text().replace(SHIPPED_EXEC, taxhall)


def _run(argv: list[str], what: str) -> str:
    if shutil.which(argv[0]) is None:
        raise InstallError(f"{argv[0]} not found ({what}); install the Debian package systemd")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise InstallError(f"{' '.join(argv)}: {(result.stderr or result.stdout).strip()}")
    return result.stdout + result.stderr


def live_system(root: Path) -> bool:
    return root.resolve() == Path("/") and Path("/run/systemd/system").is_dir()


def install(role: str, root: Path, instance: str = "1", taxhall: str | None = None) -> Report:
    """Installs `role` under `root`; see the module docstring."""
    if role not in ROLE_UNITS:
        raise InstallError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    if not instance.isalnum():
        raise InstallError(f"--counter {instance!r}: a counter id of letters and digits")
    taxhall = taxhall or str(Path(sys.executable).parent / "taxhall")
    report = Report()
    etc = root / "etc"

    # The user first: files below are owned by it.
    sysusers = etc / "sysusers.d" / "taxhall.conf"
    put_file(sysusers, (SOURCE / "taxhall.sysusers").read_text(), report)
    etc.mkdir(parents=True, exist_ok=True)
    before = _user_line(etc)
    _sysusers(root, sysusers)
    report.note(f"user taxhall in {etc / 'passwd'}", before != _user_line(etc))

    for unit in ROLE_UNITS[role]:
        put_file(etc / "systemd" / "system" / unit, unit_text(unit, taxhall), report)
    put_file(etc / "udev" / "rules.d" / "70-taxhall.rules", (SOURCE / "70-taxhall.rules").read_text(), report)
    if role in SCREEN_ROLES:
        put_file(etc / "sysctl.d" / "70-taxhall-screen.conf", SYSCTL_SCREEN, report)

    config_dir = etc / "taxhall"
    if not config_dir.is_dir():
        config_dir.mkdir(parents=True)
        report.note(f"{config_dir}/ (device.toml, on the hall server web.toml, and credentials go here)", True)
    else:
        report.note(f"{config_dir}/", False)
    os.chmod(config_dir, 0o750)
    _share_with_taxhall(config_dir, etc)

    names = unit_names(role, instance)
    enabled_before = _enabled(etc, names)
    live = live_system(root)
    if live:
        _run(["systemctl", "daemon-reload"], "reload systemd")
        _run(["systemctl", "enable", *names], "enable the units")
    else:
        _run(["systemctl", f"--root={root}", "enable", *names], "enable the units")
    for name in names:
        report.note(f"enabled {name}", name not in enabled_before)
    if live:
        _run(["udevadm", "control", "--reload-rules"], "reload udev rules")
        _run(["udevadm", "trigger", "--action=change"], "apply udev rules to attached devices")
        if role in SCREEN_ROLES:
            _run(["sysctl", "--load", str(etc / "sysctl.d" / "70-taxhall-screen.conf")], "turn off SysRq")
        report.lines.append("live system: systemd and udev reloaded; start with: systemctl start " + " ".join(names))
    else:
        report.lines.append(f"installed into {root}: nothing reloaded or started")
    return report


def _sysusers(root: Path, conf: Path) -> None:
    # With --root, systemd-sysusers reads named files relative to the root; stdin avoids that.
    if shutil.which("systemd-sysusers") is None:
        raise InstallError("systemd-sysusers not found; install the Debian package systemd")
    argv = ["systemd-sysusers", "-"] if root.resolve() == Path("/") else ["systemd-sysusers", f"--root={root}", "-"]
    result = subprocess.run(argv, input=conf.read_text(), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise InstallError(f"systemd-sysusers: {result.stderr.strip()}")


def _user_line(etc: Path) -> str:
    try:
        return next((line for line in (etc / "passwd").read_text().splitlines() if line.startswith("taxhall:")), "")
    except OSError:
        return ""


def _share_with_taxhall(config_dir: Path, etc: Path) -> None:
    """/etc/taxhall: root's, readable by group taxhall (the config holds paths to secrets)."""
    for line in (etc / "group").read_text().splitlines() if (etc / "group").exists() else []:
        name, _, gid, *_ = line.split(":") + ["", "", ""]
        if name == "taxhall" and gid.isdigit():
            try:
                os.chown(config_dir, -1, int(gid))
            except PermissionError:
                pass  # not root: a test or image build; the modes still say what is meant
            return


def _enabled(etc: Path, names: list[str]) -> set[str]:
    return {link.name for link in (etc / "systemd" / "system").glob("*.wants/*") if link.name in names}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=ROLES, help="what this machine is")
    parser.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                        help="install into DIR instead of / (nothing is reloaded or started)")
    parser.add_argument("--counter", default="1", metavar="ID", help="counter and rater: which counter (unit instance)")
    parser.add_argument("--taxhall", metavar="PATH", help="the taxhall command the units start (default: this venv's)")


def run_install(args: argparse.Namespace) -> int:
    try:
        report = install(args.role, args.root, args.counter, args.taxhall)
    except (InstallError, OSError) as exc:
        print(f"taxhall provision install: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines))
    print(f"{report.changed} change(s)")
    return 0
