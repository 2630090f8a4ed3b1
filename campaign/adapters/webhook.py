"""A generic webhook for social posts: JSON POSTed with a bearer token; the answer's id is kept.

``POST {url}`` with ``Authorization: Bearer {token}`` and ``Idempotency-Key: {delivery uid}``;
the body is ``{"delivery_uid", "text", "subject", "language", "page_name"}``. A 2xx answer is a
published post; its id is read from the JSON answer's ``id`` or ``post_id`` when there is one.
"""

from __future__ import annotations

from campaign.adapters._http import HttpAdapter, json_or_empty
from campaign.adapters.base import AdapterError, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["WebhookAdapter"]


@register
class WebhookAdapter(HttpAdapter):
    provider = "webhook"
    kind = ChannelKind.social
    label = "Generic webhook"
    setting_fields = (Setting("url", required=True, url=True), Setting("page_name"))
    secret_fields = ("token",)
    supports_idempotency_key = True

    def send(self, message: Outgoing) -> Outcome:
        url = self.settings.get("url", "")
        if not url:
            raise AdapterError("The webhook channel needs its URL.")
        headers = {"Idempotency-Key": message.delivery_uid}
        if self.secrets.get("token"):
            headers["Authorization"] = f"Bearer {self.secrets['token']}"
        body = {"delivery_uid": message.delivery_uid, "text": message.text, "subject": message.subject,
                "language": message.language, "page_name": self.settings.get("page_name", "")}
        answer = self.post(url, json=body, headers=headers)
        if isinstance(answer, Outcome):
            return answer
        data = json_or_empty(answer)
        data = data if isinstance(data, dict) else {}
        if answer.is_success:
            post_id = data.get("id") or data.get("post_id") or ""
            return Outcome(ok=True, gateway_message_id=str(post_id)[:120], delivered=True)
        detail = str(data.get("detail") or data.get("error") or data.get("message") or "")
        return self.refusal(answer, detail[:200])
