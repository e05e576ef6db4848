"""The payment terminal the taxpayer pays self-invoicing taxes on, behind one Protocol.

Halls use bank card / UnionPay QR terminals from several vendors, each with its own SDK; the
kiosk only needs "take this amount, tell me how it went", so that is the interface. The
simulated terminal is the documented default (`[kiosk] payment = "simulated"`): it takes a
configurable time and approves or declines, and can be cancelled like a real one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class PaymentResult:
    """How a payment went. `reference` is the terminal's transaction number when approved."""

    outcome: Literal["approved", "declined", "cancelled", "timeout"]
    amount_fen: int
    reference: str = ""
    detail: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"


class PaymentTerminal(Protocol):
    def pay(self, amount_fen: int, order: str, timeout_s: float) -> PaymentResult:
        """Asks the terminal to take `amount_fen`; blocks until it answers, is cancelled or
        `timeout_s` pass. `order` is our reference for the terminal's records (the same order
        paid twice must be refused by a real terminal; the simulator approves it again with
        the same reference)."""
        ...

    def cancel(self) -> None:
        """Stops a payment in progress (from another thread); no effect when idle."""
        ...


class SimulatedTerminal:
    """A terminal that answers `result` after `delay_s`, unless cancelled first."""

    def __init__(self, delay_s: float = 1.5, result: Literal["approve", "decline"] = "approve") -> None:
        self.delay_s = delay_s
        self.result = result
        self._cancel = threading.Event()
        self.payments: list[PaymentResult] = []

    def pay(self, amount_fen: int, order: str, timeout_s: float) -> PaymentResult:
        self._cancel.clear()
        waited = min(self.delay_s, timeout_s)
        started = time.monotonic()
        if self._cancel.wait(waited):
            outcome = PaymentResult("cancelled", amount_fen, detail="cancelled at the kiosk")
        elif self.delay_s > timeout_s:
            outcome = PaymentResult("timeout", amount_fen, detail=f"no answer within {timeout_s:g} s")
        elif self.result == "decline":
            outcome = PaymentResult("declined", amount_fen, detail="declined by the card issuer (simulated)")
        else:
            # the same order gets the same reference, as a terminal's duplicate check would
            digest = hashlib.sha256(f"{order}:{amount_fen}".encode()).hexdigest()[:12].upper()
            outcome = PaymentResult("approved", amount_fen, reference=f"SIM{digest}",
                                    detail=f"approved in {time.monotonic() - started:.1f} s")
        self.payments.append(outcome)
        return outcome

    def cancel(self) -> None:
        self._cancel.set()
