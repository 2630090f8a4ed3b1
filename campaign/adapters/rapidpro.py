"""RapidPro / TextIt broadcasts API: up to 100 recipients of one text per request.

``POST {base_url}/api/v2/broadcasts.json`` with ``Authorization: Token {api_token}`` and
``{"urns": ["tel:+509..."], "text": "...", "channel": "<channel_uuid>"}`` (the channel only when set).
The broadcast's ``id`` is the gateway message id of every message in it. ``send_batch`` groups
consecutive messages with the same text into broadcasts of at most :data:`MAX_URNS` URNs.

RapidPro has no per-message status callback (its message statuses are read through its own API),
so this adapter takes no delivery receipts. Inbound SMS come from a flow's *Call webhook* action
(JSON with ``contact.urn`` and ``input.text``) or from the legacy org webhook (form fields
``event=mo_sms``, ``phone``, ``text``, ``sms``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from campaign.adapters._http import HttpAdapter, json_or_empty
from campaign.adapters.base import AdapterError, Inbound, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["MAX_URNS", "RapidProAdapter"]

MAX_URNS = 100


def _urn(phone: str) -> str:
    return phone if ":" in phone else f"tel:{phone}"


def _phone(urn: str) -> str:
    scheme, _, path = urn.partition(":")
    return path if path and scheme in ("tel", "whatsapp", "sms") else urn


@register
class RapidProAdapter(HttpAdapter):
    provider = "rapidpro"
    kind = ChannelKind.sms
    label = "RapidPro / TextIt"
    setting_fields = (Setting("base_url", required=True, url=True, help="e.g. https://textit.com"), Setting("channel_uuid"))
    secret_fields = ("api_token", "callback_token")

    def _endpoint(self) -> str:
        if not self.settings.get("base_url") or not self.secrets.get("api_token"):
            raise AdapterError("The RapidPro channel needs its base URL and an API token.")
        return f"{self.settings['base_url'].rstrip('/')}/api/v2/broadcasts.json"

    def _broadcast(self, text: str, recipients: Sequence[str]) -> Outcome:
        body: dict[str, Any] = {"urns": [_urn(phone) for phone in recipients], "text": text}
        if self.settings.get("channel_uuid"):
            body["channel"] = self.settings["channel_uuid"]
        answer = self.post(self._endpoint(), json=body, headers={"Authorization": f"Token {self.secrets['api_token']}"})
        if isinstance(answer, Outcome):
            return answer
        data = json_or_empty(answer)
        data = data if isinstance(data, dict) else {}
        if answer.is_success:
            if data.get("id") in (None, ""):
                return Outcome(ok=False, error="RapidPro accepted the broadcast but gave no id", retryable=False)
            return Outcome(ok=True, gateway_message_id=str(data["id"])[:120])
        detail = "; ".join(f"{key}: {value}" for key, value in data.items()) if data else ""
        return self.refusal(answer, detail)

    def send(self, message: Outgoing) -> Outcome:
        return self._broadcast(message.text, [message.to])

    def send_batch(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        start = 0
        while start < len(messages):
            end = start + 1
            while end < len(messages) and end - start < MAX_URNS and messages[end].text == messages[start].text:
                end += 1
            outcome = self._broadcast(messages[start].text, [m.to for m in messages[start:end]])
            outcomes.extend([outcome] * (end - start))
            start = end
        return outcomes

    @classmethod
    def parse_inbound(cls, payload: Any) -> list[Inbound]:
        if not isinstance(payload, Mapping):
            raise ValueError("A RapidPro webhook body is a JSON object or form fields.")
        if isinstance(payload.get("contact"), Mapping):  # a flow's "Call webhook" action
            given = payload.get("input") if isinstance(payload.get("input"), Mapping) else {}
            urn = str(given.get("urn") or payload["contact"].get("urn") or "")
            if not urn:
                raise ValueError("The RapidPro webhook has no contact.urn.")
            run = payload.get("run") if isinstance(payload.get("run"), Mapping) else {}
            return [Inbound(sender=_phone(urn), text=str(given.get("text") or ""), external_id=str(run.get("uuid") or ""))]
        if payload.get("event", "mo_sms") != "mo_sms":
            return []  # mt_sent, mt_dlvd, alarm...: not an inbound message
        sender = str(payload.get("phone") or _phone(str(payload.get("urn") or "")))
        if not sender:
            raise ValueError("The RapidPro event has no phone or urn.")
        return [Inbound(sender=sender, text=str(payload.get("text") or ""), external_id=str(payload.get("sms") or ""))]
