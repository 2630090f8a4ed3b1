"""A real local HTTP server that plays an SMS gateway, a Graph API or a webhook in tests.

It records every request (method, path, headers, raw body) and answers what the test scripts:
a status and a JSON body, or a hang longer than the client's timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    # Answers, used in turn (the last one repeats): (status, json body) or ("hang", seconds).
    answers: list[tuple[Any, Any]] = field(default_factory=lambda: [(200, {"id": "1"})])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *answers: tuple[Any, Any]) -> None:
        self.answers = list(answers)


@contextmanager
def local_gateway() -> Iterator[Gateway]:
    gateway = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with gateway.lock:
                gateway.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, payload = gateway.answers[0] if len(gateway.answers) == 1 else gateway.answers.pop(0)
            if status == "hang":
                time.sleep(payload)
                return
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
