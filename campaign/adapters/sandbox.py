"""The sandbox: a channel for demos and training that delivers nothing outside Konbit.

Every message it accepts is appended, one JSON object a line, to ``sandbox/messages.jsonl`` in the
app's data directory (``KONBIT_DATA_DIR``, ``var`` by default), with the message id it answers
(``sandbox-<delivery uid>``, so a retried message keeps its id). It serves SMS, e-mail and social
channels, and its messages are delivered at once, as a published post is.

Setting ``log_path`` (optional): another file to write, for a classroom that wants its own log.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from campaign.adapters.base import Adapter, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["SandboxAdapter", "sandbox_log", "sandbox_messages"]

_LOCK = threading.Lock()


def sandbox_log(data_dir: str | os.PathLike | None = None) -> Path:
    """The sandbox's log file in ``data_dir`` (default: ``KONBIT_DATA_DIR`` or ``var``)."""
    return Path(data_dir or os.environ.get("KONBIT_DATA_DIR") or "var") / "sandbox" / "messages.jsonl"


def sandbox_messages(path: str | os.PathLike | None = None) -> list[dict]:
    """What the sandbox accepted, oldest first (``path`` default: :func:`sandbox_log`)."""
    log = Path(path) if path else sandbox_log()
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


@register
class SandboxAdapter(Adapter):
    provider = "sandbox"
    kind = ChannelKind.sms
    kinds: ClassVar[tuple[ChannelKind, ...]] = (ChannelKind.sms, ChannelKind.email, ChannelKind.social)
    label = "Sandbox (demo and training: delivers nothing outside, logs each message)"
    setting_fields = (Setting("sender", help="shown in the log only"),
                      Setting("log_path", help="a file instead of sandbox/messages.jsonl in the data directory"))
    supports_idempotency_key = True

    def send(self, message: Outgoing) -> Outcome:
        message_id = f"sandbox-{message.delivery_uid}"[:120]
        record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "message_id": message_id,
                  "delivery_uid": message.delivery_uid, "to": message.to, "sender": self.settings.get("sender", ""),
                  "subject": message.subject, "text": message.text, "language": message.language}
        path = Path(self.settings["log_path"]) if self.settings.get("log_path") else sandbox_log()
        try:
            with _LOCK:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as err:
            return Outcome(ok=False, error=f"the sandbox cannot write its log ({type(err).__name__})")
        return Outcome(ok=True, gateway_message_id=message_id, delivered=True)
