"""The schedule's pure rules: wall-clock times across daylight-saving changes, quiet hours, caps."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from campaign import rules

NY = ZoneInfo("America/New_York")
PAP = ZoneInfo("America/Port-au-Prince")


def test_a_daily_spot_stays_at_0730_wall_clock_across_the_march_change_in_new_york():
    # 2026-03-08: clocks go forward in New York (EST -5 -> EDT -4).
    times = rules.expand(starts_local=datetime(2026, 3, 6, 7, 30), rrule="FREQ=DAILY;COUNT=4", tz=NY)
    assert [t.local_at.time() for t in times] == [time(7, 30)] * 4
    assert [t.due_at.hour for t in times] == [12, 12, 11, 11]  # UTC moves, the wall clock does not
    assert all(t.due_at.tzinfo is timezone.utc for t in times)


def test_port_au_prince_follows_its_own_daylight_saving_rules():
    # Haiti observes US-style DST (second Sunday of March): 2026-03-08.
    before, after = rules.expand(starts_local=datetime(2026, 3, 7, 18, 0), rrule="FREQ=DAILY;INTERVAL=2;COUNT=2", tz=PAP)
    assert before.due_at == datetime(2026, 3, 7, 23, 0, tzinfo=timezone.utc)
    assert after.due_at == datetime(2026, 3, 9, 22, 0, tzinfo=timezone.utc)


def test_a_time_in_the_skipped_hour_moves_forward_and_a_repeated_hour_is_the_first():
    assert rules.local_to_utc(datetime(2026, 3, 8, 2, 30), NY) == datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)
    # 2026-11-01 01:30 happens twice in New York: the first (EDT) is kept.
    assert rules.local_to_utc(datetime(2026, 11, 1, 1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)


def test_expansion_is_deterministic_and_windowed():
    kwargs = dict(starts_local=datetime(2026, 3, 2, 7, 30), rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20260331T235959", tz=PAP)
    whole = rules.expand(**kwargs)
    assert len(whole) == 22  # the weekdays of March 2026
    assert rules.expand(**kwargs) == whole
    start, end = whole[5].due_at, whole[10].due_at
    assert rules.expand(**kwargs, window_start=start, window_end=end) == whole[5:10]
    assert rules.expand(**kwargs, last_local=datetime(2026, 3, 6, 23, 59)) == whole[:5]


def test_three_blocks_a_day_for_six_weeks():
    times = rules.expand(starts_local=datetime(2026, 4, 6, 7, 0), rrule="FREQ=DAILY;BYHOUR=7,12,18;BYMINUTE=0;COUNT=126", tz=PAP)
    assert len(times) == 126 and {t.local_at.hour for t in times} == {7, 12, 18}
    assert times[-1].local_at.date() == date(2026, 5, 17)


@pytest.mark.parametrize("rule, words", [
    ("", "Give a recurrence rule"),
    ("FREQ=MINUTELY", "at most hourly"),
    ("BYDAY=MO", "needs FREQ"),
    ("DTSTART:20260101T000000\nFREQ=DAILY", "Leave DTSTART out"),
    ("FREQ=DAILY;BYDAY=XX", "cannot be read"),
])
def test_bad_rules_say_why(rule, words):
    assert words in rules.check_rrule(rule, datetime(2026, 3, 1, 8, 0))


def test_time_zones_are_checked():
    assert rules.check_timezone("America/Port-au-Prince") is None
    assert "IANA" in rules.check_timezone("Haiti/Jacmel")
    assert "IANA" in rules.check_timezone("")


def test_quiet_hours_wrap_midnight():
    start, end = time(21, 0), time(7, 0)
    assert rules.in_quiet_hours(time(22, 0), start, end)
    assert rules.in_quiet_hours(time(6, 59), start, end)
    assert not rules.in_quiet_hours(time(7, 0), start, end)
    assert not rules.in_quiet_hours(time(12, 0), start, end)
    assert rules.in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))
    assert not rules.in_quiet_hours(time(3, 0), None, None)


def test_next_allowed_skips_quiet_hours_and_days_off():
    weekdays = range(5)
    # Friday 22:00, quiet 21-07, no weekend: Monday 07:00.
    assert rules.next_allowed(datetime(2026, 3, 6, 22, 0), quiet_start=time(21), quiet_end=time(7), send_days=weekdays) \
        == datetime(2026, 3, 9, 7, 0)
    assert rules.next_allowed(datetime(2026, 3, 4, 10, 0), quiet_start=time(21), quiet_end=time(7), send_days=weekdays) \
        == datetime(2026, 3, 4, 10, 0)
    assert rules.next_allowed(datetime(2026, 3, 4, 10, 0), quiet_start=None, quiet_end=None, send_days=[]) is None
    assert rules.allowed_day(date(2026, 3, 7), [5, 6]) and not rules.allowed_day(date(2026, 3, 7), weekdays)


def test_rolling_week_cap_counts_what_would_be_skipped():
    days = [datetime(2026, 3, d, 9) for d in (1, 2, 3, 4, 8, 9)]
    assert rules.rolling_week_excess(days, None) == 0
    assert rules.rolling_week_excess(days, 10) == 0
    # cap 3: Mar 4 is the fourth in seven days; Mar 8 and 9 fall in windows that hold at most two kept ones.
    assert rules.rolling_week_excess(days, 3) == 1
    assert rules.rolling_week_excess(days, 1) == 4  # kept 1, 8; over: 2, 3, 4, 9


def test_relative_times_land_on_the_contacts_day():
    consent = datetime(2026, 3, 1, 3, 0, tzinfo=timezone.utc)  # 22:00 on Feb 28 in Port-au-Prince
    occ = rules.relative_time(consent, offset_days=3, at_time=time(9, 0), tz=PAP)
    assert occ.local_at == datetime(2026, 3, 3, 9, 0)
    assert rules.weekday_names([4, 0, 0]) == ["Monday", "Friday"]
