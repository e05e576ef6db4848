"""Process logging: one line per record to stdout (journald picks it up under systemd),
with the hall and device id on every line and ID numbers masked."""

from __future__ import annotations

import logging
import os
import sys

from taxhall.privacy import mask_text


class MaskingFormatter(logging.Formatter):
    """Masks ID numbers in the whole formatted line — message, arguments and any traceback —
    so an exception that carries taxpayer data in its text cannot leak it to the journal."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def setup_logging(hall: str, device: str, level: str = "INFO") -> None:
    """Configures the root logger for a taxhall process. Safe to call more than once."""
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    # journald stamps its own time; a terminal or file wants one.
    stamp = "" if under_journald else "%(asctime)s "
    fmt = f"{stamp}%(levelname)s {hall}/{device} %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MaskingFormatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
