"""The content library's service: messages, versions, variables, the review flow, diffs,
coverage, survey links, attachments and the demo message bank, on a real database."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from content import service as svc
from content.demo import DEMO_MESSAGES, load_content_demo
from content.models import (
    Attachment,
    ContentVariant,
    Message,
    MessageCreate,
    MessageStatus,
    MessageTransition,
    MessageUpdate,
    MessageVersion,
    VariableIn,
    VariantIn,
)
from content.storage import LocalStorage
from surveys.models import InstrumentVersion, Survey
from web.accounts.models import AuditEvent

SMS_HT = "Si w wè yon timoun restavèk k ap soufri, rele {{ hotline_number }}. Li gratis."


def users(session: Session, personas) -> dict:
    return {name: session.merge(user) for name, user in personas.items()}


def new_message(session, actor, *, variants=(), **details) -> Message:
    data = MessageCreate(title=details.pop("title", "Restavèk: a child is not a servant"),
                         objective=details.pop("objective", "Report exploited children."),
                         themes=details.pop("themes", ["restavèk"]),
                         segments=details.pop("segments", ["general_public"]),
                         variants=[VariantIn(**v) for v in variants])
    message = svc.create_message(session=session, data=data, actor=actor)
    session.commit()
    return message


def version_numbers(session, message) -> list[int]:
    return sorted(v.number for v in svc.list_versions(session=session, message=message))


def current_texts(session, message) -> dict:
    return {view.label: view.variant.body for view in svc.version_variants(session=session, version_id=message.current_version_id)}


@pytest.fixture
def u(session, personas):
    return users(session, personas)


# --- Messages and versions ---------------------------------------------------------------------


def test_it_creates_a_message_with_its_first_version(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "HT", "channel": "sms", "body": SMS_HT}],
                          themes=["Restavèk", " child  protection ", "restavèk"], segments=["judges", "general_public"])
    assert message.status == MessageStatus.draft
    assert version_numbers(session, message) == [1]
    assert message.themes == ["restavèk", "child protection"]
    assert message.segments == ["judges", "general_public"]  # in the segments' own order
    views = svc.version_variants(session=session, version_id=message.current_version_id)
    assert [(v.variant.language, v.variant.channel.value) for v in views] == [("ht", "sms")]
    version = session.get(MessageVersion, message.current_version_id)
    assert version.created_by_name == "carla"


def test_it_makes_a_new_version_on_every_save_and_keeps_the_old_ones(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="fr", channel="sms", body="Appelez le {{ hotline_number }}."))
    svc.save_variant(session=session, message=message, actor=u["alice"],
                     data=VariantIn(language="ht", channel="sms", body="Rele {{ hotline_number }}."))
    svc.update_message(session=session, message=message, actor=u["carla"], data=MessageUpdate(title="Timoun pa sèvant"))
    session.commit()
    assert version_numbers(session, message) == [1, 2, 3, 4]
    v1 = svc.get_version(session=session, message=message, number=1)
    assert [v.variant.body for v in svc.version_variants(session=session, version_id=v1.id)] == [SMS_HT]
    assert current_texts(session, message) == {"ht · SMS": "Rele {{ hotline_number }}.",
                                               "fr · SMS": "Appelez le {{ hotline_number }}."}
    notes = [v.note for v in svc.list_versions(session=session, message=message)]
    assert notes == ["Changed title", "Edited ht · SMS", "Added fr · SMS", "Created"]
    assert [v.created_by_name for v in svc.list_versions(session=session, message=message)] == ["carla", "alice", "carla", "carla"]


def test_it_does_not_make_a_version_when_nothing_changed(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    version, _ = svc.save_variant(session=session, message=message, actor=u["carla"],
                                  data=VariantIn(language="ht", channel="sms", body=SMS_HT + "\r\n"))
    assert version is None
    assert svc.update_message(session=session, message=message, actor=u["carla"],
                              data=MessageUpdate(title=" Restavèk:  a child is not a servant ")) is None
    assert version_numbers(session, message) == [1]


def test_it_refuses_a_save_on_a_version_someone_else_replaced(session, u):
    message = new_message(session, u["carla"])
    svc.update_message(session=session, message=message, actor=u["alice"], data=MessageUpdate(title="New title"))
    with pytest.raises(svc.ContentConflict, match="Someone saved version 2"):
        svc.save_variant(session=session, message=message, actor=u["carla"], base_version=1,
                         data=VariantIn(language="ht", channel="sms", body=SMS_HT))


@pytest.mark.parametrize(("variant", "field", "words"), [
    ({"language": "ht", "channel": "sms", "body": "Rele {{ hotline }}"}, "body", "unknown variable 'hotline'"),
    ({"language": "ht", "channel": "sms", "body": "{{ first_name.upper() }}"}, "body", "calls are not allowed"),
    ({"language": "ht", "channel": "sms", "body": "{{ first_name.__class__ }}"}, "body", "attribute access"),
    ({"language": "ht", "channel": "sms", "body": "{% for x in y %}{% endfor %}"}, "body", "loops"),
    ({"language": "ht", "channel": "sms", "body": "{{ first_name "}, "body", "syntax error"),
    ({"language": "ht", "channel": "email", "subject": "{{ nope }}", "body": "x"}, "subject", "unknown variable"),
    ({"language": "ht", "channel": "email", "body": "x"}, "subject", "needs a subject"),
    ({"language": "kreyol", "channel": "sms", "body": "x"}, "language", "Invalid language tag"),
    ({"language": "ht", "channel": "sms", "body": "   "}, "body", "Write the text"),
    ({"language": "ht", "channel": "social", "platform": "myspace", "body": "x"}, "platform", "Unknown social platform"),
    ({"language": "ht", "channel": "social", "body": "x"}, "platform", "Choose the platform"),
    ({"language": "ht", "channel": "radio", "target_seconds": 45, "body": "x"}, "target_seconds", "15 s, 30 s, 60 s"),
])
def test_it_refuses_bad_variants_naming_the_field(session, u, variant, field, words):
    message = new_message(session, u["carla"])
    with pytest.raises(svc.ContentError) as caught:
        svc.save_variant(session=session, message=message, actor=u["carla"], data=VariantIn(**variant))
    assert words in caught.value.errors[field]
    session.rollback()
    assert version_numbers(session, message) == [1]


def test_an_unknown_variable_lists_the_allowed_names(session, u):
    svc.save_variable(session=session, actor=u["carla"], data=VariableIn(name="office", sample="Okap", longest="Fò Libète"))
    message = new_message(session, u["carla"])
    with pytest.raises(svc.ContentError) as caught:
        svc.save_variant(session=session, message=message, actor=u["carla"],
                         data=VariantIn(language="ht", channel="sms", body="{{ hotline_numbr }}"))
    text = caught.value.errors["body"]
    assert "Did you mean 'hotline_number'?" in text
    assert "hotline_number, campaign_name, first_name, organisation, office" in text


def test_campaign_variables_become_usable_and_cannot_be_removed_while_used(session, u):
    message = new_message(session, u["carla"])
    with pytest.raises(svc.ContentError):
        svc.save_variant(session=session, message=message, actor=u["carla"],
                         data=VariantIn(language="fr", channel="sms", body="Bureau : {{ office }}"))
    session.rollback()
    svc.save_variable(session=session, actor=u["carla"], data=VariableIn(name="office", sample="Okap"))
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="fr", channel="sms", body="Bureau : {{ office }}"))
    session.commit()
    with pytest.raises(svc.ContentConflict, match="used by 'Restavèk"):
        svc.delete_variable(session=session, name="office", actor=u["carla"])
    for bad, field in (("if", "name"), ("Office", "name"), ("9lives", "name")):
        with pytest.raises(svc.ContentError) as caught:
            svc.save_variable(session=session, actor=u["carla"], data=VariableIn(name=bad, sample="a"))
        assert field in caught.value.errors
    with pytest.raises(svc.ContentError, match="at least as long"):
        svc.save_variable(session=session, actor=u["carla"], data=VariableIn(name="zone", sample="Nord-Est", longest="Nord"))


def test_the_sms_count_uses_the_longest_values(session, u):
    body = "Bonjou {{ first_name }}, rele {{ hotline_number }} si w wè yon timoun restavèk k ap travay di. " * 2
    message = new_message(session, u["carla"])
    _, analysis = svc.save_variant(session=session, message=message, actor=u["carla"],
                                   data=VariantIn(language="ht", channel="sms", body=body.strip()))
    assert analysis.longest.encoding == "GSM-7"
    first = analysis.longest.units
    svc.save_variable(session=session, actor=u["carla"],
                      data=VariableIn(name="first_name", sample="Rose", longest="Marie-Ève Jean-Baptiste Ô"))
    session.commit()
    problems = svc.blocking_problems(session=session, version_id=message.current_version_id)
    analysis = svc.analyse(channel="sms", language="ht", body=body.strip(), variables=svc.variable_set(session=session),
                           max_segments=1)
    assert analysis.longest.encoding == "UCS-2" and analysis.longest.units > first
    assert analysis.blocking and "limit is 1" in analysis.blocking[0]
    assert problems == []  # within the default limit of 3


# --- The review flow ---------------------------------------------------------------------------


def test_the_approval_flow_keeps_the_approved_version_usable_while_a_new_draft_is_reviewed(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    assert svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms") is None
    svc.transition(session=session, message=message, action="submit", actor=u["carla"], version=1)
    assert message.status == MessageStatus.in_review
    svc.transition(session=session, message=message, action="approve", actor=u["leo"], version=1)
    session.commit()
    assert message.status == MessageStatus.approved
    first = svc.approved_variant(session=session, message_id=message.id, language="HT", channel="sms")
    assert first.body == SMS_HT

    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="ht", channel="sms", body="Rele {{ hotline_number }} kounye a."))
    session.commit()
    assert message.status == MessageStatus.draft
    assert svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms").body == SMS_HT
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    assert svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms").body == SMS_HT
    svc.transition(session=session, message=message, action="approve", actor=u["alice"], comment="OK")
    session.commit()
    assert svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms").body == \
        "Rele {{ hotline_number }} kounye a."
    assert svc.approved_variant(session=session, message_id=message.id, language="fr", channel="sms") is None
    actions = [t.action for t in reversed(svc.list_transitions(session=session, message=message))]
    assert actions == ["submit", "approve", "revise", "submit", "approve"]


def test_every_transition_is_in_the_audit_log(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.transition(session=session, message=message, action="send_back", actor=u["leo"], comment="Ajoute 24/24.")
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.transition(session=session, message=message, action="withdraw", actor=u["carla"])
    svc.transition(session=session, message=message, action="retire", actor=u["leo"])
    svc.transition(session=session, message=message, action="restore", actor=u["alice"])
    session.commit()
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "content_message",
                                                   AuditEvent.entity_id == str(message.id))
                          .order_by(col(AuditEvent.id))).all()
    assert [(e.action, e.actor_name) for e in events] == [
        ("content.create", "carla"), ("content.submit", "carla"), ("content.send_back", "leo"),
        ("content.submit", "carla"), ("content.withdraw", "carla"), ("content.retire", "leo"),
        ("content.restore", "alice"),
    ]
    assert events[2].details["comment"] == "Ajoute 24/24."
    assert message.status == MessageStatus.draft


@pytest.mark.parametrize(("action", "who", "allowed"), [
    ("submit", "carla", True), ("submit", "alice", True), ("submit", "leo", False), ("submit", "sonia", False),
    ("approve", "leo", True), ("approve", "alice", True), ("approve", "carla", False), ("approve", "sonia", False),
    ("send_back", "leo", True), ("send_back", "carla", False),
    ("retire", "leo", True), ("retire", "carla", False),
])
def test_each_step_is_open_to_the_roles_of_the_permissions_table(session, u, action, who, allowed):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    if action in ("approve", "send_back"):
        svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    if allowed:
        svc.transition(session=session, message=message, action=action, actor=u[who], comment="Pou korije")
    else:
        with pytest.raises(svc.ContentForbidden):
            svc.transition(session=session, message=message, action=action, actor=u[who], comment="x")


def test_editing_is_refused_to_roles_without_content_edit(session, u):
    message = new_message(session, u["carla"])
    for name in ("leo", "sonia", "eddy"):
        with pytest.raises(svc.ContentForbidden):
            svc.save_variant(session=session, message=message, actor=u[name],
                             data=VariantIn(language="ht", channel="sms", body=SMS_HT))


def test_steps_out_of_order_are_refused(session, u):
    message = new_message(session, u["carla"])
    with pytest.raises(svc.ContentConflict, match="no variant yet"):
        svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="ht", channel="sms", body=SMS_HT))
    with pytest.raises(svc.ContentConflict, match="draft cannot be approved"):
        svc.transition(session=session, message=message, action="approve", actor=u["leo"])
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    with pytest.raises(svc.ContentError, match="Say what should change"):
        svc.transition(session=session, message=message, action="send_back", actor=u["leo"], comment="  ")
    with pytest.raises(svc.ContentConflict, match="changed since you looked"):
        svc.transition(session=session, message=message, action="approve", actor=u["leo"], version=1)


def test_an_edit_in_review_takes_the_message_back_to_draft(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="en", channel="sms", body="Call {{ hotline_number }}."))
    assert message.status == MessageStatus.draft
    assert svc.list_transitions(session=session, message=message)[0].action == "auto_withdraw"


def test_a_submission_is_refused_while_an_sms_is_over_the_segment_limit(session, u):
    message = new_message(session, u["carla"])
    svc.set_sms_max_segments(session=session, value=1, actor=u["carla"])
    long_text = "Trafik moun se yon krim. " * 8
    _, analysis = svc.save_variant(session=session, message=message, actor=u["carla"],
                                   data=VariantIn(language="ht", channel="sms", body=long_text))
    assert analysis.blocking  # saved as a draft all the same
    with pytest.raises(svc.ContentConflict, match=r"ht · SMS: The SMS needs 2 segments .* the limit is 1"):
        svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.set_sms_max_segments(session=session, value=2, actor=u["carla"])
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])


def test_retired_messages_cannot_be_scheduled_or_edited(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=message, action="submit", actor=u["carla"])
    svc.transition(session=session, message=message, action="approve", actor=u["leo"])
    variant = svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms")
    assert svc.assert_schedulable(session=session, variant_id=variant.id) is variant
    svc.transition(session=session, message=message, action="retire", actor=u["leo"])
    assert svc.approved_variant(session=session, message_id=message.id, language="ht", channel="sms") is None
    with pytest.raises(svc.ContentConflict, match="retired"):
        svc.assert_schedulable(session=session, variant_id=variant.id)
    with pytest.raises(svc.ContentConflict, match="restore it"):
        svc.update_message(session=session, message=message, actor=u["carla"], data=MessageUpdate(title="x"))
    svc.transition(session=session, message=message, action="restore", actor=u["leo"])
    assert message.status == MessageStatus.approved


def test_only_the_approved_versions_variants_are_schedulable(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    draft_variant = svc.version_variants(session=session, version_id=message.current_version_id)[0].variant
    with pytest.raises(svc.ContentConflict, match="approved version"):
        svc.assert_schedulable(session=session, variant_id=draft_variant.id)


def test_a_draft_never_submitted_can_be_deleted_but_not_a_submitted_one(session, u):
    message = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.update_message(session=session, message=message, actor=u["carla"], data=MessageUpdate(title="Two"))
    svc.delete_message(session=session, message=message, actor=u["carla"])
    session.commit()
    assert session.exec(select(MessageVersion)).all() == []
    assert session.exec(select(ContentVariant)).all() == []
    other = new_message(session, u["carla"], variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=other, action="submit", actor=u["carla"])
    svc.transition(session=session, message=other, action="withdraw", actor=u["carla"])
    with pytest.raises(svc.ContentConflict, match="retire"):
        svc.delete_message(session=session, message=other, actor=u["carla"])


# --- Diffs, review queue, coverage, list --------------------------------------------------------


def test_the_diff_between_versions_shows_changed_added_and_removed_variants(session, u):
    message = new_message(session, u["carla"], variants=[
        {"language": "ht", "channel": "sms", "body": "Rele 188 si w wè yon timoun restavèk."},
        {"language": "fr", "channel": "sms", "body": "Appelez le 188."}])
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="ht", channel="sms", body="Rele 188 touswit si w wè yon timoun <b>restavèk</b>."))
    svc.delete_variant(session=session, message=message, actor=u["carla"], language="fr", channel="sms")
    svc.save_variant(session=session, message=message, actor=u["carla"],
                     data=VariantIn(language="en", channel="radio", target_seconds=15, body="Call 188."))
    svc.update_message(session=session, message=message, actor=u["carla"],
                       data=MessageUpdate(themes=["restavèk", "hotline"], segments=["police"]))
    old = svc.get_version(session=session, message=message, number=1)
    new = svc.get_version(session=session, message=message, number=5)
    diff = svc.diff_versions(session=session, old=old, new=new)
    changes = {v.label: v.change for v in diff.variants}
    assert changes == {"ht · SMS": "changed", "fr · SMS": "removed", "en · Radio spot": "added"}
    body = next(v for v in diff.variants if v.label == "ht · SMS").fields[0]
    assert body.name == "body"
    assert body.html == ("Rele 188<ins> touswit</ins> si w wè yon timoun "
                         "<ins>&lt;b&gt;</ins>restavèk<ins>&lt;/b&gt;</ins>.")  # escaped
    details = {f.name: f for f in diff.details}
    assert details["themes"].added == ["hotline"]
    assert details["segments"].removed == ["General public"] and details["segments"].added == ["Police (PNH, BPM)"]
    assert svc.diff_versions(session=session, old=new, new=new).empty


def test_the_review_queue_shows_changes_since_the_approved_or_sent_back_version(session, u):
    a = new_message(session, u["carla"], title="A", variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=a, action="submit", actor=u["carla"])
    svc.transition(session=session, message=a, action="approve", actor=u["leo"])
    svc.save_variant(session=session, message=a, actor=u["carla"],
                     data=VariantIn(language="fr", channel="sms", body="Appelez le {{ hotline_number }}."))
    svc.transition(session=session, message=a, action="submit", actor=u["carla"])
    b = new_message(session, u["carla"], title="B", variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=b, action="submit", actor=u["carla"])
    svc.transition(session=session, message=b, action="send_back", actor=u["leo"], comment="Pi kout.")
    svc.save_variant(session=session, message=b, actor=u["carla"],
                     data=VariantIn(language="ht", channel="sms", body="Rele {{ hotline_number }}."))
    svc.transition(session=session, message=b, action="submit", actor=u["carla"])
    c = new_message(session, u["carla"], title="C")  # a draft: not in the queue
    session.commit()
    queue = svc.review_queue(session=session)
    assert [item.message.title for item in queue] == ["A", "B"]
    first, second = queue
    assert first.base.number == 1 and [v.label for v in first.diff.variants] == ["fr · SMS"]
    assert second.base.number == 1 and second.sent_back.comment == "Pi kout."
    assert [v.change for v in second.diff.variants] == ["changed"]
    assert c.status == MessageStatus.draft


def test_the_coverage_check_lists_what_the_segments_need(session, u):
    message = new_message(session, u["carla"], segments=["judges", "vulnerable_groups"], variants=[
        {"language": "fr", "channel": "briefing", "body": "# Note"},
        {"language": "ht", "channel": "sms", "body": SMS_HT}])
    gaps = {g.segment: g.missing for g in svc.coverage(session=session, message=message)}
    assert gaps == {"judges": [("fr", "email"), ("ht", "briefing"), ("ht", "email")],
                    "vulnerable_groups": [("ht", "radio")]}


def test_the_list_filters_by_text_theme_language_channel_status_and_segment(session, u):
    a = new_message(session, u["carla"], title="Lalwa 2014", themes=["law 2014"], segments=["judges"],
                    variants=[{"language": "fr-ht", "channel": "briefing", "body": "La loi CL/2014-0010 punit..."}])
    b = new_message(session, u["carla"], title="Restavèk", themes=["restavèk"], segments=["general_public"],
                    variants=[{"language": "ht", "channel": "sms", "body": SMS_HT}])
    svc.transition(session=session, message=b, action="submit", actor=u["carla"])
    session.commit()

    def titles(**filters):
        return sorted(r.message.title for r in svc.list_messages(session=session, **filters))

    assert titles() == ["Lalwa 2014", "Restavèk"]
    assert titles(q="cl/2014") == ["Lalwa 2014"]  # in a variant's text
    assert titles(q="RESTAV") == ["Restavèk"]
    assert titles(theme="law 2014") == ["Lalwa 2014"]
    assert titles(language="fr") == ["Lalwa 2014"]  # fr finds fr-HT
    assert titles(language="ht") == ["Restavèk"]
    assert titles(channel="sms") == ["Restavèk"]
    assert titles(status="in_review") == ["Restavèk"]
    assert titles(segment="judges") == ["Lalwa 2014"]
    assert titles(status="nonsense") == ["Lalwa 2014", "Restavèk"]
    row = next(r for r in svc.list_messages(session=session) if r.message.id == a.id)
    assert row.languages == ["fr-HT"] and row.channels == ["briefing"]


# --- Survey links --------------------------------------------------------------------------------


def make_survey(session, codes=("k_law", "a_restavek_ok")) -> Survey:
    survey = Survey(title="KAP baseline")
    session.add(survey)
    session.flush()
    items = [{"code": c, "type": "integer", "labels": {"en": f"Item {c}"}, "kap_domain": "knowledge"} for c in codes]
    for number in (1, 2):
        session.add(InstrumentVersion(survey_id=survey.id, version=number, title=f"v{number}", spec={
            "format": 1, "title": "KAP", "default_language": "en",
            "sections": [{"name": "k", "items": items if number == 2 else items[:1]}]}))
    session.commit()
    return survey


def test_messages_link_to_items_of_the_surveys_latest_questionnaire(session, u):
    survey = make_survey(session)
    message = new_message(session, u["carla"])
    link = svc.link_survey_item(session=session, message=message, survey_id=survey.id, item_code="a_restavek_ok",
                                actor=u["carla"])
    assert svc.link_survey_item(session=session, message=message, survey_id=survey.id, item_code="a_restavek_ok",
                                actor=u["carla"]).id == link.id  # once
    with pytest.raises(svc.ContentError) as caught:
        svc.link_survey_item(session=session, message=message, survey_id=survey.id, item_code="k_nope", actor=u["carla"])
    assert "not an item of the latest questionnaire" in caught.value.errors["item_code"]
    with pytest.raises(svc.ContentError) as caught:
        svc.link_survey_item(session=session, message=message, survey_id=survey.id + 99, item_code="k_law",
                             actor=u["carla"])
    assert "survey_id" in caught.value.errors
    views = svc.survey_links(session=session, message=message)
    assert [(v.link.item_code, v.kap_domain, v.current) for v in views] == [("a_restavek_ok", "knowledge", True)]
    svc.unlink_survey_item(session=session, message=message, link_id=link.id, actor=u["carla"])
    assert svc.survey_links(session=session, message=message) == []


# --- Attachments ---------------------------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 600


def test_attachments_are_stored_once_by_checksum(session, u, tmp_path):
    storage = LocalStorage(tmp_path / "att")
    first = svc.store_attachment(session=session, storage=storage, filename="C:\\fakepath\\banye.png",
                                 content_type="image/png", data=PNG, channel="social", actor=u["carla"])
    again = svc.store_attachment(session=session, storage=storage, filename="other-name.png",
                                 content_type="image/png", data=PNG, channel="social", actor=u["carla"])
    assert first.id == again.id and first.filename == "banye.png"
    assert storage.path(first.storage_name).read_bytes() == PNG
    assert first.storage_name == f"{first.sha256}.png"
    assert len(list((tmp_path / "att").rglob("*.png"))) == 1


@pytest.mark.parametrize(("filename", "data", "channel", "words"), [
    ("banye.png", PNG, "radio", "PNG image files are not accepted for radio"),
    ("spot.mp3", PNG, "radio", "does not look like a MP3 audio: its content is a PNG image"),
    ("law.pdf", PNG, "briefing", "does not look like a PDF"),
    ("virus.exe", b"MZ" + b"\x00" * 100, "briefing", "has '.exe'"),
    ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024), "social", "maximum for a PNG image is 10 MB"),
    ("banye.png", PNG, "sms", "sms messages cannot carry attachments"),
])
def test_attachments_of_the_wrong_type_or_size_are_refused(session, u, tmp_path, filename, data, channel, words):
    storage = LocalStorage(tmp_path / "att")
    with pytest.raises(svc.ContentError) as caught:
        svc.store_attachment(session=session, storage=storage, filename=filename, content_type=None, data=data,
                             channel=channel, actor=u["carla"])
    assert words in caught.value.errors["attachments"]
    assert session.exec(select(Attachment)).all() == []
    assert not (tmp_path / "att").exists()


def test_a_social_image_needs_alt_text_and_a_radio_spot_one_audio_file(session, u, tmp_path):
    storage = LocalStorage(tmp_path / "att")
    image = svc.store_attachment(session=session, storage=storage, filename="b.png", content_type="image/png",
                                 data=PNG, channel="social", actor=u["carla"])
    message = new_message(session, u["carla"])
    with pytest.raises(svc.ContentError) as caught:
        svc.save_variant(session=session, message=message, actor=u["carla"], data=VariantIn(
            language="ht", channel="social", platform="facebook", body="Trafik moun se yon krim.",
            attachment_ids=[image.id]))
    assert "alt text" in caught.value.errors["alt_text"]
    with pytest.raises(svc.ContentError) as caught:
        svc.save_variant(session=session, message=message, actor=u["carla"], data=VariantIn(
            language="ht", channel="radio", target_seconds=15, body="Rele 188.", attachment_ids=[image.id]))
    assert "not accepted for Radio spot" in caught.value.errors["attachments"]
    svc.save_variant(session=session, message=message, actor=u["carla"], data=VariantIn(
        language="ht", channel="social", platform="Twitter", body="Trafik moun se yon krim.",
        alt_text="Bannyè ble ak jòn", attachment_ids=[image.id]))
    view = svc.version_variants(session=session, version_id=message.current_version_id)[0]
    assert view.variant.platform == "x" and [a.id for a in view.attachments] == [image.id]


# --- Demo ------------------------------------------------------------------------------------------


def test_the_demo_message_bank_loads_once_and_passes_its_own_checks(session, personas, tmp_path):
    storage = LocalStorage(tmp_path / "att")
    report = load_content_demo(session, storage=storage)
    session.commit()
    assert "12 key messages added" in report[0]
    assert load_content_demo(session, storage=storage) == ["Demo content library already loaded (12 messages)."]
    messages = session.exec(select(Message)).all()
    assert len(messages) == len(DEMO_MESSAGES) >= 10
    statuses = {m.status for m in messages}
    assert statuses == {MessageStatus.draft, MessageStatus.in_review, MessageStatus.approved, MessageStatus.retired}
    languages: dict[str, int] = {}
    channels = set()
    for m in messages:
        for view in svc.version_variants(session=session, version_id=m.current_version_id):
            languages[view.variant.language] = languages.get(view.variant.language, 0) + 1
            channels.add(view.variant.channel.value)
        if m.status != MessageStatus.retired:
            assert svc.blocking_problems(session=session, version_id=m.current_version_id) == [], m.title
    assert set(languages) == {"ht", "fr", "en", "es"} and languages["es"] < languages["ht"]
    assert channels == {"sms", "radio", "social", "email", "briefing"}
    # an approved message with a newer draft in progress: its approved SMS stays the schedulable one
    restavek = next(m for m in messages if m.title.startswith("Restavèk"))
    assert restavek.status == MessageStatus.draft and restavek.approved_version_id != restavek.current_version_id
    assert "24/24" not in svc.approved_variant(session=session, message_id=restavek.id, language="ht", channel="sms").body
    assert session.exec(select(MessageTransition).where(MessageTransition.action == "send_back")).first() is not None
    assert len(session.exec(select(Attachment)).all()) == 4
