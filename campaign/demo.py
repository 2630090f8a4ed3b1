"""Demo campaigns modelled on the national counter-trafficking awareness campaigns in Haiti.

The main campaign ran between the demo KAP survey's baseline (March 2026) and endline
(November 2026): three radio stations with rotations, a Facebook page, SMS to a list of 3,000
synthetic contacts (valid Haitian numbers, nobody's real number), a series of judiciary
trainings with attendance, and Sud and Centre kept as the comparison area. A follow-up campaign
(hotline reminders, December 2026 to February 2027) is active, so the scheduler has something
to send. Idempotent: nothing is added when the campaigns exist.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
from sqlmodel import Session, select

from audiences.models import AudienceSegment, SegmentIn
from audiences.segments import SegmentKind
from content import service as content_svc
from content.models import Message, MessageCreate, VariantIn
from web.accounts.service import get_user_by_username

from . import confirmations, outbox, schedule, service as svc
from .models import (
    Campaign,
    CampaignIn,
    ChannelConfig,
    ChannelKind,
    Contact,
    ContactOptOut,
    ContactSegment,
    Delivery,
    DeliveryStatus,
    Occurrence,
    OccurrenceStatus,
    Timing,
    TrainingAttendance,
    TrainingSession,
)

__all__ = ["MAIN_CAMPAIGN", "FOLLOW_UP", "load_campaign_demo"]

MAIN_CAMPAIGN = "Kanpay nasyonal kont trafik moun 2026"
# 188: the BPM's free line for children (content/law.py, SOURCES["bpm188"]), the demo's sample hotline.
FOLLOW_UP = "Rappel : la ligne 188 (suivi de la campagne nationale)"
DEMO_TIMEZONE = "America/Port-au-Prince"
FOLLOW_UP_WEEKS = 12  # the follow-up runs from the day the demo is loaded, for this many weeks
CONTACTS = 3000
FIRST = ("Jean", "Marie", "Pierre", "Rose", "Jacques", "Nadège", "Frantz", "Guerline", "Wilson", "Micheline", "Ronald",
         "Fabienne", "Stanley", "Lovely", "Junior", "Dieunie", "Emmanuel", "Carline", "Kervens", "Widline", "Roseline")
LAST = ("Pierre-Louis", "Joseph", "Jean-Baptiste", "Charles", "Étienne", "Augustin", "Célestin", "Desrosiers", "Louis",
        "Saint-Fleur", "Dorval", "Exantus", "Mondésir", "Bastien", "Noël", "Paul", "Toussaint", "Valcin", "Lamour")
REGIONS = {"Ouest": 40, "Artibonite": 15, "Nord": 10, "Nord-Est": 4, "Nord-Ouest": 5, "Sud-Est": 6, "Grand'Anse": 4,
           "Nippes": 3, "Sud": 8, "Centre": 5}
PROFESSIONS = (("judge", "judges", 60), ("prosecutor", "prosecutors", 40), ("police officer", "police", 420),
               ("social worker", "social_workers", 180), ("", "general_public", 0))
# The articles cited are those of content/law.py.
BRIEFING_FR = ("Séance de formation : appliquer la loi CL/2014-0010 sur la traite des personnes.\n\n"
               "1. Les éléments constitutifs (art. 1.1.1) : l'acte, le moyen, le but d'exploitation ; le consentement de "
               "la victime est sans effet (Protocole de Palerme, art. 3 b).\n2. Les indicateurs d'un cas dans un dossier "
               "pénal.\n3. Les peines (art. 11) et les circonstances aggravantes.\n4. La protection et la non-poursuite "
               "des victimes.\n5. Études de cas et échanges.")
BRIEFING_HT = ("Fòmasyon: kijan pou aplike lwa CL/2014-0010 sou trafik moun.\n\n1. Sa ki fè yon ka trafik (atik 1.1.1): "
               "aksyon an, mwayen an, objektif esplwatasyon; konsantman viktim nan pa chanje anyen (Pwotokòl Palèm, "
               "atik 3 b).\n2. Siy ki montre yon ka nan yon dosye.\n3. Pinisyon yo (atik 11).\n4. Pwoteksyon viktim "
               "yo.\n5. Egzanp ak diskisyon.")


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        candidate = f"+509{rng.choice('34')}{rng.randrange(10**6, 10**7)}"
        number = phonenumbers.parse(candidate)
        if phonenumbers.is_valid_number(number) and candidate not in used:
            used.add(candidate)
            return candidate


def _contacts(session: Session, segments: dict[str, AudienceSegment], rng: random.Random) -> list[Contact]:
    used: set[str] = set()
    regions = list(REGIONS)
    weights = list(REGIONS.values())
    rows: list[tuple[Contact, str]] = []
    plan = [(p, code) for p, code, n in PROFESSIONS for _ in range(n)]
    plan += [("", "general_public")] * (CONTACTS - len(plan))
    for i, (profession, code) in enumerate(plan):
        consent = datetime(2026, 3, 1, 9, tzinfo=timezone.utc) + timedelta(days=rng.randrange(0, 60), minutes=rng.randrange(600))
        contact = Contact(name=f"{rng.choice(FIRST)} {rng.choice(LAST)}", phone=_phone(rng, used),
                          email=f"demo{i:04d}@example.org" if profession in ("judge", "prosecutor") else None,
                          language="fr" if profession in ("judge", "prosecutor") and rng.random() < 0.6 else
                          ("fr" if rng.random() < 0.12 else "ht"),
                          region=rng.choices(regions, weights)[0],
                          attributes={"profession": profession} if profession else {},
                          consent_at=consent if rng.random() < 0.93 else None,
                          consent_method="paper form at a community meeting" if not profession else "training sign-up sheet",
                          consent_recorded_by="nadege")
        rows.append((contact, code))
    session.add_all([c for c, _ in rows])
    session.flush()
    session.add_all([ContactSegment(contact_id=c.id, segment_id=segments[code].id) for c, code in rows])
    for c, _ in rows[::97]:
        session.add(ContactOptOut(contact_id=c.id, channel_kind=ChannelKind.sms, source="sms_keyword", detail="KANPE"))
    session.flush()
    return [c for c, _ in rows]


def _channel(session: Session, actor, **values) -> ChannelConfig:
    from web.settings import get_settings  # noqa: PLC0415 - the app's key encrypts the (placeholder) secrets

    return svc.save_channel(session=session, actor=actor, secret_key=get_settings().secret_key, data=svc.ChannelIn(**values))


def _message(session: Session, slug: str) -> Message:
    from content.demo import demo_uid  # noqa: PLC0415

    return session.exec(select(Message).where(Message.uid == demo_uid(slug))).one()


def _briefing(session: Session, author, approver) -> Message:
    title = "Applying the 2014 law: a training for judges and prosecutors"
    existing = session.exec(select(Message).where(Message.title == title)).first()
    if existing is not None:
        return existing
    message = content_svc.create_message(session=session, actor=author, ip="demo", data=MessageCreate(
        title=title, objective="Judges and prosecutors apply law CL/2014-0010: its elements, indicators, victims' protection.",
        themes=["law 2014", "judiciary"], segments=["judges", "prosecutors"],
        variants=[VariantIn(language="fr", channel="briefing", body=BRIEFING_FR),
                  VariantIn(language="ht", channel="briefing", body=BRIEFING_HT)]))
    content_svc.transition(session=session, message=message, action="submit", actor=author, ip="demo")
    content_svc.transition(session=session, message=message, action="approve", actor=approver, ip="demo",
                           comment="Reviewed with the École de la Magistrature.")
    return message


# What the gateways reported for the finished campaign's SMS and posts (share of each outcome).
SMS_OUTCOMES = (("delivered", 0.91, ""), ("sent", 0.05, "no delivery receipt from the gateway"),
                ("failed", 0.025, "the gateway refused the number (invalid or not in service)"),
                ("skipped", 0.015, "frequency cap: 3 messages this week already"))


def _demo_sends(session: Session, campaign: Campaign, placements: list, end: datetime, rng: random.Random) -> int:
    """Expand the SMS and social placements' past occurrences through the outbox, and record what
    the gateway said of each message (receipts, refusals, caps) as a finished campaign's log would."""
    total = 0
    for placement in placements:
        kind = session.get(ChannelConfig, placement.channel_id).kind
        for occ in schedule.materialise(session=session, campaign=campaign, placement=placement, window_end=end):
            outbox.expand_occurrence(session=session, occurrence=occ, now=occ.due_at)
            rows = session.exec(select(Delivery).where(Delivery.occurrence_id == occ.id,
                                                       Delivery.status == DeliveryStatus.queued)).all()
            due = occ.due_at if occ.due_at.tzinfo else occ.due_at.replace(tzinfo=timezone.utc)
            for n, row in enumerate(rows):
                if kind == ChannelKind.social:
                    status, reason = "delivered", ""
                else:
                    pick, status, reason = rng.random(), "delivered", ""
                    for status, share, reason in SMS_OUTCOMES:
                        if pick < share:
                            break
                        pick -= share
                at = due + timedelta(seconds=n // 10)  # 600 a minute
                row.status, row.reason, row.attempts = DeliveryStatus(status), reason, 0 if status == "skipped" else 1
                row.next_attempt_at = None
                row.sent_at = at if status in ("sent", "delivered") else None
                row.delivered_at = at + timedelta(seconds=rng.randint(2, 90)) if status == "delivered" else None
                row.gateway_message_id = f"demo-{row.uid[:13]}" if status in ("sent", "delivered") else ""
                row.attempts = 5 if status == "failed" else row.attempts
                session.add(row)
            total += len(rows)
            occ.status = OccurrenceStatus.expanded
            session.add(occ)
        session.flush()
    return total


def _soon(now: datetime | None, start: date, last: date) -> datetime | None:
    """A wall-clock time in the campaign's zone 5 to 10 minutes after ``now``, if the SMS channel
    sends then (07:00-21:00, Monday to Saturday) and the follow-up runs that day; else None."""
    if now is None:
        return None
    local = now.astimezone(ZoneInfo(DEMO_TIMEZONE)).replace(tzinfo=None, second=0, microsecond=0)
    soon = local + timedelta(minutes=10 - local.minute % 5)
    if soon.weekday() == 6 or not time(7, 0) <= soon.time() < time(20, 55) or not start <= soon.date() <= last:
        return None
    return soon


def _follow_up_dates(today: date) -> tuple[date, date, datetime]:
    """The follow-up's first and last day and its first reminder SMS (10:00 on a sending day, Monday
    to Saturday), from the day the demo is loaded: the demo keeps sending whenever it is loaded."""
    start = today
    first = today + timedelta(days=1) if today.weekday() == 6 else today
    return start, start + timedelta(weeks=FOLLOW_UP_WEEKS) - timedelta(days=1), datetime.combine(first, time(10, 0))


def load_campaign_demo(session: Session, *, today: date | None = None, now: datetime | None = None) -> list[str]:
    """The finished national campaign (fixed 2026 dates) and the active follow-up, which starts on
    ``today`` (default: the machine's date). Its SMS, e-mail and social channels are sandboxes:
    they deliver nothing outside and log each message in the data directory.

    ``now`` (aware; default: the clock, unless ``today`` is given): when it falls in the SMS
    channel's sending hours, the follow-up also sends one SMS to the judiciary a few minutes
    later, so that ``make run`` shows a send happening.
    """
    if now is None and today is None:
        now = datetime.now(ZoneInfo(DEMO_TIMEZONE))
    today = today or date.today()
    if session.exec(select(Campaign).where(Campaign.name == MAIN_CAMPAIGN)).first() is not None:
        return ["Demo campaigns already loaded."]
    from surveys.demo import DEMO_TITLE  # noqa: PLC0415
    from surveys.models import Survey, Wave  # noqa: PLC0415

    planner = get_user_by_username(session=session, username="nadege")
    lead = get_user_by_username(session=session, username="frantz")
    rng = random.Random(2014)
    segments = {s.code: s for s in session.exec(select(AudienceSegment))}
    people = _contacts(session, segments, rng)
    svc.save_segment(session=session, actor=planner, ip="demo", data=SegmentIn(
        code="judiciary_ouest", name="Judges and prosecutors, Ouest", kind=SegmentKind.judiciary, languages=["fr", "ht"],
        description="A rule segment: whoever the contact list says is a judge or prosecutor in Ouest.",
        rule={"match": "all", "conditions": [{"field": "region", "op": "eq", "value": "Ouest"},
                                             {"field": "attributes.profession", "op": "in", "value": ["judge", "prosecutor"]}]}))
    survey = session.exec(select(Survey).where(Survey.title == DEMO_TITLE)).first()
    waves = {w.name: w.id for w in session.exec(select(Wave).where(Wave.survey_id == (survey.id if survey else 0)))}
    everywhere = [r for r in REGIONS if r not in ("Sud", "Centre")]
    main = svc.create_campaign(session=session, actor=planner, ip="demo", data=CampaignIn(
        name=MAIN_CAMPAIGN, country="HT", timezone="America/Port-au-Prince", languages=["ht", "fr"],
        objectives="Raise knowledge of trafficking in persons and of law CL/2014-0010, and reporting to the 188 hotline, "
                   "among the public, the police, social workers and the judiciary.",
        start_date=date(2026, 4, 13), end_date=date(2026, 10, 23), regions=everywhere, comparison_regions=["Sud", "Centre"],
        survey_id=survey.id if survey else None, baseline_wave_id=waves.get("baseline"), endline_wave_id=waves.get("endline")))
    sms = _channel(session, planner, name="SMS (sandbox: demo, delivers nothing outside)", kind=ChannelKind.sms,
                   provider="sandbox", settings={"sender": "188"},
                   rate_limit_per_minute=600, quiet_start=datetime(2026, 1, 1, 21).time(), quiet_end=datetime(2026, 1, 1, 7).time(),
                   send_days=[0, 1, 2, 3, 4, 5], frequency_cap_per_week=3, sms_segment_limit=3, regions=everywhere)
    vision = _channel(session, planner, name="Radio Vision 2000", kind=ChannelKind.radio, provider="station",
                      settings={"frequency": "99.3 FM", "contact_person": "Régie publicitaire", "rating": "0.12"},
                      audience_size=450_000, regions=["Ouest", "Artibonite", "Nippes"])
    kiskeya = _channel(session, planner, name="Radio Kiskeya", kind=ChannelKind.radio, provider="station",
                       settings={"frequency": "88.5 FM", "contact_person": "Programmation", "rating": "0.10"},
                       audience_size=300_000, regions=["Ouest", "Sud-Est"])
    nord = _channel(session, planner, name="Radio Nord-Inter (Cap-Haïtien)", kind=ChannelKind.radio, provider="station",
                    settings={"frequency": "104.5 FM", "contact_person": "Direction", "rating": "0.18"},
                    audience_size=120_000, regions=["Nord", "Nord-Est", "Nord-Ouest"])
    page = _channel(session, planner, name="Facebook: Komite Nasyonal Kont Trafik Moun (sandbox)", kind=ChannelKind.social,
                    provider="sandbox", settings={"sender": "CNLTP"}, audience_size=85_000, regions=everywhere)
    ema = _channel(session, planner, name="École de la Magistrature (EMA)", kind=ChannelKind.training, provider="venue",
                   settings={"address": "Port-au-Prince", "partner": "EMA and the judges' association"}, audience_size=40,
                   regions=["Ouest"])
    law, report, what = _message(session, "law-2014"), _message(session, "how-to-report"), _message(session, "what-is-trafficking")
    briefing = _briefing(session, planner, lead)
    P = svc.PlacementIn
    plan = [
        P(name="Law 2014 spot, weekday rotation", message_id=law.id, channel_id=vision.id, segments=["general_public"],
          timing=Timing.recurring, starts_local=datetime(2026, 4, 13), rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20260630T235959",
          times_of_day=["07:30", "12:15", "18:45"], language="ht", duration_seconds=30),
        P(name="Hotline spot, daily", message_id=report.id, channel_id=kiskeya.id, segments=["general_public"],
          timing=Timing.recurring, starts_local=datetime(2026, 5, 4), rrule="FREQ=DAILY;UNTIL=20260830T235959",
          times_of_day=["06:45", "17:30"], language="ht", duration_seconds=15),
        P(name="What trafficking is, weekends", message_id=what.id, channel_id=nord.id, segments=["general_public"],
          timing=Timing.recurring, starts_local=datetime(2026, 4, 18), rrule="FREQ=WEEKLY;BYDAY=SA,SU;UNTIL=20261018T235959",
          times_of_day=["10:00"], language="ht", duration_seconds=30),
        P(name="What trafficking is: weekly SMS", message_id=what.id, channel_id=sms.id, segments=["general_public"],
          timing=Timing.recurring, starts_local=datetime(2026, 4, 13, 10, 0), rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6"),
        P(name="Hotline SMS for police and social workers", message_id=report.id, channel_id=sms.id,
          segments=["police", "social_workers"], timing=Timing.recurring, starts_local=datetime(2026, 5, 6, 9, 0),
          rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;COUNT=8"),
        P(name="The law, 45 days after consent", message_id=law.id, channel_id=sms.id, segments=["general_public"],
          timing=Timing.relative, relative_field="consent_at", offset_days=45, at_time=datetime(2026, 1, 1, 9).time()),
        P(name="Facebook posts", message_id=what.id, channel_id=page.id, segments=["general_public"], timing=Timing.recurring,
          starts_local=datetime(2026, 4, 15, 12, 0), rrule="FREQ=WEEKLY;BYDAY=WE;UNTIL=20260930T235959", language="ht",
          social_platform="facebook"),
        P(name="Judiciary trainings on the 2014 law", message_id=briefing.id, channel_id=ema.id,
          segments=["judges", "prosecutors"], timing=Timing.sessions, language="fr",
          sessions=[svc.SessionIn(starts_local=datetime(2026, 5, 12, 9), venue="EMA, Port-au-Prince", facilitator="Me Guerline Exantus",
                                  capacity=35, pre_wave_id=waves.get("baseline"), post_wave_id=waves.get("endline")),
                    svc.SessionIn(starts_local=datetime(2026, 6, 9, 9), venue="Palais de justice, Cap-Haïtien",
                                  facilitator="Juge Wilson Mondésir", capacity=30),
                    svc.SessionIn(starts_local=datetime(2026, 7, 7, 9), venue="Tribunal civil, Gonaïves",
                                  facilitator="Me Guerline Exantus", capacity=30),
                    svc.SessionIn(starts_local=datetime(2026, 9, 15, 9), venue="Tribunal civil, Jacmel",
                                  facilitator="Juge Wilson Mondésir", capacity=25)]),
    ]
    placements = []
    for data in plan:
        placement, _ = svc.create_placement(session=session, campaign=main, data=data, actor=planner, ip="demo")
        placements.append(placement)
    svc.set_campaign_status(session=session, campaign=main, action="activate", actor=lead, ip="demo",
                            now=datetime(2026, 4, 10, 14, tzinfo=timezone.utc))
    # What the stations confirmed: about 1 airing in 25 did not go out (power cuts, live events).
    aired = missed = 0
    end = datetime(2026, 10, 24, tzinfo=timezone.utc)
    for placement in placements[:3]:
        station = session.get(ChannelConfig, placement.channel_id)
        for occ in schedule.materialise(session=session, campaign=main, placement=placement, window_end=end):
            ok = rng.random() > 0.04
            occ.status = OccurrenceStatus.aired if ok else OccurrenceStatus.missed
            occ.reason = "" if ok else rng.choice(["power cut at the transmitter", "live news special"])
            occ.confirmed_at = datetime.combine(occ.local_at.date() + timedelta(days=7), datetime.min.time(), tzinfo=timezone.utc)
            occ.confirmed_by = station.settings.get("contact_person", station.name)
            session.add(occ)
            aired, missed = aired + ok, missed + (not ok)
    # Trainings: invitations to the judiciary contacts, attendance on the day.
    judiciary = [c for c in people if (c.attributes or {}).get("profession") in ("judge", "prosecutor")]
    sessions = session.exec(select(TrainingSession).where(TrainingSession.placement_id == placements[-1].id)
                            .order_by(TrainingSession.starts_local)).all()
    attended = invited = 0
    for index, s in enumerate(sessions):
        for c in judiciary[index::len(sessions)][: s.capacity or 30]:
            came = rng.random() < 0.78
            session.add(TrainingAttendance(session_id=s.id, contact_id=c.id, attended=came,
                                           recorded_at=datetime.combine(s.starts_local.date(), datetime.min.time(), tzinfo=timezone.utc)))
            invited, attended = invited + 1, attended + came
    for occ in schedule.materialise(session=session, campaign=main, placement=placements[-1], window_end=end):
        occ.status = OccurrenceStatus.expanded
        session.add(occ)
    session.flush()
    for s in sessions:
        confirmations.sync_attendance(session=session, training=s, now=datetime(2026, 10, 24, tzinfo=timezone.utc))
    for placement in placements[:3]:
        for occ in session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id)):
            confirmations.sync_airing(session=session, occurrence=occ, now=occ.confirmed_at)
    sent = _demo_sends(session, main, placements[3:7], end, rng)
    svc.set_campaign_status(session=session, campaign=main, action="finish", actor=lead, ip="demo",
                            now=datetime(2026, 10, 26, 12, tzinfo=timezone.utc))
    # The follow-up, running now: from the day the demo is loaded.
    start, last, first_sms = _follow_up_dates(today)
    follow = svc.create_campaign(session=session, actor=planner, ip="demo", data=CampaignIn(
        name=FOLLOW_UP, country="HT", timezone="America/Port-au-Prince", languages=["fr", "ht"],
        objectives="Keep the 188 hotline in mind after the national campaign.", start_date=start,
        end_date=last, regions=everywhere, comparison_regions=["Sud", "Centre"]))
    weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first_sms.weekday()]
    for data in (P(name="Hotline reminder SMS", message_id=report.id, channel_id=sms.id, segments=["general_public"],
                   timing=Timing.recurring, starts_local=first_sms,
                   rrule=f"FREQ=WEEKLY;BYDAY={weekday};COUNT={FOLLOW_UP_WEEKS}"),
                 P(name="Hotline spot, mornings", message_id=report.id, channel_id=kiskeya.id, segments=["general_public"],
                   timing=Timing.recurring, starts_local=datetime.combine(start, time()),
                   rrule=f"FREQ=DAILY;UNTIL={last:%Y%m%d}T235959", times_of_day=["07:00"], language="ht",
                   duration_seconds=15)):
        svc.create_placement(session=session, campaign=follow, data=data, actor=planner, ip="demo")
    soon = _soon(now, start, last)
    if soon is not None:
        svc.create_placement(session=session, campaign=follow, actor=planner, ip="demo", data=P(
            name="Hotline SMS to judges and prosecutors, today", message_id=report.id, channel_id=sms.id,
            segments=["judges", "prosecutors"], timing=Timing.once, starts_local=soon))
    svc.set_campaign_status(session=session, campaign=follow, action="activate", actor=lead, ip="demo")
    return [f"Demo campaigns: {MAIN_CAMPAIGN} (finished: {len(placements)} placements, {aired} airings confirmed, "
            f"{missed} missed, {attended} of {invited} invited at 4 trainings, {sent:,} messages and posts in the delivery "
            f"log) and {FOLLOW_UP} (active); "
            f"{len(people):,} synthetic contacts."]
