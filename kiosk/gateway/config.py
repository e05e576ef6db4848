"""The `[gateway]` section of the device config, and how a process gets its gateway.

`taxhall gateway` reads it to serve the local implementation; the kiosk reads it to find
its gateway: with `url` empty it embeds the local implementation on `<data_dir>/gateway.sqlite`,
with `url = "http://…"` it uses the HTTP client. Heavy imports (FastAPI, httpx) happen only
inside `open_gateway`, so loading the config stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from taxhall.config import ConfigSection

if TYPE_CHECKING:
    from kiosk.gateway.interface import TaxGateway
    from kiosk.gateway.local import GatewaySettings


def parse_listen(value: str) -> tuple[str, int]:
    """`"127.0.0.1:8765"` → ("127.0.0.1", 8765); `"[::1]:8765"` for IPv6."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("host:port, e.g. 127.0.0.1:8765")
    return host.strip("[]"), int(port_text)


class GatewaySection(ConfigSection):
    listen: str = Field("127.0.0.1:8765", description="host:port the gateway's HTTP API listens on (`taxhall gateway`)")
    db: str = Field("", description="the gateway's SQLite file; empty: `<data_dir>/gateway.sqlite`")
    url: str = Field("", description="for kiosks: the gateway to call, http://host:port; empty: embed the local gateway")
    timeout_s: float = Field(5.0, gt=0, le=60, description="HTTP client: time-out of one attempt")
    attempts: int = Field(3, ge=1, le=10, description="HTTP client: attempts per request (same request id each time)")
    location: Literal["urban", "county_town", "other"] = Field(
        "urban", description="where the hall is, for the urban maintenance and construction tax: 7 %, 5 % or 1 %")
    region_code: str = Field("11", pattern=r"^\d{2}$", description="2-digit province code in invoice and certificate numbers")
    authority: str = Field("国家税务总局北京市海淀区税务局", min_length=1, description="the tax office the hall belongs to")
    verify_base_url: str = Field("https://verify.taxhall.invalid/c", description="base of the URL in certificates' QR codes")
    quote_ttl_s: int = Field(900, ge=60, le=86400, description="how long a self-invoicing tax computation stays valid")
    max_self_invoice_fen: int = Field(50_000_000, ge=100, description="largest self-invoice, in fen")
    demo_data: bool = Field(True, description="seed demo taxpayers, orders and invoices into a new database")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL, or empty")
        return value

    def db_path(self, data_dir: Path) -> Path:
        return Path(self.db) if self.db else Path(data_dir) / "gateway.sqlite"

    def settings(self) -> GatewaySettings:
        from kiosk.gateway.local import GatewaySettings
        from kiosk.gateway.models import LocationClass

        return GatewaySettings(location=LocationClass(self.location), region_code=self.region_code, authority=self.authority,
                               verify_base_url=self.verify_base_url, quote_ttl_s=self.quote_ttl_s,
                               max_self_invoice_fen=self.max_self_invoice_fen, demo_data=self.demo_data)


SECTIONS: dict[str, type[ConfigSection]] = {"gateway": GatewaySection}


def open_gateway(section: GatewaySection, data_dir: Path) -> TaxGateway:
    """The gateway a process should use: HTTP when `url` is set, else the embedded one."""
    if section.url:
        from kiosk.gateway.client import HttpTaxGateway

        return HttpTaxGateway(section.url, timeout_s=section.timeout_s, attempts=section.attempts)
    from kiosk.gateway.local import LocalTaxGateway

    return LocalTaxGateway(section.db_path(data_dir), section.settings())
