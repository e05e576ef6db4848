"""The kiosk's words for the 意见簿 (opinion book) tile, merged into kiosk.words.WORDS."""

from __future__ import annotations

APPEAL_WORDS: dict[str, tuple[str, str]] = {
    "tile_appeal": ("意见簿", "Opinion book"),
    "tile_appeal_sub": ("意见建议 · 投诉 · 一个工作日内答复", "Comments and complaints, answered in one working day"),
    "appeal_title": ("意见簿", "Opinion book"),
    "appeal_text_title": ("补充说明和联系电话", "Details and your phone"),
    "appeal_done_title": ("已受理", "Received"),
    "appeal_pick": ("请选择类别，再选择遇到的问题（可多选）", "Choose a category, then what happened (any number)"),
    "appeal_next": ("下一步", "Next"),
    "appeal_field_text": ("补充说明（选填，字母或数字）", "Details (optional, letters or digits)"),
    "appeal_field_phone": ("联系电话（选填，用于回复）", "Phone for our reply (optional)"),
    "appeal_submit": ("提交", "Submit"),
    "appeal_ref": ("受理编号", "Reference"),
    "appeal_due": ("答复期限 {due}", "Answer due {due}"),
    "appeal_done_hint": ("请取走回执，凭受理编号查询办理进度", "Please take your receipt; use the reference to check progress"),
    "appeal_not_printed": ("回执未能打印，请记下受理编号", "The receipt could not be printed; please note the reference"),
    "appeal_need_category": ("请先选择类别", "Choose a category first"),
    "appeal_say_what": ("请选择遇到的问题或填写补充说明", "Choose what happened or add details"),
    "appeal_down": ("意见簿暂时无法提交", "The opinion book cannot take appeals right now"),
    "appeal_down_next": ("请稍后再试，或告诉窗口工作人员", "Please try again later, or tell the staff at a counter"),
    "appeal_bad_phone": ("联系电话应为7到15位数字", "A phone number has 7 to 15 digits"),
    "appeal_slip_title": ("意见簿回执", "Appeal receipt"),
    "appeal_slip_filed": ("受理时间 {at}", "Received {at}"),
    "appeal_slip_scan": ("手机扫码查询办理进度", "Scan to check progress on your phone"),
    "appeal_slip_owner": ("首问负责：由首位接收的工作人员负责到底", "The first member of staff to receive it stays responsible"),
}
