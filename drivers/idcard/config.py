"""The `[idreader]` section of the device config: where the ID-card reader is and how to talk to it."""

from __future__ import annotations

from pydantic import Field

from taxhall.config import ConfigSection


class IdReaderSection(ConfigSection):
    port: str = Field("", description="serial port of the reader; prefer a /dev/serial/by-id/... path")
    baud: int = Field(115200, gt=0, description="the reader's baud rate")
    poll_interval_s: float = Field(0.25, gt=0, description="seconds between find-card polls while waiting for a card")
    response_timeout_s: float = Field(2.0, gt=0, description="how long one answer from the reader may take")
    read_timeout_s: float = Field(10.0, gt=0, description="how long `taxhall idcard read` waits for a card")


SECTIONS: dict[str, type[ConfigSection]] = {"idreader": IdReaderSection}
