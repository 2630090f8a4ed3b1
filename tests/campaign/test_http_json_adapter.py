"""The generic HTTP JSON SMS adapter against a real local server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaign.adapters import AdapterError, Outgoing, adapter_for
from campaign.adapters.http_json import GenericHttpAdapter
from campaign.models import ChannelConfig, ChannelKind


class _Server:
    def __init__(self, status: int, answer: dict | str):
        self.seen: list[tuple[dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append((dict(self.headers), body))
                raw = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/sms?account=7"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _adapter(url: str, **settings) -> GenericHttpAdapter:
    channel = ChannelConfig(name="gw", kind=ChannelKind.sms, provider="generic_http", settings={"url": url, **settings})
    return adapter_for(channel, {"auth_token": "tok-SECRET-123"}, timeout=2)


MESSAGE = Outgoing(delivery_uid="0b7c-uid", to="+50937000000", text="Rele 188", language="ht",
                   status_callback_url="https://konbit.example/cb")


def test_it_posts_the_template_with_the_token_and_the_idempotency_key():
    server = _Server(201, {"data": {"msg": "gw-77"}})
    try:
        adapter = _adapter(server.url, sender="KONBIT", headers={"X-Account": "7"}, id_field="data.msg",
                           body_template='{"dest": ["{to}"], "body": "{text} ({language})", "ref": "{delivery_uid}"}')
        outcome = adapter.send(MESSAGE)
        adapter.close()
    finally:
        server.close()
    assert outcome.ok and outcome.gateway_message_id == "gw-77"
    headers, body = server.seen[0]
    assert body == {"dest": ["+50937000000"], "body": "Rele 188 (ht)", "ref": "0b7c-uid"}
    assert headers["Authorization"] == "Bearer tok-SECRET-123" and headers["Idempotency-Key"] == "0b7c-uid"
    assert headers["X-Account"] == "7"


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (429, True), (400, False), (401, False)])
def test_it_says_whether_a_refusal_is_worth_retrying_without_the_secret(status, retryable):
    server = _Server(status, "bad token tok-SECRET-123")
    try:
        adapter = _adapter(server.url)
        outcome = adapter.send(MESSAGE)
        adapter.close()
    finally:
        server.close()
    assert not outcome.ok and outcome.retryable is retryable
    assert f"answered {status}" in outcome.error and "tok-SECRET-123" not in outcome.error


def test_an_unreachable_gateway_is_retryable_and_a_missing_url_is_a_configuration_error():
    outcome = _adapter("http://127.0.0.1:9/send").send(MESSAGE)
    assert not outcome.ok and outcome.retryable and "cannot reach" in outcome.error
    with pytest.raises(AdapterError, match="url"):
        _adapter("")
    with pytest.raises(AdapterError, match="body_template"):
        _adapter("http://127.0.0.1:9/", body_template="{not json")


def test_it_reads_receipts_and_names_the_bad_one():
    receipts = GenericHttpAdapter.parse_receipts([{"id": "gw-1", "status": "DELIVERED"},
                                                  {"reference": "0b7c-uid", "status": "failed", "error": "absent"}])
    assert [(r.gateway_message_id, r.delivery_uid, r.delivered) for r in receipts] == [("gw-1", "", True),
                                                                                       ("", "0b7c-uid", False)]
    with pytest.raises(ValueError, match="receipt 2: unknown status"):
        GenericHttpAdapter.parse_receipts([{"id": "a", "status": "sent"}, {"id": "b", "status": "??"}])
