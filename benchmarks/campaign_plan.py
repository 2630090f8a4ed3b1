"""Benchmark: planning a campaign over 100,000 contacts (issue 12).

Targets: the rule segment's recipient count and the campaign preview each under 1 s.

    .venv/bin/python benchmarks/campaign_plan.py                       # SQLite in a temporary directory
    .venv/bin/python benchmarks/campaign_plan.py --contacts 20000
    .venv/bin/python benchmarks/campaign_plan.py --database postgresql://postgres@127.0.0.1:5432/postgres

With ``--database postgresql://...`` a fresh database is made on that server and dropped afterwards.

The data: ``--contacts`` synthetic contacts (E.164 phones, a third with e-mail, ht/fr/en, the ten
Haitian departments, a ``profession`` attribute, 95% with consent, 2% opted out of SMS), each in one
or two of the default segments; a rule segment "region is Ouest and language is ht and profession
is one of judge, prosecutor, lawyer"; a campaign over six weeks with Sud as comparison area and
four placements: SMS every weekday at 07:30 to the rule segment and the general public, SMS three
days after consent (relative, one occurrence per contact), e-mail once to the judiciary, and a radio
rotation of three spots a day.

What is timed, each ``--repeat`` times in the same process (minimum and median reported):

- ``count``: :func:`campaign.audience.count_members` of the rule segment (the HTMX live count);
- ``check``: :func:`campaign.service.check_placement` of the weekday SMS (approval, variants,
  quiet hours, sending days and the frequency cap over every recipient);
- ``preview``: :func:`campaign.service.campaign_preview` (every placement's occurrences, reach with
  exclusion reasons, messages per day per channel against the rate limit);
- ``floor``: ``SELECT count(*)`` over the contacts table, the cheapest query that touches them all.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, time as dtime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import func, insert, text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from audiences.models import AudienceSegment, SegmentIn  # noqa: E402
from audiences.segments import HAITI_DEPARTMENTS  # noqa: E402
from campaign import audience, service, targeting  # noqa: E402
from campaign.models import (  # noqa: E402
    CampaignIn, ChannelConfig, ChannelKind, Contact, ContactOptOut, ContactSegment, Placement, Timing,
)
from content import service as content_svc  # noqa: E402
from content.models import MessageCreate, VariantIn  # noqa: E402
from web.accounts.models import Role, User  # noqa: E402
from web.db import alembic_config, make_engine  # noqa: E402

PROFESSIONS = ("judge", "prosecutor", "lawyer", "police", "social_worker", "teacher", "trader", "farmer", "student")
RULE = {"match": "all", "conditions": [
    {"field": "region", "op": "eq", "value": "Ouest"},
    {"field": "language", "op": "eq", "value": "ht"},
    {"field": "attributes.profession", "op": "in", "value": ["judge", "prosecutor", "lawyer"]}]}


def load(engine, n: int, seed: int = 7) -> None:
    """Bulk-insert ``n`` contacts with memberships and opt-outs (Core inserts, batches of 10,000)."""
    rng = random.Random(seed)
    with Session(engine) as s:
        segments = {seg.code: seg.id for seg in s.exec(select(AudienceSegment))}
    codes = sorted(segments)
    consent = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
    regions = list(HAITI_DEPARTMENTS)
    now = datetime.now(timezone.utc)
    batch = 10_000
    with engine.begin() as conn:
        for start in range(0, n, batch):
            rows, members, opt = [], [], []
            for i in range(start, min(n, start + batch)):
                rows.append(dict(
                    id=i + 1, uid=f"00000000-0000-4000-8000-{i:012d}", name=f"Contact {i}", phone=f"+509{30000000 + i}",
                    email=f"c{i}@example.ht" if i % 3 == 0 else None,
                    language=rng.choices(("ht", "fr", "en"), (70, 25, 5))[0],
                    region=rng.choices(regions, [40 if r == "Ouest" else 6 for r in regions])[0],
                    attributes={"profession": rng.choice(PROFESSIONS)},
                    consent_at=consent if rng.random() < 0.95 else None, consent_method="paper form",
                    consent_recorded_by="benchmark", created_at=now, updated_at=now))
                for code in rng.sample(codes, rng.choice((1, 1, 2))):
                    members.append(dict(contact_id=i + 1, segment_id=segments[code]))
                if rng.random() < 0.02:
                    opt.append(dict(contact_id=i + 1, channel_kind=ChannelKind.sms.name, opted_out_at=now,
                                    source="benchmark", detail=""))
            conn.execute(insert(Contact.__table__), rows)
            conn.execute(insert(ContactSegment.__table__), members)
            if opt:
                conn.execute(insert(ContactOptOut.__table__), opt)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('campaign_contact', 'id'), :n)"), {"n": n})
            conn.execute(text("ANALYZE"))


def plan(engine) -> tuple[int, int, int]:
    """The campaign, its rule segment and its placements; returns (campaign id, rule segment id, sms placement id)."""
    with Session(engine) as s:
        author = User(username="bench-author", full_name="Author", role=Role.communications, password_hash="x")
        approver = User(username="bench-lead", full_name="Lead", role=Role.admin, password_hash="x")
        s.add_all([author, approver])
        s.flush()

        def message(title: str, channel: str, bodies: dict[str, str]):
            m = content_svc.create_message(session=s, actor=author, data=MessageCreate(
                title=title, segments=["general_public"],
                variants=[VariantIn(language=lang, channel=channel, body=b, subject=title if channel == "email" else "",
                                   target_seconds=30 if channel == "radio" else None)
                          for lang, b in bodies.items()]))
            content_svc.transition(session=s, message=m, action="submit", actor=author)
            content_svc.transition(session=s, message=m, action="approve", actor=approver)
            return m

        sms = message("Trafficking is a crime", "sms", {"ht": "Trafik moun se yon krim. Rele 188.",
                                                       "fr": "La traite des personnes est un crime. Appelez le 188."})
        mail = message("The 2014 law", "email", {"fr": "La loi CL/2014-0010 punit la traite.",
                                                 "ht": "Lwa CL/2014-0010 la pini trafik moun."})
        spot = message("Radio spot", "radio", {"ht": "Trafik moun se yon krim.", "fr": "La traite est un crime."})
        rule_seg = service.save_segment(session=s, actor=approver, data=SegmentIn(
            code="judiciary_ouest_ht", name="Judiciary, Ouest, Kreyòl", kind="judiciary", rule=RULE))
        campaign = service.create_campaign(session=s, actor=approver, data=CampaignIn(
            name="Benchmark campaign", regions=[r for r in HAITI_DEPARTMENTS if r != "Sud"], comparison_regions=["Sud"],
            start_date=date(2027, 3, 1), end_date=date(2027, 4, 11), languages=["ht", "fr"]))
        sms_ch = ChannelConfig(name="SMS", kind=ChannelKind.sms, provider="generic_http",
                               settings={"url": "http://127.0.0.1:9/send"}, rate_limit_per_minute=600,
                               quiet_start=dtime(21), quiet_end=dtime(7), send_days=[0, 1, 2, 3, 4, 5],
                               frequency_cap_per_week=6, sms_segment_limit=2)
        mail_ch = ChannelConfig(name="E-mail", kind=ChannelKind.email, provider="smtp",
                                settings={"host": "127.0.0.1", "port": 25, "sender": "konbit@example.ht"})
        radio = ChannelConfig(name="Radio Kiskeya", kind=ChannelKind.radio, provider="station",
                              settings={"frequency": "88.5 FM"}, regions=["Ouest"], audience_size=400_000)
        s.add_all([sms_ch, mail_ch, radio])
        s.flush()
        weekday, _ = service.create_placement(session=s, campaign=campaign, actor=author, data=service.PlacementIn(
            name="Weekday SMS", message_id=sms.id, channel_id=sms_ch.id, segments=[rule_seg.code, "general_public"],
            timing=Timing.recurring, starts_local=datetime(2027, 3, 1, 7, 30), rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"))
        service.create_placement(session=s, campaign=campaign, actor=author, data=service.PlacementIn(
            name="After consent", message_id=sms.id, channel_id=sms_ch.id, segments=["general_public"],
            timing=Timing.relative, relative_field="consent_at", offset_days=3, at_time=dtime(10)))
        service.create_placement(session=s, campaign=campaign, actor=author, data=service.PlacementIn(
            name="Law e-mail", message_id=mail.id, channel_id=mail_ch.id, segments=["judges", "prosecutors"],
            timing=Timing.once, starts_local=datetime(2027, 3, 3, 9, 0)))
        service.create_placement(session=s, campaign=campaign, actor=author, data=service.PlacementIn(
            name="Spots", message_id=spot.id, channel_id=radio.id, segments=["general_public"], timing=Timing.recurring,
            starts_local=datetime(2027, 3, 1, 7, 0), rrule="FREQ=DAILY", times_of_day=["07:00", "12:30", "18:45"],
            duration_seconds=45))
        s.commit()
        return campaign.id, rule_seg.id, weekday.id


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    out, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        out.append(time.perf_counter() - t0)
    return out, value


def run(url: str, n: int, repeat: int) -> None:
    engine = make_engine(url)
    cfg = alembic_config(url)
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")
    t0 = time.perf_counter()
    load(engine, n)
    campaign_id, seg_id, placement_id = plan(engine)
    print(f"{engine.dialect.name}: {n:,} contacts loaded and planned in {time.perf_counter() - t0:.1f} s")
    from campaign.models import Campaign
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        seg = s.get(AudienceSegment, seg_id)
        row = s.get(Placement, placement_id)
        data = service.PlacementIn.from_row(s, row)
        rule = targeting.parse_rule(RULE)
        results = {
            "floor": timed(lambda: s.exec(select(func.count()).select_from(Contact)).one(), repeat),
            "count": timed(lambda: audience.count_members(session=s, rule=rule), repeat),
            "check": timed(lambda: service.check_placement(session=s, campaign=campaign, data=data,
                                                           placement_id=row.id), repeat),
            "preview": timed(lambda: service.campaign_preview(session=s, campaign=campaign), repeat),
        }
        assert audience.count_members(session=s, segment=seg) == results["count"][1]
    pv = results["preview"][1]
    check = results["check"][1]
    print(f"  rule segment members: {results['count'][1]:,}; weekday SMS check: {len(check.errors)} errors, "
          f"{len(check.warnings)} warnings; preview: {sum(p.total for p in pv.placements):,} occurrences over "
          f"{len(pv.placements)} placements, {len(pv.over_rate)} channel-days over the rate limit; {pv.direct_recipients:,} direct recipients")
    for name in ("floor", "count", "check", "preview"):
        times = results[name][0]
        print(f"  {name:8s} min {min(times):.3f} s  median {statistics.median(times):.3f} s  ({len(times)} runs)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory {peak:.0f} MiB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default="", help="a PostgreSQL server URL; SQLite in a temporary directory if empty")
    args = parser.parse_args()
    if not args.database:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.contacts, args.repeat)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.factories import scratch_database
    with scratch_database(args.database, "konbit_bench") as url:
        run(url, args.contacts, args.repeat)


if __name__ == "__main__":
    os.environ.setdefault("KONBIT_SECRET_KEY", "benchmark-secret-key-not-for-production-0123456789")
    main()
