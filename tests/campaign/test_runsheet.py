"""Run sheets, airing confirmations and .ics feeds, on a real database; the CSV helper on its own."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlmodel import select

from campaign import calendars, runsheet
from campaign.models import ChannelConfig, ChannelKind, Occurrence, OccurrenceStatus, Timing, TrainingSession
from content.models import VariantIn
from tests.campaign.factories import SPOT_TEXT as SCRIPT
from tests.campaign.factories import approved_message, placement, radio_plan
from web.accounts.models import AuditEvent
from web.exports_safe import csv_text, safe_cell

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


# --- The CSV helper -----------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("=1+2", "'=1+2"), ("+509 3712", "'+509 3712"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("Radyo =", "Radyo ="), ("", ""), (None, None), (-5, -5), (30, 30), ("'=already", "'=already"),
])
def test_it_neutralises_formula_cells_and_keeps_them_readable(value, expected):
    assert safe_cell(value) == expected


def test_it_writes_a_csv_no_spreadsheet_runs():
    text = csv_text(["a", "=b"], [["=cmd|' /C calc'!A0", "ok", 3]])
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["a", "'=b"], ["'=cmd|' /C calc'!A0", "ok", "3"]]
    assert text.startswith("\ufeff")


# --- Weeks and answers --------------------------------------------------------------------


def test_it_reads_weeks_and_answers():
    assert runsheet.parse_week("2026-W10") == date(2026, 3, 2)
    assert runsheet.parse_week("2026w10") == date(2026, 3, 2)
    assert runsheet.parse_week("2026-03-05") == date(2026, 3, 2)
    assert runsheet.parse_week("", today=date(2026, 3, 8)) == date(2026, 3, 2)
    assert runsheet.week_label(date(2026, 3, 2)) == "2026-W10"
    with pytest.raises(ValueError, match="2026-W15"):
        runsheet.parse_week("next week")
    with pytest.raises(ValueError):
        runsheet.parse_week("2026-W60")
    for far in ("9999-12-31", "0001-01-01", "9999-W52"):
        with pytest.raises(ValueError, match="between 2000 and 2100"):
            runsheet.parse_week(far)
    assert runsheet.parse_week("２０２６-W10") == date(2026, 3, 2)  # other digits read as digits
    for yes in ("yes", "Oui", "WI", "1", " y "):
        assert runsheet.parse_aired(yes) == OccurrenceStatus.aired
    for no in ("no", "NON", "0", "n"):
        assert runsheet.parse_aired(no) == OccurrenceStatus.missed
    assert runsheet.parse_aired("") is None and runsheet.parse_aired(None) is None
    with pytest.raises(ValueError, match="yes, no, oui, non, wi, 1 or 0"):
        runsheet.parse_aired("maybe")


# --- Run sheet and confirmations ------------------------------------------------------------


def test_the_week_lists_every_airing_with_its_spot(session, personas):
    campaign, station, row = radio_plan(session, personas)
    airings = runsheet.week_airings(session=session, channel=station, monday=date(2026, 3, 2))
    assert len(airings) == 14
    first = airings[0]
    assert (first.ref, first.daypart, first.spot, first.language, first.duration_seconds) == (
        f"{row.id}-20260302T0730", "Morning drive", "Hotline spot, daily", "ht", 30)
    assert first.script == SCRIPT and first.status == "planned"
    assert airings[1].daypart == "Evening"
    text = runsheet.runsheet_csv(airings)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0]["script"] == "'" + SCRIPT  # neutralised, still readable
    assert [r["airing"] for r in rows] == [a.ref for a in airings]
    assert runsheet.week_airings(session=session, channel=station, monday=date(2026, 3, 30)) == []


def test_an_airing_in_the_hour_clocks_skip_goes_out_an_hour_later(session, personas):
    campaign, station, row = radio_plan(session, personas, times=("02:30",))
    airings = runsheet.week_airings(session=session, channel=station, monday=date(2026, 3, 2))
    sunday = airings[-1]
    assert (sunday.local_at, sunday.airs_local) == (datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 3, 30))
    assert sunday.ref == f"{row.id}-20260308T0230"
    last = list(csv.DictReader(io.StringIO(runsheet.runsheet_csv(airings).lstrip("\ufeff"))))[-1]
    assert (last["airing"], last["time"]) == (sunday.ref, "03:30")


def _fill(text: str, answers: dict[int, str], notes: dict[int, str] | None = None) -> bytes:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header = rows[0]
    for i, value in answers.items():
        rows[i][header.index("aired")] = value
    for i, value in (notes or {}).items():
        rows[i][header.index("note")] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


def test_the_run_sheet_round_trip_records_aired_and_missed_once(session, personas):
    campaign, station, row = radio_plan(session, personas)
    monday = date(2026, 3, 2)
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    raw = _fill(runsheet.runsheet_csv(airings), {1: "yes", 2: "oui", 3: "non", 4: "wi", 5: "0", 6: ""}, {3: "power cut"})
    decisions = runsheet.read_confirmations(raw, airings, now=NOW, station=station.name, monday=monday)
    assert len(decisions) == 5
    result = runsheet.confirm_airings(session=session, channel=station, monday=monday, decisions=decisions, airings=airings,
                                      actor=personas["carla"], source="upload", now=NOW)
    assert (result.aired, result.missed, result.changed) == (3, 2, 5)
    occ = {o.local_at: o for o in session.exec(select(Occurrence).where(Occurrence.placement_id == row.id))}
    assert len(occ) == 14  # the week materialised
    # The run sheet is the spot's delivery: aired -> delivered, missed -> failed with the station's note.
    from campaign.models import Delivery, DeliveryStatus
    airing = {d.occurrence_id: d for d in session.exec(select(Delivery).where(Delivery.placement_id == row.id))}
    assert sorted(d.status.value for d in airing.values()) == ["delivered"] * 3 + ["failed"] * 2
    assert airing[occ[datetime(2026, 3, 3, 7, 30)].id].reason == "the station says it did not air: power cut"
    assert all(d.recipient_key == "airing" for d in airing.values())
    assert occ[datetime(2026, 3, 2, 7, 30)].status == OccurrenceStatus.aired
    missed = occ[datetime(2026, 3, 3, 7, 30)]
    assert (missed.status, missed.reason, missed.confirmed_by) == (OccurrenceStatus.missed, "power cut", personas["carla"].full_name or "carla")
    assert occ[datetime(2026, 3, 4, 18, 45)].status == OccurrenceStatus.planned  # blank: not confirmed
    assert occ[datetime(2026, 3, 4, 18, 45)].confirmed_at is None
    audits = session.exec(select(AuditEvent).where(AuditEvent.action == "airings.confirm")).all()
    assert len(audits) == 1
    # The same file again changes nothing and audits nothing.
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    decisions = runsheet.read_confirmations(raw, airings, now=NOW, station=station.name, monday=monday)
    again = runsheet.confirm_airings(session=session, channel=station, monday=monday, decisions=decisions, airings=airings,
                                     actor=personas["carla"], source="upload", now=NOW + timedelta(hours=1))
    assert (again.changed, again.unchanged) == (0, 5)
    assert len(session.exec(select(Delivery).where(Delivery.placement_id == row.id)).all()) == 5  # nothing twice
    assert occ[datetime(2026, 3, 2, 7, 30)].confirmed_at == NOW
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "airings.confirm")).all()) == 1
    # The downloaded sheet now carries the answers.
    rows = list(csv.DictReader(io.StringIO(runsheet.runsheet_csv(airings).lstrip("\ufeff"))))
    assert [r["aired"] for r in rows[:6]] == ["yes", "yes", "no", "yes", "no", ""]


def test_a_bad_file_names_line_and_column_and_stores_nothing(session, personas):
    campaign, station, row = radio_plan(session, personas)
    monday = date(2026, 3, 2)
    airings = runsheet.week_airings(session=session, channel=station, monday=monday)
    text = runsheet.runsheet_csv(airings)
    lines = text.split("\r\n")
    lines[3] = lines[3].replace(f"{row.id}-20260303T0730", f"{row.id}-20260303T0731")
    raw = _fill("\r\n".join(lines), {1: "yes", 2: "maybe", 3: "no"})
    with pytest.raises(runsheet.ConfirmError) as err:
        runsheet.read_confirmations(raw, airings, now=NOW, station=station.name, monday=monday)
    problems = [str(p) for p in err.value.problems]
    assert problems[0].startswith("line 3, column K (aired): 'maybe' is not an answer")
    assert problems[1].startswith(f"line 4, column A (airing): '{row.id}-20260303T0731' is not an airing of Radio Kiskeya")
    assert session.exec(select(Occurrence)).all() == []
    # Semicolons (a French Excel), no BOM, a missing column.
    with pytest.raises(runsheet.ConfirmError, match="no column 'aired'"):
        runsheet.read_confirmations(b"airing;date\n1-20260302T0730;2026-03-02\n", airings, now=NOW, station="x", monday=monday)
    ok = runsheet.read_confirmations(f"airing;aired\n{row.id}-20260302T0730;Oui\n".encode("cp1252"), airings, now=NOW,
                                     station="x", monday=monday)
    assert ok[f"{row.id}-20260302T0730"].status == OccurrenceStatus.aired
    # A script over several lines in one cell: problems are numbered by spreadsheet row.
    multi = (f'airing,script,aired\n{row.id}-20260302T0730,"one\ntwo\nthree",yes\n{row.id}-20260302T1845,x,bof\n').encode()
    with pytest.raises(runsheet.ConfirmError, match=r"^line 3, column C \(aired\): 'bof'"):
        runsheet.read_confirmations(multi, airings, now=NOW, station="x", monday=monday)
    with pytest.raises(runsheet.ConfirmError, match="save it as CSV"):
        runsheet.read_confirmations(b"PK\x03\x04rest", airings, now=NOW, station="x", monday=monday)
    # An airing still to come cannot be confirmed.
    with pytest.raises(runsheet.ConfirmError, match="still to come"):
        runsheet.read_confirmations(f"airing,aired\n{row.id}-20260302T0730,yes\n".encode(), airings,
                                    now=datetime(2026, 3, 2, 12, tzinfo=timezone.utc), station="x", monday=monday)
    # Conflicting answers for one airing.
    with pytest.raises(runsheet.ConfirmError, match="also on line 2"):
        runsheet.read_confirmations(f"airing,aired\n{row.id}-20260302T0730,yes\n{row.id}-20260302T0730,no\n".encode(),
                                    airings, now=NOW, station="x", monday=monday)


# --- iCalendar feeds ------------------------------------------------------------------------


def _events(ics: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(ics)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


@pytest.mark.parametrize("tz", ["America/Port-au-Prince", "America/New_York"])
def test_the_channel_feed_has_stable_uids_and_dst_correct_times(session, personas, tz):
    campaign, station, row = radio_plan(session, personas, tz=tz, times=("02:30", "07:30"))
    first = calendars.build_ics("Konbit: x", calendars.channel_items(session=session, channel=station))
    second = calendars.build_ics("Konbit: x", calendars.channel_items(session=session, channel=station))
    assert first == second
    events = _events(first)
    assert len(events) == 28
    cal = Calendar.from_ical(first)
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == [tz]
    before = events[f"{row.uid}-20260307T0730@konbit"]
    after = events[f"{row.uid}-20260309T0730@konbit"]
    assert before.start.utcoffset() == timedelta(hours=-5) and after.start.utcoffset() == timedelta(hours=-4)
    assert before.start.astimezone(timezone.utc).hour == 12 and after.start.astimezone(timezone.utc).hour == 11
    assert (after.start.hour, after.start.minute) == (7, 30)
    assert after.end - after.start == timedelta(seconds=30)
    assert b"DTSTART;TZID=" + tz.encode() + b":20260309T073000" in first
    # 02:30 on 8 March does not exist: it airs at 03:30 EDT, like the schedule's due time.
    gap = events[f"{row.uid}-20260308T0230@konbit"]
    assert (gap.start.hour, gap.start.utcoffset()) == (3, timedelta(hours=-4))
    assert SCRIPT in str(after["DESCRIPTION"])
    # Renaming the placement keeps the UIDs: a calendar updates its events.
    row.name = "Renamed"
    row.updated_at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    session.add(row)
    session.flush()
    renamed = _events(calendars.build_ics("x", calendars.channel_items(session=session, channel=station)))
    assert set(renamed) == set(events)
    assert str(renamed[f"{row.uid}-20260309T0730@konbit"]["SUMMARY"]).startswith("Renamed")


def test_missed_airings_and_facilitators_feeds(session, personas):
    campaign, station, row = radio_plan(session, personas)
    occ = schedule_one(session, campaign, row)
    occ.status = OccurrenceStatus.missed
    occ.confirmed_at = datetime(2026, 3, 5, tzinfo=timezone.utc)
    session.add(occ)
    venue = ChannelConfig(name="EMA", kind=ChannelKind.training, provider="venue")
    session.add(venue)
    session.flush()
    briefing = approved_message(session, author=personas["carla"], approver=personas["leo"], title="Training",
                                variants=[VariantIn(language="fr", channel="briefing", body="Séance.")])
    training = placement(session, campaign=campaign, message=briefing, channel=venue, timing=Timing.sessions,
                         starts_local=None, language="fr")
    for day, who in ((10, "Me Guerline Exantus"), (17, "Juge Wilson Mondésir"), (24, "me  guerline exantus")):
        session.add(TrainingSession(placement_id=training.id, starts_local=datetime(2026, 3, day, 9), venue="EMA",
                                    facilitator=who, duration_minutes=180))
    session.flush()
    events = _events(calendars.build_ics("x", calendars.channel_items(session=session, channel=station)))
    assert str(events[f"{row.uid}-20260302T0730@konbit"]["STATUS"]) == "CANCELLED"
    assert calendars.facilitators(session=session) == ["Juge Wilson Mondésir", "Me Guerline Exantus"]
    items = calendars.facilitator_items(session=session, name="Me Guerline  Exantus")
    assert [i.local_at.day for i in items] == [10, 24]
    feed = _events(calendars.build_ics("x", items))
    sessions = session.exec(select(TrainingSession).order_by(TrainingSession.starts_local)).all()
    assert set(feed) == {f"training-session-{sessions[0].id}@konbit", f"training-session-{sessions[2].id}@konbit"}
    one = feed[f"training-session-{sessions[0].id}@konbit"]
    assert one.end - one.start == timedelta(hours=3) and str(one["LOCATION"]) == "EMA"
    venue_feed = _events(calendars.build_ics("x", calendars.channel_items(session=session, channel=venue)))
    assert set(venue_feed) >= set(feed)


def schedule_one(session, campaign, row) -> Occurrence:
    from campaign import schedule

    return schedule.materialise(session=session, campaign=campaign, placement=row,
                                window_start=datetime(2026, 3, 2, tzinfo=timezone.utc),
                                window_end=datetime(2026, 3, 2, 15, tzinfo=timezone.utc))[0]
