"""`taxhall web --listen HOST:PORT`: the mobile queue page and the supervisor's dashboard.

A FastAPI app under uvicorn. Pages: `/` (waiting per service, open or closed), `/t/{token}`
(one ticket, live by server-sent events at `/t/{token}/events`), `/admin` (login; live board,
alarms, statistics with charts and CSV export, pause/resume a counter, open/close a service,
broadcast a notice). Everything it
knows comes from the hall bus (web/bridge.py); actions go back over it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import secrets
import signal
import sys
import threading
import time
from typing import Any, AsyncIterator, Callable

import httpx
import uvicorn
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from taxhall.bus import HallBus
from taxhall.bus.errors import BusError
from taxhall.bus.schemas import now_iso
from taxhall.config import DeviceConfig
from taxhall.commands import serve_standard_commands
from taxhall.watchdog import Watchdog
from web.auth import Session, check_password, hash_password, load_users
from web.config import web_section
from web.i18n import words
from web.pages import (HEARTBEAT_S, LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebApp, after_action, bus_request, client_of, csrf_ok,
                       form_token_ok, give_form_token,
                       lang_of, page, require_action, session_of, sse, sse_response)
from web.stats import day_key, day_rows, days_rows, iso_day, rows_csv, stats_page
from web import prepare
from web import appeals
from web import booking

__all__ = ["ServerThread", "WebApp", "create_app", "run"]

log = logging.getLogger("web")

# ---------------------------------------------------------------------- the app


def feature_routers(web: WebApp) -> list[APIRouter]:
    """The routes of the features that live in modules of their own (each `router(web)`)."""
    return [prepare.router(web), appeals.router(web), booking.router(web)]



def create_app(web: WebApp) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        web.bridge.start(asyncio.get_running_loop())
        yield
        web.bridge.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    for feature_router in feature_routers(web):
        app.include_router(feature_router)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"bus": web.bus.connected, "state": web.bridge.state is not None,
                             "ticket_pages": web.bridge.watched_count()})

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        state = web.bridge.state
        services = (state or {}).get("services", {})
        return page(request, "home.html", services=services, have_state=state is not None, desks=(state or {}).get("desks", []),
                     hall_open=any(s.get("open") for s in services.values()))

    async def resolve(token: str) -> dict[str, Any] | None:
        if len(token) > 64:
            return None
        cached = web.bridge.cached(token)
        if cached is not None and cached.get("state") != "done":
            return cached
        return await asyncio.to_thread(web.bridge.ask_status, token)

    @app.get("/t/{token}", response_class=HTMLResponse)
    async def ticketpage(request: Request, token: str) -> HTMLResponse:
        try:
            status = await resolve(token)
        except BusError:
            return page(request, "unavailable.html", status=503)
        if status is None:
            # The same page for every token that is not a live ticket: it tells a guesser nothing.
            return page(request, "not_found.html", status=404)
        names = (web.bridge.state or {}).get("services", {}).get(status["service"], {})
        return page(request, "ticket.html", ticket=status, token=token,
                     service_name=names.get("name" if lang_of(request) == "zh" else "name_en") or names.get("name") or status["service"])

    @app.get("/t/{token}/events")
    async def ticket_events(request: Request, token: str) -> Response:
        try:
            status = await resolve(token)
        except BusError:
            return PlainTextResponse("unavailable", status_code=503)
        if status is None:
            return PlainTextResponse("not found", status_code=404)
        watched, event = web.bridge.follow(token, status)

        async def stream() -> AsyncIterator[bytes]:
            sent: dict[str, Any] | None = None
            try:
                yield b"retry: 2000\n\n"
                while True:
                    current = dict(watched.status)
                    if current != sent:
                        yield sse("ticket", current)
                        sent = current
                    if current.get("state") == "done":
                        return
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(event.wait(), HEARTBEAT_S)
                        event.clear()
                        continue
                    yield b": keep-alive\n\n"
            finally:
                web.bridge.unfollow(watched, event)

        return sse_response(stream())

    # ------------------------------------------------------------------ dashboard

    @app.get("/admin/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> HTMLResponse:
        return _login_page(request)

    def _login_page(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", status=status, csrf=token, error=error)
        give_form_token(response, web, LOGIN_CSRF_COOKIE, token, "/admin")
        return response

    @app.post("/admin/login")
    async def login(request: Request, user: str = Form(""), password: str = Form(""), csrf: str = Form("")) -> Response:
        if not form_token_ok(request, LOGIN_CSRF_COOKIE, csrf):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        keys = (f"ip:{client_of(request)}", f"user:{user}")
        w = words(lang_of(request))
        if web.throttle.blocked(*keys):
            log.warning("login throttled for %s from %s", user, client_of(request))
            return _login_page(request, w["too_many"], status=429)
        users = await asyncio.to_thread(load_users, web.users_path)
        if not await asyncio.to_thread(check_password, users, user, password):
            web.throttle.failed(*keys)
            log.warning("failed dashboard login for %r from %s", user, client_of(request))
            return _login_page(request, w["bad_login"], status=401)
        sid, _ = web.sessions.open(user)
        web.log_action(user, "login", client=client_of(request))
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=web.section.secure_cookies,
                            max_age=web.section.session_lifetime_s)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin")
        return response

    @app.post("/admin/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        sid, session = session_of(request)
        if session is None:
            return RedirectResponse("/admin/login", status_code=303)
        if not csrf_ok(session, csrf):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403)
        web.sessions.close(sid)
        web.log_action(session.user, "logout")
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/admin", response_class=HTMLResponse)
    async def admin(request: Request, date: str = "") -> Response:
        _, session = session_of(request)
        if session is None:
            return RedirectResponse("/admin/login", status_code=303)
        day = _pick_day(date)
        lang = lang_of(request)
        names = {code: f"{code} {s.get('name') if lang == 'zh' else (s.get('name_en') or s.get('name'))}"
                 for code, s in ((web.bridge.state or {}).get("services") or {}).items()}
        stats = await asyncio.to_thread(stats_page, web.db_path, day, web.section.timezone, words(lang), names)
        return page(request, "admin.html", user=session.user, csrf=session.csrf, board=web.bridge.board(),
                     stats=stats, day=day, iso_day=iso_day(day), error=_error_words(request.query_params.get("error", ""), lang),
                     notice=web.bridge.notice, actions=web.recent_actions())

    def _error_words(code: str, lang: str) -> str:
        """The refusal an action came back with (`?error=code`), in the supervisor's words."""
        from ticketer.queue_words import error_words

        code = code[:40]
        return error_words(code, code, lang) if code else ""

    def _pick_day(date: str) -> str:
        if date:
            try:
                return day_key(date)
            except ValueError:
                return ""
        return str((web.bridge.state or {}).get("day") or time.strftime("%Y%m%d"))

    @app.get("/admin/stats.csv")
    async def stats_csv(request: Request, date: str = "", days: int = 0) -> Response:
        _, session = session_of(request)
        if session is None:
            return PlainTextResponse("log in first", status_code=401)
        day = _pick_day(date)
        if not day:
            return PlainTextResponse("date: YYYY-MM-DD", status_code=400)
        if not 0 <= days <= 366:
            return PlainTextResponse("days: 1–366 business days up to the date, or none for the date's own statistics",
                                     status_code=400)
        if days:  # the whole hall's row of each day: the run the day charts draw
            rows = await asyncio.to_thread(days_rows, web.db_path, day, days, web.section.timezone)
            name = f"queue-stats-{days}d-to-{day}.csv"
        else:
            rows = await asyncio.to_thread(day_rows, web.db_path, day, web.section.timezone)
            name = f"queue-stats-{day}.csv"
        web.log_action(session.user, "export_csv", day=day, **({"days": days} if days else {}))
        return Response(rows_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    @app.get("/admin/events")
    async def board_events(request: Request) -> Response:
        sid, session = session_of(request)
        if session is None:
            return PlainTextResponse("log in first", status_code=401)
        event = web.bridge.board_listener()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                while True:
                    # An open board does not keep its session alive: a dashboard left on an
                    # unattended screen logs out after session_idle_s like any other.
                    if web.sessions.get(sid, touch=False) is None:
                        yield sse("expired", {})
                        return
                    yield sse("board", web.bridge.board())
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(event.wait(), HEARTBEAT_S)
                    event.clear()
                    await asyncio.sleep(0.05)  # a burst of changes becomes one update
            finally:
                web.bridge.drop_board_listener(event)

        return sse_response(stream())

    async def _queue_action(request: Request, csrf: str, op: str, body: Callable[[Session], dict[str, Any]],
                            **logged: Any) -> Response:
        """A dashboard action that is one queue request: checked (session, CSRF), sent,
        logged with who did it and how it ended, answered."""
        session, refused = await require_action(request, csrf)
        if refused:
            return refused
        assert session is not None
        reply = await bus_request(web, f"queue/req/{op}", body(session))
        web.log_action(session.user, op, **logged, ok=reply.get("ok"))
        return after_action(request, reply)

    @app.post("/admin/pause")
    async def pause(request: Request, counter: str = Form(""), reason: str = Form("supervisor"), csrf: str = Form("")) -> Response:
        return await _queue_action(request, csrf, "pause", lambda _: {"counter": counter, "reason": reason or "supervisor"},
                                   counter=counter, reason=reason)

    @app.post("/admin/resume")
    async def resume(request: Request, counter: str = Form(""), csrf: str = Form("")) -> Response:
        return await _queue_action(request, csrf, "resume", lambda _: {"counter": counter}, counter=counter)

    @app.post("/admin/close_service")
    async def close_service(request: Request, service: str = Form(""), reason: str = Form(""), csrf: str = Form("")) -> Response:
        why = reason.strip()[:64]
        return await _queue_action(
            request, csrf, "close_service",
            lambda session: {"service": service, "by": session.user, **({"reason": why} if why else {})},
            service=service, reason=why)

    @app.post("/admin/open_service")
    async def open_service(request: Request, service: str = Form(""), csrf: str = Form("")) -> Response:
        return await _queue_action(request, csrf, "open_service", lambda session: {"service": service, "by": session.user},
                                   service=service)

    @app.post("/admin/notice")
    async def notice(request: Request, text: str = Form(""), text_en: str = Form(""), csrf: str = Form("")) -> Response:
        session, refused = await require_action(request, csrf)
        if refused:
            return refused
        assert session is not None
        body = {"text": text.strip()[:500], "text_en": text_en.strip()[:500], "at": now_iso(), "by": session.user}
        # Retained: a hall screen that starts later shows it too.
        await asyncio.to_thread(web.bus.publish, "display/notice", body, qos=1, retain=True)
        web.log_action(session.user, "notice", text=body["text"], text_en=body["text_en"])
        return after_action(request, {"ok": True})

    return app


# ---------------------------------------------------------------------- running


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class ServerThread:
    """uvicorn in a thread of this process: for tests and the load bench."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, name="web-uvicorn", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout_s: float = 10.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def answers_health(host: str, port: int) -> bool:
    """Whether this process's server answers its /healthz, asked on loopback when it listens on
    every address: the watchdog's test that uvicorn's loop still serves."""
    dial = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    where = f"[{dial}]" if ":" in dial else dial
    try:
        return httpx.get(f"http://{where}:{port}/healthz", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def run(config: DeviceConfig, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxhall web", description="the hall on the web: mobile queue page and supervisor dashboard")
    parser.add_argument("--listen", metavar="HOST:PORT", help="where to serve (default [web] listen, 127.0.0.1:8080)")
    parser.add_argument("--hash-password", action="store_true",
                        help="read a password (from the terminal or stdin) and print its argon2 hash for the users file")
    args = parser.parse_args(argv)
    if args.hash_password:
        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not password:
            print("taxhall web: empty password", file=sys.stderr)
            return 2
        print(f'password_hash = "{hash_password(password)}"')
        return 0
    section = web_section(config)
    try:
        host, port = parse_listen(args.listen or section.listen)
    except ValueError as exc:
        print(f"taxhall web: {exc}", file=sys.stderr)
        return 2
    bus = HallBus(config)
    serve_standard_commands(bus)
    bus.start(wait_s=5.0)
    web = WebApp(config, section, bus)
    if not web.users_path.exists():
        log.warning("no users file at %s: nobody can log in to /admin (taxhall web --hash-password)", web.users_path)
    # uvicorn stops gracefully on SIGTERM and then raises it again for the handler it found:
    # a no-op one here, so that systemd's stop is a clean exit (0) after the bus said offline.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    # uvicorn owns the main thread: READY=1 at the first answer of /healthz, WATCHDOG=1 while it
    # keeps answering (taxhall-web.service's WatchdogSec restarts a server that hangs).
    Watchdog.from_env().watch(lambda: answers_health(host, port), f"serving on {host}:{port}")
    try:
        uvicorn.run(create_app(web), host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    finally:
        signal.signal(signal.SIGTERM, previous)
        web.bridge.close()
        bus.close()
    return 0
