"""E-mail over SMTP (plain, STARTTLS or implicit TLS), with RFC 8058 one-click unsubscribe.

Settings: ``host``, ``port``, ``security`` (``starttls``, the default; ``tls``; ``none``),
``username``, ``sender``, ``reply_to``, ``unsubscribe_url`` (the one-click unsubscribe link,
``{delivery_uid}`` filled in, when ``KONBIT_PUBLIC_URL`` does not give Konbit's own); secret: ``password``. Every message carries
``List-Unsubscribe: <https link>, <mailto:...>`` and ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click``, and the link at the foot of its body. The ``Message-ID`` (made from
the delivery uid, so a retried message keeps its id) is the gateway id.

``send_batch`` reuses one SMTP session for the whole batch and opens a new one if the server drops
it. A 5xx answer is a permanent refusal; a 4xx answer, a timeout or a dropped connection is
retried.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from urllib.parse import quote

from campaign.adapters.base import Adapter, AdapterError, Outcome, Outgoing, Setting, register
from campaign.models import ChannelKind

__all__ = ["SECURITY", "SmtpAdapter"]

SECURITY = ("starttls", "tls", "none")


def _code_outcome(code: int, text: bytes | str, what: str) -> Outcome:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return Outcome(ok=False, error=f"{what}: SMTP {code} {words}"[:300], retryable=not 500 <= code < 600)


@register
class SmtpAdapter(Adapter):
    provider = "smtp"
    kind = ChannelKind.email
    label = "SMTP server"
    setting_fields = (
        Setting("host", required=True), Setting("port", int, required=True, minimum=1, maximum=65535,
                                                message="A port is a number from 1 to 65535."),
        Setting("security", choices=SECURITY, help="starttls (default), tls or none"), Setting("username"),
        Setting("sender", required=True), Setting("reply_to"),
        Setting("unsubscribe_url", url=True, help="one-click unsubscribe link; {delivery_uid} filled in"),
    )
    secret_fields = ("password",)
    # The TLS context for STARTTLS and TLS; tests give one that trusts their own certificate.
    ssl_context: ssl.SSLContext | None = None

    _smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        host, sender = self.settings.get("host", ""), self.settings.get("sender", "")
        if not host or not sender:
            raise AdapterError("The e-mail channel needs the SMTP host and the sender address.")
        security = self.settings.get("security") or "starttls"
        port = int(self.settings.get("port") or {"tls": 465, "starttls": 587}.get(security, 25))
        context = self.ssl_context or ssl.create_default_context()
        if security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.settings.get("username"):
                smtp.login(self.settings["username"], self.secrets.get("password", ""))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def build(self, message: Outgoing) -> EmailMessage:
        """The e-mail of ``message``: headers, the text and the unsubscribe link at its foot."""
        sender = self.settings["sender"]
        domain = sender.rpartition("@")[2] or "konbit.local"
        email = EmailMessage()
        email["From"] = sender
        email["To"] = formataddr((message.contact_name, message.to)) if message.contact_name else message.to
        email["Subject"] = message.subject or message.text.split("\n", 1)[0][:78]
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = f"<{message.delivery_uid}@{domain}>"
        if self.settings.get("reply_to"):
            email["Reply-To"] = self.settings["reply_to"]
        body = message.text
        if message.unsubscribe_url:
            mailbox = self.settings.get("reply_to") or sender
            mailto = f"mailto:{mailbox}?subject={quote('unsubscribe ' + message.delivery_uid)}"
            email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>, <{mailto}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            body = f"{body}\n\n--\nUnsubscribe / Dezabone / Se désabonner: {message.unsubscribe_url}\n"
        if message.language:
            email["Content-Language"] = message.language
        email.set_content(body)
        return email

    def _send_once(self, message: Outgoing) -> Outcome:
        if self._smtp is None:
            self._smtp = self._connect()
        email = self.build(message)
        self._smtp.send_message(email, from_addr=self.settings["sender"], to_addrs=[message.to])
        return Outcome(ok=True, gateway_message_id=email["Message-ID"][:120])

    def send(self, message: Outgoing) -> Outcome:
        for attempt in (1, 2):
            try:
                return self._send_once(message)
            except smtplib.SMTPServerDisconnected:
                self._smtp = None  # the server closed a reused session: open a new one, once
                if attempt == 2:
                    return Outcome(ok=False, error="the SMTP server closed the connection", retryable=True)
            except smtplib.SMTPRecipientsRefused as err:
                code, text = next(iter(err.recipients.values()))
                return _code_outcome(code, text, "recipient refused")
            except smtplib.SMTPSenderRefused as err:
                return _code_outcome(err.smtp_code, err.smtp_error, "sender refused")
            except smtplib.SMTPAuthenticationError as err:
                self.close()
                return Outcome(ok=False, error=f"the SMTP server refused the login (SMTP {err.smtp_code})",
                               retryable=False)
            except smtplib.SMTPResponseException as err:
                if err.smtp_code in (421,):
                    self.close()
                return _code_outcome(err.smtp_code, err.smtp_error, "message refused")
            except smtplib.SMTPNotSupportedError:
                self.close()
                return Outcome(ok=False, error="the SMTP server does not offer STARTTLS or login", retryable=False)
            except ssl.SSLError as err:
                self.close()
                return Outcome(ok=False, error=f"TLS with the SMTP server failed ({err.reason or 'handshake'})",
                               retryable=False)
            except (TimeoutError, OSError, smtplib.SMTPException) as err:
                self.close()
                return Outcome(ok=False, error=f"could not talk to the SMTP server ({type(err).__name__})",
                               retryable=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def send_batch(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return [self.send(message) for message in messages]
