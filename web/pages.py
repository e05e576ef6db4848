"""What every page and action of `taxhall web` shares: the app's parts (WebApp), templates in
the visitor's language, the dashboard session and its CSRF check, server-sent events, and a
request over the bus that turns a bus failure into an answer the page can show.

Feature modules (web/booking.py, web/appeals.py, ...) build their routes on these, as
`router(web: WebApp) -> APIRouter`, and web/app.py includes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from taxhall.bus import HallBus
from taxhall.bus.errors import BusError
from taxhall.bus.schemas import now_iso
from taxhall.config import DeviceConfig
from web.auth import LoginThrottle, Session, Sessions
from web.bridge import HallBridge
from web.config import WebSection, data_path
from web.i18n import pick_lang, words

log = logging.getLogger("web")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION_COOKIE = "th_session"
LOGIN_CSRF_COOKIE = "th_login"
HEARTBEAT_S = 15.0


class WebApp:
    """The app's parts: settings, the bridge to the bus, sessions, the action log."""

    def __init__(self, config: DeviceConfig, section: WebSection, bus: HallBus) -> None:
        self.config = config
        self.section = section
        self.bus = bus
        self.bridge = HallBridge(bus, refresh_s=section.refresh_s)
        self.users_path = data_path(config, section.users_file, "web", "users.toml")
        self.db_path = data_path(config, section.ticketer_db, "ticketer", "queue.sqlite")
        self.actions_path = data_path(config, section.actions_log, "web", "actions.jsonl")
        self.sessions = Sessions(section.session_lifetime_s, section.session_idle_s)
        self.throttle = LoginThrottle(section.login_attempts, section.login_window_s)
        self._actions_lock = threading.Lock()

    def log_action(self, user: str, action: str, **details: Any) -> None:
        """Who did what, to the journal and to the action log the dashboard shows."""
        entry = {"at": now_iso(), "user": user, "action": action, **details}
        log.info("dashboard action by %s: %s %s", user, action, details)
        with self._actions_lock:
            self.actions_path.parent.mkdir(parents=True, exist_ok=True)
            with self.actions_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def recent_actions(self, n: int = 20) -> list[dict[str, Any]]:
        if not self.actions_path.exists():
            return []
        lines = self.actions_path.read_text(encoding="utf-8").splitlines()[-n:]
        return [json.loads(line) for line in reversed(lines) if line.strip()]


# ---------------------------------------------------------------------- helpers


def lang_of(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get("lang"))


def page(request: Request, name: str, status: int = 200, extra_words: dict[str, dict[str, str]] | None = None,
         **context: Any) -> HTMLResponse:
    """A template in the visitor's language; `extra_words` are a feature's own words by language."""
    web: WebApp = request.app.state.web
    lang = lang_of(request)
    response = TEMPLATES.TemplateResponse(request, name, {
        "lang": lang, "w": {**words(lang), **(extra_words or {}).get(lang, {})}, "hall": web.section.hall_name if lang == "zh" else web.section.hall_name_en,
        "other_lang": "en" if lang == "zh" else "zh", **context}, status_code=status)
    if request.query_params.get("lang") == lang:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    no_store(response)
    return response


def no_store(response: Response) -> None:
    # A ticket's page must not linger in a shared phone's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"


def session_of(request: Request) -> tuple[str | None, Session | None]:
    web: WebApp = request.app.state.web
    sid = request.cookies.get(SESSION_COOKIE)
    return sid, web.sessions.get(sid)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and secrets.compare_digest(session.csrf.encode(), (sent or "").encode())


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def sse_response(stream: AsyncIterator[bytes]) -> StreamingResponse:
    response = StreamingResponse(stream, media_type="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must not hold events back
    return response


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"




async def require_action(request: Request, csrf: str) -> tuple[Session | None, Response | None]:
    """The logged-in session behind a dashboard action, or the refusal to send instead
    (401 without a session, 403 without the session's CSRF token)."""
    _, session = session_of(request)
    if session is None:
        return None, PlainTextResponse("log in first", status_code=401)
    if not csrf_ok(session, csrf):
        log.warning("dashboard action without a valid CSRF token from %s", client_of(request))
        return None, PlainTextResponse("CSRF token missing or wrong", status_code=403)
    return session, None


async def bus_request(web: "WebApp", topic: str, body: dict[str, Any]) -> dict[str, Any]:
    """A request over the bus with a fresh request id; a bus failure becomes
    `{"ok": false, "error": {"code": "unavailable", ...}}` rather than an exception."""
    try:
        return await asyncio.to_thread(web.bus.request, topic, {"request_id": f"web-{uuid.uuid4().hex}", **body}, check=False)
    except BusError as exc:
        return {"ok": False, "error": {"code": "unavailable", "message": str(exc)}}


def after_action(request: Request, reply: dict[str, Any], back: str = "/admin") -> Response:
    """JSON for scripts and tests (Accept: application/json), else back to the page with the error code."""
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse(reply, status_code=200 if reply.get("ok") else 409)
    sep = "&" if "?" in back else "?"
    return RedirectResponse(back + ("" if reply.get("ok") else f"{sep}error=" + reply["error"]["code"]), status_code=303)


def offers(web: "WebApp", desk: str) -> bool:
    """Whether the hall's ticketer keeps `desk` (appointments, appeals), from `queue/state`:
    a hall without it gets an answer at once rather than a bus time-out. Before the first
    state arrives the page tries anyway."""
    state = web.bridge.state
    return state is None or desk in state.get("desks", [])


def give_form_token(response: Response, web: "WebApp", cookie: str, token: str, path: str) -> None:
    """Double-submit protection of a form shown to someone not logged in (login, booking,
    appeal): the token goes in the form and in a cookie another site cannot read."""
    response.set_cookie(cookie, token, httponly=True, samesite="strict", secure=web.section.secure_cookies, path=path)


def form_token_ok(request: Request, cookie: str, sent: str) -> bool:
    """The form's token matches its cookie (see give_form_token)."""
    expected = request.cookies.get(cookie, "")
    return bool(sent) and bool(expected) and secrets.compare_digest(sent.encode(), expected.encode())
