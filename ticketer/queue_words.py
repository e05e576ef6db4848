"""Plain words for the queue's error codes and states, in Chinese and English, for the
screens staff and taxpayers read (counter caller, dispenser, rating pad)."""

from __future__ import annotations

ERRORS: dict[str, tuple[str, str]] = {
    "queue_empty": ("当前没有等候的号", "Nobody is waiting"),
    "counter_paused": ("窗口已暂停，请先恢复", "This counter is paused; resume first"),
    "counter_closed": ("窗口未登录，请先登录", "This counter is not logged in"),
    "counter_busy": ("请先办结或过号当前的号", "Finish or skip the current ticket first"),
    "not_your_ticket": ("这个号不属于本窗口", "That ticket is not at this counter"),
    "no_current_ticket": ("本窗口当前没有号", "No ticket at this counter"),
    "recall_limit": ("重呼次数已到上限，可标记过号", "Recall limit reached; mark as no-show"),
    "unknown_service": ("没有这项业务", "No such service"),
    "unknown_counter": ("没有这个窗口", "No such counter"),
    "service_closed": ("该业务现在暂停取号（不在办理时间或值班长已暂停）", "This service is not taking tickets now (outside its hours, or stopped by the duty supervisor)"),
    "daily_limit": ("该业务今日号已取完", "No more tickets for this service today"),
    "already_rated": ("已经评价过了，谢谢", "Already rated, thank you"),
    "unknown_ticket": ("找不到这个号", "Ticket not found"),
    "timeout": ("排队服务器没有响应，请稍后重试", "The queue server does not answer; try again"),
    "offline": ("与排队服务器的连接中断，正在重连", "Lost the queue server; reconnecting"),
}

STATES: dict[str, tuple[str, str]] = {
    "closed": ("未登录", "Logged out"),
    "idle": ("空闲", "Idle"),
    "calling": ("叫号中", "Calling"),
    "serving": ("办理中", "Serving"),
    "paused": ("暂停", "Paused"),
}

PAUSE_REASONS: dict[str, tuple[str, str]] = {
    "break": ("休息", "Break"),
    "system_fault": ("系统故障", "System fault"),
    "meeting": ("会议", "Meeting"),
    "training": ("培训", "Training"),
}

RATING_LEVELS: dict[int, tuple[str, str]] = {
    5: ("非常满意", "Very satisfied"),
    4: ("满意", "Satisfied"),
    3: ("基本满意", "Fair"),
    2: ("不满意", "Dissatisfied"),
    1: ("非常不满意", "Very dissatisfied"),
}


def words(table: dict, key: object, lang: str, fallback: str = "") -> str:
    pair = table.get(key)
    if pair is None:
        return fallback
    return pair[0] if lang == "zh" else pair[1]


def error_words(code: str, message: str, lang: str) -> str:
    """The error in words for the screen; the server's own message for codes we do not know."""
    return words(ERRORS, code, lang, message or code)
