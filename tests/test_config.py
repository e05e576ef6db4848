"""Device config: strict validation with one-line errors naming file and key; overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from taxhall.config import ConfigError, ConfigSection, Overrides, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_taxhall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=60)


def test_misspelt_key_stops_with_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nbrokr = "mqtt://127.0.0.1:1883"\n')
    result = run_taxhall("config", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "bus.brokr" in lines[0] and "unknown key" in lines[0]
    assert "broker" in lines[0]  # says what was expected


def test_wrong_type_stops_with_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[bus]\nkeepalive_s = "30"\n')
    result = run_taxhall("config", "--config", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and "bus.keepalive_s" in lines[0] and "integer" in lines[0]


def test_missing_required_value_names_the_key(tmp_path: Path) -> None:
    class PrinterSection(ConfigSection):
        port: str = Field(description="serial port")
        baud: int = 19200

    path = write(tmp_path, "[printer]\nbaud = 9600\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, "kiosk", sections={"printer": PrinterSection})
    assert str(err.value) == f"config error in {path}: printer.port: missing; expected a string"


def test_unknown_section_and_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[printr\]: unknown section"):
        load_config(write(tmp_path, "[printr]\nport = 1\n"), "kiosk")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[bus\n"), "kiosk")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml", "kiosk")


def test_values_are_checked_not_just_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bus\.broker: expected a URL like mqtt://"):
        load_config(write(tmp_path, '[bus]\nbroker = "http://example"\n'), "kiosk")
    with pytest.raises(ConfigError, match=r"device\.hall"):
        load_config(write(tmp_path, '[device]\nhall = "a/b"\n'), "kiosk")
    with pytest.raises(ConfigError, match=r"log\.level"):
        load_config(write(tmp_path, '[log]\nlevel = "LOUD"\n'), "kiosk")


def test_command_line_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[device]\nid = "kiosk-1"\nhall = "north"\n[bus]\nbroker = "mqtt://10.0.0.1:1883"\n')
    config = load_config(path, "kiosk", Overrides(broker="mqtt://127.0.0.1:2883", hall="south", data_dir=str(tmp_path)))
    assert config.device_id == "kiosk-1"
    assert config.hall == "south"
    assert config.broker_address.port == 2883 and config.broker_address.host == "127.0.0.1"
    assert config.data_dir == tmp_path


def test_bad_override_is_reported_like_a_file_error(tmp_path: Path) -> None:
    result = run_taxhall("config", "--hall", "bad hall")
    assert result.returncode == 2 and "device.hall" in result.stderr


def test_default_device_id_names_the_role() -> None:
    config = load_config(None, "dispenser", Overrides(data_dir="/tmp"))
    assert config.device_id.endswith("-dispenser")


def test_config_command_prints_effective_values_without_password(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2")
    path = write(tmp_path, f'[bus]\nusername = "kiosk"\npassword_file = "{secret}"\n')
    result = run_taxhall("config", "--config", str(path), "--device", "k1")
    assert result.returncode == 0, result.stderr
    assert "username = 'kiosk'" in result.stdout and "id = 'k1'" in result.stdout
    assert "hunter2" not in result.stdout
