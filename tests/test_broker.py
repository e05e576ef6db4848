"""The embedded broker: generated configuration and `taxhall broker` itself."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from taxhall.broker import BrokerProcess, BrokerSettings, free_port, mosquitto_conf, wait_listening


def test_generated_config_is_loopback_persistent_and_fast(tmp_path: Path) -> None:
    conf = mosquitto_conf(BrokerSettings(port=1999, data_dir=tmp_path))
    assert "listener 1999 127.0.0.1" in conf
    assert "persistence true" in conf and f"persistence_location {tmp_path}/" in conf
    assert "set_tcp_nodelay true" in conf
    assert "allow_anonymous true" in conf


def test_anonymous_access_ends_once_credentials_exist(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "kiosk-1", "s3cret"], check=True)
    settings = BrokerSettings(port=free_port(), data_dir=tmp_path / "b", password_file=str(passwd))
    assert "allow_anonymous false" in mosquitto_conf(settings)
    broker = BrokerProcess(settings).start()
    try:
        assert connect_result(settings.port, None, None) != 0
        assert connect_result(settings.port, "kiosk-1", "s3cret") == 0
    finally:
        broker.stop()


def connect_result(port: int, user: str | None, password: str | None) -> int:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user:
        client.username_pw_set(user, password)
    result: list[int] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, flags: object, reason: mqtt.ReasonCode, props: object) -> None:
        result.append(reason.value)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(5)
    client.loop_stop()
    client.disconnect()
    return result[0] if result else -1


def test_taxhall_broker_command_runs_mosquitto(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "device.toml"
    config.write_text(f"[broker]\nport = {port}\nautosave_interval_s = 5\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "taxhall.cli", "broker", "--config", str(config), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_listening("127.0.0.1", port)
        assert connect_result(port, None, None) == 0
        assert (tmp_path / "broker" / "mosquitto.conf").read_text().count("autosave_interval 5") == 1
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert f"Mosquitto on 127.0.0.1:{port}" in out
