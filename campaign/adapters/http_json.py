"""A generic HTTP JSON SMS gateway: one POST per message, the delivery's uid as Idempotency-Key.

Settings (``ChannelConfig.settings``):

``url``
    where messages are POSTed (http or https); required.
``sender``
    the sender id or number, as ``{sender}`` in the body.
``headers``
    extra request headers, e.g. ``{"X-Account": "konbit"}``.
``body_template``
    the JSON body, as an object (or its JSON text) whose strings may hold ``{to}``, ``{text}``,
    ``{sender}``, ``{delivery_uid}``, ``{language}`` and ``{status_callback_url}``; by default
    ``{"to": "{to}", "from": "{sender}", "text": "{text}", "reference": "{delivery_uid}",
    "callback_url": "{status_callback_url}"}``.
``id_field``
    where the answer's JSON holds the gateway's message id (dotted path; default: the first of
    ``id``, ``message_id``, ``messageId``, ``sid``).
``concurrency``
    messages in flight at once in a batch (default 8, at most 64).
``status_callback_url``
    where the gateway should post receipts, ``{delivery_uid}`` filled in (default: Konbit's own
    receipts webhook, from ``KONBIT_PUBLIC_URL`` and the ``callback_token`` secret).

Secret ``auth_token``: sent as ``Authorization: Bearer <token>``.

Answers: 2xx is sent; 408, 425, 429, 5xx, a timeout or a dropped connection may succeed later
(``retryable``); any other 4xx is a refusal. Receipts posted back are JSON objects (or a list of
them) with ``id``/``message_id`` or ``reference`` and a ``status``: delivered or failed (accepted, queued, sent are not final: skipped).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from campaign.models import ChannelKind

from .base import Adapter, AdapterError, Outcome, Outgoing, Receipt, Setting, register

__all__ = ["GenericHttpAdapter"]

DEFAULT_BODY = {"to": "{to}", "from": "{sender}", "text": "{text}", "reference": "{delivery_uid}",
                "callback_url": "{status_callback_url}"}
_RETRYABLE = {408, 425, 429}
_DELIVERED = {"delivered", "delivrd", "success", "succeeded", "read"}
_FAILED = {"failed", "undelivered", "undeliv", "rejected", "expired", "error"}
_PENDING = {"accepted", "queued", "sent", "sending", "buffered", "enroute"}  # not final: no receipt yet


def _render(template: Any, values: Mapping[str, str]) -> Any:
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, list):
        return [_render(item, values) for item in template]
    if isinstance(template, dict):
        return {key: _render(item, values) for key, item in template.items()}
    return template


class _Http(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # The request goes out in one write, but a kept-alive connection must not wait for
        # delayed ACKs (Nagle) between messages.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Https(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


@register
class GenericHttpAdapter(Adapter):
    provider = "generic_http"
    kind = ChannelKind.sms
    label = "Generic HTTP JSON gateway"
    supports_idempotency_key = True
    setting_fields = (
        Setting("url", required=True, url=True, help="where messages are POSTed"),
        Setting("sender", help="sender id or number, {sender} in the body"),
        Setting("headers", dict, help='extra request headers, a JSON object: {"X-Account": "konbit"}',
                check=lambda v: all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v.values()),
                message='The headers setting must be a JSON object of header names and text values, '
                        'e.g. {"X-Account": "konbit"}.'),
        Setting("body_template", dict, help="the JSON body; strings may hold {to}, {text}, {sender}, {delivery_uid}, "
                                            "{language}, {status_callback_url}"),
        Setting("id_field", help="dotted path of the message id in the answer, e.g. data.id"),
        Setting("concurrency", int, minimum=1, maximum=64, help="messages in flight at once (default 8)"),
        Setting("status_callback_url", url=True, help="where the gateway posts receipts; {delivery_uid} filled in"),
    )
    secret_fields = ("auth_token", "callback_token")

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str], *, timeout: float = 10.0):
        super().__init__(settings, secrets, timeout=timeout)
        url = str(self.settings.get("url") or "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AdapterError("The generic HTTP gateway needs a url setting starting with http:// or https://")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        template = self.settings.get("body_template") or DEFAULT_BODY
        if isinstance(template, str):
            try:
                template = json.loads(template)
            except ValueError as err:
                raise AdapterError(f"The body_template setting is not JSON: {err}") from None
        self._template = template
        headers = self.settings.get("headers") or {}
        if not isinstance(headers, dict):
            raise AdapterError("The headers setting must be an object of header names and values")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         **{str(k): str(v) for k, v in headers.items()}}
        token = self.secrets.get("auth_token", "")
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._secret_values = [v for v in self.secrets.values() if v]
        try:
            self._concurrency = max(1, min(64, int(self.settings.get("concurrency") or 8)))
        except (TypeError, ValueError):
            raise AdapterError("The concurrency setting must be a whole number") from None
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._connections: list[http.client.HTTPConnection] = []
        self._guard = threading.Lock()

    # --- connections: one kept-alive connection per sending thread ----------------------

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = _Https if self._https else _Http
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _scrub(self, text: str) -> str:
        for secret in self._secret_values:
            text = text.replace(secret, "•••")
        return text

    # --- sending ------------------------------------------------------------------------

    def _body(self, message: Outgoing) -> bytes:
        values = {"to": message.to, "text": message.text, "sender": str(self.settings.get("sender") or ""),
                  "delivery_uid": message.delivery_uid, "language": message.language,
                  "status_callback_url": message.status_callback_url}
        return json.dumps(_render(self._template, values), ensure_ascii=False).encode()

    def send(self, message: Outgoing) -> Outcome:
        body = self._body(message)
        headers = {**self._headers, "Idempotency-Key": message.delivery_uid}
        for attempt in (1, 2):
            conn = self._connection()
            reused = getattr(conn, "sock", None) is not None
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (TimeoutError, socket.timeout):
                self._drop()
                return Outcome(ok=False, error=f"the gateway did not answer within {self.timeout:g} s")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
                self._drop()
                if reused and attempt == 1:  # a kept-alive connection the server had closed: the same key again
                    continue
                return Outcome(ok=False, error=f"the gateway dropped the connection ({type(err).__name__})")
            except (OSError, http.client.HTTPException) as err:
                self._drop()
                return Outcome(ok=False, error=self._scrub(f"cannot reach the gateway: {err}"[:300]))
            if response.will_close:
                self._drop()
            return self._outcome(response.status, raw)
        return Outcome(ok=False, error="the gateway dropped the connection")  # pragma: no cover

    def _outcome(self, status: int, raw: bytes) -> Outcome:
        text = raw[:300].decode("utf-8", "replace")
        if 200 <= status < 300:
            try:
                data = json.loads(raw) if raw.strip() else {}
            except ValueError:
                data = {}
            field = str(self.settings.get("id_field") or "")
            found = _dig(data, field) if field else next(
                (data.get(k) for k in ("id", "message_id", "messageId", "sid") if isinstance(data, dict) and data.get(k)),
                None)
            return Outcome(ok=True, gateway_message_id=str(found or "")[:120])
        error = self._scrub(f"the gateway answered {status}: {' '.join(text.split())}"[:300])
        return Outcome(ok=False, error=error, retryable=status >= 500 or status in _RETRYABLE)

    @property
    def concurrency(self) -> int:  # type: ignore[override]
        return self._concurrency

    def send_batch(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        if len(messages) <= 1 or self._concurrency == 1:
            return [self.send(m) for m in messages]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="konbit-http")
        return list(self._pool.map(self.send, messages))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # --- receipts -----------------------------------------------------------------------

    @classmethod
    def parse_receipts(cls, payload: Any) -> list[Receipt]:
        items = payload if isinstance(payload, list) else [payload]
        out = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"receipt {n + 1}: expected a JSON object")
            message_id = str(item.get("id") or item.get("message_id") or item.get("messageId") or "")
            reference = str(item.get("reference") or item.get("delivery_uid") or "")
            status = str(item.get("status") or "").strip().lower()
            if not (message_id or reference):
                raise ValueError(f"receipt {n + 1}: no id, message_id or reference")
            if status in _PENDING:
                continue
            if status not in _DELIVERED | _FAILED:
                raise ValueError(f"receipt {n + 1}: unknown status {status[:30]!r}")
            out.append(Receipt(gateway_message_id=message_id[:120], delivery_uid=reference[:36],
                               delivered=status in _DELIVERED, error=str(item.get("error") or "")[:300]))
        return out
