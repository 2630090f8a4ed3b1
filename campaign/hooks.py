"""What gateways post back: delivery receipts, inbound SMS (opt-out keywords), e-mail unsubscribes.

Services in the project's way: keyword-only, take a Session, never commit; the webhook routes in
:mod:`web.routes.deliveries_hooks` authenticate the caller and commit.

- :func:`apply_receipts` moves a channel's deliveries to delivered or failed. It is idempotent (a
  receipt repeated changes nothing) and never lets a late "failed" undo a "delivered"; receipts
  for ids that match no delivery of the channel are logged and counted, not stored.
- :func:`record_inbound` stores the message once per gateway id and, for an opt-out keyword
  (:mod:`campaign.optout`) from a known contact, opts them out of that channel's kind. It returns
  the confirmation to send, only the first time: a second STOP gets no second answer.
- :func:`unsubscribe_email` opts the contact of one e-mail delivery out of e-mail.

The paths gateways call are built by :func:`receipts_path`, :func:`inbound_path` and
:func:`unsubscribe_path`; prefix them with the server's public https address.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, or_, select

from campaign.adapters.base import Inbound, Receipt
from campaign.contacts import normalise_phone
from campaign.models import (
    ChannelConfig, ChannelKind, Contact, ContactOptOut, Delivery, DeliveryStatus, InboundMessage,
)
from campaign.optout import confirmation, optout_keyword
from web.accounts.models import utcnow

__all__ = [
    "InboundResult", "ReceiptCounts", "UID_PATTERN", "apply_receipts", "email_delivery", "inbound_path", "is_opted_out",
    "receipts_path", "record_inbound", "unsubscribe_email", "unsubscribe_path",
]

log = logging.getLogger("konbit.campaign.hooks")

UID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_OPEN = (DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.sent)


def receipts_path(channel_id: int, token: str = "") -> str:
    """Where a channel's gateway posts delivery receipts (the token in the query for gateways that
    cannot set a header, such as Twilio's StatusCallback)."""
    return f"/hooks/channels/{channel_id}/receipts" + (f"?{urlencode({'token': token})}" if token else "")


def inbound_path(channel_id: int, token: str = "") -> str:
    """Where a channel's gateway posts the SMS contacts send to its number."""
    return f"/hooks/channels/{channel_id}/inbound" + (f"?{urlencode({'token': token})}" if token else "")


def unsubscribe_path(delivery_uid: str) -> str:
    """The one-click unsubscribe link of an e-mail delivery (``Outgoing.unsubscribe_url``)."""
    return f"/unsubscribe/{delivery_uid}"


# --- Receipts -----------------------------------------------------------------------------


@dataclass
class ReceiptCounts:
    delivered: int = 0
    failed: int = 0
    unchanged: int = 0
    unknown: int = 0


def apply_receipts(*, session: Session, channel: ChannelConfig, receipts: Sequence[Receipt]) -> ReceiptCounts:
    """Move the channel's deliveries named by ``receipts`` to delivered or failed."""
    counts = ReceiptCounts()
    for receipt in receipts:
        clauses = []
        if receipt.delivery_uid:
            clauses.append(Delivery.uid == receipt.delivery_uid[:36])
        if receipt.gateway_message_id:
            clauses.append(Delivery.gateway_message_id == receipt.gateway_message_id[:120])
        rows = session.exec(select(Delivery).where(Delivery.channel_id == channel.id, or_(*clauses))).all() if clauses else []
        if not rows:
            counts.unknown += 1
            log.warning("channel %s: receipt for unknown message %r / %r ignored", channel.id,
                        receipt.gateway_message_id[:120], receipt.delivery_uid[:36])
            continue
        now = utcnow()
        for row in rows:
            if receipt.delivered and row.status in (*_OPEN, DeliveryStatus.failed):
                row.status, row.delivered_at, row.reason, row.updated_at = DeliveryStatus.delivered, now, "", now
                counts.delivered += 1
            elif not receipt.delivered and row.status in _OPEN:
                row.status, row.updated_at = DeliveryStatus.failed, now
                row.reason = (receipt.error or "The gateway reports the message undelivered.")[:500]
                counts.failed += 1
            else:
                counts.unchanged += 1  # a repeated receipt, or a late failure after delivery
            session.add(row)
    session.flush()
    return counts


# --- Inbound SMS --------------------------------------------------------------------------


@dataclass
class InboundResult:
    action: str  # opted_out, already_opted_out, unknown_sender, ignored, duplicate
    keyword: str = ""
    contact_id: int | None = None
    reply_to: str = ""  # E.164 number the confirmation goes to ("" when none is due)
    reply: str = ""  # the confirmation text, sent once


def _opt_out(session: Session, *, contact: Contact, kind: ChannelKind, source: str, detail: str) -> bool:
    """Opt ``contact`` out of ``kind``; False when they already were (also under a concurrent request)."""
    existing = session.exec(select(ContactOptOut).where(ContactOptOut.contact_id == contact.id,
                                                        ContactOptOut.channel_kind == kind)).first()
    if existing is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ContactOptOut(contact_id=contact.id, channel_kind=kind, source=source, detail=detail[:200]))
    except IntegrityError:  # another request opted them out between our read and our insert
        return False
    return True


def record_inbound(*, session: Session, channel: ChannelConfig, message: Inbound, region: str = "HT") -> InboundResult:
    """Store one inbound SMS; apply an opt-out keyword; say whether a confirmation is due."""
    external_id = message.external_id[:120]
    if external_id and session.exec(select(InboundMessage.id).where(
            InboundMessage.channel_id == channel.id, InboundMessage.external_id == external_id)).first():
        return InboundResult(action="duplicate")  # the gateway posted it again
    phone, _problem = normalise_phone(message.sender, region)
    contact = session.exec(select(Contact).where(Contact.phone == phone)).first() if phone else None
    keyword = optout_keyword(message.text) or ""
    result = InboundResult(action="ignored", keyword=keyword, contact_id=contact.id if contact else None)
    if contact is None:
        result.action = "unknown_sender"
    elif keyword:
        if _opt_out(session, contact=contact, kind=channel.kind, source="sms_keyword", detail=keyword):
            result.action, result.reply_to = "opted_out", phone or ""
            result.reply = confirmation(contact.language, keyword)
            log.info("channel %s: contact %s opted out of %s by SMS keyword %s", channel.id, contact.id,
                     channel.kind.value, keyword)
        else:
            result.action = "already_opted_out"
    session.add(InboundMessage(channel_id=channel.id, contact_id=result.contact_id, external_id=external_id,
                               text=message.text[:1600], action=result.action))
    session.flush()
    return result


# --- E-mail unsubscribe -------------------------------------------------------------------


def email_delivery(*, session: Session, uid: str) -> tuple[Delivery, Contact] | None:
    """The e-mail delivery of ``uid`` and its contact; None for anything else (an SMS's uid too)."""
    if not UID_PATTERN.match(uid or ""):
        return None
    row = session.exec(select(Delivery, Contact, ChannelConfig)
                       .join(Contact, Contact.id == Delivery.contact_id)
                       .join(ChannelConfig, ChannelConfig.id == Delivery.channel_id)
                       .where(Delivery.uid == uid)).first()
    if row is None or row[2].kind != ChannelKind.email:
        return None
    return row[0], row[1]


def is_opted_out(*, session: Session, contact: Contact, kind: ChannelKind) -> bool:
    return session.exec(select(ContactOptOut.id).where(ContactOptOut.contact_id == contact.id,
                                                       ContactOptOut.channel_kind == kind)).first() is not None


def unsubscribe_email(*, session: Session, uid: str, one_click: bool) -> Contact | None:
    """Opt the contact of e-mail delivery ``uid`` out of e-mail; None if there is no such delivery."""
    found = email_delivery(session=session, uid=uid)
    if found is None:
        return None
    delivery, contact = found
    if _opt_out(session, contact=contact, kind=ChannelKind.email, source="email_link",
                detail=f"{'one-click' if one_click else 'link'} from delivery {delivery.id}"):
        log.info("contact %s unsubscribed from e-mail (delivery %s)", contact.id, delivery.id)
    session.flush()
    return contact
