"""Facebook Pages (Graph API compatible): a post on the page's feed; the post id is kept.

``POST {graph_url}/{page_id}/feed`` with form fields ``message`` and ``access_token`` (the page
token). The answer ``{"id": "<page>_<post>"}`` is the gateway id, and a published post is
delivered at once. Graph errors say whether they are transient (``is_transient``, or the codes of
throttling and temporary outages): those are retried, the rest (expired token, missing
permission, duplicate post) are not.
"""

from __future__ import annotations

from campaign.adapters._http import HttpAdapter, json_or_empty
from campaign.adapters.base import AdapterError, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["DEFAULT_GRAPH_URL", "FacebookPageAdapter"]

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v19.0"
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613})


@register
class FacebookPageAdapter(HttpAdapter):
    provider = "facebook"
    kind = ChannelKind.social
    label = "Facebook page (Graph API)"
    setting_fields = (Setting("page_id", required=True), Setting("graph_url", url=True, help=f"default {DEFAULT_GRAPH_URL}"),
                      Setting("page_name"))
    secret_fields = ("page_token",)

    def send(self, message: Outgoing) -> Outcome:
        page_id, token = self.settings.get("page_id", ""), self.secrets.get("page_token", "")
        if not page_id or not token:
            raise AdapterError("The Facebook channel needs the page id and a page access token.")
        url = f"{(self.settings.get('graph_url') or DEFAULT_GRAPH_URL).rstrip('/')}/{page_id}/feed"
        text = f"{message.subject}\n\n{message.text}" if message.subject else message.text
        answer = self.post(url, data={"message": text, "access_token": token})
        if isinstance(answer, Outcome):
            return answer
        body = json_or_empty(answer)
        body = body if isinstance(body, dict) else {}
        if answer.is_success and body.get("id"):
            return Outcome(ok=True, gateway_message_id=str(body["id"])[:120], delivered=True)
        if answer.is_success:
            return Outcome(ok=False, error="the Graph API answered without a post id", retryable=False)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        detail = str(error.get("message") or "").replace(token, "••••••")
        transient = bool(error.get("is_transient")) or error.get("code") in TRANSIENT_CODES
        return self.refusal(answer, detail, retryable=True if transient else None)
