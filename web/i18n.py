"""The words of the web pages in Chinese (the default) and English (`?lang=en`)."""

from __future__ import annotations

LANGS = ("zh", "en")

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "queue": "排队情况", "service": "业务", "waiting": "等候人数", "est_wait": "预计等候", "open": "办理中",
        "closed": "已停止取号", "hall_open": "大厅开放中", "hall_closed": "大厅已关闭", "no_data": "暂无排队数据",
        "your_ticket": "您的号码", "ahead": "前面还有", "people": "人", "minutes": "分钟", "waiting_state": "等候中",
        "called": "已叫号 — 请到 {counter} 号窗口", "serving": "正在 {counter} 号窗口办理", "done": "本号已办结或已失效",
        "not_found": "没有找到这张号票", "not_found_detail": "号票可能已办结，或链接不完整。请以现场叫号为准。",
        "live": "实时更新", "offline": "连接中断，正在重连…", "switch": "English",
        "admin": "值班长工作台", "login": "登录", "logout": "退出", "user": "用户名", "password": "密码",
        "bad_login": "用户名或密码错误", "too_many": "尝试次数过多，请稍后再试", "counters": "窗口", "staff": "工作人员",
        "ticket": "当前号", "state": "状态", "since": "持续", "reason": "原因", "alarms": "告警", "no_alarms": "无告警",
        "pause": "暂停", "resume": "恢复", "notice": "发布公告", "notice_zh": "公告（中文）", "notice_en": "公告（英文）",
        "send": "发布", "stats": "统计", "date": "日期", "show": "查看", "export": "导出 CSV", "actions": "操作记录",
        "by_hour": "按小时办结量", "open_counters": "开放窗口",
        "st_closed": "未登录", "st_idle": "空闲", "st_calling": "叫号中", "st_serving": "办理中", "st_paused": "暂停",
    },
    "en": {
        "queue": "Queue", "service": "Service", "waiting": "Waiting", "est_wait": "Est. wait", "open": "open",
        "closed": "closed", "hall_open": "The hall is open", "hall_closed": "The hall is closed", "no_data": "No queue data yet",
        "your_ticket": "Your number", "ahead": "People ahead", "people": "", "minutes": "min", "waiting_state": "waiting",
        "called": "called — go to counter {counter}", "serving": "being served at counter {counter}",
        "done": "This ticket is finished or no longer valid",
        "not_found": "Ticket not found", "not_found_detail": "The ticket may be finished, or the link is incomplete. "
                                                           "Please follow the calls in the hall.",
        "live": "live", "offline": "connection lost, reconnecting…", "switch": "中文",
        "admin": "Duty supervisor", "login": "Log in", "logout": "Log out", "user": "User", "password": "Password",
        "bad_login": "Wrong user name or password", "too_many": "Too many attempts; try again later", "counters": "Counters",
        "staff": "Staff", "ticket": "Ticket", "state": "State", "since": "For", "reason": "Reason", "alarms": "Alarms",
        "no_alarms": "No alarms", "pause": "Pause", "resume": "Resume", "notice": "Broadcast a notice",
        "notice_zh": "Notice (Chinese)", "notice_en": "Notice (English)", "send": "Send", "stats": "Statistics",
        "date": "Date", "show": "Show", "export": "Export CSV", "actions": "Actions", "by_hour": "Served by hour",
        "open_counters": "Open counters",
        "st_closed": "closed", "st_idle": "idle", "st_calling": "calling", "st_serving": "serving", "st_paused": "paused",
    },
}


def pick_lang(query: str | None, cookie: str | None) -> str:
    """`?lang=` wins, then the remembered choice, then Chinese."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate
    return "zh"


def words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["zh"])
