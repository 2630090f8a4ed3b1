"""Delivery reports on a real outbox: counts, radio airings, trainings, the CSV log with and without
contacts' details, the retry of failures, and who may do what."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from sqlmodel import Session, select

from campaign.models import (
    ChannelConfig, ChannelKind, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, Timing, TrainingAttendance,
    TrainingSession,
)
from tests.campaign.factories import approved_message, campaign_row, contacts, placement, segment, sms_channel
from tests.factories import bearer, login

DUE = datetime(2026, 3, 2, 12, 30, tzinfo=timezone.utc)  # 07:30 in Port-au-Prince


def _outbox(engine, personas) -> dict:
    """A campaign whose SMS went out to 10 contacts, three radio airings and a training session."""
    with Session(engine, expire_on_commit=False) as s:
        message = approved_message(s, author=personas["carla"], approver=personas["leo"])
        campaign = campaign_row(s)
        seg = segment(s, "judges")
        people = contacts(s, 10, seg=seg)
        people[0].name = "=HYPERLINK(\"http://evil.example\",\"click\")"
        sms = placement(s, campaign=campaign, message=message, channel=sms_channel(s), name="Weekday SMS")
        occ = Occurrence(placement_id=sms.id, local_at=datetime(2026, 3, 2, 7, 30), due_at=DUE,
                         status=OccurrenceStatus.expanded)
        s.add(occ)
        s.flush()
        statuses = [DeliveryStatus.delivered] * 6 + [DeliveryStatus.sent] * 2 + [DeliveryStatus.failed, DeliveryStatus.skipped]
        rows = []
        for contact, status in zip(people, statuses):
            rows.append(Delivery(occurrence_id=occ.id, placement_id=sms.id, campaign_id=campaign.id, channel_id=sms.channel_id,
                                 recipient_key=f"c{contact.id}", contact_id=contact.id, segment_id=seg.id, language="ht",
                                 status=status, due_at=DUE, attempts=5 if status == DeliveryStatus.failed else 1,
                                 reason={DeliveryStatus.failed: "gateway answered 500 five times",
                                         DeliveryStatus.skipped: "opted out"}.get(status, ""),
                                 sent_at=DUE if status in (DeliveryStatus.sent, DeliveryStatus.delivered) else None))
        s.add_all(rows)
        radio = ChannelConfig(name="Radio Kiskeya", kind=ChannelKind.radio, provider="station", audience_size=100_000,
                              settings={"frequency": "88.5", "rating": 0.2})
        s.add(radio)
        s.flush()
        spot = placement(s, campaign=campaign, message=message, channel=radio, timing=Timing.recurring, name="Spots")
        for i, status in enumerate([OccurrenceStatus.aired, OccurrenceStatus.aired, OccurrenceStatus.missed,
                                    OccurrenceStatus.planned]):
            s.add(Occurrence(placement_id=spot.id, local_at=datetime(2026, 3, 2 + i, 7), status=status,
                             due_at=datetime(2026, 3, 2 + i, 12, tzinfo=timezone.utc)))
        venue = ChannelConfig(name="EMA", kind=ChannelKind.training, provider="venue")
        s.add(venue)
        s.flush()
        course = placement(s, campaign=campaign, message=message, channel=venue, timing=Timing.sessions, name="Judges' course")
        ts = TrainingSession(placement_id=course.id, starts_local=datetime(2026, 3, 10, 9), venue="École de la Magistrature")
        s.add(ts)
        s.flush()
        s.add_all([TrainingAttendance(session_id=ts.id, contact_id=c.id, attended=a)
                   for c, a in zip(people[:4], [True, True, False, None])])
        s.commit()
        return {"campaign": campaign.id, "failed": rows[8].id, "delivered": rows[0].id, "seg": seg.code}


def test_the_report_counts_what_went_out_and_hides_contacts_from_leads(client, engine, personas):
    ids = _outbox(engine, personas)
    cid = ids["campaign"]
    login(client, "leo")
    page = client.get(f"/campaigns/{cid}/deliveries")
    assert page.status_code == 200, page.text
    assert "Radio Kiskeya" in page.text and "École de la Magistrature" in page.text
    assert "gateway answered 500 five times" in page.text and "+5093000" not in page.text
    assert "Send the ticked ones again" not in page.text  # a lead reads, communications staff retry
    summary = client.get("/api/v1/deliveries/summary", params={"campaign_id": cid}).json()
    assert summary["by_status"] == {"delivered": 6, "sent": 2, "failed": 1, "skipped": 1}
    assert summary["unique_contacts"] == 8 and summary["messages_per_contact"] == 1.0 and summary["in_flight"] == 0
    assert summary["by_day"] == [{"key": "2026-03-02", "label": "2026-03-02", "counts": summary["by_status"],
                                  "unique_contacts": 8, "messages_per_contact": 1.0}]
    radio = summary["radio"][0]
    assert (radio["planned"], radio["aired"], radio["missed"], radio["unconfirmed"]) == (4, 2, 1, 1)
    assert radio["estimated_listeners"] == 36_000  # 100,000 x (1 - 0.8^2)
    training = summary["trainings"][0]
    assert (training["invited"], training["attended"], training["absent"], training["unrecorded"]) == (4, 2, 1, 1)
    assert abs(training["attendance_rate"] - 2 / 3) < 1e-9
    # The CSV log: a lead gets contact ids, no name, phone or e-mail.
    lead_csv = list(csv.reader(io.StringIO(client.get(f"/campaigns/{cid}/deliveries.csv").text.lstrip("\ufeff"))))
    assert lead_csv[0][-1] == "delivered_at" and "phone" not in lead_csv[0] and len(lead_csv) == 11
    assert not any("+509" in cell for row in lead_csv for cell in row)
    # Filters: a day with nothing, a bad date named, an unknown segment.
    assert client.get("/api/v1/deliveries/summary", params={"campaign_id": cid, "since": "2026-03-03"}).json()["total"] == 0
    bad = client.get(f"/campaigns/{cid}/deliveries?since=03/02/2026")
    assert bad.status_code == 422 and "since" in bad.text
    assert client.get("/api/v1/deliveries/summary", params={"campaign_id": cid, "segment": "nobody"}).status_code == 404
    # The spots and the course are aimed at no segment: a segment filter leaves them out with the other deliveries.
    judges = client.get("/api/v1/deliveries/summary", params={"campaign_id": cid, "segment": ids["seg"]}).json()
    assert judges["total"] == 10 and judges["radio"] == [] and judges["trainings"] == []


def test_planners_see_contacts_in_the_log_as_text_and_retry_failures(client, engine, personas):
    ids = _outbox(engine, personas)
    cid = ids["campaign"]
    csrf = login(client, "carla")
    body = client.get(f"/api/v1/deliveries/export.csv", params={"campaign_id": cid}).text
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][-3:] == ["name", "phone", "email"]
    names = [r[-3] for r in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in names  # text, not a live formula
    page = client.get(f"/campaigns/{cid}/deliveries")
    assert "Send the ticked ones again" in page.text
    # A delivered row is never sent again; the failed one goes back in the queue.
    r = client.post(f"/campaigns/{cid}/deliveries/retry", data={"csrf_token": csrf, "ids": [ids["failed"], ids["delivered"]]})
    assert r.status_code == 303
    with Session(engine) as s:
        failed, delivered = s.get(Delivery, ids["failed"]), s.get(Delivery, ids["delivered"])
        assert failed.status == DeliveryStatus.queued and failed.attempts == 0 and failed.next_attempt_at is not None
        assert "gateway answered 500" in failed.reason and delivered.status == DeliveryStatus.delivered
    progress = client.get(f"/campaigns/{cid}/deliveries/progress", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in progress.text and "1 of 10 still queued" in progress.text
    # Without a CSRF token nothing moves; an empty selection says what to do.
    assert client.post(f"/campaigns/{cid}/deliveries/retry", data={"ids": [ids["failed"]]}).status_code == 403
    r = client.post(f"/campaigns/{cid}/deliveries/retry", data={"csrf_token": csrf}, follow_redirects=True)
    assert "tick the failed deliveries" in r.text


def test_the_api_log_and_retry(client, engine, personas):
    ids = _outbox(engine, personas)
    cid = ids["campaign"]
    headers = bearer(client, "carla")
    log = client.get("/api/v1/deliveries", params={"campaign_id": cid, "status": "failed"}, headers=headers).json()
    assert [d["id"] for d in log] == [ids["failed"]] and "phone" not in log[0]
    assert len(client.get("/api/v1/deliveries", params={"campaign_id": cid, "limit": 3}, headers=headers).json()) == 3
    bad = client.get("/api/v1/deliveries", params={"campaign_id": cid, "status": "lost"}, headers=headers)
    assert bad.status_code == 422 and "status" in bad.json()["detail"]
    assert client.get("/api/v1/deliveries", params={"campaign_id": 2**40}, headers=headers).status_code == 422
    lead = bearer(client, "leo")
    assert client.post("/api/v1/deliveries/retry", json={"campaign_id": cid}, headers=lead).status_code == 403
    done = client.post("/api/v1/deliveries/retry", json={"campaign_id": cid}, headers=headers)
    assert done.status_code == 200 and done.json() == {"retried": 1}
    assert client.post("/api/v1/deliveries/retry", json={"campaign_id": cid}, headers=headers).json() == {"retried": 0}
    assert client.post("/api/v1/deliveries/retry", json={"campaign_id": cid, "ids": [0]}, headers=headers).status_code == 422
    enumerator = bearer(client, "eddy")
    assert client.get("/api/v1/deliveries/summary", params={"campaign_id": cid}, headers=enumerator).status_code == 403


def _reach_outbox(engine, personas) -> dict:
    """Two SMS placements to judges and police over three local days, one across the change to summer time.

    Port-au-Prince moves from UTC-5 to UTC-4 on Sunday 8 March 2026: 04:30 UTC is 23:30 on the
    1st (winter) and 00:30 on the 9th (summer). Judges j0, j1 get a message on each of the three
    days from the first placement; police p0 gets one on the last day from the second; j2 fails.
    """
    with Session(engine, expire_on_commit=False) as s:
        message = approved_message(s, author=personas["carla"], approver=personas["leo"])
        campaign = campaign_row(s)
        judges, police = segment(s, "judges"), segment(s, "police")
        j = contacts(s, 3, seg=judges)
        p = contacts(s, 1, seg=police, start=10)
        sms = sms_channel(s)
        first = placement(s, campaign=campaign, message=message, channel=sms, name="Judges SMS")
        second = placement(s, campaign=campaign, message=message, channel=sms, name="Police SMS")
        days = [datetime(2026, 3, 2, 4, 30, tzinfo=timezone.utc), datetime(2026, 3, 5, 15, tzinfo=timezone.utc),
                datetime(2026, 3, 9, 4, 30, tzinfo=timezone.utc)]
        plan = [(first, judges, c, due, DeliveryStatus.delivered) for due in days for c in j[:2]]
        plan += [(first, judges, j[2], days[2], DeliveryStatus.failed), (second, police, p[0], days[2], DeliveryStatus.sent)]
        for n, (pl, seg, contact, due, status) in enumerate(plan):
            occ = Occurrence(placement_id=pl.id, local_at=datetime(2026, 3, 1, 0, n), due_at=due,
                             status=OccurrenceStatus.expanded)
            s.add(occ)
            s.flush()
            s.add(Delivery(occurrence_id=occ.id, placement_id=pl.id, campaign_id=campaign.id, channel_id=sms.id,
                           recipient_key=f"c{contact.id}", contact_id=contact.id, segment_id=seg.id, status=status,
                           due_at=due, sent_at=due if status != DeliveryStatus.failed else None))
        s.commit()
        return {"campaign": campaign.id, "first": first.id, "second": second.id, "sms": sms.id}


def test_contacts_reached_and_messages_per_contact_are_counted_per_placement_channel_segment_and_local_day(
        client, engine, personas):
    ids = _reach_outbox(engine, personas)
    login(client, "leo")
    summary = client.get("/api/v1/deliveries/summary", params={"campaign_id": ids["campaign"]}).json()
    assert summary["unique_contacts"] == 3 and summary["messages_per_contact"] == round(7 / 3, 3)

    def reach(rows):
        return {r["key"]: (r["unique_contacts"], r["messages_per_contact"]) for r in rows}

    # Local days: the 04:30 UTC message of 2 March is the 1st in winter, that of 9 March the 9th in summer.
    assert reach(summary["by_day"]) == {"2026-03-01": (2, 1.0), "2026-03-05": (2, 1.0), "2026-03-09": (3, 1.0)}
    assert summary["by_day"][-1]["counts"] == {"delivered": 2, "failed": 1, "sent": 1}
    assert reach(summary["by_placement"]) == {str(ids["first"]): (2, 3.0), str(ids["second"]): (1, 1.0)}
    assert reach(summary["by_channel"]) == {str(ids["sms"]): (3, round(7 / 3, 3))}
    assert reach(summary["by_segment"]) == {"judges": (2, 3.0), "police": (1, 1.0)}
    # Filtered to the last day, the counts follow the filter.
    day = client.get("/api/v1/deliveries/summary", params={"campaign_id": ids["campaign"], "since": "2026-03-09"}).json()
    assert reach(day["by_placement"]) == {str(ids["first"]): (2, 1.0), str(ids["second"]): (1, 1.0)}
    # The page shows them in each table: placement "Judges SMS", 2 contacts, 3.00 messages each.
    page = client.get(f"/campaigns/{ids['campaign']}/deliveries")
    assert page.status_code == 200 and "Messages per contact" in page.text
    assert "Judges SMS</a></th><td>2</td><td>3.00</td>" in page.text
    assert "<th scope=\"row\">Sun 01 Mar 2026</th><td>2</td><td>1.00</td>" in page.text


def test_local_weeks_start_on_the_campaigns_monday_on_either_side_of_the_change_to_summer_time(engine, personas):
    from zoneinfo import ZoneInfo

    from sqlalchemy import func

    from campaign.reports import local_period

    _reach_outbox(engine, personas)
    tz = ZoneInfo("America/Port-au-Prince")
    with Session(engine) as s:
        lo, hi = s.exec(select(func.min(Delivery.due_at), func.max(Delivery.due_at))).one()
        week = local_period(s, Delivery.due_at, tz, lo=lo, hi=hi, week=True).label("week")
        rows = s.exec(select(week, func.count()).group_by(week).order_by(week)).all()
    # Sun 1 Mar 23:30 local belongs to the week of Mon 23 Feb; Mon 9 Mar 00:30 (summer time) opens a week.
    assert [(str(w)[:10], n) for w, n in rows] == [("2026-02-23", 2), ("2026-03-02", 2), ("2026-03-09", 4)]
