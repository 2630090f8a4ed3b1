"""What gateways and mail clients call without a login: receipts, inbound SMS, unsubscribe links.

- ``POST /hooks/channels/{id}/receipts`` and ``POST /hooks/channels/{id}/inbound``: authenticated
  by the channel's ``callback_token`` secret (``?token=``, ``Authorization: Bearer`` or
  ``X-Konbit-Token``), compared in constant time, or for Twilio channels by a valid
  ``X-Twilio-Signature``. No CSRF check: a gateway has no browser session, and the token is the
  credential. Missing credentials answer 401; a wrong token or an unknown channel 403 (the same
  answer, so channel ids cannot be probed); an unreadable body 400.
- ``GET /unsubscribe/{uid}`` shows a confirmation; ``POST /unsubscribe/{uid}`` (the button, or the
  mail client's RFC 8058 one-click ``List-Unsubscribe=One-Click``) opts that delivery's contact out
  of e-mail. The uid is a random UUID4 of an e-mail delivery: it opts out that contact only, and
  nothing else (an SMS delivery's uid, which gateways see, does not work here).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from campaign import hooks
from campaign.adapters import REGISTRY, AdapterError, Outgoing, adapter_for
from campaign.adapters.twilio import twilio_signature
from campaign.models import MAX_ID, ChannelConfig, ChannelKind, new_uid
from campaign.secrets import SecretsError, decrypt_secrets

from ..deps import SessionDep
from ..render import render

router = APIRouter(tags=["hooks"], include_in_schema=False)
routers = [router]

log = logging.getLogger("konbit.campaign.hooks")

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _error(status: int, message: str, field: str = "body") -> JSONResponse:
    return JSONResponse({"detail": message, "errors": [{"field": field, "message": message, "type": "hook"}]},
                        status_code=status)


def _given_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-konbit-token", "") or request.query_params.get("token", "")


async def _payload(request: Request) -> tuple[Any, dict[str, str]]:
    """The body as JSON or as form fields (and the form fields alone, for Twilio's signature)."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data") or (not kind and b"=" in raw and not raw.lstrip().startswith((b"{", b"["))):
        if kind == "multipart/form-data":
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return fields, fields
    try:
        return json.loads(raw or b"null"), {}
    except ValueError as err:
        raise ValueError(f"The body is neither JSON nor form fields ({err}).") from None


def _authorised(request: Request, channel: ChannelConfig | None, secrets: dict[str, str], fields: dict[str, str]) -> bool:
    if channel is None:
        return False
    given, expected = _given_token(request), secrets.get("callback_token", "")
    if given and expected and hmac.compare_digest(given.encode(), expected.encode()):
        return True
    signature = request.headers.get("x-twilio-signature", "")
    if channel.provider == "twilio" and signature and secrets.get("auth_token"):
        computed = twilio_signature(str(request.url), fields, secrets["auth_token"])
        return hmac.compare_digest(signature.encode(), computed.encode())
    return False


def _channel_and_secrets(request: Request, session: Session, channel_id: int) -> tuple[ChannelConfig | None, dict]:
    channel = session.get(ChannelConfig, channel_id) if 0 < channel_id <= MAX_ID else None
    if channel is None:
        return None, {}
    try:
        return channel, decrypt_secrets(channel.secrets_encrypted, secret_key=request.app.state.settings.secret_key)
    except SecretsError:
        log.error("channel %s: its secrets cannot be read with this app's secret key", channel.id)
        return channel, {}


async def _authenticated(request: Request, session: Session, channel_id: int):
    """(channel, secrets, payload) or the JSONResponse refusing the call."""
    if not (_given_token(request) or request.headers.get("x-twilio-signature")):
        return _error(401, "Give the channel's callback token (?token=, Authorization: Bearer or X-Konbit-Token).", "token")
    try:
        payload, fields = await _payload(request)
    except ValueError as err:
        return _error(400, str(err))
    channel, secrets = await run_in_threadpool(_channel_and_secrets, request, session, channel_id)
    if not _authorised(request, channel, secrets, fields):
        log.warning("hook %s refused: unknown channel or wrong token", request.url.path)
        return _error(403, "Unknown channel or wrong callback token.", "token")
    if channel.provider not in REGISTRY:
        return _error(400, f"The {channel.provider} channel takes no callbacks.", "channel")
    return channel, secrets, payload


@router.post("/hooks/channels/{channel_id:int}/receipts")
async def receipts(request: Request, session: SessionDep, channel_id: int) -> Response:
    checked = await _authenticated(request, session, channel_id)
    if isinstance(checked, Response):
        return checked
    channel, _secrets, payload = checked
    try:
        parsed = REGISTRY[channel.provider].parse_receipts(payload)
    except ValueError as err:
        return _error(400, str(err))

    def work() -> hooks.ReceiptCounts:
        counts = hooks.apply_receipts(session=session, channel=channel, receipts=parsed)
        session.commit()
        return counts

    counts = await run_in_threadpool(work)
    return JSONResponse({"delivered": counts.delivered, "failed": counts.failed, "unchanged": counts.unchanged,
                         "unknown": counts.unknown})


def _send_confirmation(channel: ChannelConfig, secrets: dict[str, str], result: hooks.InboundResult) -> None:
    """Answer an opt-out once, through the channel's own adapter (a background task after the commit)."""
    try:
        adapter = adapter_for(channel, secrets, timeout=10.0)
    except AdapterError as err:
        log.error("channel %s: opt-out confirmation not sent: %s", channel.id, err)
        return
    try:
        outcome = adapter.send(Outgoing(delivery_uid=new_uid(), to=result.reply_to, text=result.reply))
    except AdapterError as err:
        log.error("channel %s: opt-out confirmation not sent: %s", channel.id, err)
        return
    finally:
        adapter.close()
    if outcome.ok:
        log.info("channel %s: opt-out confirmation sent to contact %s (%s)", channel.id, result.contact_id,
                 outcome.gateway_message_id)
    else:
        log.warning("channel %s: opt-out confirmation to contact %s failed: %s", channel.id, result.contact_id, outcome.error)


@router.post("/hooks/channels/{channel_id:int}/inbound")
async def inbound(request: Request, session: SessionDep, channel_id: int, background: BackgroundTasks) -> Response:
    checked = await _authenticated(request, session, channel_id)
    if isinstance(checked, Response):
        return checked
    channel, secrets, payload = checked
    if channel.kind != ChannelKind.sms:
        return _error(400, "Only SMS channels take inbound messages.", "channel")
    try:
        parsed = REGISTRY[channel.provider].parse_inbound(payload)
    except ValueError as err:
        return _error(400, str(err))

    def work() -> list[hooks.InboundResult]:
        results = [hooks.record_inbound(session=session, channel=channel, message=m) for m in parsed]
        session.commit()  # the opt-out is saved before any confirmation goes out
        return results

    results = await run_in_threadpool(work)
    for result in results:
        if result.reply and result.reply_to:
            background.add_task(_send_confirmation, channel, secrets, result)
    if channel.provider == "twilio":
        return Response(TWIML_EMPTY, media_type="text/xml")
    return JSONResponse({"received": len(results), "actions": [r.action for r in results]})


# --- E-mail unsubscribe -------------------------------------------------------------------


def _mask(email: str) -> str:
    local, _, domain = (email or "").partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def _not_found(request: Request) -> Response:
    return render(request, "errors/error.html", {"status": 404, "title": "Not found",
                  "message": "This unsubscribe link is unknown or no longer valid."}, status_code=404)


@router.get("/unsubscribe/{delivery_uid}")
def unsubscribe_form(request: Request, session: SessionDep, delivery_uid: str) -> Response:
    found = hooks.email_delivery(session=session, uid=delivery_uid)
    if found is None:
        return _not_found(request)
    _delivery, contact = found
    done = hooks.is_opted_out(session=session, contact=contact, kind=ChannelKind.email)
    return render(request, "campaigns/unsubscribe.html", {"uid": delivery_uid, "email": _mask(contact.email or ""),
                                                           "done": done})


@router.post("/unsubscribe/{delivery_uid}")
async def unsubscribe(request: Request, session: SessionDep, delivery_uid: str) -> Response:
    body = (await request.body())[:2000].decode("utf-8", "replace")
    one_click = dict(parse_qsl(body)).get("List-Unsubscribe") == "One-Click"

    def work():
        contact = hooks.unsubscribe_email(session=session, uid=delivery_uid, one_click=one_click)
        session.commit()
        return contact

    contact = await run_in_threadpool(work)
    if contact is None:
        return _not_found(request)
    return render(request, "campaigns/unsubscribe.html", {"uid": delivery_uid, "email": _mask(contact.email or ""),
                                                           "done": True})
