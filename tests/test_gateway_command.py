"""`taxhall gateway`: its own arguments and its `[gateway]` config section are checked."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.gateway.config import SECTIONS, GatewaySection, parse_listen
from taxhall.config import ConfigError, load_config


def run_taxhall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", *args], capture_output=True, text=True, timeout=60)


def test_a_bad_listen_address_is_refused_with_what_was_expected(tmp_path: Path) -> None:
    result = run_taxhall("gateway", "--data-dir", str(tmp_path), "--listen", "localhost")
    assert result.returncode == 2 and "expected host:port" in result.stderr


def test_a_taken_port_is_one_plain_line_and_status_1(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_taxhall("gateway", "--data-dir", str(tmp_path), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_the_gateway_section_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('[gateway]\nlocation = "suburb"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="gateway.location"):
        load_config(path, "gateway", sections=SECTIONS)
    path.write_text('[gateway]\nquote_ttl_s = "900"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="gateway.quote_ttl_s: expected an integer"):
        load_config(path, "gateway", sections=SECTIONS)
    path.write_text('[gateway]\nlisten = "0.0.0.0:9000"\nlocation = "other"\n', encoding="utf-8")
    section = load_config(path, "gateway", sections=SECTIONS).section("gateway")
    assert isinstance(section, GatewaySection) and section.settings().location.value == "other"
    assert section.db_path(tmp_path) == tmp_path / "gateway.sqlite"


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("8765", "host:", "host:99999", ":80"):
        with pytest.raises(ValueError):
            parse_listen(bad)
