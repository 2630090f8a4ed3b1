"""Training sessions: invitations within capacity, attendance by checkbox and by sign-in sheet, rates."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlmodel import select

from campaign import trainings as tr
from campaign.models import ChannelKind, ContactOptOut, PlacementStatus, TrainingAttendance
from campaign.service import PlanConflict, PlanError
from tests.campaign.factories import contacts, segment
from tests.campaign.training_factories import NOW, training_setup
from web.accounts.models import AuditEvent


def _info(session, campaign, training):
    return tr.get_training(session=session, campaign=campaign, session_id=training.id)


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _invite_past(session, campaign, past, people, carla):
    """Invitations to the past session, made before it (the service refuses them afterwards)."""
    return tr.invite(session=session, info=_info(session, campaign, past), contact_ids=[c.id for c in people],
                     actor=carla, now=NOW - timedelta(days=30))


def test_it_lists_sessions_upcoming_and_past_with_filters(session, personas):
    campaign, _, past, future, _, _ = training_setup(session, personas)
    assert [s.training.id for s in tr.list_sessions(session=session, now=NOW)] == [past.id, future.id]
    assert [s.training.id for s in tr.list_sessions(session=session, when="upcoming", now=NOW)] == [future.id]
    assert [s.training.id for s in tr.list_sessions(session=session, when="past", now=NOW)] == [past.id]
    assert [s.training.id for s in tr.list_sessions(session=session, facilitator="WILSON")] == [future.id]
    assert [s.training.id for s in tr.list_sessions(session=session, venue="port-au")] == [past.id]
    assert tr.list_sessions(session=session, venue="100%_") == []
    assert tr.list_sessions(session=session, campaign_id=campaign.id + 1) == []
    with pytest.raises(PlanError):
        tr.list_sessions(session=session, when="tomorrow")


def test_it_finds_the_approved_briefing_and_the_survey_waves(session, personas):
    campaign, placement, past, _, _, _ = training_setup(session, personas)
    found = tr.materials(session=session, placement=placement)
    assert [(m.variant.language, m.preferred) for m in found] == [("fr", True), ("ht", False)]
    assert found[0].message.title == "Applying the 2014 law"
    assert tr.session_waves(session=session, training=past) == {"pre": None, "post": None}


def test_invitations_respect_capacity_and_refuse_everything_beyond_it(session, personas):
    campaign, _, _, future, judges, prosecutors = training_setup(session, personas, capacity_future=5)
    carla = personas["carla"]
    info = _info(session, campaign, future)
    with pytest.raises(PlanConflict) as err:
        tr.invite(session=session, info=info, everyone=True, actor=carla, now=NOW)
    assert "5 seats and 0 are taken: 5 left, so 10 more cannot be invited. Nothing was invited" in err.value.message
    assert session.exec(select(TrainingAttendance)).all() == []
    done = tr.invite(session=session, info=info, contact_ids=[judges[0].id, judges[1].id], actor=carla, now=NOW)
    assert (done.added, done.already) == (2, 0)
    again = tr.invite(session=session, info=info, contact_ids=[judges[0].id], actor=carla, now=NOW)
    assert (again.added, again.already) == (0, 1)
    filled = tr.invite(session=session, info=info, segment="prosecutors", everyone=True, up_to_capacity=True,
                       actor=carla, now=NOW)
    assert (filled.added, filled.left_out) == (3, 1)
    with pytest.raises(PlanConflict) as err:
        tr.invite(session=session, info=info, contact_ids=[judges[5].id], actor=carla, now=NOW)
    assert "0 left" in err.value.message
    assert _info(session, campaign, future).counts.invited == 5
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "training.invite")).all()


def test_only_the_placements_segments_can_be_invited(session, personas):
    campaign, _, past, future, judges, _ = training_setup(session, personas)
    carla = personas["carla"]
    police = contacts(session, 1, seg=segment(session, "police"), start=500)[0]
    out = judges[0]
    session.add(ContactOptOut(contact_id=out.id, channel_kind=ChannelKind.training, source="staff"))
    session.flush()
    info = _info(session, campaign, future)
    with pytest.raises(PlanError) as err:
        tr.invite(session=session, info=info, contact_ids=[police.id, out.id], actor=carla, now=NOW)
    assert err.value.errors["contact_ids"].startswith(f"Contact(s) {police.id}, {out.id} are not in this training's segments")
    with pytest.raises(PlanError) as err:
        tr.invite(session=session, info=info, segment="police", everyone=True, actor=carla, now=NOW)
    assert "police is not one of this training's segments (judges, prosecutors)" in err.value.errors["segment"]
    with pytest.raises(PlanConflict, match="invitations are closed"):
        tr.invite(session=session, info=_info(session, campaign, past), contact_ids=[judges[1].id], actor=carla, now=NOW)
    placement = _info(session, campaign, future).placement
    placement.status = PlacementStatus.cancelled
    session.add(placement)
    with pytest.raises(PlanConflict, match="cancelled"):
        tr.invite(session=session, info=_info(session, campaign, future), contact_ids=[judges[1].id], actor=carla, now=NOW)


def test_attendance_by_checkbox_and_uninvite(session, personas):
    campaign, _, past, future, judges, prosecutors = training_setup(session, personas)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:4], carla)
    info = _info(session, campaign, past)
    with pytest.raises(PlanError):
        tr.set_attendance(session=session, info=info, marks={judges[0].id: True, prosecutors[0].id: True}, actor=carla, now=NOW)
    assert _info(session, campaign, past).counts.present == 0  # nothing stored
    assert tr.set_attendance(session=session, info=info, marks={judges[0].id: True, judges[1].id: False}, actor=carla,
                             now=NOW) == 2
    assert tr.set_attendance(session=session, info=info, marks={judges[0].id: True}, actor=carla, now=NOW) == 0
    counts = _info(session, campaign, past).counts
    assert (counts.invited, counts.present, counts.absent, counts.unrecorded) == (4, 1, 1, 2)
    # Attendance is the training's delivery: one row per invitee, delivered, failed or awaiting the sheet.
    from campaign.models import Delivery
    rows = {d.contact_id: d for d in session.exec(select(Delivery).where(Delivery.placement_id == info.placement.id))}
    assert set(rows) == {c.id for c in judges[:4]}
    assert (rows[judges[0].id].status.value, rows[judges[1].id].status.value, rows[judges[2].id].status.value) == \
        ("delivered", "failed", "queued")
    assert rows[judges[1].id].reason == "absent" and rows[judges[2].id].next_attempt_at is None  # no worker sends it
    with pytest.raises(PlanConflict, match="record the person absent instead"):
        tr.uninvite(session=session, info=info, contact_id=judges[3].id, actor=carla, now=NOW)
    before = NOW - timedelta(days=30)
    with pytest.raises(PlanConflict, match="recorded present"):
        tr.uninvite(session=session, info=info, contact_id=judges[0].id, actor=carla, now=before)
    tr.uninvite(session=session, info=info, contact_id=judges[3].id, actor=carla, now=before)
    assert _info(session, campaign, past).counts.invited == 3
    with pytest.raises(PlanError, match="not invited"):
        tr.uninvite(session=session, info=info, contact_id=judges[3].id, actor=carla, now=before)
    # Not before the day.
    tr.invite(session=session, info=_info(session, campaign, future), contact_ids=[judges[0].id], actor=carla, now=NOW)
    with pytest.raises(PlanConflict, match="attendance can be recorded from that day"):
        tr.set_attendance(session=session, info=_info(session, campaign, future), marks={judges[0].id: True}, actor=carla,
                          now=NOW)


def test_a_sign_in_sheet_with_a_bad_row_stores_nothing_and_names_line_and_column(session, personas):
    campaign, _, past, _, judges, prosecutors = training_setup(session, personas)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:4], carla)
    ids = {a.contact_id: a.id for a in session.exec(select(TrainingAttendance))}
    info = _info(session, campaign, past)
    sheet = _csv([["Invitation ID", "Name", "Telefòn", "E-mail", "Present"],
                  [ids[judges[0].id], "Jij 00", "", "", "x"],
                  ["", "Jij 01", judges[1].phone, "", "oui"],
                  ["", "Jij 02", "", "JIJ02@example.org", "non"],
                  ["999999", "?", "", "", "x"],
                  ["", "Nobody", "+509 3799 9999", "", "x"],
                  ["", "Bad", "12", "", "x"],
                  ["", "Jij 00 again", judges[0].phone, "", "no"],
                  ["", "Maybe", "", "", "peut-être"]])
    report = tr.check_sheet(session=session, info=info, source=sheet, filename="sheet.csv")
    assert [(line, column) for line, column, _ in report.problems] == [
        (5, "Invitation ID"), (6, "Telefòn"), (7, "Telefòn"), (8, "Present"), (9, "Present")]
    assert "No contact has the number +50937999999" in report.problems[1][2]
    assert "The same person as on line 2, with another answer." in report.problems[3][2]
    with pytest.raises(PlanError) as err:
        tr.apply_sheet(session=session, info=info, report=report, actor=carla, now=NOW)
    assert set(err.value.errors) == {"line 5", "line 6", "line 7", "line 8", "line 9"}
    assert _info(session, campaign, past).counts.present == 0


def test_a_good_sheet_records_attendance_adds_walk_ins_and_is_idempotent(session, personas):
    campaign, _, past, _, judges, prosecutors = training_setup(session, personas, capacity_past=4)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:4], carla)
    ids = {a.contact_id: a.id for a in session.exec(select(TrainingAttendance))}
    rows = [["invitation_id", "phone", "email", "attended"],
            [ids[judges[0].id], "", "", "x"],
            ["", "'" + judges[1].phone, "", "yes"],  # as our own CSV writes it
            ["", "", judges[2].email.upper(), "no"],
            ["", prosecutors[0].phone, "", "present"]]  # a walk-in (in contacts, not invited)
    for attempt in range(2):
        info = _info(session, campaign, past)
        report = tr.check_sheet(session=session, info=info, source=_xlsx(rows), filename="sheet.xlsx", absent_others=True)
        assert report.problems == []
        tr.apply_sheet(session=session, info=info, report=report, actor=carla, now=NOW)
        assert report.changes == (5 if attempt == 0 else 0)  # 3 invitees, 1 walk-in, judges[3] marked absent
        counts = _info(session, campaign, past).counts
        assert (counts.invited, counts.present, counts.absent, counts.walk_ins) == (4, 2, 2, 1)
    assert report.warnings == []
    rates = tr.rates(session=session, info=_info(session, campaign, past))
    assert rates.attendance_rate == 0.5 and rates.fill_rate == 3 / 4 and rates.invited_of_capacity == 1.0
    by = {s.code: (s.invited, s.present, s.walk_ins) for s in rates.by_segment}
    assert by == {"judges": (4, 2, 0), "prosecutors": (0, 0, 1)}


def test_a_sheet_without_an_attended_column_counts_signed_rows(session, personas):
    campaign, _, past, _, judges, _ = training_setup(session, personas)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:3], carla)
    info = _info(session, campaign, past)
    sheet = _csv([["phone", "signature"], [judges[0].phone, "J. P."], [judges[1].phone, ""]])
    report = tr.check_sheet(session=session, info=info, source=sheet, filename="s.csv")
    tr.apply_sheet(session=session, info=info, report=report, actor=carla, now=NOW)
    counts = _info(session, campaign, past).counts
    assert (counts.present, counts.absent, counts.unrecorded) == (1, 0, 2)
    with pytest.raises(tr.ImportFileError, match="needs an invitation_id, phone or email column"):
        tr.check_sheet(session=session, info=info, source=_csv([["name"], ["x"]]), filename="s.csv")


def test_the_campaign_summary_adds_sessions_and_segments(session, personas):
    campaign, _, past, future, judges, prosecutors = training_setup(session, personas, capacity_past=10, capacity_future=5)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:3] + prosecutors[:2], carla)
    tr.set_attendance(session=session, info=_info(session, campaign, past),
                      marks={judges[0].id: True, judges[1].id: True, prosecutors[0].id: True, prosecutors[1].id: False},
                      actor=carla, now=NOW)
    tr.invite(session=session, info=_info(session, campaign, future), contact_ids=[judges[4].id], actor=carla, now=NOW)
    summary = tr.campaign_summary(session=session, campaign=campaign)
    assert [i.training.id for i, _ in summary.sessions] == [past.id, future.id]
    t = summary.totals
    assert (t.counts.invited, t.counts.present, t.counts.absent, t.capacity) == (6, 3, 1, 15)
    assert t.attendance_rate == 0.5 and t.fill_rate == 3 / 15
    assert {s.code: (s.invited, s.present) for s in summary.by_segment} == {"judges": (4, 2), "prosecutors": (2, 1)}


def test_a_placement_edit_cannot_drop_a_session_with_invitations(session, personas):
    from campaign import service as svc  # noqa: PLC0415

    campaign, placement, past, future, judges, _ = training_setup(session, personas)
    carla = personas["carla"]
    tr.invite(session=session, info=_info(session, campaign, future), contact_ids=[judges[0].id], actor=carla, now=NOW)
    data = svc.PlacementIn.from_row(session, placement)
    moved = data.model_copy(update={"sessions": [data.sessions[0], data.sessions[1].model_copy(
        update={"starts_local": future.starts_local + timedelta(days=1)})]})
    with pytest.raises(PlanError) as err:
        svc.update_placement(session=session, campaign=campaign, placement=placement, data=moved, actor=carla)
    assert "have invitations or attendance: keep their date and time" in err.value.errors["sessions"]
    renamed = data.model_copy(update={"sessions": [data.sessions[0], data.sessions[1].model_copy(
        update={"venue": "Palais de justice, Jacmel", "capacity": 8})]})
    svc.update_placement(session=session, campaign=campaign, placement=placement, data=renamed, actor=carla)
    assert _info(session, campaign, future).training.venue == "Palais de justice, Jacmel"
    assert _info(session, campaign, future).counts.invited == 1


def test_a_walk_in_is_added_by_phone_or_e_mail_when_in_the_contacts(session, personas):
    campaign, _, past, _, judges, prosecutors = training_setup(session, personas)
    carla = personas["carla"]
    _invite_past(session, campaign, past, judges[:2], carla)
    info = _info(session, campaign, past)
    row = tr.add_walk_in(session=session, info=info, phone=judges[0].phone.replace("+509", "").strip(), actor=carla, now=NOW)
    assert row.attended is True and not tr.is_walk_in(row)  # an invitee: marked present
    row = tr.add_walk_in(session=session, info=info, email=prosecutors[0].email.upper(), actor=carla, now=NOW)
    assert tr.is_walk_in(row)
    again = tr.add_walk_in(session=session, info=info, email=prosecutors[0].email, actor=carla, now=NOW)
    assert again.id == row.id
    counts = _info(session, campaign, past).counts
    assert (counts.invited, counts.present, counts.walk_ins) == (2, 1, 1)
    for kwargs, field_ in (({"phone": "+509 3799 9999"}, "phone"), ({"phone": "12"}, "phone"), ({"email": "x@"}, "email"),
                           ({}, "phone")):
        with pytest.raises(PlanError) as err:
            tr.add_walk_in(session=session, info=info, actor=carla, now=NOW, **kwargs)
        assert set(err.value.errors) == {field_}
    # Unticking a walk-in removes them: they were never there.
    tr.set_attendance(session=session, info=info, marks={prosecutors[0].id: False}, actor=carla, now=NOW)
    assert _info(session, campaign, past).counts.walk_ins == 0
