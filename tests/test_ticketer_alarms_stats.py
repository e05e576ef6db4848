"""Service-level alarms (raised once, cleared once, kept across restarts), statistics of a
day, retention, and the `[ticketer]` config section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taxhall.bus.schemas import DeviceEvent
from taxhall.config import ConfigError, load_config
from ticketer.config import TicketerSection
from ticketer.stats import day_stats, days_stats, rating_levels, render_csv, render_text
from tests.ticketer_helpers import TZ, Hall, at, section


def alarm_events(hall: Hall) -> list[tuple[str, str, str]]:
    """(kind, severity, key) of the alarm events handed since the last call; each validates."""
    out = []
    for topic, payload in hall.events():
        if topic.endswith("/event"):
            DeviceEvent.model_validate(payload)
            out.append((payload["kind"], payload["severity"], payload["data"]["key"]))
    return out


# ---------------------------------------------------------------- alarms


def test_overdue_ticket_raised_once_and_cleared_when_called(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite")
    hall.login("1")
    late = hall.take("A")
    hall.clock.advance(1799)
    assert hall.engine.check_alarms() == []
    hall.clock.advance(1)
    assert hall.engine.check_alarms() == [(f"ticket_overdue:{late.id}", "warning")]
    hall.clock.advance(60)
    assert hall.engine.check_alarms() == []  # once
    hall.crash_reopen()
    assert hall.engine.check_alarms() == []  # still once after a restart
    hall.call("1")
    assert hall.engine.check_alarms() == [(f"ticket_overdue:{late.id}", "cleared")]
    kinds = alarm_events(hall)
    assert kinds == [("ticket_overdue", "warning", f"ticket_overdue:{late.id}"),
                     ("ticket_overdue", "cleared", f"ticket_overdue:{late.id}")]


def test_service_without_an_open_counter(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(counters=[{"id": "1", "services": ["A"]}, {"id": "2", "services": ["B", "C", "V"]}]))
    hall.engine.check_alarms()
    hall.take("B")
    assert hall.engine.check_alarms() == [("service_unstaffed:B", "alarm")]
    hall.login("1")  # serves A only: no help
    assert hall.engine.check_alarms() == []
    hall.login("2")
    assert hall.engine.check_alarms() == [("service_unstaffed:B", "cleared")]
    hall.op("pause", "2", "break")
    assert hall.engine.check_alarms() == [("service_unstaffed:B", "alarm")]


def test_counter_paused_too_long_and_serving_too_long(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(pause_alarm_s=600))
    hall.login("1", "2")
    hall.op("pause", "2", "break")
    hall.take("C")
    hall.call("1")
    hall.op("start", "1")
    hall.clock.advance(600)
    assert sorted(hall.engine.check_alarms()) == [("counter_paused_long:2", "warning")]
    hall.clock.advance(1200)  # C's max_service_s is 1200 by default
    ticket_id = hall.engine.counters["1"].ticket_id
    assert hall.engine.check_alarms() == [(f"counter_overtime:1:{ticket_id}", "warning")]
    hall.op("finish", "1")
    hall.op("resume", "2")
    assert sorted(hall.engine.check_alarms()) == [(f"counter_overtime:1:{ticket_id}", "cleared"), ("counter_paused_long:2", "cleared")]


def test_crowded_hall_with_hysteresis(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(crowd_waiting=10, crowd_est_wait_s=100_000))
    hall.login(*[str(n) for n in range(1, 9)])
    for _ in range(10):
        hall.take("A")
    assert hall.engine.check_alarms() == [("hall_crowded", "alarm")]
    hall.serve("1")  # 9 waiting: above 80 % of 10, still crowded
    assert hall.engine.check_alarms() == []
    hall.serve("1")  # 8: not above 80 %
    assert hall.engine.check_alarms() == []
    hall.serve("1")
    assert hall.engine.check_alarms() == [("hall_crowded", "cleared")]


def test_crowding_by_estimated_wait(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(crowd_waiting=1000, crowd_est_wait_s=1500))
    hall.login("1")
    for _ in range(6):  # 6 × 300 s ahead of the next one on one counter
        hall.take("A")
    assert hall.engine.check_alarms() == [("hall_crowded", "alarm")]
    hall.login("2", "3")  # three counters: 600 s
    assert hall.engine.check_alarms() == [("hall_crowded", "cleared")]


# ---------------------------------------------------------------- statistics


def busy_day(db_path: Path) -> Hall:
    hall = Hall(db_path, start="2026-11-27 09:00")
    hall.login("1", staff="S1")
    hall.login("2", staff="S2")
    hall.take("A")
    hall.take("A")
    hall.take("B")
    hall.clock.advance(120)
    hall.call("1")  # A001 waited 120 s
    hall.op("start", "1")
    hall.clock.advance(300)
    hall.op("finish", "1")
    hall.op("rate", "A001", 5)
    hall.call("2")  # A002 waited 420 s
    hall.op("recall", "2")
    hall.op("no_show", "2")
    hall.clock.now = at("2026-11-27 10:30")
    hall.call("1")  # B001
    hall.op("transfer", "1", to_service="C")
    hall.call("2")  # B001 again, now C
    hall.clock.advance(600)
    hall.op("finish", "2")
    hall.op("rate", "B001", 2)
    return hall


def test_day_statistics_per_counter_staff_service_and_hour(tmp_path: Path) -> None:
    hall = busy_day(tmp_path / "q.sqlite")
    rows = {(r.group, r.key): r for r in day_stats(hall.path, "20261127", TZ)}
    whole = rows[("hall", "all")]
    assert (whole.taken, whole.called, whole.served, whole.no_shows, whole.transfers) == (3, 4, 2, 1, 1)
    assert whole.ratings == 2 and whole.rating_mean == 3.5 and whole.dissatisfied == 1
    assert rows[("counter", "1")].served == 1 and rows[("counter", "1")].transfers == 1
    assert rows[("counter", "2")].no_shows == 1 and rows[("counter", "2")].served == 1
    assert rows[("staff", "S1")].service_mean_s == 300.0
    assert rows[("service", "A")].taken == 2 and rows[("service", "A")].wait_mean_s == (120 + 420) / 2
    assert rows[("service", "C")].served == 1 and rows[("service", "C")].service_median_s == 600.0
    assert rows[("service", "B")].transfers == 1
    assert rows[("hour", "09")].taken == 3 and rows[("hour", "10")].called == 2
    assert day_stats(hall.path, "20261126", TZ) == []

    text = render_text(list(rows.values()), "20261127")
    assert "business day 2026-11-27" in text and "by staff" in text
    lines = render_csv(list(rows.values())).splitlines()
    assert lines[0].startswith("group,key,taken,called,served,no_shows,transfers,wait_mean_s")
    assert "hall,all,3,4,2,1,1," in lines[1]


def test_a_run_of_days_and_the_ratings_by_level_for_the_dashboard(tmp_path: Path) -> None:
    hall = busy_day(tmp_path / "q.sqlite")
    hall.clock.now = at("2026-11-29 09:00")  # the 28th had nobody
    hall.take("A")
    hall.login("3", staff="S3")
    hall.serve("3", 240)
    days = days_stats(hall.path, "20261129", 4, TZ)
    assert [(r.group, r.key, r.taken, r.served, r.no_shows) for r in days] == [
        ("day", "20261126", 0, 0, 0), ("day", "20261127", 3, 2, 1), ("day", "20261128", 0, 0, 0), ("day", "20261129", 1, 1, 0)]
    assert days[1].rating_mean == 3.5 and days[3].service_mean_s == 240.0 and days[0].wait_mean_s is None
    assert rating_levels(hall.path, "20261127") == {5: 1, 4: 0, 3: 0, 2: 1, 1: 0}
    assert rating_levels(hall.path, "20261129") == {5: 0, 4: 0, 3: 0, 2: 0, 1: 0}


def test_stats_command(tmp_path: Path) -> None:
    hall = busy_day(tmp_path / "ticketer" / "queue.sqlite")
    hall.engine.close()
    data = tmp_path
    config = tmp_path / "device.toml"
    config.write_text('[ticketer]\ntimezone = "Asia/Shanghai"\n')
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "taxhall.cli", "ticketer", "stats", "--config", str(config), "--data-dir", str(data), *extra],
        capture_output=True, text=True, timeout=60)
    table = run("--date", "2026-11-27")
    assert table.returncode == 0, table.stderr
    assert "by counter" in table.stdout and "S2" in table.stdout
    as_csv = run("--date", "2026-11-27", "--csv")
    assert as_csv.stdout.splitlines()[1].startswith("hall,all,3,4,2,1,1,")
    bad = run("--date", "27.11.2026")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_retention_deletes_old_days_but_keeps_live_tickets(tmp_path: Path) -> None:
    hall = Hall(tmp_path / "q.sqlite", section(retention_days=7, request_memory_h=24), start="2026-11-01 09:00")
    hall.login("1")
    hall.take("A")
    hall.serve("1")
    kept = hall.take("B")
    hall.engine.housekeeping()
    hall.clock.now = at("2026-11-09 09:00")
    counts = hall.engine.housekeeping()
    assert counts == {"tickets": 1, "calls": 0, "serves": 1, "leases": 0, "requests": 6}
    assert hall.engine.store.ticket(kept.id) is not None  # still waiting: never deleted
    assert hall.engine.seq == 1  # the last call stays, so the sequence goes on
    hall.crash_reopen()
    assert hall.engine.seq == 1 and kept.id in hall.engine.waiting
    assert hall.engine.housekeeping() is not None and hall.engine.housekeeping() is None  # once a day and hour


# ---------------------------------------------------------------- config


def test_defaults_are_the_example_hall() -> None:
    config = TicketerSection()
    assert [(s.code, s.name, s.name_en) for s in config.services] == [
        ("A", "综合业务", "General"), ("B", "发票业务", "Invoices"), ("C", "申报纳税", "Tax filing"), ("V", "预约", "Appointments")]
    assert [c.id for c in config.counters] == [str(n) for n in range(1, 9)]
    assert all(c.services == ["A", "B", "C", "V"] for c in config.counters)


@pytest.mark.parametrize("body,expected", [
    ('[ticketer]\nreset_at = "25:00"\n', "ticketer.reset_at"),
    ('[ticketer]\nfairness_factor = "3"\n', "ticketer.fairness_factor"),
    ('[ticketer]\ntimezone = "Mars/Olympus"\n', "IANA"),
    ('[ticketer]\nrecal_limit = 3\n', "ticketer.recal_limit: unknown key"),
    ('[[ticketer.services]]\ncode = "a"\nname = "x"\nname_en = "x"\n', "ticketer.services.0.code"),
    ('[[ticketer.services]]\ncode = "A"\nname = "综合"\nname_en = "General"\nhours = ["9-17"]\n', "08:30"),
    ('[[ticketer.counters]]\nid = "1"\nservices = ["Q"]\n', "unknown services"),
    ('[[ticketer.counters]]\nid = "1"\nservices = ["A"]\nprefer = ["B"]\n', "does not serve"),
])
def test_bad_config_is_refused_with_the_key(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "device.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, "ticketer", sections={"ticketer": TicketerSection})
    assert expected in str(caught.value)


def test_a_config_file_hall(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text(
        '[ticketer]\ntimezone = "Asia/Shanghai"\nreset_at = "04:00"\nfairness_factor = 2.5\n'
        '[[ticketer.services]]\ncode = "A"\nname = "综合业务"\nname_en = "General"\nhours = ["08:30-17:30"]\ndaily_limit = 300\n'
        '[[ticketer.counters]]\nid = "1"\nservices = ["A"]\n', encoding="utf-8")
    config = load_config(path, "ticketer", sections={"ticketer": TicketerSection}).section("ticketer")
    assert config.reset_minute == 240 and config.services[0].daily_limit == 300 and config.fairness_factor == 2.5
