"""The hall screen's texts, as a plain object: what each label says, in Chinese or English.

The Kivy layer (hall_app.py, hall.kv) only copies these strings onto widgets, so everything a
taxpayer reads on the hall screen is tested here without a window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from display.hall_model import SERVICE_NAMES_EN, HallModel
from taxhall.bus.schemas import Notice, PosterManifest

WEEKDAYS_ZH = "一二三四五六日"


@dataclass(frozen=True)
class ServiceCard:
    code: str
    title: str
    waiting: str
    wait: str
    open: bool


@dataclass
class HallView:
    model: HallModel
    hall_name: str = "办税服务厅"
    hall_name_en: str = "Tax Service Hall"
    lang: str = "zh"
    notice: Notice | None = None
    posters: PosterManifest | None = None
    poster_index: int = 0
    _poster_seconds: float = field(default=0.0, repr=False)

    def title(self) -> str:
        return self.hall_name if self.lang == "zh" else self.hall_name_en

    def clock(self, now: datetime) -> str:
        if self.lang == "zh":
            return f"{now:%Y年%m月%d日} 星期{WEEKDAYS_ZH[now.weekday()]} {now:%H:%M}"
        return f"{now:%a %d %b %Y  %H:%M}"

    def headline(self) -> tuple[str, str, str]:
        """(ticket, counter line, sentence) of the latest call."""
        call = self.model.latest
        if call is None:
            return ("", "", "欢迎光临，请取号等候叫号" if self.lang == "zh" else "Welcome — please take a ticket")
        if self.lang == "zh":
            again = "（重呼）" if call.recall else ""
            return (call.ticket, f"{call.counter} 号窗口", f"请 {call.ticket} 号到 {call.counter} 号窗口办理{again}")
        again = " (recall)" if call.recall else ""
        return (call.ticket, f"Window {call.counter}", f"Number {call.ticket}, please go to window {call.counter}{again}")

    def recent_rows(self, count: int = 6) -> list[tuple[str, str]]:
        """Calls before the latest: (ticket, counter)."""
        rows = list(self.model.recent)[1 : count + 1]
        suffix = "号窗口" if self.lang == "zh" else ""
        prefix = "" if self.lang == "zh" else "Window "
        return [(c.ticket, f"{prefix}{c.counter}{suffix}") for c in rows]

    def service_cards(self) -> list[ServiceCard]:
        cards = []
        for line in self.model.service_lines():
            minutes = max(1, round(line.est_wait_s / 60)) if line.waiting else 0
            if self.lang == "zh":
                title = f"{line.code} {line.name}"
                waiting = f"等候 {line.waiting} 人"
                wait = ("约 %d 分钟" % minutes if line.waiting else "无需等候") if line.open else "暂停办理"
            else:
                title = f"{line.code} {SERVICE_NAMES_EN.get(line.code, line.name)}"
                waiting = f"{line.waiting} waiting"
                wait = (f"about {minutes} min" if line.waiting else "no wait") if line.open else "closed"
            cards.append(ServiceCard(line.code, title, waiting, wait, line.open))
        return cards

    def notice_text(self) -> str:
        if self.notice is None:
            return "请妥善保管您的号票，过号请重新取号" if self.lang == "zh" else "Please keep your ticket; a missed number needs a new ticket"
        return self.notice.text if self.lang == "zh" or not self.notice.text_en else self.notice.text_en

    def poster(self) -> tuple[str, str]:
        if not self.posters or not self.posters.posters:
            if self.lang == "zh":
                return ("温馨提示", "24小时自助办税区全天开放：完税证明打印、扫码开票、自助代开发票、发票查验。"
                                    "老年人和残障人士可选择大字模式，或请工作人员协助。")
            return ("Welcome", "The 24-hour self-service area is always open: tax payment certificates, invoices "
                               "by QR code, self-invoicing and invoice checks. Large-text mode and staff help are available.")
        p = self.posters.posters[self.poster_index % len(self.posters.posters)]
        if self.lang == "en" and p.title_en:
            return (p.title_en, p.body_en)
        return (p.title, p.body)

    def tick(self, seconds: float) -> bool:
        """Advances the poster rotation; True when the poster changed."""
        if not self.posters or len(self.posters.posters) < 2:
            return False
        self._poster_seconds += seconds
        current = self.posters.posters[self.poster_index % len(self.posters.posters)]
        if self._poster_seconds >= current.seconds:
            self._poster_seconds = 0.0
            self.poster_index = (self.poster_index + 1) % len(self.posters.posters)
            return True
        return False
