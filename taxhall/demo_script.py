"""The scripted morning of `taxhall demo --out DIR`: a quarter of an hour of a hall, played in
seconds over the bus alone — tickets taken at the dispenser, called, served and rated at the
counters, a recall and a no-show, the dispenser's printer running out of paper, a taxpayer
printing her tax payment certificate at the kiosk; then the hall's web from a phone: an
appointment booked on /book and checked in at the dispenser's scanner (a 预约 ticket, called
before older ones), opinions filed on the kiosk's 意见簿 tile and on /appeal, one answered by the
duty supervisor, a self-invoicing request prepared on /prepare and scanned at the kiosk — with
every screen and the web's pages photographed, then a summary of what the hall produced in DIR.

It uses only the bus contract (docs/mqtt.md), the devices' remote commands and the simulators'
command lines, like an operator's tool would, and HTTP to the web as a taxpayer's phone and the
supervisor's browser would; it imports no application. A step that fails is said, the morning
goes on, and the summary lists every failure (and the exit code is 1).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import httpx

from taxhall.bus import BusError, HallBus


class _Ports(Protocol):
    @property
    def printer_control(self) -> int: ...

    @property
    def web(self) -> int: ...


Say = Callable[[str], None]


KIOSK = "kiosk-1"
# The taxpayer's ID card lies on the kiosk's reader (the demo's first card): the certificate
# tile reads it, three years of her payments are found and the certificate printed.
TO_RECORDS = [{"wait": "home"}, {"tap": "tile_certificate"}, {"wait": "cert_period"}, {"tap": "period_last_36m"},
              {"tap": "search"}, {"wait": "cert_records"}]
PRINT = [{"tap": "print"}, {"wait": "cert_done"}]
FINISH = [{"tap": "finish"}, {"wait": "home"}]
# A taxpayer tells the hall, on the kiosk's 意见簿 tile, that she waited too long, and leaves her
# phone number for the reply (only its mask is kept).
KIOSK_APPEAL: list[dict[str, Any]] = [{"wait": "home"}, {"tap": "tile_appeal"}, {"wait": "appeal"}, {"tap": "appeal_category_waiting"},
                {"tap": "appeal_phrase_long_wait"}, {"tap": "appeal_next"}, {"wait": "appeal_text"},
                {"tap": "appeal_field_phone"}, *({"tap": f"key_{d}"} for d in "13912345678"), {"tap": "appeal_submit"},
                {"wait": "appeal_done"}]
# Her self-invoicing request, prepared at home on /prepare: the kiosk reads its code on the buyer
# screen (after her ID card: the seller must be the card's holder, the demo's first card).
TO_BUYER = [{"wait": "home"}, {"tap": "tile_self_invoice"}, {"wait": "buyer"}]
TO_QUOTE = [{"wait": "self_quote"}]
PAY: list[dict[str, Any]] = [{"tap": "pay"}, {"wait": "self_done", "timeout": 40}]
CANCEL = [{"tap": "cancel"}, {"wait": "home"}]  # a visit left half-way, so the next one starts at home
PREPARED_REQUEST = {
    "kind": "request", "seller_name": "王秀英", "category": "services",
    "buyer_name": "仙桃示范商贸有限公司", "buyer_taxpayer_id": "91429004MA49XWY01B", "buyer_address_phone": "",
    "buyer_bank_account": "", "item0_name": "网站设计", "item0_unit": "项", "item0_quantity": "1", "item0_price": "3000",
    "item0_rate": "10",
}
BOOKING_PHONE = "13800138000"  # the taxpayer booking on her phone: stored hashed, shown masked
SUPERVISOR = {"user": "duty", "password": "demo"}  # the demo's duty supervisor (web/demo_users.py)
PHONE_VIEW = (390, 844)  # CSS pixels of a phone's screen, and of the supervisor's browser window
DESK_VIEW = (1280, 900)


def sim_commands(data_dir: Path, simulator: str) -> Path:
    """The named pipe a demo simulator reads its command lines from (`scan TEXT`, …)."""
    return data_dir / f"{simulator}.commands"


def run_morning(bus: HallBus, statuses: dict[str, str], devices: list[str], out: Path, data_dir: Path,
                ports: _Ports, stop: threading.Event) -> int:
    screens = out / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    log: list[str] = []

    def step(text: str) -> None:
        log.append(text)
        print(f"  [morning] {text}", flush=True)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not stop.is_set():
        if all(statuses.get(d) in ("online", "degraded") for d in devices):
            break
        time.sleep(0.2)
    missing = [d for d in devices if statuses.get(d) not in ("online", "degraded")]
    if missing:
        step(f"devices not online after 90 s: {', '.join(missing)} (see their logs)")
        return 1
    step(f"all {len(devices)} devices online")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the phone's requests are said as steps
    failed: list[str] = []

    def fail(text: str) -> None:
        failed.append(text)
        step(text)

    time.sleep(1.5)  # the screens draw their first frame
    shoot(bus, devices, screens, "0-opening", step)

    issued = []
    first_taken = time.monotonic()
    for service in "AABACBA":
        reply = ask(bus, "device/dispenser-1/cmd/issue", {"args": {"service": service}})
        ticket = reply.get("issued", {})
        issued.append(ticket)
        step(f"dispenser: {ticket.get('number')} ({service}) — {ticket.get('message')}")

    def queue(op: str, counter: str, **fields: Any) -> dict[str, Any]:
        reply = ask(bus, f"queue/req/{op}", {"counter": counter, **fields})
        ticket = (reply.get("ticket") or {}).get("number", "")
        step(f"counter {counter}: {op} {ticket}".rstrip() + ("" if reply.get("ok") else f" → {reply['error']['code']}"))
        return reply

    first = queue("call_next", "1")
    queue("call_next", "2")
    time.sleep(1.0)
    shoot(bus, devices, screens, "1-first-calls", step)
    queue("start", "1")
    queue("recall", "2")
    queue("finish", "1")
    time.sleep(1.0)
    shoot(bus, ["rater-1"], screens, "2-rating-asked", step)
    press = ask(bus, "device/rater-1/cmd/press", {"args": {"level": 5}})
    step(f"rating pad: {press.get('screen', {}).get('message', press.get('error'))}")
    rated = ask(bus, "queue/req/rate", {"ticket": (first.get("ticket") or {}).get("id", ""), "level": 1})
    step(f"a second rating of {first.get('ticket', {}).get('number')} is refused: {rated.get('error', {}).get('code')}")
    queue("no_show", "2")
    queue("call_next", "2")
    queue("call_next", "1")

    control(ports.printer_control, "paper_out on")
    step("dispenser printer: paper out")
    reply = ask(bus, "device/dispenser-1/cmd/issue", {"args": {"service": "B"}})
    step(f"dispenser: {reply.get('issued', {}).get('number')} — {reply.get('issued', {}).get('message')}")
    time.sleep(1.0)
    shoot(bus, ["dispenser-1"], screens, "3-paper-out", step)
    control(ports.printer_control, "paper_out off")
    step("dispenser printer: paper refilled")
    printers = ["dispenser-1"]
    kiosk = KIOSK in devices
    if kiosk:
        printers.append(KIOSK)
        if not kiosk_certificate(bus, screens, step):
            fail("kiosk: the certificate was not printed")

    web = f"http://127.0.0.1:{ports.web}"
    visits = WebVisits()
    ticket = ""
    appointment = book_on_the_web(web, step, fail)
    if appointment:
        visits.appointment = appointment
        ticket = check_in_at_the_dispenser(bus, data_dir, out, appointment, visits, step, fail)
    checked_in = time.monotonic()
    if kiosk:
        appeal_at_the_kiosk(bus, screens, step, fail)
    visits.appeal = appeal_on_the_web(web, step, fail)
    if visits.appeal:
        supervisor_answers(web, visits.appeal, step, fail)
    filed = ask(bus, "appeals/req/list", {"state": "all"})
    channels = [a.get("channel") for a in filed.get("appeals", [])]
    step(f"appeals filed this morning: {len(channels)} ({', '.join(sorted(set(map(str, channels)))) or 'none'})")
    if ticket:
        # The queue's fairness rule (docs/queue.md): a priority ticket goes first only once
        # fairness_factor (3) × its wait reaches the oldest normal ticket's wait.
        time.sleep(max(0.0, checked_in + (checked_in - first_taken) / 2 + 1.0 - time.monotonic()))
        queue("start", "1")
        queue("finish", "1")
        number = (queue("call_next", "1").get("ticket") or {}).get("number", "")
        if number == ticket:
            step(f"counter 1: the appointment's {number} is called before the tickets taken earlier")
        else:
            fail(f"counter 1 called {number or 'nothing'} instead of the appointment's {ticket}")
    calls_said = time.monotonic() + 6.0  # the voice says every call; the boards show the last
    if kiosk:
        prefilled_invoice(bus, web, data_dir, screens, step, fail)
    time.sleep(max(0.0, calls_said - time.monotonic()))
    shoot(bus, devices, screens, "5-late-morning", step)
    photograph_the_web(web, out / "web", visits, step, fail)

    return summary(out, data_dir, step, printers, failed)


def kiosk_certificate(bus: HallBus, screens: Path, step: Any) -> bool:
    """At the kiosk, over its `cmd/script`: the certificate tile, her card read, her payment
    records, the certificate printed, the visit finished (and wiped); screenshots between."""
    records = tap_through(bus, TO_RECORDS, "kiosk: her ID card read, her payment records found", step)
    if records is None:
        return False
    shoot(bus, [KIOSK], screens, "4-kiosk-records", step)
    printed = tap_through(bus, PRINT, "", step)
    if printed is None:
        return False
    outcome = "printed" if printed.get("printed") else "issued, not printed"
    step(f"kiosk: certificate {printed.get('certificate')} {outcome}")
    shoot(bus, [KIOSK], screens, "4-kiosk-certificate", step)
    return tap_through(bus, FINISH, "kiosk: visit finished, its data wiped", step) is not None


class WebVisits:
    """What the morning's phone visits left to photograph: the appointment's code, the address
    in its ticket's QR code, the appeal filed on the web."""

    def __init__(self) -> None:
        self.appointment = ""
        self.ticket_url = ""
        self.appeal = ""


def form_token(html: str) -> str:
    """The double-submit token a form carries (its twin is the cookie that came with it)."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    return found.group(1) if found else ""


def book_on_the_web(web: str, step: Say, fail: Say) -> str:
    """On the phone: /book, 综合业务 (A), the first open day and slot, her phone number; the
    appointment's code, or "" (said)."""
    try:
        with httpx.Client(base_url=web, timeout=15) as phone:
            day, slot = first_free_slot(phone, "A")
            if not slot:
                fail("web: /book offers no open day or slot for service A")
                return ""
            form = phone.get("/book", params={"service": "A", "day": day, "slot": slot}).text
            form_id = re.search(r'name="form_id" value="([0-9a-f]+)"', form)
            booked = phone.post("/book", data={"service": "A", "day": day, "slot": slot, "taxpayer": BOOKING_PHONE,
                                               "csrf": form_token(form), "form_id": form_id.group(1) if form_id else ""})
    except httpx.HTTPError as exc:
        fail(f"web: booking failed — {exc}")
        return ""
    code = re.fullmatch(r"/book/(\d+)\?new=1", booked.headers.get("location", ""))
    if booked.status_code != 303 or not code:
        fail(f"web: booking refused ({booked.status_code})")
        return ""
    step(f"phone: appointment {code.group(1)} booked on /book for A {day} {slot}")
    return code.group(1)


def first_free_slot(phone: httpx.Client, service: str) -> tuple[str, str]:
    """The first day and slot /book offers (links not marked `off`), as a taxpayer picks them."""
    days = phone.get("/book", params={"service": service}).text
    for day in re.findall(r'<a class="choice(?: picked)?" id="day-[0-9-]+"\s+href="/book\?service=\w+&(?:amp;)?day=([0-9-]+)"',
                          days)[:3]:
        slots = phone.get("/book", params={"service": service, "day": day}).text
        free = re.search(r'<a class="choice" id="slot-\d+" data-remaining="\d+"\s+href="[^"]*slot=([0-9:]+)"', slots)
        if free:
            return day, free.group(1)
    return "", ""


def check_in_at_the_dispenser(bus: HallBus, data_dir: Path, out: Path, code: str, visits: WebVisits, step: Say,
                              fail: Say) -> str:
    """Her confirmation's QR code held to the dispenser's scanner: the desk's answer, the 预约
    ticket printed; its number, or "" (said). The address in the ticket's QR code (what her
    phone follows) goes in `visits`."""
    pages = out / "printouts" / "dispenser-1"
    before = len(list(pages.glob("page-*.png")))
    if not send_to_simulator(sim_commands(data_dir, "scanner-2"), f"scan {code}"):
        fail("dispenser: its scanner simulator does not take commands")
        return ""
    appointment: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and appointment.get("state") != "checked_in":
        time.sleep(0.3)
        appointment = ask(bus, "appointments/req/lookup", {"code": code, "source": "demo"}).get("appointment") or {}
    if appointment.get("state") != "checked_in":
        fail(f"dispenser: appointment {code} not checked in ({appointment.get('state', 'no answer')})")
        return ""
    page = wait_for_page(pages, before)
    text = page.with_suffix(".txt").read_text(encoding="utf-8") if page and page.with_suffix(".txt").exists() else ""
    if "预约" not in text:
        fail(f"dispenser: the ticket {appointment.get('ticket')} of appointment {code} was not printed marked 预约")
        return ""
    step(f"dispenser: appointment {code} checked in by its QR code — ticket {appointment.get('ticket')} printed, marked 预约")
    visits.ticket_url = qr_address(page) if page else ""
    return str(appointment.get("ticket") or "")


def wait_for_page(pages: Path, before: int, timeout_s: float = 10) -> Path | None:
    """The printer simulator's newest page once there are more than `before`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = sorted(pages.glob("page-*.png"))
        if len(found) > before and found[-1].with_suffix(".txt").exists():
            return found[-1]
        time.sleep(0.2)
    return None


def qr_address(page: Path) -> str:
    """What a phone reads from the QR code on a printed page."""
    from PIL import Image
    from pyzbar.pyzbar import decode  # type: ignore[import-untyped]

    codes = [c.data.decode() for c in decode(Image.open(page))]
    return next((c for c in codes if c.startswith("http")), "")


def send_to_simulator(pipe: Path, line: str) -> bool:
    """One command line to a simulator's pipe; False when nobody reads it (not started)."""
    try:
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.write(fd, line.encode() + b"\n") > 0
    finally:
        os.close(fd)


def appeal_at_the_kiosk(bus: HallBus, screens: Path, step: Say, fail: Say) -> None:
    """The 意见簿 tile tapped through: a category, a phrase, her phone number, filed and the slip
    with its reference printed."""
    filed = tap_through(bus, KIOSK_APPEAL, "", step)
    if filed is None:
        fail("kiosk: the opinion could not be filed on the 意见簿 tile")
        return
    step(f"kiosk: an opinion filed on the 意见簿 tile ({'slip printed' if filed.get('printed') else 'not printed'})")
    shoot(bus, [KIOSK], screens, "6-kiosk-appeal", step)
    tap_through(bus, FINISH, "", step)


def appeal_on_the_web(web: str, step: Say, fail: Say) -> str:
    """On another phone: /appeal, a category and phrase, a few words; its reference, or ""."""
    try:
        with httpx.Client(base_url=web, timeout=15) as phone:
            form = phone.get("/appeal")
            filed = phone.post("/appeal", data={"csrf": form_token(form.text), "category": "system", "phrases": ["slow"],
                                                "description": "上午九点左右自助终端反应很慢，打印等了很久",
                                                "phone": ""})
    except httpx.HTTPError as exc:
        fail(f"web: the appeal could not be filed — {exc}")
        return ""
    ref = re.match(r"/appeal/([0-9A-Z-]+)\?", filed.headers.get("location", ""))
    if filed.status_code != 303 or not ref:
        fail(f"web: the appeal was refused ({filed.status_code})")
        return ""
    step(f"phone: an opinion filed on /appeal — {ref.group(1)}")
    return ref.group(1)


def supervisor_login(client: httpx.Client) -> bool:
    form = client.get("/admin/login")
    client.post("/admin/login", data={**SUPERVISOR, "csrf": form_token(form.text)})
    return client.get("/admin").status_code == 200


def supervisor_answers(web: str, ref: str, step: Say, fail: Say) -> None:
    """The duty supervisor, logged in on /admin, answers the appeal filed on the web."""
    try:
        with httpx.Client(base_url=web, timeout=15) as browser:
            if not supervisor_login(browser):
                fail("web: the duty supervisor could not log in (user duty)")
                return
            page = browser.get(f"/admin/appeals/{ref}")
            answered = browser.post(f"/admin/appeals/{ref}/answer",
                                    data={"answer": "已为自助终端更换读卡模块，现已恢复正常。感谢您的意见！",
                                          "tags": "system.slow", "csrf": form_token(page.text)})
    except httpx.HTTPError as exc:
        fail(f"web: the supervisor's answer failed — {exc}")
        return
    if answered.status_code >= 400 or "error=" in answered.headers.get("location", ""):
        fail(f"web: the supervisor's answer to {ref} was refused ({answered.status_code} {answered.headers.get('location', '')})")
        return
    step(f"supervisor: appeal {ref} answered on /admin/appeals")


def prefilled_invoice(bus: HallBus, web: str, data_dir: Path, screens: Path, step: Say, fail: Say) -> None:
    """/prepare makes her self-invoicing code on the phone; at the kiosk the code is read on the
    buyer screen, the tax quoted, paid and the invoice printed."""
    try:
        made = httpx.post(f"{web}/prepare", data=PREPARED_REQUEST, headers={"Accept": "application/json"}, timeout=15).json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"web: /prepare made no code — {exc}")
        return
    if not made.get("ok"):
        fail(f"web: /prepare refused the request — {made.get('errors')}")
        return
    step(f"phone: self-invoicing request {made['reference']} prepared on /prepare (QR version {made['qr_version']})")
    if tap_through(bus, TO_BUYER, "", step) is None:
        fail("kiosk: the self-invoicing tile did not reach the buyer screen")
        return
    if not send_to_simulator(sim_commands(data_dir, "scanner-1"), f"scan {made['code']}"):
        fail("kiosk: its scanner simulator does not take commands")
        tap_through(bus, CANCEL, "", step)
        return
    if tap_through(bus, TO_QUOTE, "kiosk: the pre-filled request read at the scanner, the tax quoted", step) is None:
        fail("kiosk: the pre-filled code did not fill in the request")
        tap_through(bus, CANCEL, "", step)
        return
    shoot(bus, [KIOSK], screens, "7-kiosk-prefilled-quote", step)
    paid = tap_through(bus, PAY, "", step)
    if paid is None:
        fail("kiosk: the pre-filled self-invoice was not issued")
        tap_through(bus, CANCEL, "", step)
        return
    step(f"kiosk: invoice {paid.get('invoice')} {'printed' if paid.get('printed') else 'issued, not printed'} "
         f"from the pre-filled request")
    shoot(bus, [KIOSK], screens, "7-kiosk-prefilled-invoice", step)
    tap_through(bus, FINISH, "", step)


def photograph_the_web(web: str, folder: Path, visits: WebVisits, step: Say, fail: Say) -> None:
    """The web's pages as headless Chromium shows them: the phone's home, the appointment's
    ticket and confirmation and the answered appeal; the supervisor's /admin pages."""
    try:
        from playwright.sync_api import Error as BrowserError
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail("web: no screenshots — Playwright is not installed (pip install -e '.[test]')")
        return
    folder.mkdir(parents=True, exist_ok=True)
    phone_pages = [("phone-home", f"{web}/")]
    if visits.ticket_url:
        phone_pages.append(("phone-ticket", visits.ticket_url))  # as read from the printed ticket's QR code
    if visits.appointment:
        phone_pages.append(("phone-appointment", f"{web}/book/{visits.appointment}"))
    if visits.appeal:
        phone_pages.append(("phone-appeal", f"{web}/appeal/{visits.appeal}"))
    admin_pages = [(name, f"{web}{path}") for name, path in
                   (("admin", "/admin"), ("admin-appointments", "/admin/appointments"), ("admin-appeals", "/admin/appeals?state=all"))]
    try:
        with sync_playwright() as playwright:
            # --no-sandbox: Chromium refuses its sandbox when run as root (containers, CI)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                phone = browser.new_context(viewport={"width": PHONE_VIEW[0], "height": PHONE_VIEW[1]}, device_scale_factor=2, is_mobile=True)
                for name, url in phone_pages:
                    snap(phone.new_page(), url, folder / f"{name}.png", step, fail)
                desk = browser.new_context(viewport={"width": DESK_VIEW[0], "height": DESK_VIEW[1]})
                login = desk.new_page()
                login.goto(f"{web}/admin/login", timeout=15_000)
                login.fill("input[name=user]", SUPERVISOR["user"])
                login.fill("input[name=password]", SUPERVISOR["password"])
                with login.expect_navigation(timeout=15_000):
                    login.press("input[name=password]", "Enter")
                for name, url in admin_pages:
                    snap(desk.new_page(), url, folder / f"{name}.png", step, fail)
            finally:
                browser.close()
    except BrowserError as exc:
        fail(f"web: no screenshots — Chromium: {str(exc).splitlines()[0]}")
        return
    step(f"web: {len(list(folder.glob('*.png')))} pages photographed in {folder}")


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright cannot download its own browser everywhere


def snap(page: Any, url: str, path: Path, step: Say, fail: Say) -> None:
    """One page, loaded and given a moment for its script (charts, live board), saved whole."""
    from playwright.sync_api import Error as BrowserError

    try:
        answer = page.goto(url, wait_until="load", timeout=15_000)
        page.wait_for_timeout(1200)
        page.screenshot(path=str(path), full_page=True)
    except BrowserError as exc:
        fail(f"web: no screenshot of {url} — {str(exc).splitlines()[0]}")
        return
    finally:
        page.close()
    if answer is None or answer.status >= 400:
        fail(f"web: {url} answered {answer.status if answer else 'nothing'}")


def tap_through(bus: HallBus, steps: list[dict[str, Any]], done: str, step: Any) -> dict[str, Any] | None:
    """One tap script on the kiosk; its answer, or None (said) when a step failed."""
    reply = ask(bus, f"device/{KIOSK}/cmd/script", {"args": {"steps": steps}}, timeout_s=90)
    if not reply.get("ok"):
        error = reply.get("error") or {}
        step(f"kiosk: the script failed — {error.get('code')}: {error.get('message')}")
        return None
    if done:
        step(done)
    return reply


def ask(bus: HallBus, suffix: str, payload: dict[str, Any], timeout_s: float = 15) -> dict[str, Any]:
    try:
        return bus.request(suffix, payload, timeout_s=timeout_s, check=False)
    except BusError as exc:
        return {"ok": False, "error": {"code": "bus", "message": str(exc)}}


def shoot(bus: HallBus, devices: list[str], folder: Path, moment: str, step: Any) -> None:
    for device in devices:
        if device.split("-")[0] not in ("dispenser", "counter", "rater", "display", "kiosk") or device == "display-led":
            continue
        path = {"args": {"path": str(folder / f"{moment}-{device}.png")}}
        reply = ask(bus, f"device/{device}/cmd/screenshot", path)
        if (reply.get("error") or {}).get("code") == "not_ready":
            time.sleep(2.0)
            reply = ask(bus, f"device/{device}/cmd/screenshot", path)
        if not reply.get("ok"):
            step(f"no screenshot of {device}: {reply.get('error', {}).get('message')}")


def control(port: int, line: str) -> None:
    """A line to the printer simulator's control port (fault switches)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(line.encode() + b"\n")
        conn.recv(1024)


def summary(out: Path, data_dir: Path, step: Any, printers: list[str], failed: list[str]) -> int:
    """What the morning left in `out`, one line per kind (and per printer), and the steps that
    failed; 1 when a kind is missing or a step failed."""
    audio_out = out / "audio"
    audio_out.mkdir(parents=True, exist_ok=True)
    for wav in sorted((data_dir / "display-hall" / "audio").glob("*.wav")):
        shutil.copy2(wav, audio_out / wav.name)
    found = {
        **{f"printouts {device}": sorted((out / "printouts" / device).glob("page-*.png")) for device in printers},
        "LED frames": sorted((out / "led").glob("led-*.png")),
        "voice files": sorted(audio_out.glob("*.wav")),
        "screenshots": sorted((out / "screens").glob("*.png")),
        "web pages": sorted((out / "web").glob("*.png")),
    }
    print("\ntaxhall demo: the scripted morning left in", out, flush=True)
    width = max(len(what) for what in found)
    for what, files in found.items():
        print(f"  {len(files):4d} {what:{width}} {files[0].parent if files else '-'}", flush=True)
    for page in found["web pages"]:
        print(f"       {page.name}", flush=True)
    missing = [what for what, files in found.items() if not files]
    if missing:
        print(f"taxhall demo: nothing was produced for: {', '.join(missing)}", flush=True)
    if failed:
        print(f"taxhall demo: {len(failed)} steps of the morning failed:", flush=True)
        for text in failed:
            print(f"  - {text}", flush=True)
    return 1 if missing or failed else 0
