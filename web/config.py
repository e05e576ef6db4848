"""The `[web]` section of the device config: where `taxhall web` listens, who may log in to
the dashboard, how long a session lasts, and how the hall is named on its pages."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from taxhall.config import ConfigSection, DeviceConfig


class WebSection(ConfigSection):
    listen: str = Field("127.0.0.1:8080", description="HOST:PORT to serve on (`--listen` overrides)")
    users_file: str = Field("", description="TOML file of dashboard users, `[users.NAME] password_hash = \"$argon2id$...\"`; "
                                            "empty: `<data_dir>/web/users.toml`")
    session_lifetime_s: int = Field(8 * 3600, ge=1, description="a dashboard session ends this long after login")
    session_idle_s: int = Field(1800, ge=1, description="... or after this long without a request")
    login_attempts: int = Field(5, ge=1, description="failed logins allowed per client address and per user name ...")
    login_window_s: int = Field(300, ge=1, description="... within this many seconds; more are refused with 429")
    secure_cookies: bool = Field(False, description="mark cookies Secure (when served behind HTTPS)")
    hall_name: str = Field("办税服务厅", description="the hall's name on every page, Chinese")
    hall_name_en: str = Field("Tax Service Hall", description="the same in English")
    ticketer_db: str = Field("", description="the queue engine's database, read for statistics; "
                                             "empty: `<data_dir>/ticketer/queue.sqlite` (web runs on the ticketer host)")
    timezone: str = Field("", description="IANA zone for statistics hours; empty for the system's local time")
    refresh_s: float = Field(2.0, gt=0, description="a ticket page's people-ahead figure is asked of the engine at most this often "
                                                   "on general changes (a call of its service asks at once)")
    actions_log: str = Field("", description="JSON lines of dashboard actions with who did them; empty: `<data_dir>/web/actions.jsonl`")
    prefill_key_file: str = Field("", description="the hall's Ed25519 key signing pre-filled request codes (/prepare); made on "
                                                  "first start if missing; empty: `<data_dir>/web/prefill-ed25519.pem`")
    prefill_valid_hours: int = Field(72, ge=1, le=24 * 90, description="how long a pre-filled request code can be used")


SECTIONS = {"web": WebSection}


def web_section(config: DeviceConfig) -> WebSection:
    """The `[web]` section, or its defaults when the file has none."""
    section = config.sections.get("web")
    return section if isinstance(section, WebSection) else WebSection.model_validate({})


def data_path(config: DeviceConfig, configured: str, *default: str) -> Path:
    """A configured path, or its default below the device's data dir."""
    return Path(configured) if configured else config.data_dir.joinpath(*default)
