"""The hall's credentials against a real Mosquitto: the generated password file and ACL keep
every device to its own topics and its role's, the operator alone commands devices (and is
logged), and TLS with the hall CA admits a good client certificate and refuses a wrong one."""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.acl import Account
from provisioning.credentials import Plan, make_credentials
from provisioning.tlsca import issue, make_ca
from taxhall.broker import (
    BridgeSettings, BrokerError, BrokerProcess, BrokerSettings, free_port, mosquitto_conf, settings_from_config, write_conf,
)
from taxhall.bus import BusMessage, HallBus, RequestTimeout
from taxhall.commands import send_command, serve_command
from taxhall.config import Overrides, load_config
from tests.ticketer_helpers import wait_for

HALL = "hall-7"
ROOT = f"taxhall/v1/{HALL}"
ACCOUNTS = (Account("ticketer", "ticketer"), Account("kiosk-1", "kiosk"), Account("dispenser-1", "dispenser"),
            Account("counter-1", "counter"), Account("ops-li", "operator"))


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("creds")
    make_credentials(Plan(HALL, out, ACCOUNTS, tls=True, broker_hosts=("localhost", "127.0.0.1")))
    return out


@pytest.fixture(scope="module")
def secured(creds: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for the module: password file and ACL on the plain listener, the hall CA on
    a TLS listener that requires client certificates."""
    broker_dir = creds / "broker"
    settings = BrokerSettings(port=free_port(), data_dir=tmp_path_factory.mktemp("broker"), persistence=False,
                              password_file=str(broker_dir / "passwd"), acl_file=str(broker_dir / "acl"),
                              tls_port=free_port(), ca_file=str(broker_dir / "ca.crt"),
                              cert_file=str(broker_dir / "server.crt"), key_file=str(broker_dir / "server.key"),
                              require_certificate=True, use_identity_as_username=True)
    process = BrokerProcess(settings).start()
    yield process
    process.stop()


def password(creds: Path, device: str) -> str:
    return (creds / "devices" / device / "mqtt-password").read_text().strip()


class Client:
    """A raw paho MQTT 5 client that records what the broker says to it."""

    def __init__(self, port: int, user: str | None, secret: str | None, *, tls: ssl.SSLContext | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user:
            self.client.username_pw_set(user, secret)
        if tls:
            self.client.tls_set_context(tls)
        self.connack: int | None = None
        self.connected = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self.got = threading.Event()
        self.pubacks: dict[int, int] = {}
        self.acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        # A refused TLS 1.3 client learns it only when the broker hangs up after the handshake.
        self.client.on_disconnect = lambda *a: self.connected.set()
        self.port = port

    def _on_connect(self, c: mqtt.Client, u: object, flags: object, reason: ReasonCode, props: object) -> None:
        self.connack = reason.value
        self.connected.set()

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        self.received.append((msg.topic, bytes(msg.payload)))
        self.got.set()

    def _on_publish(self, c: mqtt.Client, u: object, mid: int, reason: ReasonCode, props: object) -> None:
        with self.acked:
            self.pubacks[mid] = reason.value
            self.acked.notify_all()

    def start(self) -> "Client":
        try:
            self.client.connect("127.0.0.1", self.port)
        except (ssl.SSLError, OSError):
            self.connack = -1  # refused during the TLS handshake
            self.connected.set()
            return self
        self.client.loop_start()
        self.connected.wait(5)
        return self

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """Publishes at QoS 1 and returns the PUBACK reason: 0 accepted (16, "no subscribers", counts
        as 0 here), 135 not authorized."""
        mid = self.client.publish(topic, payload, qos=1).mid
        with self.acked:
            assert self.acked.wait_for(lambda: mid in self.pubacks, timeout=5), "no PUBACK"
            return 0 if self.pubacks[mid] == 16 else self.pubacks[mid]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients(secured: BrokerProcess, creds: Path) -> Iterator[dict[str, Client]]:
    made = {name: Client(secured.settings.port, name, password(creds, name)).start()
            for name in ("kiosk-1", "counter-1", "ops-li", "ticketer")}
    for name, client in made.items():
        assert client.connack == 0, f"{name} refused: {client.connack}"
    made["ops-li"].subscribe(f"{ROOT}/#")
    yield made
    for client in made.values():
        client.stop()


def seen(watcher: Client, topic: str, timeout: float = 0.5) -> bool:
    """Whether `topic` reached the watcher (which reads everything) within `timeout`."""
    deadline = threading.Event()
    deadline.wait(timeout)
    return any(t == topic for t, _ in watcher.received)


def test_kiosk_may_not_call_next_nor_touch_another_device(clients: dict[str, Client]) -> None:
    kiosk, ops = clients["kiosk-1"], clients["ops-li"]
    assert kiosk.publish(f"{ROOT}/queue/req/call_next") == 135
    assert kiosk.publish(f"{ROOT}/device/dispenser-1/status") == 135
    assert kiosk.publish(f"{ROOT}/device/dispenser-1/cmd/restart") == 135
    assert kiosk.publish(f"{ROOT}/queue/state") == 135
    # What a kiosk does do goes through.
    assert kiosk.publish(f"{ROOT}/queue/req/take_ticket") == 0
    assert kiosk.publish(f"{ROOT}/device/kiosk-1/telemetry") == 0
    assert seen(ops, f"{ROOT}/queue/req/take_ticket") and seen(ops, f"{ROOT}/device/kiosk-1/telemetry")
    refused = {f"{ROOT}/queue/req/call_next", f"{ROOT}/device/dispenser-1/status", f"{ROOT}/queue/state"}
    assert not refused & {t for t, _ in ops.received}


def test_a_device_reads_only_what_its_role_needs(clients: dict[str, Client]) -> None:
    kiosk, counter = clients["kiosk-1"], clients["counter-1"]
    kiosk.subscribe(f"{ROOT}/#")  # Mosquitto grants the filter and filters each delivery
    assert counter.publish(f"{ROOT}/queue/req/call_next", b'{"request_id": "c1", "counter": "1"}') == 0
    assert clients["ticketer"].publish(f"{ROOT}/queue/state", b'{"seq": 1, "services": {}, "counters": {}}') == 0
    assert kiosk.got.wait(2)
    topics = {t for t, _ in kiosk.received}
    assert f"{ROOT}/queue/state" in topics
    assert f"{ROOT}/queue/req/call_next" not in topics


def test_unknown_user_and_wrong_password_are_refused(secured: BrokerProcess, creds: Path) -> None:
    port = secured.settings.port
    for user, secret in (("intruder", "guess"), ("kiosk-1", "wrong"), (None, None)):
        client = Client(port, user, secret).start()
        try:
            assert client.connack not in (None, 0), f"{user} was let in"
        finally:
            client.stop()


def bus_for(secured: BrokerProcess, creds: Path, tmp_path: Path, device: str, role: str) -> HallBus:
    config_file = tmp_path / f"{device}.toml"
    config_file.write_text(f'[bus]\nusername = "{device}"\npassword_file = "{creds / "devices" / device / "mqtt-password"}"\n'
                           "request_timeout_s = 2.0\n")
    config = load_config(config_file, role, Overrides(broker=secured.url, hall=HALL, device=device,
                                                      data_dir=str(tmp_path / device)))
    bus = HallBus(config).start(wait_s=5)
    assert bus.connected, f"{device} could not connect with its generated credentials"
    return bus


def test_operator_commands_a_device_and_is_logged(secured: BrokerProcess, creds: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    kiosk = bus_for(secured, creds, tmp_path, "kiosk-1", "kiosk")
    ops = bus_for(secured, creds, tmp_path, "ops-li", "operator")
    counter = bus_for(secured, creds, tmp_path, "counter-1", "counter")
    try:
        serve_command(kiosk, "out_of_service", lambda m: {"state": "out_of_service"})
        with caplog.at_level(logging.INFO, logger="taxhall.commands"):
            reply = send_command(ops, "kiosk-1", "out_of_service", {"message": "paper"})
        assert reply["ok"] and reply["state"] == "out_of_service"
        assert "command out_of_service" in caplog.text and "ops-li (reply to ops-li)" in caplog.text
        caplog.clear()
        # The counter's credentials are not an operator's: the broker drops its command.
        with pytest.raises(RequestTimeout):
            send_command(counter, "kiosk-1", "out_of_service", operator="ops-li", timeout_s=1.0)
        assert "command out_of_service" not in caplog.text
    finally:
        for bus in (kiosk, ops, counter):
            bus.close(drain_s=0.2)


def tls_context(creds: Path, device: str | None, ca_file: Path | None = None,
                cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file or creds / "devices" / "kiosk-1" / "ca.crt"))
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    elif device:
        folder = creds / "devices" / device
        context.load_cert_chain(str(folder / "client.crt"), str(folder / "client.key"))
    return context


def test_tls_admits_the_hall_certificate_and_refuses_others(secured: BrokerProcess, creds: Path, tmp_path: Path) -> None:
    port = secured.settings.tls_port
    good = Client(port, None, None, tls=tls_context(creds, "kiosk-1")).start()
    try:
        assert good.connack == 0
        # Its certificate's name is its user name: the ACL holds on TLS too.
        assert good.publish(f"{ROOT}/device/kiosk-1/status") == 0
        assert good.publish(f"{ROOT}/queue/req/call_next") == 135
    finally:
        good.stop()
    # A certificate from another CA (a device of another hall, or made up) is refused.
    stranger_ca = make_ca("elsewhere")
    stranger = issue(stranger_ca, "kiosk-1")
    (tmp_path / "s.crt").write_bytes(stranger.cert_pem)
    (tmp_path / "s.key").write_bytes(stranger.key_pem)
    wrong = Client(port, None, None, tls=tls_context(creds, None, cert=(tmp_path / "s.crt", tmp_path / "s.key"))).start()
    no_cert = Client(port, None, None, tls=tls_context(creds, None)).start()
    try:
        assert wrong.connack != 0
        assert no_cert.connack != 0
    finally:
        wrong.stop()
        no_cert.stop()


def test_hallbus_over_tls_with_its_certificate(secured: BrokerProcess, creds: Path, tmp_path: Path) -> None:
    folder = creds / "devices" / "dispenser-1"
    config_file = tmp_path / "d.toml"
    # As init writes it: the password too (ignored on TLS, where the certificate names the user).
    config_file.write_text(f'[bus]\nca_file = "{folder / "ca.crt"}"\ncert_file = "{folder / "client.crt"}"\n'
                           f'key_file = "{folder / "client.key"}"\nusername = "dispenser-1"\n'
                           f'password_file = "{folder / "mqtt-password"}"\n')
    config = load_config(config_file, "dispenser", Overrides(broker=f"mqtts://localhost:{secured.settings.tls_port}",
                                                             hall=HALL, device="dispenser-1", data_dir=str(tmp_path / "d")))
    bus = HallBus(config).start(wait_s=5)
    try:
        assert bus.connected
    finally:
        bus.close(drain_s=0.2)


def test_broker_config_with_acl_and_tls(tmp_path: Path) -> None:
    settings = BrokerSettings(port=1883, data_dir=tmp_path, acl_file="/x/acl", tls_port=8883, tls_listen="0.0.0.0",
                              ca_file="/x/ca.crt", cert_file="/x/s.crt", key_file="/x/s.key",
                              require_certificate=True, use_identity_as_username=True)
    conf = mosquitto_conf(settings)
    assert "acl_file /x/acl" in conf and "allow_anonymous false" in conf
    assert "listener 8883 0.0.0.0" in conf and "require_certificate true" in conf
    assert "use_identity_as_username true" in conf
    with pytest.raises(BrokerError, match="key_file"):
        mosquitto_conf(BrokerSettings(tls_port=8883, ca_file="a", cert_file="b"))


def test_bridge_to_a_central_broker_carries_status_out_and_commands_in(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A hall broker (passwords, ACL) bridged over MQTT 5 to a central broker: the hall's
    statuses appear centrally, and a central operator's command reaches a hall device and is
    answered, with who asked in the device's log."""
    creds = tmp_path / "creds"
    make_credentials(Plan(HALL, creds, (Account("kiosk-1", "kiosk"), Account("srv", "ticketer"), Account("bridge", "bridge"))))
    central = BrokerProcess(BrokerSettings(port=free_port(), data_dir=tmp_path / "central", persistence=False)).start()
    hall = BrokerProcess(BrokerSettings(
        port=free_port(), data_dir=tmp_path / "hall", persistence=False, password_file=str(creds / "broker" / "passwd"),
        acl_file=str(creds / "broker" / "acl"),
        bridge=BridgeSettings(hall=HALL, address=f"127.0.0.1:{central.settings.port}", local_username="bridge",
                              local_password=password(creds, "bridge")))).start()
    kiosk = bus_for(hall, creds, tmp_path, "kiosk-1", "kiosk")
    ops = HallBus(load_config(None, "operator", Overrides(broker=central.url, hall=HALL, device="central-li",
                                                          data_dir=str(tmp_path / "ops")))).start(wait_s=5)
    try:
        statuses: list[str] = []
        seen_status = threading.Event()

        def on_status(message: BusMessage) -> None:
            statuses.append(message.suffix)
            seen_status.set()

        ops.subscribe("device/+/status", on_status)
        assert seen_status.wait(10), "the hall's statuses did not reach the central broker"
        assert "device/kiosk-1/status" in statuses
        serve_command(kiosk, "ping", lambda m: {"pong": True})
        with caplog.at_level(logging.INFO, logger="taxhall.commands"):
            reply = send_command(ops, "kiosk-1", "ping", timeout_s=5)
        assert reply["ok"] and reply["pong"] is True
        assert "central-li (reply to central-li)" in caplog.text
        # The engine's retained alarm snapshot goes out too: a central monitor sees the alarms.
        engine = bus_for(hall, creds, tmp_path, "srv", "ticketer")
        alarms: list[BusMessage] = []
        ops.subscribe("queue/alarms", alarms.append)
        engine.publish("queue/alarms", {"device": "srv", "at": "2026-11-28T10:00:00+08:00", "alarms": [
            {"key": "service_unstaffed:C", "id": "e1", "kind": "service_unstaffed", "severity": "alarm",
             "message": "3 waiting for C and no counter open for it", "raised_at": "2026-11-28T10:00:00+08:00"}]},
            qos=1, retain=True)
        assert wait_for(lambda: bool(alarms)), "the engine's alarm snapshot did not reach the central broker"
        assert alarms[0].data.alarms[0].key == "service_unstaffed:C"
        engine.close(drain_s=0.2)
    finally:
        ops.close(drain_s=0.2)
        kiosk.close(drain_s=0.2)
        hall.stop()
        central.stop()


def test_bridge_from_the_device_config(tmp_path: Path) -> None:
    (tmp_path / "central-password").write_text("c3ntral\n")
    (tmp_path / "bridge-password").write_text("l0cal\n")
    config_file = tmp_path / "device.toml"
    config_file.write_text(f'[device]\nhall = "{HALL}"\ndata_dir = "{tmp_path}"\n[broker.bridge]\n'
                           f'address = "central.example:8883"\nremote_username = "hall-{HALL}"\n'
                           f'remote_password_file = "{tmp_path / "central-password"}"\n'
                           f'local_password_file = "{tmp_path / "bridge-password"}"\nca_file = "/etc/taxhall/central-ca.crt"\n')
    settings = settings_from_config(load_config(config_file, "broker"))
    conf = write_conf(settings)
    text = conf.read_text()
    assert f"connection taxhall-{HALL}-bridge" in text and "address central.example:8883" in text
    assert "bridge_protocol_version mqttv50" in text and "remote_password c3ntral" in text
    assert "local_username bridge" in text and "local_password l0cal" in text
    assert "bridge_cafile /etc/taxhall/central-ca.crt" in text
    assert f"topic taxhall/v1/{HALL}/device/+/cmd/# in 1" in text and f"topic taxhall/v1/{HALL}/device/+/status out 1" in text
    assert oct(conf.stat().st_mode)[-3:] == "600"  # it holds passwords
