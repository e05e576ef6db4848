"""Taxpayer appeals on the web (纳税人诉求): the public form `/appeal` and the lookup
`/appeal/{ref}` (phone-sized, zh/en, CSRF double-submit like the login form, rate-limited per
client address), and the dashboard's `/admin/appeals` — the open appeals with owner and
deadline, one appeal's history with its actions (reassign, answer, follow-up and return visit,
open the phone number to call back; each CSRF-checked and logged with who), the ledger as CSV
and the analysis. Everything goes over the bus to the appeals desk in the ticketer process.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from web.auth import LoginThrottle
from web.i18n import words
from web.pages import (WebApp, after_action, bus_request, client_of, form_token_ok, give_form_token, lang_of, offers, page,
                       require_action, session_of)

APPEAL_CSRF_COOKIE = "th_appeal"
FILINGS_PER_WINDOW = 5  # appeals one client address may file per window
LOOKUP_MISSES_PER_WINDOW = 10  # unknown references one address may try per window: guessing goes nowhere
WINDOW_S = 600.0

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "appeal_title": "意见簿 · 纳税人诉求", "appeal_intro": "您的意见和诉求由首位接收的工作人员负责到底，一个工作日内答复。",
        "category": "类别", "phrases": "常见问题（可多选）", "description": "具体情况（选填）", "phone": "联系电话（用于回复，选填）",
        "submit": "提交", "lookup": "查询办理进度", "ref": "受理编号", "find": "查询", "filed_ok": "已受理，请记下受理编号",
        "deadline": "答复期限", "filed_at": "受理时间", "status": "状态", "answer": "答复", "answered_at": "答复时间",
        "s_open": "办理中", "s_answered": "已答复", "s_closed": "已办结", "overdue": "已超期", "no_answer": "尚未答复",
        "appeal_nf": "没有找到这条诉求", "appeal_nf_detail": "请核对受理编号（12位字母和数字）。",
        "too_fast": "提交太频繁，请稍后再试", "csrf_bad": "页面已过期，请刷新后重新提交", "unavailable": "系统暂时不可用，请稍后再试",
        "err_empty_appeal": "请选择常见问题或填写具体情况", "err_bad_phone": "联系电话应为7到15位数字",
        "err_unknown_category": "请选择类别", "err_other": "提交未成功，请检查后重试",
        "appeals": "纳税人诉求", "open_appeals": "待办诉求", "owner": "负责人", "channel": "渠道", "counter": "窗口",
        "export_ledger": "导出台账 CSV", "analysis": "统计分析", "per_category": "按类别", "per_channel": "按渠道",
        "per_week": "按周", "per_counter": "按窗口", "median_answer": "答复用时中位数（小时）", "overdue_count": "超期未答复",
        "answered_late": "超期答复", "satisfaction": "满意度", "themes": "反复出现的问题", "weeks_seen": "出现周数",
        "count": "次数", "history": "处理记录", "reassign": "转办", "reason": "原因", "to": "转给", "do_answer": "答复",
        "follow_up": "反馈 / 回访", "feedback": "纳税人反馈", "return_visit": "回访（办结）", "note": "备注",
        "open_contact": "查看完整电话（记录在案）", "by": "经办人", "received_by": "首问受理人", "none": "无",
        "ch_kiosk": "自助机", "ch_web": "网站", "ch_phone": "电话", "ch_counter": "窗口", "all": "全部", "tags": "标签",
        "sat_5": "非常满意", "sat_4": "满意", "sat_3": "基本满意", "sat_2": "不满意", "sat_1": "非常不满意", "record": "记录",
        "due_soon": "即将到期", "window": "近 {weeks} 周 · 共 {total} 件", "rate_title": "您对答复满意吗？", "rated": "谢谢您的评价",
    },
    "en": {
        "appeal_title": "Opinion book · taxpayer appeals",
        "appeal_intro": "The first member of staff to receive your appeal stays responsible for it; we answer within one working day.",
        "category": "Category", "phrases": "Common problems (choose any)", "description": "What happened (optional)",
        "phone": "Phone, for our reply (optional)", "submit": "Submit", "lookup": "Check progress", "ref": "Reference",
        "find": "Look up", "filed_ok": "Received — please note your reference", "deadline": "Answer due", "filed_at": "Received",
        "status": "Status", "answer": "Answer", "answered_at": "Answered", "s_open": "in progress", "s_answered": "answered",
        "s_closed": "closed", "overdue": "overdue", "no_answer": "Not answered yet", "appeal_nf": "Appeal not found",
        "appeal_nf_detail": "Please check the reference (12 letters and digits).", "too_fast": "Too many submissions; try again later",
        "csrf_bad": "The page has expired; reload it and submit again", "unavailable": "The service is unavailable; try again later",
        "err_empty_appeal": "Choose a common problem or describe what happened", "err_bad_phone": "A phone number has 7 to 15 digits",
        "err_unknown_category": "Choose a category", "err_other": "Not submitted; please check and try again",
        "appeals": "Taxpayer appeals", "open_appeals": "Open appeals", "owner": "Owner", "channel": "Channel", "counter": "Counter",
        "export_ledger": "Export ledger CSV", "analysis": "Analysis", "per_category": "By category", "per_channel": "By channel",
        "per_week": "By week", "per_counter": "By counter", "median_answer": "Median time to answer (hours)",
        "overdue_count": "Overdue, unanswered", "answered_late": "Answered late", "satisfaction": "Satisfaction",
        "themes": "Recurring themes", "weeks_seen": "Weeks seen", "count": "Count", "history": "History", "reassign": "Reassign",
        "reason": "Reason", "to": "To", "do_answer": "Answer", "follow_up": "Feedback / return visit",
        "feedback": "Taxpayer feedback", "return_visit": "Return visit (closes it)", "note": "Note",
        "open_contact": "Show the full phone number (logged)", "by": "By", "received_by": "Received by", "none": "none",
        "ch_kiosk": "kiosk", "ch_web": "web", "ch_phone": "phone", "ch_counter": "counter", "all": "All", "tags": "Tags",
        "sat_5": "very satisfied", "sat_4": "satisfied", "sat_3": "fairly satisfied", "sat_2": "dissatisfied",
        "sat_1": "very dissatisfied", "record": "Record", "due_soon": "due soon",
        "window": "last {weeks} weeks · {total} appeals",
        "rate_title": "Are you satisfied with the answer?", "rated": "Thank you for your rating",
    },
}


def _words(request: Request) -> dict[str, str]:
    return WORDS[lang_of(request)]


def tag_labels(categories: list[dict[str, Any]], lang: str) -> dict[str, str]:
    """Category and phrase tags in words: invoice → 发票, invoice.slow → 发票 · 开票太慢."""
    labels: dict[str, str] = {}
    for category in categories:
        name = category["name_en" if lang == "en" else "name"]
        labels[category["tag"]] = name
        for phrase in category.get("phrases", []):
            labels[f"{category['tag']}.{phrase['tag']}"] = f"{name} · {phrase['text_en' if lang == 'en' else 'text']}"
    return labels


def router(web: WebApp) -> APIRouter:
    """The appeal pages and dashboard actions of one web app."""
    routes = APIRouter()
    filings = LoginThrottle(FILINGS_PER_WINDOW, WINDOW_S)
    lookups = LoginThrottle(LOOKUP_MISSES_PER_WINDOW, WINDOW_S)

    async def ask(op: str, **body: Any) -> dict[str, Any]:
        return await bus_request(web, f"appeals/req/{op}", body)

    # ------------------------------------------------------------------ the public pages

    async def form_page(request: Request, error: str | None = None, status: int = 200,
                        filled: dict[str, Any] | None = None) -> HTMLResponse:
        catalog = await ask("catalog")
        if not catalog.get("ok"):
            return page(request, "unavailable.html", status=503, extra_words=WORDS)
        token = secrets.token_urlsafe(24)
        response = page(request, "appeal.html", status=status, extra_words=WORDS, csrf=token, error=error,
                        categories=catalog["categories"], filled=filled or {})
        give_form_token(response, web, APPEAL_CSRF_COOKIE, token, "/appeal")
        return response

    @routes.get("/appeal", response_class=HTMLResponse)
    async def appeal_form(request: Request) -> HTMLResponse:
        if not offers(web, "appeals"):
            return page(request, "unavailable.html", status=404, message=words(lang_of(request))["not_offered"])
        return await form_page(request)

    @routes.post("/appeal")
    async def file_appeal(request: Request) -> Response:
        form = await request.form()
        if not form_token_ok(request, APPEAL_CSRF_COOKIE, str(form.get("csrf", ""))):
            return PlainTextResponse(_words(request)["csrf_bad"], status_code=403)
        filled = {"category": str(form.get("category", "")), "phrases": [str(p) for p in form.getlist("phrases")],
                  "description": str(form.get("description", ""))[:2000], "phone": str(form.get("phone", ""))[:20]}
        key = f"ip:{client_of(request)}"
        if filings.blocked(key):
            return await form_page(request, _words(request)["too_fast"], status=429, filled=filled)
        # Without JavaScript every category's phrases are on the form: keep the chosen category's.
        catalog = await ask("catalog")
        offered = {p["tag"] for c in catalog.get("categories", []) if c["tag"] == filled["category"] for p in c["phrases"]}
        phrases = [p for p in filled["phrases"] if p in offered][:10]
        reply = await ask("file", category=filled["category"] or "-", channel="web", source=web.config.device_id,
                          phrases=phrases, description=filled["description"], phone=filled["phone"])
        if not reply.get("ok"):
            code = reply["error"]["code"]
            w = _words(request)
            if code == "unavailable":
                return page(request, "unavailable.html", status=503, extra_words=WORDS)
            message = w.get(f"err_{code}") or w["err_other"]
            return await form_page(request, message, status=400, filled=filled)
        filings.failed(key)  # counts every filing from this address, not only failures
        ref = reply["appeal"]["ref"]
        response = RedirectResponse(f"/appeal/{ref}?new=1&lang={lang_of(request)}", status_code=303)
        response.delete_cookie(APPEAL_CSRF_COOKIE, path="/appeal")
        return response

    @routes.get("/appeal/find")
    async def find(request: Request, ref: str = "") -> Response:
        return RedirectResponse(f"/appeal/{ref.strip()[:32] or '-'}?lang={lang_of(request)}", status_code=303)

    @routes.get("/appeal/{ref}", response_class=HTMLResponse)
    async def appeal_view(request: Request, ref: str, new: str = "", rated: str = "") -> HTMLResponse:
        key = f"ip:{client_of(request)}"
        if lookups.blocked(key):
            return page(request, "appeal_missing.html", status=429, extra_words=WORDS, message=_words(request)["too_fast"])
        reply = await ask("lookup", ref=ref[:32])
        if not reply.get("ok"):
            if reply["error"]["code"] == "unavailable":
                return page(request, "unavailable.html", status=503, extra_words=WORDS)
            lookups.failed(key)
            # The same page for every reference that is not an appeal: it tells a guesser nothing.
            return page(request, "appeal_missing.html", status=404, extra_words=WORDS, message=None)
        appeal = reply["appeal"]
        can_rate = appeal["state"] != "open" and appeal["satisfaction"] is None
        token = secrets.token_urlsafe(24) if can_rate else ""
        response = page(request, "appeal_view.html", extra_words=WORDS, appeal=appeal, new=bool(new), rated=bool(rated),
                        can_rate=can_rate, csrf=token)
        if can_rate:  # the rating form is double-submit protected like the filing form
            give_form_token(response, web, APPEAL_CSRF_COOKIE, token, "/appeal")
        return response

    @routes.post("/appeal/{ref}/rate")
    async def rate(request: Request, ref: str, level: str = Form(""), csrf: str = Form("")) -> Response:
        """The taxpayer's own word on the answer (满意度), once."""
        if not form_token_ok(request, APPEAL_CSRF_COOKIE, csrf):
            return PlainTextResponse(_words(request)["csrf_bad"], status_code=403)
        if not level.isdigit() or not 1 <= int(level) <= 5:
            return PlainTextResponse("level: 1 to 5", status_code=400)
        found = await ask("lookup", ref=ref[:32])
        if not found.get("ok") or found["appeal"]["state"] == "open" or found["appeal"]["satisfaction"] is not None:
            return RedirectResponse(f"/appeal/{ref[:32]}?lang={lang_of(request)}", status_code=303)
        await ask("follow_up", ref=ref[:32], kind="feedback", by="taxpayer (web)", satisfaction=int(level))
        response = RedirectResponse(f"/appeal/{ref[:32]}?rated=1&lang={lang_of(request)}", status_code=303)
        response.delete_cookie(APPEAL_CSRF_COOKIE, path="/appeal")
        return response

    # ------------------------------------------------------------------ the dashboard

    def login_first() -> RedirectResponse:
        return RedirectResponse("/admin/login", status_code=303)

    @routes.get("/admin/appeals", response_class=HTMLResponse)
    async def admin_appeals(request: Request, state: str = "open", weeks: int = 8) -> Response:
        _, session = session_of(request)
        if session is None:
            return login_first()
        listed = await ask("list", state="all" if state == "all" else "open")
        found = await ask("analysis", weeks=max(1, min(weeks, 104)))
        catalog = await ask("catalog")
        if not listed.get("ok") or not found.get("ok"):
            return page(request, "unavailable.html", status=503, extra_words=WORDS)
        return page(request, "admin_appeals.html", extra_words=WORDS, user=session.user, csrf=session.csrf,
                    appeals=listed["appeals"], analysis=found["analysis"], state=state, weeks=weeks,
                    labels=tag_labels(catalog.get("categories", []), lang_of(request)))

    @routes.get("/admin/appeals.csv")
    async def ledger(request: Request) -> Response:
        _, session = session_of(request)
        if session is None:
            return PlainTextResponse("log in first", status_code=401)
        reply = await ask("export")
        if not reply.get("ok"):
            return PlainTextResponse(reply["error"]["message"], status_code=503)
        web.log_action(session.user, "export_appeals")
        # A BOM so that Excel, which most halls open it in, reads the Chinese right.
        return Response("\ufeff" + reply["csv"], media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="appeals-ledger.csv"', "Cache-Control": "no-store"})

    @routes.get("/admin/appeals/{ref}", response_class=HTMLResponse)
    async def admin_appeal(request: Request, ref: str) -> Response:
        _, session = session_of(request)
        if session is None:
            return login_first()
        reply = await ask("get", ref=ref[:32])
        if not reply.get("ok"):
            status = 503 if reply["error"]["code"] == "unavailable" else 404
            return page(request, "appeal_missing.html", status=status, extra_words=WORDS, message=reply["error"]["message"])
        catalog = await ask("catalog")
        return page(request, "admin_appeals_one.html", extra_words=WORDS, user=session.user, csrf=session.csrf,
                    appeal=reply["appeal"], teams=catalog.get("teams", []), error=request.query_params.get("error"))

    async def act(request: Request, ref: str, csrf: str, op: str, **body: Any) -> Response:
        session, refused = await require_action(request, csrf)
        if refused:
            return refused
        assert session is not None
        reply = await ask(op, ref=ref[:32], by=session.user, **body)
        web.log_action(session.user, f"appeal_{op}", ref=ref, ok=reply.get("ok"),
                       **{k: v for k, v in body.items() if k in ("owner", "kind", "satisfaction")})
        return after_action(request, reply, back=f"/admin/appeals/{ref}")

    @routes.post("/admin/appeals/{ref}/assign")
    async def assign(request: Request, ref: str, owner: str = Form(""), reason: str = Form(""), csrf: str = Form("")) -> Response:
        return await act(request, ref, csrf, "assign", owner=owner.strip()[:64] or "-", reason=reason.strip()[:200] or "-")

    @routes.post("/admin/appeals/{ref}/answer")
    async def answer(request: Request, ref: str, answer: str = Form(""), tags: str = Form(""), csrf: str = Form("")) -> Response:
        tag_list = [t for t in tags.replace(",", " ").split() if t][:10]
        return await act(request, ref, csrf, "answer", answer=answer.strip()[:4000] or "-", tags=tag_list)

    @routes.post("/admin/appeals/{ref}/follow_up")
    async def follow_up(request: Request, ref: str, kind: str = Form("feedback"), satisfaction: str = Form(""),
                        note: str = Form(""), csrf: str = Form("")) -> Response:
        level = int(satisfaction) if satisfaction.isdigit() and 1 <= int(satisfaction) <= 5 else None
        return await act(request, ref, csrf, "follow_up", kind="return_visit" if kind == "return_visit" else "feedback",
                         satisfaction=level, note=note.strip()[:1000])

    @routes.post("/admin/appeals/{ref}/contact")
    async def contact(request: Request, ref: str, csrf: str = Form("")) -> Response:
        session, refused = await require_action(request, csrf)
        if refused:
            return refused
        assert session is not None
        reply = await ask("contact", ref=ref[:32], by=session.user, reason="call back")
        web.log_action(session.user, "appeal_contact", ref=ref, ok=reply.get("ok"))
        if request.headers.get("accept", "").startswith("application/json") or not reply.get("ok"):
            return after_action(request, reply, back=f"/admin/appeals/{ref}")
        got = await ask("get", ref=ref[:32])
        catalog = await ask("catalog")
        return page(request, "admin_appeals_one.html", extra_words=WORDS, user=session.user, csrf=session.csrf,
                    appeal=got.get("appeal"), teams=catalog.get("teams", []), phone=reply["phone"], error=None)

    return routes
