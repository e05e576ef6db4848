"""What works right now, and so which home tiles can be used (pure, plus a thread-safe board).

Each component — printer, tax gateway, ID-card reader, scanner, queue — has a health
(`ok`, `degraded`, `fault`, `absent`) with a technician's detail; the board keeps them and
tells whoever listens when one changes (the bus status, the screen). `tiles()` turns a
snapshot into the home tiles, each enabled or disabled with the reason in plain words:
a printer out of paper disables what prints, a gateway that is down disables what asks it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Mapping

from kiosk.session import Flow
from kiosk.words import Bi, word
from taxhall.bus.schemas import ComponentHealth

PRINTER, GATEWAY, READER, SCANNER, QUEUE = "printer", "gateway", "idreader", "scanner", "queue"

OK = ComponentHealth(state="ok", detail="")


def absent(detail: str) -> ComponentHealth:
    return ComponentHealth(state="absent", detail=detail)


def fault(detail: str) -> ComponentHealth:
    return ComponentHealth(state="fault", detail=detail)


def usable(health: ComponentHealth | None) -> bool:
    """A degraded component (paper low) still works."""
    return health is not None and health.state in ("ok", "degraded")


class HealthBoard:
    """Component health, settable from any thread; `on_change()` runs after each change."""

    def __init__(self, sources: Mapping[str, Callable[[], ComponentHealth]] | None = None) -> None:
        self._lock = threading.Lock()
        self._set: dict[str, ComponentHealth] = {}
        # components that keep their own health (the printer's status monitor) are read live
        self._sources = dict(sources or {})
        self.on_change: Callable[[], None] = lambda: None

    def set(self, name: str, health: ComponentHealth) -> bool:
        """Records a component's health; True (and on_change) when it differs from before."""
        with self._lock:
            if self._set.get(name) == health:
                return False
            self._set[name] = health
        self.on_change()
        return True

    def add_source(self, name: str, source: Callable[[], ComponentHealth]) -> None:
        with self._lock:
            self._sources[name] = source

    def changed(self) -> None:
        """A live source changed (the printer monitor says so)."""
        self.on_change()

    def snapshot(self) -> dict[str, ComponentHealth]:
        with self._lock:
            found = dict(self._set)
            sources = dict(self._sources)
        for name, source in sources.items():
            found[name] = source()
        return found

    def components(self) -> dict[str, ComponentHealth]:
        """For HallBus(components=...): what goes into `device/{id}/status`."""
        return self.snapshot()

    def device_state(self, closed: bool) -> str:
        """The bus state: out of service when closed, degraded when something is not ok."""
        if closed:
            return "out_of_service"
        states = {h.state for h in self.snapshot().values()}
        return "degraded" if states & {"fault", "degraded"} else "online"


@dataclass(frozen=True)
class Tile:
    flow: Flow
    enabled: bool
    reason: Bi | None = None  # why it is disabled, or a note when it works with limits


TILE_ORDER = (Flow.CERTIFICATE, Flow.REQUEST, Flow.SELF_INVOICE, Flow.CHECK, Flow.QUEUE, Flow.GUIDES, Flow.APPEAL)


def _printer_reason(health: ComponentHealth | None) -> Bi:
    detail = health.detail if health else ""
    if health is None or health.state == "absent":
        return word("reason_no_printer")
    if "paper out" in detail:
        return word("reason_paper_out")
    if "cover open" in detail:
        return word("reason_cover_open")
    return word("reason_printer_fault")


def _device_reason(health: ComponentHealth | None, absent_key: str, fault_key: str) -> Bi:
    return word(absent_key if health is None or health.state == "absent" else fault_key)


def tiles(health: Mapping[str, ComponentHealth], queue_mode: str, queue_known: bool, appeals: bool = False) -> tuple[Tile, ...]:
    """The home tiles for a health snapshot, in screen order."""
    printer, gateway = health.get(PRINTER), health.get(GATEWAY)
    reader, scanner = health.get(READER), health.get(SCANNER)
    printer_reason = None if usable(printer) else _printer_reason(printer)
    gateway_reason = None if usable(gateway) else word("reason_gateway_down")
    found: list[Tile] = []
    for flow in TILE_ORDER:
        reasons: list[Bi | None] = []
        if flow in (Flow.CERTIFICATE, Flow.REQUEST, Flow.SELF_INVOICE, Flow.CHECK):
            reasons.append(gateway_reason)
        if flow in (Flow.CERTIFICATE, Flow.REQUEST, Flow.SELF_INVOICE):
            reasons.append(printer_reason)
        if flow in (Flow.REQUEST, Flow.CHECK) and not usable(scanner):
            reasons.append(_device_reason(scanner, "reason_scanner_absent", "reason_no_scanner"))
        if flow == Flow.SELF_INVOICE and not usable(reader):
            reasons.append(_device_reason(reader, "reason_reader_absent", "reason_no_reader"))
        if flow == Flow.CERTIFICATE and not usable(reader) and not usable(scanner):
            reasons.append(_device_reason(reader, "reason_reader_absent", "reason_no_reader"))
        if flow == Flow.APPEAL and not appeals:
            continue  # the opinion book needs the hall bus (kiosk.appeal)
        if flow == Flow.QUEUE:
            if queue_mode == "off":
                continue
            if not queue_known:
                reasons.append(word("reason_queue_down"))
        reason = next((r for r in reasons if r is not None), None)
        note = None
        if flow == Flow.QUEUE and reason is None and (queue_mode == "view" or not usable(printer)):
            note = word("note_queue_view")  # waiting counts only: no tickets from here
        found.append(Tile(flow, reason is None, reason or note))
    return tuple(found)
