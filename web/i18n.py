"""The words of the web pages in Chinese (the default) and English (`?lang=en`)."""

from __future__ import annotations

LANGS = ("zh", "en")

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "before_you_come": "来厅之前", "not_offered": "本厅暂未开通这项服务",
        "link_book": "预约办税：选好业务和时段，到厅签到优先叫号",
        "link_prepare": "免填单：在手机上先填好开票申请，带二维码来厅扫码确认",
        "link_appeal": "意见簿：反映问题、提出诉求，凭编号查询办理进度",
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
        # the services' open/close from the dashboard
        "take_state": "取号", "close_service": "停止取号", "open_service": "恢复取号", "closed_hours": "非办理时间",
        "closed_supervisor": "已停止取号", "closed_by": "{by} 于 {at} 停止取号", "close_reason": "停止取号原因（可选）",
        "close_reason_hint": "如：系统维护", "failed": "操作未完成", "live_board": "实时看板",
        "waiting_total": "等候总数", "counters_open": "开放窗口数", "alarms_active": "当前告警",
        # statistics
        "served": "办结", "no_shows": "过号", "offline_taken": "其中离线取号", "median": "中位数",
        "m_taken": "取号", "m_served": "办结", "m_no_shows": "过号", "m_wait_mean": "平均等候（分钟）",
        "m_service_mean": "平均办理（分钟）", "m_rating_mean": "平均评价（1–5）", "m_dissatisfied": "不满意",
        "chart_served_hour": "各时段办结与过号", "chart_wait_hour": "各时段平均等候", "chart_service_hour": "各时段平均办理时长",
        "chart_rating_hour": "各时段平均评价", "chart_served_day": "近 14 天办结与过号", "chart_wait_day": "近 14 天平均等候",
        "chart_ratings": "评价分布", "unit_tickets": "笔", "unit_min": "分钟", "unit_rating": "分（满分 5）", "unit_ratings": "条评价",
        "rating_5": "非常满意", "rating_4": "满意", "rating_3": "基本满意", "rating_2": "不满意", "rating_1": "非常不满意",
        "by_service": "按业务", "by_counter": "按窗口", "by_staff": "按工作人员", "hour": "时段", "no_stats": "当天暂无统计数据",
        "stats_table": "分时段明细", "day_figures": "当日概览", "hours_axis": "时", "export_days": "导出近 14 天 CSV",
        "k_ticket_overdue": "等候超时", "k_counter_overtime": "办理超时", "k_counter_paused_long": "窗口暂停过久",
        "k_service_unstaffed": "业务无窗口办理", "k_hall_crowded": "排队拥堵", "k_offline_ticket_void": "离线号作废",
    },
    "en": {
        "before_you_come": "Before you come", "not_offered": "This hall does not offer this service",
        "link_book": "Book an appointment: pick a service and a time, check in for priority",
        "link_prepare": "Fill in an invoice request on your phone and bring its QR code",
        "link_appeal": "Tell us about a problem or a request; follow it by its reference",
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
        "take_state": "Tickets", "close_service": "Stop tickets", "open_service": "Resume tickets", "closed_hours": "outside hours",
        "closed_supervisor": "tickets stopped", "closed_by": "stopped by {by} at {at}", "close_reason": "Reason for stopping (optional)",
        "close_reason_hint": "e.g. system maintenance", "failed": "Not done", "live_board": "Live board",
        "waiting_total": "Waiting", "counters_open": "Counters open", "alarms_active": "Active alarms",
        "served": "served", "no_shows": "no-shows", "offline_taken": "offline", "median": "median",
        "m_taken": "Taken", "m_served": "Served", "m_no_shows": "No-shows", "m_wait_mean": "Mean wait (min)",
        "m_service_mean": "Mean service (min)", "m_rating_mean": "Mean rating (1–5)", "m_dissatisfied": "Dissatisfied",
        "chart_served_hour": "Served and no-shows by hour", "chart_wait_hour": "Mean wait by hour",
        "chart_service_hour": "Mean service time by hour", "chart_rating_hour": "Mean rating by hour",
        "chart_served_day": "Served and no-shows, last 14 days", "chart_wait_day": "Mean wait, last 14 days",
        "chart_ratings": "Ratings", "unit_tickets": "tickets", "unit_min": "min", "unit_rating": "of 5", "unit_ratings": "ratings",
        "rating_5": "very satisfied", "rating_4": "satisfied", "rating_3": "fair", "rating_2": "dissatisfied",
        "rating_1": "very dissatisfied",
        "by_service": "By service", "by_counter": "By counter", "by_staff": "By staff member", "hour": "Hour",
        "no_stats": "No statistics for this day yet", "stats_table": "Hour by hour", "day_figures": "The day at a glance",
        "hours_axis": "h", "export_days": "Export 14 days as CSV",
        "k_ticket_overdue": "waited too long", "k_counter_overtime": "serving too long", "k_counter_paused_long": "paused too long",
        "k_service_unstaffed": "no counter open", "k_hall_crowded": "hall crowded", "k_offline_ticket_void": "offline ticket void",
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
