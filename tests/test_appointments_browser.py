"""Booking in a real headless Chromium on a phone-sized screen (Debian's /usr/bin/chromium driven
by Playwright): service → day → slot → mobile number → the code and its QR code; then the code
typed on the look-up page, the appointment cancelled, and its place free again."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any, Callable

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from tests.test_appointments_web import BookingSite, site  # noqa: F401  (the web app with the appointment desk)




def test_book_look_up_and_cancel_on_a_phone(site: Callable[..., BookingSite], browser: Any) -> None:  # noqa: F811
    s = site(capacity=1)
    day = s.tomorrow()
    holiday = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    page = browser.new_page(viewport={"width": 375, "height": 667})
    page.goto(f"{s.url}/book")
    page.click("#service-B")
    page.wait_for_selector("#days")
    assert "off" in page.get_attribute(f"#day-{holiday}", "class")  # the holiday cannot be chosen
    page.click(f"#day-{day}")
    page.wait_for_selector("#slot-1000")
    page.click("#lang-switch")  # English, on the same step
    page.wait_for_selector("#slot-1000")
    assert page.inner_text("#slot-1000").endswith("1 left")
    page.click("#lang-switch")
    page.wait_for_selector("#slot-1000")
    assert page.inner_text("#slot-1000").endswith("剩余 1 个")
    page.click("#slot-1000")
    page.fill("#taxpayer", "139 0000 1234")
    page.click("#confirm")
    page.wait_for_selector("#booked")
    assert page.inner_text("#booked") == "预约成功"
    code = page.inner_text("#code")
    assert len(code) == 11 and code[3] == code[7] == "-"
    assert page.inner_text("#taxpayer") == "139****1234"
    # The QR code on the screen holds the appointment's address (what the dispenser's scanner reads).
    shot = Image.open(io.BytesIO(page.locator("#qr").screenshot()))
    assert [d.data.decode() for d in decode(shot)] == [f"{s.url}/book/{code.replace('-', '')}"]

    # The slot is now full for everybody else.
    other = browser.new_page(viewport={"width": 375, "height": 667})
    other.goto(f"{s.url}/book?service=B&day={day}")
    assert "已约满" in other.inner_text("#slot-1000")

    lookup = browser.new_page(viewport={"width": 375, "height": 667})
    lookup.goto(f"{s.url}/book/lookup?lang=en")
    lookup.fill("#code", code)
    lookup.click("#find")
    lookup.wait_for_selector("#appointment")
    assert lookup.inner_text("#state") == "booked" and lookup.inner_text("#service") == "Invoices"
    lookup.on("dialog", lambda dialog: dialog.accept())  # "Cancel this appointment?"
    lookup.click("#cancel")
    lookup.wait_for_selector('#appointment[data-state="cancelled"]')
    assert lookup.inner_text("#state") == "cancelled"
    assert lookup.locator("#cancel").count() == 0

    other.goto(f"{s.url}/book?service=B&day={day}&lang=zh")
    assert other.inner_text("#slot-1000").endswith("剩余 1 个")
