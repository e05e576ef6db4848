"""The hall bus: MQTT 5 client wrapper, topics and message schemas (docs/mqtt.md)."""

from taxhall.bus.client import BusMessage, HallBus
from taxhall.bus.errors import BusError, BusUnavailable, RequestFailed, RequestRejected, RequestTimeout

__all__ = ["HallBus", "BusMessage", "BusError", "BusUnavailable", "RequestFailed", "RequestRejected", "RequestTimeout"]
