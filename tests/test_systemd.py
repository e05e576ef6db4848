"""The systemd units and udev rules in systemd/, and `taxhall provision install --root DIR`
followed by `systemd-analyze verify` on every unit it installed and enabled."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.install import ROLE_UNITS, ROLES, install, unit_names
from provisioning.udev import rules_text

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.glob("*.service"))
HARDENING = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths")


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name)
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_supervised_and_hardened(name: str) -> None:
    service = unit(name)["Service"]
    assert service["Type"] == "notify" and service["Restart"] == "always"
    assert service["NotifyAccess"] in ("main", "all")
    assert service["User"] == "taxhall"
    assert all(key in service for key in HARDENING), name
    assert service["ProtectSystem"] == "strict" and "/var/lib/taxhall" in service["ReadWritePaths"]
    # The broker is Mosquitto, which sends READY=1 but no keep-alives; every other process does.
    assert ("WatchdogSec" in service) == (name != "taxhall-broker.service")
    assert service["ExecStart"].split()[0] in ("/opt/taxhall/.venv/bin/taxhall", "/usr/bin/cage")
    if service["ExecStart"].startswith("/usr/bin/cage"):
        assert service["NotifyAccess"] == "all" and "-s" not in service["ExecStart"].split("--")[0]


def test_every_unit_belongs_to_a_role_and_starts_in_order() -> None:
    assert sorted({u for units in ROLE_UNITS.values() for u in units}) == UNITS
    assert "taxhall-broker.service" in unit("taxhall-ticketer.service")["Unit"]["After"]
    for name in UNITS:
        if name not in ("taxhall-broker.service", "taxhall-ticketer.service", "taxhall-gateway.service",
                        "taxhall-monitor.service"):
            assert "taxhall-ticketer.service" in unit(name)["Unit"]["After"], name


def test_udev_rules_match_the_detect_table() -> None:
    assert (SYSTEMD / "70-taxhall.rules").read_text() == rules_text(), "run: python -m provisioning.udev > systemd/70-taxhall.rules"
    text = rules_text()
    assert 'ATTR{idVendor}=="04b8"' in text and 'GROUP="lp"' in text  # Epson printers
    assert 'GROUP="dialout"' in text and "taxhall/serial-$env{ID_PATH_TAG}" in text
    assert 'GROUP="input"' in text


needs_systemd = pytest.mark.skipif(not (shutil.which("systemd-analyze") and shutil.which("systemctl")
                                        and shutil.which("systemd-sysusers") and shutil.which("cage")),
                                   reason="systemd and cage are in scripts/system-packages.txt; not installed here")


@needs_systemd
def test_install_every_role_then_systemd_analyze_verify(tmp_path: Path) -> None:
    root = tmp_path / "root"
    taxhall = str(Path(sys.executable).parent / "taxhall")
    first = [install(role, root, "3", taxhall) for role in ROLES]
    assert all(report.changed for report in first)
    again = [install(role, root, "3", taxhall) for role in ROLES]
    assert sum(report.changed for report in again) == 0, [r.lines for r in again]  # idempotent

    etc = root / "etc"
    assert any(line.startswith("taxhall:") for line in (etc / "passwd").read_text().splitlines())
    assert (etc / "udev" / "rules.d" / "70-taxhall.rules").exists()
    wants = etc / "systemd" / "system" / "multi-user.target.wants"
    enabled = sorted(link.name for link in wants.iterdir())
    assert enabled == sorted(name for role in ROLES for name in unit_names(role, "3"))
    assert "taxhall-counter@3.service" in enabled
    assert os.readlink(wants / "taxhall-kiosk.service") == "/etc/systemd/system/taxhall-kiosk.service"

    # verify loads each enabled unit from the installed directory, as systemd would.
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{etc / 'systemd' / 'system'}:"}
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *enabled], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@needs_systemd
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above would see a mistake: a misspelt key is reported."""
    broken = tmp_path / "taxhall-broken.service"
    broken.write_text((SYSTEMD / "taxhall-ticketer.service").read_text()
                      .replace("NoNewPrivileges", "NoNewPrivilege")
                      .replace("/opt/taxhall/.venv/bin/taxhall", str(Path(sys.executable).parent / "taxhall")))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(broken)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert "Unknown key" in result.stdout + result.stderr


@needs_systemd
def test_install_command_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "taxhall.cli", "provision", "install", "--role", "kiosk", "--root",
                             str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "enabled taxhall-kiosk.service" in result.stdout and "nothing reloaded or started" in result.stdout
    unit_text = (tmp_path / "etc" / "systemd" / "system" / "taxhall-kiosk.service").read_text()
    assert str(Path(sys.executable).parent / "taxhall") in unit_text  # the venv it was installed from
    assert (tmp_path / "etc" / "sysctl.d" / "70-taxhall-screen.conf").read_text().strip().endswith("kernel.sysrq = 0")
    bad = subprocess.run([sys.executable, "-m", "taxhall.cli", "provision", "install", "--role", "toaster",
                          "--root", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
