"""`taxhall idcard read` and `taxhall sim idreader` as a technician runs them: masked by default,
full data only with --unmasked, one-line reasons and distinct exit codes on failure, and no
full name or ID number in output or logs (log level DEBUG)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from drivers.idcard.simulator import IdReaderSimulator

FULL_NAME = "张三丰"
FULL_ID = "110101199003071233"


@pytest.fixture
def sim() -> Iterator[IdReaderSimulator]:
    with IdReaderSimulator() as simulator:
        yield simulator


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "device.toml"
    path.write_text('[log]\nlevel = "DEBUG"\n\n[idreader]\nresponse_timeout_s = 0.3\npoll_interval_s = 0.05\n',
                    encoding="utf-8")
    return path


@pytest.fixture
def sim_config(tmp_path: Path) -> Path:
    # `taxhall sim` claims no [idreader] section, so its file may not have one (see report).
    path = tmp_path / "sim.toml"
    path.write_text('[log]\nlevel = "DEBUG"\n', encoding="utf-8")
    return path


def idcard(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taxhall.cli", "idcard", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60)


def test_read_is_masked_by_default(sim: IdReaderSimulator, config: Path) -> None:
    result = idcard(config, "read", "--port", sim.port, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    everything = result.stdout + result.stderr
    assert "张**" in result.stdout and "110***********1233" in result.stdout
    assert "北京市东城区" in result.stdout and "1990-**-**" in result.stdout
    for secret in (FULL_NAME, FULL_ID, "景山前街", "19900307", "1990-03-07"):
        assert secret not in everything
    assert "DEBUG" in result.stdout  # the logs were on, and they are masked too


def test_read_json_masked(sim: IdReaderSimulator, config: Path) -> None:
    result = idcard(config, "read", "--port", sim.port, "--timeout", "5", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["name"] == "张**" and data["id_number"] == "110***********1233"
    assert data["sex"] == "男" and data["ethnicity"] == "汉" and data["photo_bytes"] == 1024
    assert FULL_ID not in result.stdout + result.stderr


def test_read_unmasked(sim: IdReaderSimulator, config: Path) -> None:
    result = idcard(config, "read", "--port", sim.port, "--timeout", "5", "--json", "--unmasked")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["name"] == FULL_NAME and data["id_number"] == FULL_ID
    assert data["birth_date"] == "1990-03-07" and data["address"] == "北京市东城区景山前街4号"
    logs = [line for line in result.stdout.splitlines() if " DEBUG " in line]
    assert logs and not any(FULL_ID in line or FULL_NAME in line for line in logs)


@pytest.mark.parametrize("fault, code, reason", [
    ("no_card", 4, "no card on"),
    ("silence", 5, "did not answer within 0.3 s"),
    ("bad_checksum", 6, "checksum"),
    ("truncated", 6, "truncated frame"),
    ("garbage", 6, "line noise"),
])
def test_failures_are_one_line_and_an_exit_code(sim: IdReaderSimulator, config: Path, fault: str, code: int,
                                               reason: str) -> None:
    sim.set_fault(fault)
    result = idcard(config, "read", "--port", sim.port, "--timeout", "0.5")
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("taxhall idcard: ") and reason in lines[0]


def test_missing_port_and_no_port(config: Path) -> None:
    result = idcard(config, "read", "--port", "/dev/no-such-reader", "--timeout", "1")
    assert result.returncode == 7 and "cannot open /dev/no-such-reader" in result.stderr
    result = idcard(config, "read")
    assert result.returncode == 2 and "idreader.port" in result.stderr


def test_simulator_command_switches_faults_from_stdin(config: Path, sim_config: Path) -> None:
    sim = subprocess.Popen([sys.executable, "-m", "taxhall.cli", "sim", "idreader", "--config", str(sim_config)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None and sim.stdin is not None
        banner = sim.stdout.readline()
        assert banner.startswith("ID-card reader simulator on /dev/"), banner + (sim.stderr.read() if sim.poll() else "")
        port = banner.split()[4].rstrip(";")
        assert idcard(config, "read", "--port", port, "--timeout", "5").returncode == 0
        sim.stdin.write("fault bad_checksum\n")
        sim.stdin.flush()
        assert sim.stdout.readline().strip() == "fault bad_checksum"
        assert idcard(config, "read", "--port", port, "--timeout", "1").returncode == 6
        sim.stdin.write("fault none\ncard 1\n")
        sim.stdin.flush()
        assert sim.stdout.readline().strip() == "fault none" and sim.stdout.readline().strip() == "card 1"
        result = idcard(config, "read", "--port", port, "--timeout", "5", "--json")
        assert json.loads(result.stdout.strip().splitlines()[-1])["name"] == "欧***"
        sim.stdin.write("quit\n")
        sim.stdin.flush()
        assert sim.wait(timeout=10) == 0
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()


def test_simulator_identity_file(tmp_path: Path, sim_config: Path) -> None:
    people = tmp_path / "people.toml"
    people.write_text(
        '[[identity]]\nname = "李四"\nsex = "女"\nethnicity = "回族"\nbirth_date = 1975-05-20\n'
        'address = "上海市黄浦区人民大道200号"\nid_number = "310101197505200021"\n'
        'authority = "上海市公安局黄浦分局"\nvalid_from = 2016-01-01\nvalid_until = "长期"\n', encoding="utf-8")
    from drivers.idcard.simulator import load_identities

    [person] = load_identities(people)
    assert person.ethnicity == "回" and person.sex == "女" and person.valid_until is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x", "birth_date": "2000-01-01", "address": "a", "id_number": "110101200001010000",
                                "authority": "b", "valid_from": "2020-01-01"}]), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "taxhall.cli", "sim", "idreader", "--config", str(sim_config),
                             "--identity", str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "identity 1: id_number" in result.stderr
