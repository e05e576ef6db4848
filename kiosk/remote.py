"""The kiosk on the hall bus: remote commands, the queue, guides, and its health.

- (`device/{id}/cmd/screenshot` and `cmd/script` belong to the screen: kiosk.app serves them.)
- `device/{id}/cmd/out_of_service` `{"args": {"message": "..."}}` closes the kiosk with that
  message on screen (the visit in progress ends and is wiped); `device/{id}/cmd/in_service`
  opens it again. Both answer `{"ok": true, "state": ...}`. The closed state is kept in
  `<data_dir>/kiosk-service.json`, so a kiosk an operator closed stays closed after a reboot.
- `device/{id}/cmd/print_test_page` `{"args": {"lang": "zh"|"en"}}` prints a test page on the
  kiosk's receipt printer (as the dispenser's does) and answers `{"printed": "printed"|"sent",
  "paper": "ok"|"near_end"|"out"|"unknown"}`; a printer that cannot print answers
  `printer_fault` with why (paper out, cover open, unreachable) — the paper said in the message.
- `queue/state` (retained) gives the waiting counts of the queue tile; tickets are taken with
  `queue/req/take_ticket` (source = this device, priority `elderly` in elder mode); an
  appointment checks in with `appointments/req/check_in` (and `lookup` for the times to say).
- `kiosk/guides` (retained): a `GuideManifest` (taxhall.bus.schemas) replacing the guides.
- `device/{id}/status` carries every component's health (printer, gateway, idreader,
  scanner); `device/{id}/event` one event each time a component fails or recovers, and the
  printer's own events (paper low, paper out, ...).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from drivers.printer.errors import JobResult, PrinterError
from drivers.printer.layout import Layout
from drivers.printer.monitor import Poll
from drivers.printer.status import PrinterStatus, changes
from kiosk.core import QueueService
from kiosk.guides import TOPIC as GUIDES_TOPIC
from kiosk.guides import GuideBook
from kiosk.health import PRINTER, HealthBoard
from taxhall.bus import BusMessage, HallBus
from taxhall.bus.errors import RequestRejected
from taxhall.bus.schemas import DeviceEvent, QueueState, now_iso
from taxhall.commands import serve_command

log = logging.getLogger("kiosk.remote")


class BusQueue:
    """QueueLink over the bus: the retained state for counts, requests for tickets."""

    def __init__(self, bus: HallBus, timeout_s: float = 5.0) -> None:
        self.bus = bus
        self.timeout_s = timeout_s
        self._state: QueueState | None = None
        self.on_change: Callable[[], None] = lambda: None

    def attach(self) -> None:
        self.bus.subscribe("queue/state", self._on_state)

    def _on_state(self, message: BusMessage) -> None:
        self._state = message.data
        self.on_change()

    def services(self) -> tuple[QueueService, ...] | None:
        state = self._state
        if state is None:
            return None
        return tuple(
            QueueService(code, s.name, str(getattr(s, "name_en", "") or s.name), s.waiting, s.est_wait_s, s.open)
            for code, s in sorted(state.services.items())
        )

    def take_ticket(self, service: str, priority: str, request_id: str) -> dict[str, Any]:
        reply = self.bus.request("queue/req/take_ticket", {"request_id": request_id, "service": service,
                                                            "source": self.bus.device, "priority": priority},
                                 timeout_s=self.timeout_s)
        return dict(reply["ticket"])

    def check_in(self, code: str, request_id: str) -> dict[str, Any]:
        # retried with the same request id: an answer lost on the way never makes a second ticket
        return self.bus.request_retried("appointments/req/check_in", {"request_id": request_id, "code": code,
                                                                       "source": self.bus.device}, timeout_s=self.timeout_s)

    def lookup_appointment(self, code: str, request_id: str) -> dict[str, Any]:
        return self.bus.request_retried("appointments/req/lookup", {"request_id": request_id, "code": code,
                                                                     "source": self.bus.device}, timeout_s=self.timeout_s)


@dataclass(frozen=True)
class ServiceState:
    closed: bool = False
    message: str = ""


def load_service_state(path: Path) -> ServiceState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServiceState(bool(data.get("closed")), str(data.get("message", "")))
    except (OSError, ValueError, AttributeError):
        return ServiceState()


def save_service_state(path: Path, state: ServiceState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"closed": state.closed, "message": state.message}, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def paper_state(status: PrinterStatus | None) -> str:
    """The paper as a technician asks about it: ok, near_end, out, or unknown (a link the
    printer cannot answer on)."""
    if status is None or not status.known:
        return "unknown"
    if status.paper_out:
        return "out"
    return "near_end" if status.paper_near_end else "ok"


def test_page(hall_name: str, hall_name_en: str, device: str, lang: str, paper: str) -> Layout:
    """The kiosk's test page: both languages whatever `lang` (the technician may read either),
    the widest line the slips use, and a QR code — what a certificate slip needs to come out right."""
    from datetime import datetime

    from drivers.printer.layout import Cut, Qr, Row, Rule, Text

    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    first, second = ("打印测试页", "TEST PAGE") if lang == "zh" else ("TEST PAGE", "打印测试页")
    return Layout((
        Text(first, size=2, bold=True, align="center"), Text(second, align="center"),
        Text(hall_name, align="center"), Text(hall_name_en, align="center"), Rule(),
        Row("设备 device", device), Row("时间 time", now), Row("纸张 paper", paper),
        Text("中文：税收完税证明 发票 申报纳税", align="left"),
        Text("English: Tax Payment Certificate / Invoice", align="left"),
        Qr(f"taxhall:test-page:{device}"),
        Text("本页不是完税证明 · This page is not a certificate", align="center"), Cut(),
    ), name="kiosk test page")


class KioskRemote:
    """Wires one kiosk to the bus. `submit` runs a kiosk action on the kiosk's worker."""

    def __init__(self, bus: HallBus, board: HealthBoard, guides: GuideBook, submit: Callable[..., None],
                 close: Callable[[str], None], reopen: Callable[[], None], is_closed: Callable[[], bool],
                 state_path: Path) -> None:
        self.bus = bus
        self.board = board
        self.guides = guides
        self.submit = submit
        self._close = close
        self._reopen = reopen
        self.is_closed = is_closed
        self.state_path = state_path
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        self.on_guides: Callable[[], None] = lambda: None

    def attach(self) -> None:
        # serve_command: each command logged with who asked and how it ended (docs/fleet.md)
        serve_command(self.bus, "out_of_service", self._out_of_service)
        serve_command(self.bus, "in_service", self._in_service)
        self.bus.subscribe(GUIDES_TOPIC, self._on_guides)

    def _out_of_service(self, message: BusMessage) -> dict[str, Any]:
        args = getattr(message.data, "args", {}) or {}
        text = args.get("message", "")
        if not isinstance(text, str) or len(text) > 200:
            raise RequestRejected("bad_request", "args.message: a text of at most 200 characters")
        save_service_state(self.state_path, ServiceState(True, text))
        self.submit(self._close, text)
        log.info("out_of_service command received")
        return {"state": "out_of_service"}

    def _in_service(self, message: BusMessage) -> dict[str, Any]:
        save_service_state(self.state_path, ServiceState(False, ""))
        self.submit(self._reopen)
        log.info("in_service command received")
        return {"state": "online"}

    def serve_test_page(self, print_layout: Callable[[Layout, str], JobResult], status: Callable[[], PrinterStatus],
                        hall_name: str, hall_name_en: str, lang: str) -> None:
        """`cmd/print_test_page` through the kiosk's own printer (`KioskDevices.print_layout`,
        so its health on the board follows); `status` asks the printer for its paper first."""

        def respond(message: BusMessage) -> dict[str, Any]:
            args = getattr(message.data, "args", {}) or {}
            page_lang = args.get("lang", lang)
            if page_lang not in ("zh", "en"):
                raise RequestRejected("bad_request", "args.lang: zh or en")
            try:
                paper = paper_state(status())
                result = print_layout(test_page(hall_name, hall_name_en, self.bus.device, page_lang, paper), "test-page")
            except PrinterError as exc:
                raise RequestRejected("printer_fault", f"{exc} (paper: {paper_state(exc.status)})") from None
            log.info("test page %s (paper %s)", result.state, paper)
            return {"printed": result.state, "paper": paper_state(result.status) if result.status else paper}

        serve_command(self.bus, "print_test_page", respond, blocking=True)

    def _on_guides(self, message: BusMessage) -> None:
        # message.data is a GuideManifest: the bus validated it against the contract
        if self.guides.offer(message.data):
            self.on_guides()

    # -- health on the bus ----------------------------------------------------------------------

    def printer_changed(self, new: Poll, old: Poll | None) -> None:
        """StatusMonitor.on_change: the printer's own events, then the status."""
        before = old.conditions if old else frozenset()
        for change in changes(before, new.conditions):
            self._event(change.kind, change.severity, change.message, PRINTER, new.health.detail)
        self.report()

    def report(self) -> None:
        """Events for components that failed or recovered, and the device status."""
        snapshot = self.board.snapshot()
        with self._lock:
            for name, health in snapshot.items():
                before = self._states.get(name)
                self._states[name] = health.state
                if name == PRINTER or before == health.state:
                    continue
                if health.state == "fault":
                    self._event(f"{name}_fault", "alarm", f"{name}: {health.detail}", name, health.detail)
                elif before == "fault":
                    self._event(f"{name}_fault", "cleared", f"{name}: working again", name, health.detail)
        self.bus.set_status(self.board.device_state(self.is_closed()))

    def _event(self, kind: str, severity: str, message: str, component: str, detail: str) -> None:
        event = DeviceEvent(id=uuid.uuid4().hex, at=now_iso(), kind=kind, severity=severity,  # type: ignore[arg-type]
                            message=message, data={"component": component, "detail": detail})
        self.bus.publish_event(f"device/{self.bus.device}/event", event)
