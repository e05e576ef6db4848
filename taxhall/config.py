"""Device configuration: one TOML file per device, validated strictly at start.

Every process reads its device file (`--config`, default /etc/taxhall/device.toml) through
`load_config`; the command-line overrides `--broker --hall --device --data-dir` are applied on
top. A typo, a wrong type or a missing value stops the process with one line that names the
file, the key and what was expected (see `ConfigError`). docs/config.md lists every key.

Applications add their own sections (`[ticketer]`, `[kiosk]`, ...) by passing models in
`sections`; a section nobody claims is an unknown key like any other.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_PATH = Path("/etc/taxhall/device.toml")


class ConfigError(Exception):
    """A device configuration that cannot be used; str() is the one line to show."""


class ConfigSection(BaseModel):
    """Base of every config section: unknown keys and loose types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeviceSection(ConfigSection):
    id: str | None = Field(None, description="device id on the bus; default `<hostname>-<role>`")
    hall: str = Field("hall1", description="hall id, the second level of every topic")
    data_dir: str = Field("/var/lib/taxhall", description="where the device keeps its databases")

    @field_validator("id", "hall")
    @classmethod
    def _topic_safe(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#\x00 ")):
            raise ValueError("a non-empty name without '/', '+', '#' or spaces")
        return value


class BusSection(ConfigSection):
    broker: str = Field("mqtt://127.0.0.1:1883", description="broker URL, mqtt://host:port")
    username: str = Field("", description="MQTT user name; empty for anonymous")
    password_file: str = Field("", description="file holding the MQTT password")
    ca_file: str = Field("", description="mqtts://: CA certificate to check the broker with; empty: the system's CAs")
    cert_file: str = Field("", description="mqtts://: this device's client certificate, for brokers that require one")
    key_file: str = Field("", description="mqtts://: the private key of cert_file")
    keepalive_s: int = Field(15, ge=5, le=600, description="MQTT keep-alive in seconds")
    reconnect_min_s: float = Field(0.2, gt=0, description="first reconnect delay")
    reconnect_max_s: float = Field(10.0, gt=0, description="cap of the reconnect back-off")
    request_timeout_s: float = Field(5.0, gt=0, description="default time-out of a bus request")
    session_expiry_s: int = Field(3600, ge=0, description="how long the broker keeps this device's subscriptions while it is away")
    telemetry_interval_s: float = Field(30.0, gt=0, description="seconds between telemetry messages")

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        parse_broker_url(value)
        return value


class LogSection(ConfigSection):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")


class BridgeSection(ConfigSection):
    """`[broker.bridge]`: the hall broker forwards health and queue figures to a central broker
    and takes commands and content back (docs/fleet.md)."""

    address: str = Field(description="the central broker, host:port")
    remote_username: str = Field("", description="this hall's user name on the central broker")
    remote_password_file: str = Field("", description="file holding that user's password")
    local_username: str = Field("bridge", description="the bridge's user on this hall's broker (ACL role bridge)")
    local_password_file: str = Field("", description="file holding the bridge user's password on this broker")
    ca_file: str = Field("", description="TLS to the central broker: its CA certificate; empty: plain MQTT")
    cert_file: str = Field("", description="TLS: this hall's client certificate, if the central broker wants one")
    key_file: str = Field("", description="TLS: the key of cert_file")

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("host:port of the central broker")
        return value


class BrokerSection(ConfigSection):
    listen: str = Field("127.0.0.1", description="address Mosquitto listens on")
    port: int = Field(1883, ge=1, le=65535, description="port Mosquitto listens on")
    persistence: bool = Field(True, description="keep retained messages and sessions on disk")
    autosave_interval_s: int = Field(60, ge=1, description="seconds between persistence saves")
    password_file: str = Field("", description="mosquitto_passwd file; once it holds users, anonymous access is off")
    acl_file: str = Field("", description="Mosquitto ACL file (from `taxhall provision credentials`); set, anonymous access is off")
    tls_port: int = Field(0, ge=0, le=65535, description="port of a second, TLS listener; 0 for none")
    tls_listen: str = Field("", description="address of the TLS listener; empty: the same as listen")
    ca_file: str = Field("", description="TLS: the hall CA certificate that signs client certificates")
    cert_file: str = Field("", description="TLS: the broker's certificate")
    key_file: str = Field("", description="TLS: the broker's private key")
    require_certificate: bool = Field(False, description="TLS: clients must show a certificate signed by ca_file")
    use_identity_as_username: bool = Field(False, description="TLS: a client certificate's common name is its user name")
    bridge: BridgeSection | None = Field(None, description="[broker.bridge]: forward to a central broker")
    executable: str = Field("mosquitto", description="the Mosquitto binary")


class CoreConfig(ConfigSection):
    device: DeviceSection = DeviceSection()
    bus: BusSection = BusSection()
    log: LogSection = LogSection()
    broker: BrokerSection = BrokerSection()


CORE_SECTIONS: dict[str, type[ConfigSection]] = {
    "device": DeviceSection,
    "bus": BusSection,
    "log": LogSection,
    "broker": BrokerSection,
}


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("a URL like mqtt://127.0.0.1:1883")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise ValueError("a URL like mqtt://127.0.0.1:1883 with a numeric port") from exc
    return BrokerAddress(parts.hostname, port, parts.scheme == "mqtts")


@dataclass(frozen=True)
class Overrides:
    broker: str | None = None
    hall: str | None = None
    device: str | None = None
    data_dir: str | None = None


@dataclass(frozen=True)
class DeviceConfig:
    """A validated device configuration: the core sections and any application sections."""

    path: Path | None
    role: str
    device: DeviceSection
    bus: BusSection
    log: LogSection
    broker: BrokerSection
    sections: Mapping[str, ConfigSection]

    @property
    def device_id(self) -> str:
        assert self.device.id is not None  # load_config always fills it
        return self.device.id

    @property
    def hall(self) -> str:
        return self.device.hall

    @property
    def data_dir(self) -> Path:
        return Path(self.device.data_dir)

    @property
    def broker_address(self) -> BrokerAddress:
        return parse_broker_url(self.bus.broker)

    def section(self, name: str) -> Any:
        return self.sections[name]


def load_config(
    path: Path | str | None,
    role: str,
    overrides: Overrides = Overrides(),
    sections: Mapping[str, type[ConfigSection]] | None = None,
    accepted: Iterable[str] = (),
) -> DeviceConfig:
    """Reads, validates and completes a device file.

    `path=None` means the default path, which may be absent (built-in defaults then apply);
    a path given explicitly must exist. `sections` are validated; `accepted` names sections of
    other processes that may share the file (a kiosk's file holds [printer], [idreader], ...):
    they are allowed but left to the process that reads them.
    """
    explicit = path is not None
    file_path = Path(path) if explicit else DEFAULT_CONFIG_PATH
    where = str(file_path)
    raw: dict[str, Any] = {}
    if file_path.exists():
        try:
            raw = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error in {where}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config error in {where}: cannot read the file: {exc}") from None
    elif explicit:
        raise ConfigError(f"config error: {where}: no such file")

    models: dict[str, type[ConfigSection]] = dict(CORE_SECTIONS)
    models.update(sections or {})
    allowed = [*models, *(name for name in accepted if name not in models)]
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"config error in {where}: [{key}]: unknown section; expected one of: {', '.join(allowed)}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"config error in {where}: {key}: expected a [{key}] table, got {value!r}")

    merged = {name: dict(raw.get(name, {})) for name in models}
    for section, key, value in (
        ("bus", "broker", overrides.broker),
        ("device", "hall", overrides.hall),
        ("device", "id", overrides.device),
        ("device", "data_dir", overrides.data_dir),
    ):
        if value is not None:
            merged[section][key] = value
    if merged["device"].get("id") is None:
        merged["device"]["id"] = f"{socket.gethostname().split('.')[0]}-{role}"

    validated: dict[str, ConfigSection] = {}
    for name, model in models.items():
        try:
            validated[name] = model.model_validate(merged[name])
        except ValidationError as exc:
            raise ConfigError(f"config error in {where}: {describe_error(name, model, exc)}") from None
    core = {name: validated[name] for name in CORE_SECTIONS}
    return DeviceConfig(
        path=file_path if file_path.exists() else None,
        role=role,
        device=core["device"],  # type: ignore[arg-type]
        bus=core["bus"],  # type: ignore[arg-type]
        log=core["log"],  # type: ignore[arg-type]
        broker=core["broker"],  # type: ignore[arg-type]
        sections=validated,
    )


_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "a table",
}


def _field_expectation(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """What the field at `loc` wants, in words, and the keys its parent model accepts."""
    current: Any = model
    annotation: Any = None
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            annotation = current.model_fields[part].annotation
            current = annotation
        else:
            break
    parent = model
    for part in loc[:-1]:
        field = parent.model_fields.get(part) if isinstance(parent, type) and issubclass(parent, BaseModel) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            break
        parent = field.annotation
    keys = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
    if annotation is None:
        return "", keys
    text = getattr(annotation, "__name__", None) or str(annotation)
    return _TYPE_WORDS.get(text, text.replace("typing.", "")), keys


def describe_error(section: str, model: type[BaseModel], exc: ValidationError) -> str:
    """One line for the first problem in a section: key, what was expected, what was found."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = ".".join([section, *map(str, loc)])
    expected, keys = _field_expectation(model, loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key; expected one of: {', '.join(keys)}"
    if kind == "missing":
        return f"{key}: missing; expected {expected or 'a value'}"
    found = err.get("input")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = "expected " + message.removeprefix("Value error, ")
    elif expected and kind.endswith("_type"):
        message = f"expected {expected}"
    return f"{key}: {message}, got {found!r}"
