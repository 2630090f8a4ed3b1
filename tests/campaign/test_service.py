"""Planning services: campaigns, channels, placements checked before saving, previews."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlmodel import select

from audiences.models import SegmentIn
from campaign import service as svc
from campaign.models import CampaignIn, ChannelKind, Placement, Timing
from campaign.secrets import decrypt_secrets
from content.models import VariantIn
from tests.campaign.factories import approved_message, contacts, segment
from web.accounts.models import AuditEvent

KEY = "k" * 40


def _campaign(session, actor, **extra):
    data = CampaignIn(name="Konbit kont trafik", start_date=date(2026, 3, 1), end_date=date(2026, 4, 30), **extra)
    return svc.create_campaign(session=session, data=data, actor=actor)


def _sms(session, actor, **extra):
    return svc.save_channel(session=session, actor=actor, secret_key=KEY, data=svc.ChannelIn(
        name="Digicel gateway", kind=ChannelKind.sms, provider="generic_http",
        settings={"url": "http://127.0.0.1:9/send"}, secrets={"auth_token": "s3cret-token"}, **extra))


def test_campaign_checks_name_every_field(session, personas):
    with pytest.raises(svc.PlanError) as err:
        svc.create_campaign(session=session, actor=personas["carla"], data=CampaignIn(
            name="  ", timezone="Haiti/Jacmel", start_date=date(2026, 5, 1), end_date=date(2026, 4, 1),
            languages=["ht", "xx-!!"], regions=["Ouest"], comparison_regions=["ouest"], country="H1", survey_id=999))
    assert set(err.value.errors) == {"name", "timezone", "end_date", "languages", "comparison_regions", "country",
                                     "survey_id"}


def test_secrets_are_encrypted_and_never_audited(session, personas):
    channel = _sms(session, personas["carla"])
    assert "s3cret-token" not in channel.secrets_encrypted
    assert decrypt_secrets(channel.secrets_encrypted, secret_key=KEY) == {"auth_token": "s3cret-token"}
    # An edit with the secret left blank keeps it.
    svc.save_channel(session=session, actor=personas["carla"], secret_key=KEY, channel=channel, data=svc.ChannelIn(
        name="Digicel gateway", kind=ChannelKind.sms, provider="generic_http", settings={"url": "http://127.0.0.1:9/x"},
        secrets={"auth_token": ""}))
    assert decrypt_secrets(channel.secrets_encrypted, secret_key=KEY) == {"auth_token": "s3cret-token"}
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "channel.save")).all()
    assert events and all("s3cret" not in repr(e.details) + e.summary for e in events)
    with pytest.raises(svc.PlanError) as err:
        svc.save_channel(session=session, actor=None, secret_key=KEY, data=svc.ChannelIn(
            name="x", kind=ChannelKind.email, settings={"host": "smtp", "port": "99999"}, secrets={"token": "x"}))
    assert {"settings.port", "settings.sender", "secrets"} <= set(err.value.errors)


def test_placement_validation_speaks_of_content_times_languages_and_limits(session, personas):
    carla, leo = personas["carla"], personas["leo"]
    campaign = _campaign(session, carla)
    channel = _sms(session, carla, quiet_start=time(21), quiet_end=time(7), send_days=[0, 1, 2, 3, 4],
                   sms_segment_limit=1, frequency_cap_per_week=2)
    message = approved_message(session, author=carla, approver=leo, variants=[
        VariantIn(language="fr", channel="sms", body="La traite des personnes est un crime. Appelez le 188."),
        VariantIn(language="ht", channel="sms", body="Trafik moun se yon krim. " * 8)])
    seg = segment(session, "general_public")
    contacts(session, 5, seg=seg, language="ht")
    contacts(session, 3, seg=seg, language="es", start=50)
    data = svc.PlacementIn(message_id=message.id, channel_id=channel.id, segments=["general_public"],
                           starts_local=datetime(2026, 3, 7, 22, 0))  # a Saturday, in quiet hours
    check = svc.check_placement(session=session, campaign=campaign, data=data)
    assert {"quiet_hours", "send_days", "sms_segments"} <= set(check.errors)
    assert "21:00-07:00" in check.errors["quiet_hours"] and "Monday, Tuesday" in check.errors["send_days"]
    assert "allows 1" in check.errors["sms_segments"]
    assert any("Español" in w and "3 contact" in w for w in check.warnings)
    outside = svc.check_placement(session=session, campaign=campaign, data=data.model_copy(
        update={"starts_local": datetime(2026, 6, 1, 9, 0)}))
    assert "outside the campaign's dates" in outside.errors["starts_local"]
    # Three sends in one week break a cap of two, for all eight contacts.
    recurring = data.model_copy(update={"timing": Timing.recurring, "starts_local": datetime(2026, 3, 2, 9, 0),
                                        "rrule": "FREQ=DAILY;BYDAY=MO,WE,FR;COUNT=3"})
    channel.sms_segment_limit = 6
    check = svc.check_placement(session=session, campaign=campaign, data=recurring)
    assert "for 8 contact(s)" in check.errors["frequency_cap"]
    ok = recurring.model_copy(update={"rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=4"})
    row, check = svc.create_placement(session=session, campaign=campaign, data=ok, actor=carla)
    assert not check.errors and len(check.occurrences) == 4 and check.recipients == 8
    preview = svc.preview_placement(session=session, campaign=campaign, placement=row)
    assert preview.total == 4 and [o.audience for o in preview.occurrences] == [8] * 4
    assert sum(preview.per_day.values()) == 32
    # An SMS goes out in each recipient's language: the calendar's language filter finds it by its variants.
    march = {"start": date(2026, 3, 1), "end": date(2026, 3, 31)}
    events = svc.calendar_events(session=session, language="fr", **march)
    assert len(events) == 4 and {e.language for e in events} == {"fr, ht"}
    assert svc.calendar_events(session=session, language="es", **march) == []


def test_unapproved_or_retired_content_cannot_be_scheduled(session, personas):
    from content import service as content_svc
    from content.models import MessageCreate

    carla = personas["carla"]
    campaign = _campaign(session, carla)
    channel = _sms(session, carla)
    draft = content_svc.create_message(session=session, actor=carla, data=MessageCreate(
        title="Draft", variants=[VariantIn(language="ht", channel="sms", body="Bonjou")]))
    data = svc.PlacementIn(message_id=draft.id, channel_id=channel.id, segments=["police"],
                           starts_local=datetime(2026, 3, 2, 9))
    assert "no approved version" in svc.check_placement(session=session, campaign=campaign, data=data).errors["message_id"]
    retired = approved_message(session, author=carla, approver=personas["leo"], title="Old spot")
    content_svc.transition(session=session, message=retired, action="retire", actor=personas["leo"])
    assert "is retired" in svc.check_placement(session=session, campaign=campaign, data=data.model_copy(
        update={"message_id": retired.id})).errors["message_id"]


def test_a_recurring_series_outside_the_campaign_s_dates_is_refused_or_its_lost_dates_counted(session, personas):
    carla = personas["carla"]
    campaign = _campaign(session, carla)  # 1 March to 30 April 2026
    channel = _sms(session, carla)
    message = approved_message(session, author=carla, approver=personas["leo"])
    data = svc.PlacementIn(message_id=message.id, channel_id=channel.id, segments=["police"], timing=Timing.recurring,
                           starts_local=datetime(2026, 2, 23, 9), rrule="FREQ=WEEKLY;BYDAY=MO")
    early = svc.check_placement(session=session, campaign=campaign, data=data)
    assert "before the campaign" in early.errors["starts_local"]
    late = svc.check_placement(session=session, campaign=campaign, data=data.model_copy(
        update={"starts_local": datetime(2026, 5, 4, 9)}))
    assert "after the campaign ends" in late.errors["starts_local"]
    # Ten Mondays from 13 April: three fall in the campaign, seven after it, and the check says so.
    long = svc.check_placement(session=session, campaign=campaign, data=data.model_copy(
        update={"starts_local": datetime(2026, 4, 13, 9), "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=10"}))
    assert not long.errors and len(long.occurrences) == 3
    assert any(w.startswith("7 date(s) of this rule fall after the campaign ends") and "04 May 2026" in w
               for w in long.warnings), long.warnings
    # A rule without an end of its own simply runs until the campaign ends: nothing to warn about.
    open_ended = svc.check_placement(session=session, campaign=campaign, data=data.model_copy(
        update={"starts_local": datetime(2026, 4, 13, 9)}))
    assert not open_ended.errors and not any("after the campaign ends" in w for w in open_ended.warnings)


def test_radio_rotation_reach_and_activation(session, personas):
    carla, leo = personas["carla"], personas["leo"]
    campaign = _campaign(session, carla)
    station = svc.save_channel(session=session, actor=carla, secret_key=KEY, data=svc.ChannelIn(
        name="Radio Vision 2000", kind=ChannelKind.radio, settings={"frequency": "99.3 FM", "rating": "0.1"},
        audience_size=200_000, regions=["Ouest"]))
    message = approved_message(session, author=carla, approver=leo, variants=[
        VariantIn(language="ht", channel="radio", body="Trafik moun se yon krim.", target_seconds=30)])
    data = svc.PlacementIn(message_id=message.id, channel_id=station.id, segments=["general_public"],
                           timing=Timing.recurring, starts_local=datetime(2026, 3, 2, 0, 0), language="ht",
                           rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20260313T235959",
                           times_of_day=["18:45", "07:30", "12:15"], duration_seconds=30)
    row, check = svc.create_placement(session=session, campaign=campaign, data=data, actor=carla)
    assert len(check.occurrences) == 30 and check.occurrences[0].local_at == datetime(2026, 3, 2, 7, 30)
    assert row.times_of_day == ["07:30", "12:15", "18:45"]
    preview = svc.preview_placement(session=session, campaign=campaign, placement=row)
    assert preview.radio.airings == 30
    assert preview.radio.reach == pytest.approx(200_000 * (1 - 0.9 ** 30))
    with pytest.raises(svc.PlanConflict):
        svc.set_campaign_status(session=session, campaign=campaign, action="activate", actor=carla)
    svc.set_campaign_status(session=session, campaign=campaign, action="activate", actor=leo)
    assert campaign.status.value == "active" and campaign.activated_by_id == leo.id
    events = svc.calendar_events(session=session, start=date(2026, 3, 2), end=date(2026, 3, 2), segment="general_public")
    assert [e.local_at.hour for e in events] == [7, 12, 18]
    weeks, table = svc.segment_timeline(session=session, campaign=campaign)
    assert table["General public"]["Trafficking is a crime (Radio station)"][:3] == [0, 15, 15]


def test_rule_segments_are_saved_clean(session, personas):
    seg = svc.save_segment(session=session, actor=personas["carla"], data=SegmentIn(
        code="ouest_judges", name="Judges in Ouest", rule={"conditions": [
            {"field": "region", "op": "eq", "value": " Ouest"}, {"field": "attributes.profession", "op": "in",
                                                                 "value": "judge, Prosecutor"}]}))
    assert seg.rule == {"match": "all", "conditions": [{"field": "region", "op": "eq", "value": "ouest"},
                                                       {"field": "attributes.profession", "op": "in",
                                                        "value": ["judge", "prosecutor"]}]}
    with pytest.raises(svc.PlanError) as err:
        svc.save_segment(session=session, actor=None, data=SegmentIn(code="judges", name="x",
                                                                     rule={"conditions": [{"field": "zz"}]}))
    assert {"code", "rule.conditions[0].field"} == set(err.value.errors)
    assert session.exec(select(Placement)).all() == []


def test_a_contact_cell_holding_nul_is_reported_by_line_and_column(session, personas):
    from campaign.contacts import check_import  # noqa: PLC0415

    data = "phone,name\n+50934000001,Ana\n+50934000002,Jo\x00se\n".encode()
    report = check_import(session=session, source=data, filename="c.csv")
    bad = [row for row in report.problems]
    assert [row.line for row in bad] == [3]
    assert any("NUL" in p and p.startswith("name") for p in bad[0].problems)
