"""The adapter interface: what the dispatch worker hands a channel, and what it gets back.

The worker never knows a gateway's wire format. It builds one :class:`Outgoing` per delivery row,
calls :meth:`Adapter.send_batch`, and records each :class:`Outcome`. Receipts and inbound SMS that
gateways post back are parsed by the same class into :class:`Receipt` and :class:`Inbound`, so the
webhook routes stay thin.

Rules every adapter keeps:

- ``send`` never raises for a gateway's answer: a refusal, a 5xx, a timeout are an ``Outcome`` with
  ``ok=False`` and ``retryable`` saying whether trying again may help. It raises
  :class:`AdapterError` only for a channel that is misconfigured (no URL, no token).
- ``Outgoing.delivery_uid`` is the idempotency key: an adapter whose gateway accepts one sends it
  (header or field), so a retry after a lost answer is not a second message.
- Secrets (tokens, passwords) arrive decrypted in ``secrets`` and never appear in an ``Outcome``'s
  ``error``, in logs or in exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from campaign.models import ChannelConfig, ChannelKind

__all__ = ["REGISTRY", "Adapter", "AdapterError", "Inbound", "Outcome", "Outgoing", "Receipt", "adapter_for",
           "register"]


class AdapterError(Exception):
    """A channel that cannot send as configured (missing URL, token, sender): not worth retrying."""


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient (or one post, for a page)."""

    delivery_uid: str  # Delivery.uid: idempotency key, callback correlation, unsubscribe token
    to: str  # E.164 phone for SMS, e-mail address, "" for a page post
    text: str  # filled-in body in the recipient's language
    subject: str = ""  # e-mail subject, post title
    language: str = ""
    contact_name: str = ""
    unsubscribe_url: str = ""  # e-mail: List-Unsubscribe and the link in the body
    status_callback_url: str = ""  # where the gateway posts delivery receipts


@dataclass(frozen=True)
class Outcome:
    """What the gateway said about one :class:`Outgoing`."""

    ok: bool
    gateway_message_id: str = ""  # the gateway's id (SMS id, post id, SMTP Message-ID)
    error: str = ""  # plain words for the delivery log; never a secret
    retryable: bool = True  # False: a permanent refusal (invalid number, unknown address)
    delivered: bool = False  # the gateway confirmed delivery at once (a published post, say)


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt a gateway posted back."""

    gateway_message_id: str = ""
    delivery_uid: str = ""  # when the gateway echoes our idempotency key instead
    delivered: bool = True  # False: the gateway reports failure
    error: str = ""


@dataclass(frozen=True)
class Inbound:
    """An SMS a contact sent to the channel's number."""

    sender: str  # as the gateway gave it; the webhook normalises it to E.164
    text: str
    external_id: str = ""


class Adapter:
    """Base class of every provider's adapter."""

    provider: ClassVar[str] = ""
    kind: ClassVar[ChannelKind]
    supports_idempotency_key: ClassVar[bool] = False
    #: Messages of one :meth:`send_batch` in flight at once (the worker sizes what it sends between
    #: two lease renewals from it and the timeout).
    concurrency: int = 1

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, str], *, timeout: float = 10.0):
        self.settings = dict(settings)
        self.secrets = dict(secrets)
        self.timeout = timeout

    def send(self, message: Outgoing) -> Outcome:  # pragma: no cover - every adapter overrides it
        raise NotImplementedError

    def send_batch(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Send several messages; adapters with a bulk API override it. One outcome per message, in order."""
        return [self.send(message) for message in messages]

    @classmethod
    def parse_receipts(cls, payload: Any) -> list[Receipt]:
        """Receipts in a callback's body (JSON, or form fields as a dict); ``ValueError`` if unreadable."""
        raise ValueError(f"the {cls.provider or 'this'} channel does not take delivery receipts")

    @classmethod
    def parse_inbound(cls, payload: Any) -> list[Inbound]:
        """Inbound messages in a webhook's body; ``ValueError`` if unreadable."""
        raise ValueError(f"the {cls.provider or 'this'} channel does not take inbound messages")

    def close(self) -> None:
        """Release connections (an SMTP session, an HTTP client)."""


REGISTRY: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: make ``cls`` the adapter of its ``provider``."""
    if not cls.provider:
        raise TypeError(f"{cls.__name__} has no provider name")
    REGISTRY[cls.provider] = cls
    return cls


def adapter_for(channel: ChannelConfig, secrets: Mapping[str, str], *, timeout: float = 10.0) -> Adapter:
    """The adapter that sends over ``channel`` (its ``provider``), given its decrypted secrets."""
    try:
        cls = REGISTRY[channel.provider]
    except KeyError:
        raise AdapterError(f"Channel {channel.name!r}: no adapter for provider {channel.provider!r}") from None
    return cls(channel.settings or {}, secrets, timeout=timeout)
