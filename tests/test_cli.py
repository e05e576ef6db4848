"""The `taxhall` command: every process of DESIGN.md is there, none pretends to work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxhall.cli import SUBCOMMANDS, is_built

DESIGN_PROCESSES = ["broker", "ticketer", "dispenser", "counter", "rater", "kiosk", "gateway", "display",
                    "monitor", "provision", "sim", "demo"]


def run_taxhall(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_process() -> None:
    out = run_taxhall("--help").stdout
    for name in DESIGN_PROCESSES:
        assert name in out


def test_every_process_of_the_design_is_built() -> None:
    missing = [s.name for s in SUBCOMMANDS if not is_built(s)]
    assert missing == []


def test_an_application_missing_from_the_install_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import taxhall.cli as cli

    absent = cli.Subcommand("kiosk", "the kiosk", target="kiosk_not_installed.app:run")
    monkeypatch.setattr(cli, "SUBCOMMANDS", tuple(absent if s.name == "kiosk" else s for s in cli.SUBCOMMANDS))
    assert cli.main(["kiosk", "--data-dir", "/tmp"]) == 3
    assert "not built yet" in capsys.readouterr().err


def test_every_subcommand_takes_the_common_options() -> None:
    for sub in SUBCOMMANDS:
        out = run_taxhall(sub.name, "--help").stdout
        for option in ("--config", "--broker", "--hall", "--device", "--data-dir"):
            assert option in out, (sub.name, option)


def test_demo_starts_the_broker_and_says_what_it_started(tmp_path: Path) -> None:
    from taxhall.broker import free_port

    port = free_port()
    result = run_taxhall("demo", "--headless", "--port", str(port), "--duration", "3", "--data-dir", str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"Mosquitto on mqtt://127.0.0.1:{port}" in result.stdout
    assert "stopped." in result.stdout


def test_every_application_section_is_known_to_the_command() -> None:
    from taxhall.cli import SECTION_NAMES, all_sections

    found = set(all_sections())
    assert found <= set(SECTION_NAMES), found - set(SECTION_NAMES)
    assert {"ticketer", "printer", "idreader", "scanner", "gateway", "display_hall", "voice", "display_led"} <= found


def test_one_device_file_serves_every_process_of_the_device(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[printer]\nurl = "tcp://127.0.0.1:1"\n[idreader]\nport = "/dev/ttyUSB7"\n[scanner]\n')
    checked = run_taxhall("config", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    for command in (["print", "status"], ["idcard", "read", "--timeout", "0.2"]):
        result = run_taxhall(*command, "--config", str(config), "--data-dir", str(tmp_path))
        assert "unknown section" not in result.stderr, (command, result.stderr)
    config.write_text('[idreader]\nprot = "/dev/ttyUSB7"\n')
    assert "idreader.prot: unknown key" in run_taxhall("config", "--config", str(config)).stderr


def test_commands_with_their_own_arguments_explain_them() -> None:
    out = run_taxhall("idcard", "read", "--help").stdout
    assert "--unmasked" in out and "--timeout" in out
    out = run_taxhall("sim", "--help").stdout
    assert "printer" in out and "--broker URL" in out
