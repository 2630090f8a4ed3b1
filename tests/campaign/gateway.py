"""A real local SMS gateway for the delivery tests and the benchmark (a threaded ``http.server``).

It speaks the generic HTTP JSON protocol of :mod:`campaign.adapters.http_json`, honours the
``Idempotency-Key`` header as real gateways do (the same key again gets the first answer and no
second message), and counts what it received. Faults on demand: answer 500, hang past the
client's timeout, or accept a message and lose its status callback.

Run it as its own process for the benchmark: ``python -m tests.campaign.gateway --port 8099``;
``GET /stats`` answers the counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import Request, urlopen


@dataclass
class Record:
    key: str
    to: str
    text: str
    message_id: str
    at: float


@dataclass
class GatewayState:
    requests: int = 0  # every POST, retries included
    duplicates: int = 0  # POSTs that repeated an idempotency key already accepted
    without_key: int = 0
    messages: dict[str, Record] = field(default_factory=dict)  # idempotency key -> the one message
    fail_next: int = 0  # answer 500 to this many POSTs
    fail_always: bool = False
    hang_next: int = 0  # hold this many POSTs for hang_seconds before answering
    hang_seconds: float = 5.0
    callbacks: str = "none"  # none | send | drop (accept, then lose the status callback)
    callbacks_lost: int = 0
    times: list[float] = field(default_factory=list)  # arrival of each accepted message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(r.to for r in self.messages.values())

    def stats(self) -> dict:
        with self.lock:
            per = Counter(r.to for r in self.messages.values())
            return {"requests": self.requests, "duplicates": self.duplicates, "messages": len(self.messages),
                    "recipients": len(per), "max_per_recipient": max(per.values(), default=0),
                    "without_key": self.without_key, "callbacks_lost": self.callbacks_lost,
                    "first": min(self.times, default=None), "last": max(self.times, default=None)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall
    state: GatewayState

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, self.state.stats())

    def do_POST(self) -> None:  # noqa: N802
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if len(raw) < length:  # the client died between its headers and its body: no request, as on a real server
            self.close_connection = True
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._answer(400, {"error": "the body is not JSON"})
            return
        key = self.headers.get("Idempotency-Key", "")
        with state.lock:
            state.requests += 1
            hang = state.hang_next > 0
            if hang:
                state.hang_next -= 1
            fail = state.fail_always or state.fail_next > 0
            if state.fail_next > 0 and not hang:
                state.fail_next -= 1
        if hang:
            time.sleep(state.hang_seconds)
        if fail and not hang:
            self._answer(500, {"error": "internal error, try again"})
            return
        with state.lock:
            if not key:
                state.without_key += 1
                key = f"nokey-{state.requests}"
            if key in state.messages:
                state.duplicates += 1
                record = state.messages[key]
            else:
                record = Record(key=key, to=str(body.get("to", "")), text=str(body.get("text", "")),
                                message_id=f"gw-{len(state.messages) + 1}", at=time.time())
                state.messages[key] = record
                state.times.append(record.at)
        self._answer(200, {"id": record.message_id, "status": "accepted"})
        callback = body.get("callback_url")
        if callback and state.callbacks == "drop":
            with state.lock:
                state.callbacks_lost += 1
        elif callback and state.callbacks == "send":
            data = json.dumps({"id": record.message_id, "reference": key, "status": "delivered"}).encode()
            try:
                urlopen(Request(callback, data=data, headers={"Content-Type": "application/json"}), timeout=5).read()
            except OSError:
                pass


class Gateway:
    """Start on a free port; ``url`` is where to POST; ``state`` what it saw."""

    def __init__(self, port: int = 0):
        self.state = GatewayState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # pragma: no cover - the benchmark's gateway process
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    with Gateway(args.port) as gw:
        print(gw.url, flush=True)
        try:
            gw.thread.join()
        except KeyboardInterrupt:
            pass
