"""Every word the kiosk shows or says, in Chinese and English (pure).

`word(key)` gives a `Bi` (both languages); screens pick one with `.get(lang)`. Errors are
worded as what happened and what to do next — never a code or a traceback. Keys are plain
names; a missing key is a bug that a test catches (`test_every_word_has_both_languages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.appeal_words import APPEAL_WORDS


@dataclass(frozen=True)
class Bi:
    """A text in Chinese and English."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def format(self, **values: Any) -> "Bi":
        """Fills {placeholders}; a value may itself be a Bi (each language gets its own)."""
        zh = {k: v.zh if isinstance(v, Bi) else v for k, v in values.items()}
        en = {k: v.en if isinstance(v, Bi) else v for k, v in values.items()}
        return Bi(self.zh.format(**zh), self.en.format(**en))


WORDS: dict[str, tuple[str, str]] = {
    # home
    "welcome": ("欢迎使用自助办税终端", "Welcome to self-service tax"),
    "lang_switch": ("English", "简体中文"),
    "elder_on": ("长辈模式", "Elder mode"),
    "elder_off": ("标准模式", "Standard mode"),
    "tap_tile": ("请点击您要办理的业务", "Tap the service you need"),
    "tile_certificate": ("完税证明", "Tax payment certificate"),
    "tile_certificate_sub": ("打印税收完税证明", "Print proof of taxes paid"),
    "tile_request": ("扫码开票", "Invoice from a QR code"),
    "tile_request_sub": ("扫描开票申请，开具发票", "Scan a seller's invoice request"),
    "tile_self_invoice": ("自助代开发票", "Self-invoicing"),
    "tile_self_invoice_sub": ("个人代开增值税发票", "Issue an invoice for your own sale"),
    "tile_check": ("发票查验", "Check an invoice"),
    "tile_check_sub": ("扫描发票二维码查真伪", "Scan an invoice's QR: is it genuine?"),
    "tile_queue": ("排队取号", "Queue ticket"),
    "tile_queue_sub": ("窗口业务取号", "Take a number for a counter"),
    "tile_guides": ("办税指南", "Guides"),
    "tile_guides_sub": ("常见问题解答", "Answers to common questions"),
    "reason_no_printer": ("未连接打印机，暂停使用", "No printer: not available"),
    "reason_paper_out": ("打印机缺纸，暂停使用", "Printer out of paper: not available"),
    "reason_cover_open": ("打印机仓盖打开，暂停使用", "Printer cover open: not available"),
    "reason_printer_fault": ("打印机故障，暂停使用", "Printer fault: not available"),
    "reason_gateway_down": ("税务系统暂时无法连接", "Tax service unreachable for now"),
    "reason_no_scanner": ("扫码器故障，暂停使用", "Scanner not working: not available"),
    "reason_no_reader": ("身份证阅读器故障，暂停使用", "ID card reader not working: not available"),
    "reason_reader_absent": ("未连接身份证阅读器", "No ID card reader"),
    "reason_scanner_absent": ("未连接扫码器", "No scanner"),
    "reason_queue_down": ("排队系统暂时无法连接", "Queue system unreachable for now"),
    "note_queue_view": ("仅显示等候人数", "Waiting counts only"),
    # common buttons
    "back": ("返回", "Back"),
    "cancel": ("取消", "Cancel"),
    "home": ("首页", "Home"),
    "finish": ("完成", "Done"),
    "ok": ("知道了", "OK"),
    "retry": ("重试", "Try again"),
    "continue": ("继续办理", "Continue"),
    "print_again": ("再打印一份", "Print again"),
    "wait": ("请稍候…", "Please wait…"),
    "printing": ("正在打印，请稍候…", "Printing, please wait…"),
    "asking_gateway": ("正在查询，请稍候…", "Asking the tax service…"),
    "countdown": ("长时间无操作，{seconds} 秒后返回首页", "No activity: back to the home screen in {seconds} s"),
    "countdown_hint": ("您的信息将被清除。如需继续，请点击“继续办理”。",
                       "Your details will be cleared. Tap Continue to carry on."),
    "clear": ("清空", "Clear"),
    "delete": ("删除", "Delete"),
    # identify
    "identify_title": ("请验证身份", "Show who you are"),
    "identify_card": ("请将身份证放在读卡区", "Place your ID card on the reader"),
    "identify_etax": ("或打开电子税务局App，扫描身份二维码", "or scan the identity QR code of the e-tax app"),
    "identify_card_only": ("自助代开需要本人身份证", "Self-invoicing needs your own ID card"),
    "identified": ("已识别：{name}  {id_number}", "Identified: {name}  {id_number}"),
    # certificate
    "cert_title": ("开具完税证明", "Tax payment certificate"),
    "period_title": ("请选择期间和税种", "Choose a period and tax types"),
    "period_last_12m": ("近12个月", "Last 12 months"),
    "period_this_year": ("本年度", "This year"),
    "period_last_year": ("上一年度", "Last year"),
    "period_last_36m": ("近3年", "Last 3 years"),
    "tax_all": ("全部税种", "All tax types"),
    "search_records": ("查询缴税记录", "Find payments"),
    "records_title": ("缴税记录：{count} 条，合计 {total}", "Payments: {count}, total {total}"),
    "records_hint": ("请核对，确认无误后打印", "Check them, then print"),
    "col_tax": ("税种", "Tax"),
    "col_period": ("所属期", "Period"),
    "col_paid": ("入库日期", "Paid on"),
    "col_amount": ("金额(元)", "Amount (yuan)"),
    "print_certificate": ("打印完税证明", "Print the certificate"),
    "cert_done_title": ("完税证明已打印", "Your certificate has been printed"),
    "cert_number": ("证明编号：{number}", "Certificate No. {number}"),
    "cert_code": ("验证码：{code}", "Verification code: {code}"),
    "cert_done_hint": ("请取走凭条。可扫描凭条上的二维码验证真伪。", "Please take the slip. Its QR code verifies it."),
    "not_printed": ("未能打印：{reason}", "Not printed: {reason}"),
    "not_printed_hint": ("已开具的证明不会丢失：排除故障后点击“再打印一份”，或凭编号到窗口打印。",
                         "It is issued and kept: tap Print again once fixed, or ask at a counter with the number."),
    # invoice from a request
    "req_title": ("扫码开票", "Invoice from a QR code"),
    "req_scan": ("请扫描销售方小票上的开票二维码", "Scan the invoice request QR on your receipt"),
    "req_scan_hint": ("也可先扫描您的发票抬头二维码", "You can scan your invoice header QR first"),
    "req_scan_more": ("已读取发票抬头，请再扫描销售方的开票二维码", "Header read. Now scan the seller's invoice request QR"),
    "buyer_title": ("购买方信息（发票抬头）", "Buyer (invoice header)"),
    "buyer_scan": ("请扫描发票抬头二维码", "Scan the invoice header QR"),
    "buyer_or": ("或选择：", "or choose:"),
    "buyer_individual": ("个人（不需要税号）", "Individual (no tax id)"),
    "buyer_keypad": ("手工输入税号", "Type the tax id"),
    "keypad_title": ("输入购买方信息", "Type in the buyer"),
    "keypad_tax_id": ("纳税人识别号（18位）", "Taxpayer id (18 characters)"),
    "keypad_name": ("名称（中文名称请扫码输入）", "Name (scan a QR for Chinese names)"),
    "keypad_done": ("确定", "Done"),
    "keypad_bad_id": ("税号有误：{reason}", "The tax id is not right: {reason}"),
    "keypad_need_name": ("请输入名称", "Type the name"),
    "confirm_title": ("请核对开票信息", "Check the invoice details"),
    "seller": ("销售方", "Seller"),
    "buyer": ("购买方", "Buyer"),
    "order": ("订单号", "Order"),
    "tax_id": ("税号", "Tax id"),
    "individual": ("个人", "Individual"),
    "total_incl": ("价税合计", "Total incl. tax"),
    "issue_invoice": ("确认开票", "Issue the invoice"),
    "invoice_done_title": ("发票已开具并打印", "Your invoice has been issued and printed"),
    "invoice_number": ("发票号码：{number}", "Invoice No. {number}"),
    "invoice_done_hint": ("请取走发票。电子发票同时发送至销售方。", "Please take the invoice."),
    "change_buyer": ("更换抬头", "Change buyer"),
    # self-invoicing
    "self_title": ("自助代开发票", "Self-invoicing"),
    "item_title": ("请选择项目并输入金额", "Choose what you sold and the amount"),
    "cat_goods": ("销售货物", "Sale of goods"),
    "cat_services": ("服务", "Services"),
    "cat_labour": ("劳务报酬", "Labour remuneration"),
    "amount_label": ("开票金额（含税，元）", "Amount incl. VAT (yuan)"),
    "compute": ("计算税款", "Compute the tax"),
    "need_category": ("请选择项目", "Choose what you sold"),
    "need_amount": ("请输入金额", "Type the amount"),
    "bad_amount": ("金额格式不对，最多两位小数", "Not an amount: at most two decimals"),
    "quote_title": ("应缴税款明细", "Taxes due, line by line"),
    "quote_hint": ("开票金额 {total}，不含税金额 {amount}", "Invoice {total}; amount before VAT {amount}"),
    "quote_exempt": ("本月代开销售额未超过 {threshold}，免征增值税", "Sales this month up to {threshold}: no VAT"),
    "col_line": ("项目", "Item"),
    "col_base": ("计税依据", "Base"),
    "col_rate": ("税率", "Rate"),
    "col_due": ("金额", "Amount"),
    "tax_due": ("应缴合计：{due}", "Tax due: {due}"),
    "pay": ("确认并缴纳 {due}", "Confirm and pay {due}"),
    "confirm_free": ("确认开票（无需缴税）", "Confirm (no tax to pay)"),
    "pay_title": ("请在支付终端上付款", "Pay on the payment terminal"),
    "pay_hint": ("应付金额 {due}，请按终端提示刷卡或扫码", "Amount {due}: follow the terminal's prompts"),
    "paid_not_issued": ("已付款（交易号 {reference}），但发票尚未开具", "Paid (ref. {reference}), but the invoice is not issued yet"),
    "paid_not_issued_hint": ("请点击“重试”。多次失败请凭交易号到窗口办理，不会重复扣款。",
                             "Tap Try again. If it keeps failing, ask at a counter with the reference: you will not pay twice."),
    "self_done_title": ("发票已开具并打印", "Your invoice has been issued and printed"),
    # invoice check
    "check_title": ("发票查验", "Check an invoice"),
    "check_scan": ("请扫描发票左上角的二维码", "Scan the QR code at the top left of the invoice"),
    "check_genuine": ("查验通过：发票真实有效", "Genuine: this invoice was issued as printed"),
    "check_mismatch": ("查验不符：{fields}与开具信息不一致", "Does not match: {fields} differ from what was issued"),
    "check_not_found": ("查无此票", "No such invoice was issued"),
    "check_another": ("查验下一张", "Check another"),
    "field_kind": ("发票种类", "Kind"),
    "field_code": ("发票代码", "Code"),
    "field_number": ("发票号码", "Number"),
    "field_amount": ("金额(不含税)", "Amount (excl. tax)"),
    "field_date": ("开票日期", "Date"),
    "field_check_code": ("校验码", "Check code"),
    "field_seller": ("销售方", "Seller"),
    "field_buyer": ("购买方", "Buyer"),
    "field_total": ("价税合计", "Total incl. tax"),
    # guides
    "guides_title": ("办税指南", "Guides"),
    "guides_search": ("输入关键词（拼音或英文），或点选热门词", "Type a keyword, or tap a popular one"),
    "guides_none": ("没有找到相关内容，请换个关键词或到咨询台询问", "Nothing found: try another word or ask at the desk"),
    "guides_count": ("找到 {count} 条", "{count} found"),
    # queue
    "queue_title": ("排队取号", "Queue ticket"),
    "queue_pick": ("请选择业务类型", "Choose a service"),
    "queue_view": ("当前等候情况（请到取号机取号）", "Waiting now (take a ticket at the dispenser)"),
    "queue_waiting": ("等候 {waiting} 人 · 约 {minutes} 分钟", "{waiting} waiting · about {minutes} min"),
    "queue_closed": ("暂停取号", "closed"),
    "queue_done_title": ("取号成功", "Your number"),
    "queue_ahead": ("前面还有 {ahead} 人", "{ahead} ahead of you"),
    "queue_done_hint": ("请取走号票，留意叫号", "Take your ticket and listen for your number"),
    "queue_not_printed": ("号票未能打印，请记住您的号码", "The ticket did not print: remember your number"),
    # appointment check-in from the queue tile (预约签到; docs/appointments.md)
    "checkin_button": ("预约签到", "Appointment check-in"),
    "checkin_title": ("预约签到", "Appointment check-in"),
    "checkin_hint": ("请扫描预约确认上的二维码，或输入 9 位预约码", "Scan the QR code of your booking, or type its 9-digit code"),
    "checkin_go": ("签到", "Check in"),
    "checkin_mark": ("预约 {slot} · 优先叫号", "Appointment {slot} · called first"),
    "checkin_too_early": ("还未到签到时间：{slot} 的预约请在 {start}–{until} 签到。如现在办理，可取普通号。",
                          "Too early: the {slot} appointment checks in between {start} and {until}. You may take a normal ticket now."),
    "checkin_too_late": ("已超过签到时间（{until} 截止），{slot} 的预约已失效。可取普通号排队。",
                         "Too late: check-in for the {slot} appointment closed at {until}; it has lapsed. You may take a normal ticket."),
    "checkin_cancelled": ("该预约已取消。可取普通号排队。", "This appointment was cancelled. You may take a normal ticket."),
    "checkin_normal": ("取普通号：{service}", "Take a normal ticket: {service}"),
    "checkin_bad_code": ("预约码有误", "That appointment code is not right"),
    "checkin_bad_code_next": ("请核对 9 位数字后重新输入，或扫描预约确认上的二维码。",
                              "Check the 9 digits and type them again, or scan the QR code of your booking."),
    "checkin_unknown": ("没有找到该预约", "No appointment with this code"),
    "checkin_unknown_next": ("请核对预约码；如有疑问，请到窗口咨询。", "Check the code; if in doubt, ask at a counter."),
    "checkin_already": ("该预约已签到，号码 {ticket}", "Already checked in: ticket {ticket}"),
    "checkin_already_next": ("请留意叫号；号票遗失可到窗口咨询。", "Listen for your number; if the ticket is lost, ask at a counter."),
    "checkin_unavailable": ("预约签到暂不可用", "Check-in is not available now"),
    "checkin_unavailable_next": ("请重试，或取普通号，或到窗口咨询。", "Try again, take a normal ticket, or ask at a counter."),
    "checkin_refused": ("签到未成功", "Not checked in"),
    # closed
    "closed_title": ("暂停服务", "Out of service"),
    "closed_default": ("本机暂停服务，请使用其他终端或到窗口办理。", "This kiosk is out of service. Please use another or a counter."),
    # errors: title, then what to do next
    "err_title": ("无法办理", "That did not work"),
    "err_gateway_down": ("暂时无法连接税务系统", "The tax service cannot be reached"),
    "err_gateway_down_next": ("请稍后再试，或到窗口办理。", "Please try again later, or go to a counter."),
    "err_next_counter": ("如有疑问，请到窗口咨询。", "If in doubt, ask at a counter."),
    "err_next_retry": ("请重试；如仍不成功，请到窗口办理。", "Try again; if it still fails, go to a counter."),
    "err_no_records": ("没有查到缴税记录", "No payments found"),
    "err_no_records_next": ("请选择更长的期间或其他税种。", "Choose a longer period or other tax types."),
    "err_not_registered": ("未查到您的纳税人信息", "You are not registered as a taxpayer"),
    "err_card_expired": ("身份证已过期", "This ID card has expired"),
    "err_card_expired_next": ("请使用有效证件，或到窗口办理。", "Please use a valid card, or go to a counter."),
    "err_reader": ("身份证阅读器读取失败", "The ID card reader did not work"),
    "err_reader_next": ("请重新放置身份证；如仍不行，请扫描电子税务局App二维码或到窗口办理。",
                        "Place the card again; if it still fails, scan the e-tax app's QR or go to a counter."),
    "err_scanner": ("扫码器出现故障", "The scanner stopped working"),
    "err_scanner_next": ("请到窗口办理，或使用其他终端。", "Please go to a counter or use another kiosk."),
    "err_wrong_qr": ("这个二维码不对", "That is not the right QR code"),
    "err_wrong_qr_next": ("需要的是：{expected}", "What is needed: {expected}"),
    "err_printer": ("打印失败：{reason}", "Printing failed: {reason}"),
    "err_printer_next": ("已办理的业务不会丢失。请联系工作人员处理打印机。",
                         "What was done is kept. Please ask staff to see to the printer."),
    "printer_paper_out": ("打印机缺纸", "the printer is out of paper"),
    "printer_cover_open": ("打印机仓盖未关", "the printer cover is open"),
    "printer_unreachable": ("打印机无响应", "the printer does not answer"),
    "printer_fault": ("打印机故障", "the printer has a fault"),
    "err_payment_declined": ("付款未成功，未扣款", "The payment did not go through; nothing was charged"),
    "err_payment_declined_next": ("请换一张卡或付款方式重试，或点击“返回”。", "Try another card or way to pay, or tap Back."),
    "err_payment_cancelled": ("付款已取消，未扣款", "Payment cancelled; nothing was charged"),
    "err_quote_changed": ("税款已重新计算", "The tax has been computed again"),
    "err_quote_changed_next": ("计算结果已过期或有变化，请核对新的金额后再确认。",
                               "The earlier result expired or changed: check the new amount, then confirm."),
    "err_already_invoiced": ("该订单已开具发票", "This order already has its invoice"),
    "err_unexpected": ("出现了意外问题", "Something unexpected went wrong"),
    "err_unexpected_next": ("请重试；如仍不成功，请到窗口办理。", "Please try again; if it still fails, go to a counter."),
    "err_tile_off": ("该业务暂停使用", "This service is not available now"),
    "err_queue": ("取号未成功", "No ticket was taken"),
    # pre-filled request codes (/prepare on the hall's website)
    "err_prefill": ("这个预填二维码不能使用", "This pre-filled code cannot be used"),
    "err_prefill_next": ("请在手机上重新生成，或在终端上手工填写，或到窗口办理。",
                         "Make it again on your phone, fill in the request here, or go to a counter."),
    "err_prefill_flow": ("这是自助代开发票的预填申请", "This is a pre-filled self-invoicing request"),
    "err_prefill_flow_next": ("请返回首页，点击“自助代开发票”，放置身份证后再扫描。",
                              "Go back to the home screen, tap Self-invoicing, place your ID card, then scan it."),
    "err_prefill_seller": ("该申请是为其他销售方填写的", "This request was prepared for another seller"),
    "err_prefill_seller_next": ("请扫描您本人填写的二维码，或在终端上手工填写。",
                                "Scan a code you prepared yourself, or fill in the request here."),
    "err_prefill_used": ("这个预填申请已开过发票", "This pre-filled request already has its invoice"),
    "err_prefill_used_next": ("如需补打或查验该发票，请使用“发票查验”或到窗口办理；新的销售请重新填写申请。",
                              "To check or reprint that invoice use Invoice check or ask at a counter; for a new sale, prepare a new request."),
    "err_prefill_used_paid_next": ("该申请已在其他终端开具发票，本次付款请凭交易号到窗口办理退款。",
                                   "Its invoice was issued at another kiosk: ask at a counter with the reference to refund this payment."),
    "buyer_prefill_hint": ("已在手机上预填申请？请直接扫描该二维码", "Prepared the request on your phone? Scan its QR code now"),
    "prefill_items": ("预填的货物或服务", "Pre-filled items"),
    # voice prompts (elder mode)
    "say_home": ("请点击您要办理的业务。", "Please tap the service you need."),
    "say_identify": ("请将身份证放在读卡区。", "Please place your ID card on the reader."),
    "say_scan": ("请将二维码对准扫码窗口。", "Please hold the QR code to the scanner."),
    "say_pay": ("请在支付终端上付款。", "Please pay on the payment terminal."),
    "say_done": ("办理完成，请取走凭条。", "Done. Please take your slip."),
    "say_records": ("请核对缴税记录。", "Please check the payments."),
    "say_check": ("请核对信息。", "Please check the details."),
    "say_checkin": ("请扫描预约二维码，或输入预约码。", "Please scan your booking's QR code, or type its code."),
    "say_countdown": ("长时间无操作，即将返回首页。", "No activity. Returning to the home screen soon."),
    **APPEAL_WORDS,
}


def word(key: str) -> Bi:
    zh, en = WORDS[key]
    return Bi(zh, en)


def text(key: str, lang: str, **values: Any) -> str:
    """One language of a word, with its placeholders filled."""
    return word(key).format(**values).get(lang) if values else word(key).get(lang)


def checkin_refusal(reason: str, slot: str, start: str, until: str) -> Bi:
    """Why an appointment did not check in, with its times: too early, too late, cancelled."""
    key = {"too_early": "checkin_too_early", "too_late": "checkin_too_late"}.get(reason, "checkin_cancelled")
    return word(key).format(slot=slot, start=start, until=until)
