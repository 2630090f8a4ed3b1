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

What a provider declares (class attributes), so that the channel form, the JSON API and
:func:`campaign.service.save_channel` know it without any list of their own:

- ``provider`` (the name stored on the channel) and ``kind`` (or ``kinds`` for a class serving
  several channel kinds, like the sandbox); ``label``, the words the channel form shows;
- ``setting_fields``: one :class:`Setting` per setting, typed ``str``, ``int``, ``float`` or
  ``dict`` (a JSON object), with ``required``, bounds, choices or ``url``. :meth:`Adapter.clean_settings`
  parses form text and JSON alike into the stored JSON values and names the field it refuses;
- ``secret_fields``: the names of its secrets (stored encrypted, never shown again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from campaign.models import ChannelConfig, ChannelKind

__all__ = ["REGISTRY", "Adapter", "AdapterError", "Inbound", "Outcome", "Outgoing", "Receipt", "Setting", "adapter_for",
           "providers", "register"]

MAX_TEXT = 2000  # characters of a text setting
MAX_JSON = 20_000  # characters of a JSON object setting, as JSON


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


_TYPE_WORDS = {str: "text", int: "a whole number", float: "a number", dict: "a JSON object"}


@dataclass(frozen=True)
class Setting:
    """One setting of a provider: its name, its type and what a valid value is.

    ``type`` is ``str``, ``int``, ``float`` or ``dict`` (a JSON object, given as an object or as
    its JSON text). ``minimum``/``maximum`` bound numbers; ``choices`` lists the texts allowed;
    ``url`` asks for an http:// or https:// address; ``check`` is a last test of the parsed value,
    with ``message`` the words shown when it fails.
    """

    name: str
    type: type = str
    required: bool = False
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    url: bool = False
    check: Callable[[Any], bool] | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def is_json(self) -> bool:
        return self.type is dict

    @property
    def is_number(self) -> bool:
        return self.type in (int, float)

    def _refuse(self, detail: str = "") -> ValueError:
        if self.message:
            return ValueError(self.message)
        words = f"The {self.name} setting must be {_TYPE_WORDS[self.type]}"
        if self.type in (int, float) and self.minimum is not None and self.maximum is not None:
            words += f" from {self.minimum:g} to {self.maximum:g}"
        return ValueError(words + (f" ({detail})." if detail else "."))

    def parse(self, value: Any) -> Any:
        """The value to store for ``value`` (form text, or a JSON value from the API); ``None``
        when it is empty; ``ValueError`` with a message naming the setting when it is not valid."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if self.type is dict:
            parsed = value
            if isinstance(value, str):
                try:
                    parsed = json.loads(value)
                except ValueError as err:
                    raise self._refuse(f"not JSON: {err}") from None
            if not isinstance(parsed, dict):
                raise self._refuse(f"got {json.dumps(parsed, ensure_ascii=False)[:60]}")
            if len(json.dumps(parsed, ensure_ascii=False)) > MAX_JSON:
                raise self._refuse(f"at most {MAX_JSON:,} characters")
        elif self.type is int:
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise self._refuse()
            try:
                parsed = int(value.strip()) if isinstance(value, str) else int(value)
            except (TypeError, ValueError):
                raise self._refuse() from None
        elif self.type is float:
            if isinstance(value, bool):
                raise self._refuse()
            try:
                parsed = float(value.strip()) if isinstance(value, str) else float(value)
            except (TypeError, ValueError):
                raise self._refuse() from None
        else:
            if isinstance(value, (dict, list, bool)):
                raise self._refuse()
            parsed = str(value).strip()[:MAX_TEXT]
            if self.choices and parsed not in self.choices:
                raise ValueError(self.message or f"The {self.name} setting is one of {', '.join(self.choices)}.")
            if self.url and not re.match(r"^https?://[^\s/]+", parsed):
                raise ValueError(self.message or f"The {self.name} setting is an http:// or https:// address.")
        if self.type in (int, float) and ((self.minimum is not None and parsed < self.minimum)
                                         or (self.maximum is not None and parsed > self.maximum)):
            raise self._refuse()
        if self.check is not None and not self.check(parsed):
            raise self._refuse()
        return parsed

    def show(self, value: Any) -> str:
        """``value`` as the channel form's text field holds it (JSON for an object)."""
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, indent=1) if self.type is dict else str(value)


class Adapter:
    """Base class of every provider's adapter."""

    provider: ClassVar[str] = ""
    kind: ClassVar[ChannelKind]
    kinds: ClassVar[tuple[ChannelKind, ...]] = ()  # several kinds served by one class; default (kind,)
    label: ClassVar[str] = ""  # what the channel form calls it
    setting_fields: ClassVar[tuple[Setting, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()
    supports_idempotency_key: ClassVar[bool] = False
    #: Messages of one :meth:`send_batch` in flight at once (the worker sizes what it sends between
    #: two lease renewals from it and the timeout).
    concurrency: int = 1

    @classmethod
    def serves(cls) -> tuple[ChannelKind, ...]:
        """The channel kinds this provider can be chosen for."""
        return cls.kinds or ((cls.kind,) if hasattr(cls, "kind") else ())

    @classmethod
    def field(cls, name: str) -> Setting | None:
        return next((f for f in cls.setting_fields if f.name == name), None)

    @classmethod
    def clean_settings(cls, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """``raw`` settings (form text or JSON values) parsed into what is stored, and the errors,
        keyed ``settings`` (unknown names) and ``settings.<name>``."""
        errors: dict[str, str] = {}
        names = [f.name for f in cls.setting_fields]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            errors["settings"] = (f"Unknown setting(s) {', '.join(unknown)} for {cls.provider}"
                                  + (f": use {', '.join(names)}." if names else ": it has none."))
        settings: dict[str, Any] = {}
        for f in cls.setting_fields:
            try:
                value = f.parse(raw.get(f.name))
            except ValueError as err:
                errors[f"settings.{f.name}"] = str(err)
                continue
            if value is not None:
                settings[f.name] = value
            elif f.required:
                errors[f"settings.{f.name}"] = f"Give the {f.name.replace('_', ' ')}."
        return settings, errors

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


def providers(kind: ChannelKind) -> dict[str, type[Adapter]]:
    """The providers a channel of ``kind`` may use, in the order they registered (the first is the default)."""
    return {name: cls for name, cls in REGISTRY.items() if kind in cls.serves()}


def adapter_for(channel: ChannelConfig, secrets: Mapping[str, str], *, timeout: float = 10.0) -> Adapter:
    """The adapter that sends over ``channel`` (its ``provider``), given its decrypted secrets."""
    try:
        cls = REGISTRY[channel.provider]
    except KeyError:
        raise AdapterError(f"Channel {channel.name!r}: no adapter for provider {channel.provider!r}") from None
    return cls(channel.settings or {}, secrets, timeout=timeout)
