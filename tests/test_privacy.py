"""Taxpayer identity is masked wherever it is written."""

from __future__ import annotations

import logging
import subprocess
import sys

from taxhall.privacy import mask_id_number, mask_name, mask_text


def test_id_numbers_keep_first_three_and_last_four() -> None:
    assert mask_id_number("110101199003071234") == "110***********1234"
    assert mask_id_number("44030419851231002X") == "440***********002X"
    assert mask_id_number("110101900307123") == "110********7123"


def test_names_keep_the_family_name_only() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("李") == "李*"
    assert mask_name("") == ""


def test_free_text_is_masked_but_other_numbers_are_not() -> None:
    text = "taxpayer 110101199003071234 paid 12345 on order 2026112700001"
    assert mask_text(text) == "taxpayer 110***********1234 paid 12345 on order 2026112700001"


def test_log_lines_carry_device_id_and_never_a_full_id_number() -> None:
    code = (
        "import logging; from taxhall.logs import setup_logging;"
        "setup_logging('hall9', 'kiosk-2');"
        "logging.getLogger('kiosk').info('certificate for %s printed', '110101199003071234')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert "hall9/kiosk-2" in out
    assert "110***********1234" in out and "110101199003071234" not in out


def test_tracebacks_in_logs_are_masked_too() -> None:
    code = (
        "import logging; from taxhall.logs import setup_logging;"
        "setup_logging('hall9', 'kiosk-2');\n"
        "try:\n    raise ValueError('bad card 110101199003071234')\n"
        "except ValueError:\n    logging.getLogger('kiosk').exception('read failed')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert "Traceback" in out and "110***********1234" in out and "110101199003071234" not in out
