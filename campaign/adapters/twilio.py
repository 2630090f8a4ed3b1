"""Twilio-compatible Messages API: one POST per message, delivery receipts by status callback.

``POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` with a form body ``To``,
``From`` (or ``MessagingServiceSid`` when the sender is a messaging service, ``MG...``), ``Body``
and ``StatusCallback``, HTTP basic auth ``account_sid:auth_token``. The answer's ``sid`` is the
gateway message id. Twilio's status callback posts ``MessageSid`` and ``MessageStatus``
(``delivered``, ``undelivered``, ``failed``; the intermediate ``queued``, ``sent``... are ignored);
an inbound SMS posts ``From``, ``Body`` and ``MessageSid``.

Callbacks are authenticated by the channel's ``callback_token`` in the URL, or by Twilio's own
``X-Twilio-Signature`` (:func:`twilio_signature`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx

from campaign.adapters._http import HttpAdapter, json_or_empty
from campaign.adapters.base import AdapterError, Inbound, Outcome, Outgoing, Receipt, Setting, register
from campaign.models import ChannelKind

__all__ = ["PERMANENT_CODES", "TwilioAdapter", "twilio_signature"]

DEFAULT_BASE_URL = "https://api.twilio.com"
# Twilio error codes that no retry will cure: invalid or unreachable numbers, opted-out recipients.
PERMANENT_CODES = frozenset({21211, 21214, 21217, 21219, 21401, 21407, 21408, 21421, 21610, 21612, 21614, 21635,
                             30003, 30004, 30005, 30006, 30007, 30008})
FAILED_STATUSES = frozenset({"undelivered", "failed"})


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by the sorted form fields."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@register
class TwilioAdapter(HttpAdapter):
    provider = "twilio"
    kind = ChannelKind.sms
    label = "Twilio-compatible Messages API"
    setting_fields = (Setting("base_url", url=True, help=f"default {DEFAULT_BASE_URL}"),
                      Setting("account_sid", required=True), Setting("sender", required=True, help="number or MG... service"))
    secret_fields = ("auth_token", "callback_token")

    def _endpoint(self) -> str:
        sid = self.settings.get("account_sid", "")
        if not sid or not self.secrets.get("auth_token") or not self.settings.get("sender"):
            raise AdapterError("The Twilio channel needs an account SID, an auth token and a sender.")
        return f"{(self.settings.get('base_url') or DEFAULT_BASE_URL).rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"

    def send(self, message: Outgoing) -> Outcome:
        url = self._endpoint()
        sender = self.settings["sender"]
        form = {"To": message.to, "Body": message.text}
        form["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        if message.status_callback_url:
            form["StatusCallback"] = message.status_callback_url
        answer = self.post(url, data=form, auth=(self.settings["account_sid"], self.secrets["auth_token"]))
        if isinstance(answer, Outcome):
            return answer
        body = json_or_empty(answer)
        body = body if isinstance(body, dict) else {}
        if answer.is_success:
            sid = str(body.get("sid") or "")
            if not sid:
                return Outcome(ok=False, error="Twilio accepted the message but gave no sid", retryable=False)
            return Outcome(ok=True, gateway_message_id=sid[:120])
        return self._refusal(answer, body)

    @classmethod
    def _refusal(cls, answer: httpx.Response, body: dict) -> Outcome:
        code = body.get("code")
        detail = " ".join(part for part in (f"Twilio error {code}" if code else "", str(body.get("message") or "")) if part)
        if isinstance(code, int) and code in PERMANENT_CODES:
            return cls.refusal(answer, detail, retryable=False)
        return cls.refusal(answer, detail)

    @classmethod
    def parse_receipts(cls, payload: Any) -> list[Receipt]:
        if not isinstance(payload, Mapping) or not payload.get("MessageSid"):
            raise ValueError("A Twilio status callback has MessageSid and MessageStatus fields.")
        status = str(payload.get("MessageStatus") or payload.get("SmsStatus") or "").lower()
        sid = str(payload["MessageSid"])
        if status == "delivered":
            return [Receipt(gateway_message_id=sid, delivered=True)]
        if status in FAILED_STATUSES:
            code = payload.get("ErrorCode")
            return [Receipt(gateway_message_id=sid, delivered=False,
                            error=f"Twilio reports the message {status}" + (f" (error {code})" if code else ""))]
        return []  # queued, sending, sent, accepted...: not a final word

    @classmethod
    def parse_inbound(cls, payload: Any) -> list[Inbound]:
        if not isinstance(payload, Mapping) or not payload.get("From"):
            raise ValueError("A Twilio inbound message has From, Body and MessageSid fields.")
        return [Inbound(sender=str(payload["From"]), text=str(payload.get("Body") or ""),
                        external_id=str(payload.get("MessageSid") or payload.get("SmsSid") or ""))]
