"""Appointments on the web (预约办税): `/book` — service, then day and slot with the places left,
then the taxpayer's mobile number or taxpayer id — a confirmation with the appointment code and
its QR code, `/book/{code}` to look it up and cancel it, and the supervisor's
`/admin/appointments` (a day's slots and list, statistics by day, CSV).

Everything is asked of the ticketer's appointment desk over the bus (`appointments/req/*`).
The public forms carry a double-submit CSRF token (a cookie of their own, as the login form)
and a form id that makes a resent form repeat its answer instead of booking twice. Bookings are
limited per client address, and so are lookups of codes that do not exist: a code has a check
digit and eight random digits, so guessing one takes ~10^5 tries, far more than allowed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from web.auth import LoginThrottle
from web.i18n import words
from web.pages import (WebApp, bus_request, client_of, form_token_ok, give_form_token, lang_of, no_store, offers, page,
                       session_of)

BOOK_CSRF_COOKIE = "th_book"
BOOKINGS_PER_ADDRESS = 10  # bookings one client address may make ...
BOOKING_WINDOW_S = 3600  # ... per hour
LOOKUP_MISSES = 20  # unknown codes one client address may try ...
LOOKUP_WINDOW_S = 600  # ... per ten minutes
_CODE_TEXT = re.compile(r"^[0-9 -]{1,20}$")

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "book": "预约办税", "book_intro": "选择业务、日期和时段，到厅后凭预约码在取号机“预约签到”，优先叫号。",
        "choose_service": "选择业务", "choose_day": "选择日期", "choose_slot": "选择时段", "left": "剩余 {n} 个",
        "full": "已约满", "day_off": "休息", "no_slots": "当天没有可预约的时段", "your_details": "预约人",
        "taxpayer": "手机号码或纳税人识别号", "taxpayer_hint": "仅用于限制每人预约数，加密保存，不会明文显示",
        "confirm": "确认预约", "back": "返回", "booked": "预约成功", "code": "预约码", "keep_code": "请截图或记下预约码；到厅后在取号机输入或扫码签到。",
        "when": "预约时间", "state": "状态", "checkin": "签到时间", "cancel": "取消预约", "cancel_sure": "确定取消这个预约吗？",
        "st_booked": "已预约", "st_checked_in": "已签到", "st_no_show": "未到（爽约）", "st_cancelled": "已取消",
        "look_up": "查询预约", "look_up_hint": "输入 9 位预约码", "find": "查询", "ticket_no": "签到号码",
        "not_found": "没有找到这个预约", "not_found_detail": "请核对预约码（9 位数字）。", "too_many_lookups": "查询次数过多，请稍后再试",
        "too_many_bookings": "此网络预约次数过多，请稍后再试", "form_expired": "页面已过期，请重新提交",
        "weekday_0": "周一", "weekday_1": "周二", "weekday_2": "周三", "weekday_3": "周四", "weekday_4": "周五",
        "weekday_5": "周六", "weekday_6": "周日",
        "e_slot_full": "该时段已约满，请选择其他时段", "e_too_many_open": "您的未完成预约已达上限，请先取消一个",
        "e_already_booked": "您已预约了这个时段", "e_bad_taxpayer": "请输入 11 位手机号码或 15–20 位纳税人识别号",
        "e_slot_past": "该时段已开始或已结束", "e_day_not_bookable": "该日期不可预约", "e_unknown_slot": "没有这个时段",
        "e_unknown_service": "该业务不可预约", "e_not_cancellable": "该预约已不能取消", "e_unavailable": "系统暂时不可用，请稍后再试",
        "e_other": "预约未成功，请稍后再试",
        "appointments": "预约管理", "slot": "时段", "n_booked": "已预约", "n_checked_in": "已签到", "n_no_show": "爽约",
        "n_cancelled": "已取消", "capacity": "名额", "list": "预约名单", "no_shows": "累计爽约", "by_day": "按日统计",
        "bookings": "预约数", "none_today": "当天没有预约", "ticket_col": "号码",
    },
    "en": {
        "book": "Book an appointment", "book_intro": "Choose a service, day and time. At the hall, check in at the ticket "
                                                    "dispenser (Appointment check-in) with your code and be called first.",
        "choose_service": "Choose a service", "choose_day": "Choose a day", "choose_slot": "Choose a time", "left": "{n} left",
        "full": "full", "day_off": "closed", "no_slots": "No times can be booked on this day", "your_details": "Who is coming",
        "taxpayer": "Mobile number or taxpayer id", "taxpayer_hint": "Only to limit bookings per person; stored encrypted, never shown in full",
        "confirm": "Book", "back": "Back", "booked": "Booked", "code": "Appointment code",
        "keep_code": "Keep a screenshot or note the code; type or scan it at the ticket dispenser in the hall.",
        "when": "Time", "state": "State", "checkin": "Check in", "cancel": "Cancel the appointment",
        "cancel_sure": "Cancel this appointment?",
        "st_booked": "booked", "st_checked_in": "checked in", "st_no_show": "missed", "st_cancelled": "cancelled",
        "look_up": "Find an appointment", "look_up_hint": "the 9-digit code", "find": "Find", "ticket_no": "Ticket",
        "not_found": "Appointment not found", "not_found_detail": "Please check the code (9 digits).",
        "too_many_lookups": "Too many look-ups; please try again later",
        "too_many_bookings": "Too many bookings from this network; please try again later",
        "form_expired": "The page has expired; please send it again",
        "weekday_0": "Mon", "weekday_1": "Tue", "weekday_2": "Wed", "weekday_3": "Thu", "weekday_4": "Fri",
        "weekday_5": "Sat", "weekday_6": "Sun",
        "e_slot_full": "This time is fully booked; please choose another", "e_too_many_open": "You hold the most open appointments "
                                                                                            "allowed; cancel one first",
        "e_already_booked": "You have booked this time already", "e_bad_taxpayer": "Enter an 11-digit mobile number or a "
                                                                                   "15–20 character taxpayer id",
        "e_slot_past": "This time has begun or is over", "e_day_not_bookable": "This day cannot be booked",
        "e_unknown_slot": "No such time", "e_unknown_service": "This service cannot be booked",
        "e_not_cancellable": "This appointment can no longer be cancelled",
        "e_unavailable": "The system is unavailable; please try again shortly", "e_other": "Not booked; please try again",
        "appointments": "Appointments", "slot": "Time", "n_booked": "Booked", "n_checked_in": "Checked in", "n_no_show": "Missed",
        "n_cancelled": "Cancelled", "capacity": "Places", "list": "Appointments", "no_shows": "Missed so far",
        "by_day": "By day", "bookings": "Bookings", "none_today": "No appointments on this day", "ticket_col": "Ticket",
    },
}


def error_text(code: str | None, lang: str) -> str:
    words = WORDS[lang]
    return words.get(f"e_{code}", words["e_other"])


def grouped(code: str) -> str:
    """`123456789` → `123-456-789`, as the dispenser prints it (the web talks to the ticketer
    only over the bus, so it does not import the ticketer's own helper)."""
    return "-".join(code[i : i + 3] for i in range(0, len(code), 3))


def qr_svg(text: str) -> str:
    """The QR code of `text` as inline SVG (no image request, works offline)."""
    return str(segno.make(text, error="m").svg_inline(scale=5, dark="#1d2733"))


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["day", "bookings", "checked_in", "no_show", "cancelled", "open"])
    for row in rows:
        writer.writerow([row["day"], row["bookings"], row["checked_in"], row["no_show"], row["cancelled"], row["open"]])
    return out.getvalue()


def router(web: WebApp) -> APIRouter:
    routes = APIRouter()
    bookings = LoginThrottle(BOOKINGS_PER_ADDRESS, BOOKING_WINDOW_S)
    misses = LoginThrottle(LOOKUP_MISSES, LOOKUP_WINDOW_S)

    async def ask(op: str, **body: Any) -> dict[str, Any]:
        return await bus_request(web, f"appointments/req/{op}", body)

    def show(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return page(request, name, status=status, extra_words=WORDS, **context)

    def with_csrf(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        # Double-submit: another site's form cannot know this cookie's value. An existing
        # cookie is kept so that two open tabs both stay valid.
        token = request.cookies.get(BOOK_CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = show(request, name, status=status, csrf=token, **context)
        give_form_token(response, web, BOOK_CSRF_COOKIE, token, "/book")
        return response

    def csrf_good(request: Request, sent: str) -> bool:
        return form_token_ok(request, BOOK_CSRF_COOKIE, sent)

    @routes.get("/book", response_class=HTMLResponse)
    async def book_page(request: Request, service: str = "", day: str = "", slot: str = "") -> Response:
        if not offers(web, "appointments"):
            return show(request, "unavailable.html", status=404, message=words(lang_of(request))["not_offered"])
        reply = await ask("slots", **({"service": service} if service else {}))
        if not reply.get("ok"):
            code = (reply.get("error") or {}).get("code")
            if code == "unknown_service":
                return RedirectResponse("/book", status_code=303)
            return show(request, "book.html", status=503, step="error", error=error_text(code, lang_of(request)))
        chosen = next((s for s in reply["services"] if s["code"] == service), None)
        if chosen is None:
            return show(request, "book.html", step="service", services=reply["services"])
        days = reply["days"]
        picked = next((d for d in days if d["day"] == day and d["open"]), None)
        picked_slot = next((s for s in picked["slots"] if s["slot"] == slot and s["bookable"]), None) if picked else None
        if picked_slot is None:
            return show(request, "book.html", step="slot", service=chosen, days=days, day=picked)
        return with_csrf(request, "book.html", step="form", service=chosen, day=picked, slot=picked_slot,
                         form_id=uuid.uuid4().hex)

    @routes.post("/book")
    async def book(request: Request, service: str = Form(""), day: str = Form(""), slot: str = Form(""),
                   taxpayer: str = Form(""), csrf: str = Form(""), form_id: str = Form("")) -> Response:
        lang = lang_of(request)
        if not csrf_good(request, csrf):
            return PlainTextResponse(WORDS[lang]["form_expired"], status_code=403)
        address = f"book:{client_of(request)}"
        again = dict(service=service, day=day, slot=slot, form_id=form_id or uuid.uuid4().hex)
        if bookings.blocked(address):
            return await _form_again(request, again, WORDS[lang]["too_many_bookings"], 429)
        bookings.failed(address)  # every attempt counts, kept or refused
        body: dict[str, Any] = {"service": service, "day": day, "slot": slot, "taxpayer": taxpayer[:40], "source": "web"}
        if re.fullmatch(r"[0-9a-f]{32}", form_id):
            body["request_id"] = f"web-book-{form_id}"  # the same form sent twice books once
        reply = await ask("book", **body)
        if not reply.get("ok"):
            code = (reply.get("error") or {}).get("code")
            return await _form_again(request, again, error_text(code, lang), 503 if code == "unavailable" else 409)
        return RedirectResponse(f"/book/{reply['appointment']['code']}?new=1", status_code=303)

    async def _form_for(request: Request, again: dict[str, str]) -> dict[str, Any]:
        reply = await ask("slots", service=again["service"])
        if not reply.get("ok"):
            return {}
        chosen = next((s for s in reply["services"] if s["code"] == again["service"]), None)
        day = next((d for d in reply["days"] if d["day"] == again["day"]), None)
        slot = next((s for s in day["slots"] if s["slot"] == again["slot"]), None) if day else None
        return {"service": chosen, "day": day, "slot": slot} if chosen and day and slot else {}

    async def _form_again(request: Request, again: dict[str, str], message: str, status: int) -> Response:
        found = await _form_for(request, again)
        return with_csrf(request, "book.html", status=status, step="form" if found else "error", error=message,
                         form_id=again["form_id"], **found)

    @routes.get("/book/lookup")
    async def lookup_form(request: Request, code: str = "") -> Response:
        if code and _CODE_TEXT.match(code):
            return RedirectResponse(f"/book/{re.sub(r'[^0-9]', '', code)}", status_code=303)
        return show(request, "book.html", step="lookup")

    @routes.get("/book/{code}", response_class=HTMLResponse)
    async def view(request: Request, code: str, new: int = 0) -> Response:
        address = f"lookup:{client_of(request)}"
        if misses.blocked(address):
            return show(request, "book_missing.html", status=429, message=WORDS[lang_of(request)]["too_many_lookups"])
        reply: dict[str, Any] = {"ok": False, "error": {"code": "unknown_appointment"}}
        if _CODE_TEXT.match(code):
            reply = await ask("lookup", code=code[:64])
        if not reply.get("ok"):
            if (reply.get("error") or {}).get("code") == "unavailable":
                return show(request, "book.html", status=503, step="error", error=error_text("unavailable", lang_of(request)))
            misses.failed(address)
            # The same page for every code that is not an appointment: it tells a guesser nothing.
            return show(request, "book_missing.html", status=404, message="")
        appointment = reply["appointment"]
        link = str(request.base_url).rstrip("/") + f"/book/{appointment['code']}"
        return with_csrf(request, "book_view.html", a=appointment, new=bool(new), qr=qr_svg(link),
                         code_text=grouped(appointment["code"]),
                         error=error_text(request.query_params.get("error"), lang_of(request))
                         if request.query_params.get("error") else None)

    @routes.post("/book/{code}/cancel")
    async def cancel(request: Request, code: str, csrf: str = Form("")) -> Response:
        if not csrf_good(request, csrf):
            return PlainTextResponse(WORDS[lang_of(request)]["form_expired"], status_code=403)
        if not _CODE_TEXT.match(code):
            return RedirectResponse("/book/lookup", status_code=303)
        reply = await ask("cancel", code=code, source="web")
        suffix = "" if reply.get("ok") else "?error=" + str((reply.get("error") or {}).get("code"))
        return RedirectResponse(f"/book/{code}{suffix}", status_code=303)

    # ------------------------------------------------------------------ the dashboard

    def _day(text: str) -> date:
        """The day asked for, or the hall's today ([web] timezone)."""
        try:
            return date.fromisoformat(text)
        except ValueError:
            return datetime.now(ZoneInfo(web.section.timezone) if web.section.timezone else None).date()

    @routes.get("/admin/appointments", response_class=HTMLResponse)
    async def admin(request: Request, day: str = "") -> Response:
        _, session = session_of(request)
        if session is None:
            return RedirectResponse("/admin/login", status_code=303)
        wanted = _day(day)
        listing, stats = await asyncio.gather(
            ask("list", day=wanted.isoformat()),
            ask("stats", first=(wanted - timedelta(days=13)).isoformat(), last=(wanted + timedelta(days=7)).isoformat()))
        if not listing.get("ok") or not stats.get("ok"):
            return show(request, "book.html", status=503, step="error", error=error_text("unavailable", lang_of(request)))
        return show(request, "admin_appointments.html", user=session.user, csrf=session.csrf, day=wanted.isoformat(),
                    listing=listing, stats=stats["days"], first=stats["first"], last=stats["last"])

    @routes.get("/admin/appointments.csv")
    async def admin_csv(request: Request, first: str = "", last: str = "") -> Response:
        _, session = session_of(request)
        if session is None:
            return PlainTextResponse("log in first", status_code=401)
        reply = await ask("stats", first=first, last=last)
        if not reply.get("ok"):
            return PlainTextResponse(str((reply.get("error") or {}).get("message", "first, last: YYYY-MM-DD")), status_code=400)
        web.log_action(session.user, "export_appointments_csv", first=first, last=last)
        response = Response(csv_text(reply["days"]), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="appointments-{first}-{last}.csv"'})
        no_store(response)
        return response

    return routes
