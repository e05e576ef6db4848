"""`/prepare`: the taxpayer fills in a self-invoicing request or a buyer's invoice header on the
phone, at home, and gets a QR code signed by the hall to bring to a kiosk or a counter
(免填单 / 二维码采集; the code format is taxhall/prefill.py, the rules kiosk/prefill.py).

The page checks every field as it is typed (its script); the server checks the same rules
again before it signs, and answers a refused form with the fields' errors, losing nothing
typed. Nothing is stored: the code is the request. `/prepare/key` shows the hall's public key
for the kiosks' and counters' config.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from kiosk.gateway.money import fen_to_yuan, format_rate
from kiosk.prefill import MAX_ITEMS, RATES_PERMILLE, Checked, check_header, check_request, quantity_text
from taxhall.prefill import CODE_ID_BYTES, Header, SelfInvoiceRequest, encode, public_key_text, reference_of
from taxhall.prefill_keys import SigningKeyError, load_or_create_signing_key
from web.config import data_path
from web.pages import WebApp, lang_of, page

log = logging.getLogger("web.prepare")

QR_ERROR_LEVEL = "m"  # a phone screen with glare, held at an angle: M keeps a typical request at version ≤ 12
FORM_ROWS = 3  # empty item rows the form starts with; the script adds more up to MAX_ITEMS

WORDS: dict[str, dict[str, str]] = {
    "zh": dict(
        p_title="预填办税申请（免填单）", p_intro="在手机上提前填写，生成二维码；到厅后在自助终端或窗口扫码即可，无需再填写。",
        p_kind_request="自助代开发票申请", p_kind_header="发票抬头（购买方信息）",
        p_seller="销售方（您本人）", p_seller_name="姓名", p_seller_hint="到厅后请携带身份证核验；此处无需填写证件号码",
        p_category="销售类别", p_cat_goods="销售货物", p_cat_services="现代服务、生活服务", p_cat_labour="劳务报酬",
        p_buyer="购买方（发票抬头）", p_buyer_name="名称", p_buyer_tax_id="纳税人识别号（个人可不填）",
        p_buyer_address_phone="地址、电话（选填）", p_buyer_bank="开户行及账号（选填）",
        p_items="货物或服务", p_item_name="名称", p_item_unit="单位", p_item_qty="数量", p_item_price="单价（不含税，元）",
        p_item_rate="征收率", p_item_amount="金额", p_item_tax="税额", p_add_item="增加一项", p_remove_item="删除",
        p_sum_amount="合计金额", p_sum_tax="合计税额", p_total="价税合计",
        p_estimate="税额按所选征收率估算；实际应缴税款在终端上以税务系统计算为准。",
        p_make="生成二维码", p_fix="请先改正标红的内容", p_required="必填",
        p_bad_len="统一社会信用代码应为18位，这里是{n}位", p_bad_chars="统一社会信用代码不使用字符{c}",
        p_bad_region="统一社会信用代码第3-8位应为行政区划代码（数字）", p_bad_check="统一社会信用代码最后一位校验码不符",
        p_bad_qty="请填写大于0的数量，最多3位小数", p_bad_price="请填写大于0的单价，最多2位小数",
        p_no_id="请勿填写身份证号码", p_too_long="内容过长", p_need_item="请至少填写一项货物或服务",
        p_too_much="价税合计不能超过{max}元",
        c_title="二维码已生成", c_ref="编号", c_valid="有效期至", c_download="下载二维码图片（PNG）",
        c_where_request="请在有效期内携带本人身份证到办税服务厅：在24小时自助区的自助办税终端点击“自助代开发票”，放置身份证后，"
                        "在“购买方信息”页面扫描此二维码，核对后确认即可；也可到发票业务窗口出示此二维码。",
        c_where_header="开票时出示此二维码：在自助终端“扫码开票”或“自助代开发票”的“购买方信息”页面扫描，或请窗口工作人员扫描。",
        c_check="请核对", c_again="重新填写", c_leave="离开本页后二维码不再显示（本网站不保存）。已下载二维码图片了吗？",
        c_private="二维码只含开票所需信息，不含证件号码；本网站不保存您填写的内容。",
    ),
    "en": dict(
        p_title="Prepare a request (no forms at the hall)",
        p_intro="Fill it in on your phone beforehand and get a QR code; at the hall a kiosk or counter scans it, nothing is typed again.",
        p_kind_request="Self-invoicing request", p_kind_header="Invoice header (buyer)",
        p_seller="Seller (you)", p_seller_name="Name",
        p_seller_hint="Bring your ID card to the hall; no ID number is needed here",
        p_category="What you sold", p_cat_goods="Sale of goods", p_cat_services="Services (modern and everyday)",
        p_cat_labour="Labour remuneration",
        p_buyer="Buyer (invoice header)", p_buyer_name="Name", p_buyer_tax_id="Taxpayer id (blank for a private person)",
        p_buyer_address_phone="Address and phone (optional)", p_buyer_bank="Bank and account (optional)",
        p_items="Goods or services", p_item_name="Name", p_item_unit="Unit", p_item_qty="Quantity",
        p_item_price="Unit price (excl. tax, yuan)", p_item_rate="Rate", p_item_amount="Amount", p_item_tax="Tax",
        p_add_item="Add an item", p_remove_item="Remove",
        p_sum_amount="Amount", p_sum_tax="Tax", p_total="Total incl. tax",
        p_estimate="The tax is estimated at the chosen rate; the kiosk shows what the tax system computes.",
        p_make="Make the QR code", p_fix="Please correct the fields marked in red", p_required="required",
        p_bad_len="a unified social credit code has 18 characters, this one has {n}",
        p_bad_chars="a unified social credit code does not use {c}",
        p_bad_region="characters 3-8 of a unified social credit code are the region code (digits)",
        p_bad_check="the last character of the unified social credit code does not match its check character",
        p_bad_qty="a quantity above 0, at most 3 decimals", p_bad_price="a unit price above 0, at most 2 decimals",
        p_no_id="no ID numbers here", p_too_long="too long", p_need_item="at least one item",
        p_too_much="the total may be at most {max} yuan",
        c_title="Your QR code is ready", c_ref="Reference", c_valid="Valid until", c_download="Download the QR code (PNG)",
        c_where_request="Bring it with your ID card to the hall before it expires: at a self-service kiosk tap "
                        "\"Self-invoicing\", place your ID card, and scan this code on the \"Buyer\" screen; check and "
                        "confirm. Or show it at an invoice counter.",
        c_where_header="Show this code when an invoice is made out to you: scan it on a kiosk's \"Buyer\" screen "
                       "(invoice from a QR code, or self-invoicing), or ask the counter staff to scan it.",
        c_check="Please check", c_again="Fill in another",
        c_leave="Once you leave this page the code is not shown again (nothing is kept). Have you downloaded it?",
        c_private="The code holds only what the invoice needs, no ID numbers; this website keeps nothing you typed.",
    ),
}

_FORM_FIELDS = ("kind", "seller_name", "category", "buyer_name", "buyer_taxpayer_id", "buyer_address_phone",
                "buyer_bank_account")
_ITEM_FIELDS = ("name", "unit", "quantity", "price", "rate")


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=8))


def _form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """Only the fields the page has, as text: what is checked and shown again."""
    values = {name: str(form.get(name, "")) for name in _FORM_FIELDS}
    for index in range(MAX_ITEMS + 1):
        for part in _ITEM_FIELDS:
            name = f"item{index}_{part}"
            if name in form:
                values[name] = str(form.get(name, ""))
    return values


def _rows(values: Mapping[str, str]) -> list[dict[str, str]]:
    rows = []
    for index in range(MAX_ITEMS):
        row = {part: values.get(f"item{index}_{part}", "") for part in _ITEM_FIELDS}
        if f"item{index}_name" in values or index < FORM_ROWS:
            row["index"] = str(index)
            row["rate"] = row["rate"] or str(RATES_PERMILLE[0])
            rows.append(row)
    return rows


def _errors_in(lang: str, checked: Checked) -> dict[str, str]:
    return {field: (zh if lang == "zh" else en) for field, (en, zh) in (checked.errors or {}).items()}


def qr_png(code: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(code, error=QR_ERROR_LEVEL).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def _summary(request: SelfInvoiceRequest | None, header: Header | None) -> dict[str, Any]:
    buyer = request.buyer if request else header
    assert buyer is not None
    found: dict[str, Any] = {"buyer": buyer}
    if request is not None:
        found["seller_name"] = request.seller_name
        found["items"] = [dict(name=i.name, unit=i.unit, quantity=quantity_text(i), price=fen_to_yuan(i.unit_price_fen),
                               rate=format_rate(i.rate), amount=fen_to_yuan(i.amount_fen, grouping=True),
                               tax=fen_to_yuan(i.tax_fen, grouping=True)) for i in request.items]
        found["amount"] = fen_to_yuan(request.amount_fen, grouping=True)
        found["tax"] = fen_to_yuan(request.tax_fen, grouping=True)
        found["total"] = fen_to_yuan(request.total_fen, grouping=True)
    return found


def router(web: WebApp) -> APIRouter:
    routes = APIRouter()
    key_path = data_path(web.config, web.section.prefill_key_file, "web", "prefill-ed25519.pem")
    try:
        signing_key: Ed25519PrivateKey | None = load_or_create_signing_key(key_path)
    except SigningKeyError as exc:
        # the queue pages and the dashboard still serve; /prepare says it is unavailable
        log.error("pre-filled codes unavailable: %s", exc)
        signing_key = None
    public_text = public_key_text(signing_key.public_key()) if signing_key else ""
    if signing_key:
        log.info("pre-filled codes are signed with %s; devices need prefill_keys = [\"%s\"]", key_path, public_text)
    valid_for = timedelta(hours=web.section.prefill_valid_hours)
    zone = _zone(web.section.timezone)

    def form_page(request: Request, kind: str, values: Mapping[str, str], errors: Mapping[str, str],
                  status: int = 200) -> HTMLResponse:
        return page(request, "prepare.html", status=status, extra_words=WORDS, kind=kind, values=values,
                    rows=_rows(values), errors=errors, rates=RATES_PERMILLE, max_items=MAX_ITEMS)

    def unavailable(request: Request) -> HTMLResponse:
        return page(request, "unavailable.html", status=503)

    @routes.get("/prepare", response_class=HTMLResponse)
    async def prepare_form(request: Request, kind: str = "request") -> HTMLResponse:
        if signing_key is None:
            return unavailable(request)
        return form_page(request, "header" if kind == "header" else "request", {}, {})

    @routes.post("/prepare")
    async def prepare(request: Request) -> Response:
        if signing_key is None:
            return unavailable(request)
        values = _form_values(await request.form())
        kind = "header" if values.get("kind") == "header" else "request"
        checked = check_header(values) if kind == "header" else check_request(values)
        wants_json = request.headers.get("accept", "").startswith("application/json")
        lang = lang_of(request)
        if checked.errors:
            if wants_json:
                return JSONResponse({"ok": False, "errors": {f: {"en": en, "zh": zh} for f, (en, zh) in checked.errors.items()}},
                                    status_code=422)
            return form_page(request, kind, values, _errors_in(lang, checked), status=422)
        expires_at = (datetime.now(timezone.utc) + valid_for).replace(second=0, microsecond=0)
        code_id = secrets.token_bytes(CODE_ID_BYTES)
        code = encode(signing_key, code_id, expires_at, header=checked.header, request=checked.request)
        qr = segno.make(code, error=QR_ERROR_LEVEL)
        reference = reference_of(code_id.hex())
        items = len(checked.request.items) if checked.request else 0
        log.info("prepared %s: %s, %d items, QR version %d", reference, kind, items, qr.version)
        if wants_json:
            return JSONResponse({"ok": True, "code": code, "reference": reference, "kind": kind,
                                 "expires_at": expires_at.isoformat(), "qr_version": qr.version})
        png = base64.b64encode(qr_png(code)).decode()
        return page(request, "prepare_code.html", extra_words=WORDS, kind=kind, reference=reference,
                    svg=qr.svg_inline(scale=5, border=4), png=png,
                    valid_until=expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    **_summary(checked.request, checked.header))

    @routes.get("/prepare/key")
    async def public_key() -> PlainTextResponse:
        if signing_key is None:
            return PlainTextResponse("no signing key: see the log of taxhall web\n", status_code=503)
        return PlainTextResponse(f"prefill_keys = [\"{public_text}\"]\n")

    return routes
