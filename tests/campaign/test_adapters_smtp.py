"""The SMTP adapter against a real aiosmtpd server: plain, STARTTLS, implicit TLS, login, refusals."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from campaign.adapters import AdapterError, Outgoing
from campaign.adapters.smtp import SmtpAdapter


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses addresses it is told to."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse: dict[str, str] = {}
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (server context, client context that trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"konbit", b"pa55word")
    return AuthResult(success=ok, handled=False)


def _serve(mailbox: Mailbox, **kwargs) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=_port(), **kwargs)
    controller.start()
    return controller


def _msg(i: int = 1, to: str = "jan@example.org") -> Outgoing:
    return Outgoing(delivery_uid=f"00000000-0000-4000-8000-{i:012d}", to=to, text="Trafik moun se yon krim. Rele 188.",
                    subject="Konbit kont trafik", language="ht", contact_name="Jan Pyè",
                    unsubscribe_url=f"https://konbit.example/unsubscribe/00000000-0000-4000-8000-{i:012d}")


def _adapter(port: int, **settings) -> SmtpAdapter:
    return SmtpAdapter({"host": "127.0.0.1", "port": str(port), "security": "none", "sender": "kampay@konbit.example",
                        "reply_to": "repons@konbit.example", **settings}, {"password": "pa55word"}, timeout=5)


def test_it_sends_an_email_with_one_click_unsubscribe_headers_and_link():
    mailbox = Mailbox()
    server = _serve(mailbox)
    try:
        adapter = _adapter(server.port)
        outcome = adapter.send(_msg())
        adapter.close()
    finally:
        server.stop()
    assert outcome.ok and outcome.gateway_message_id == "<00000000-0000-4000-8000-000000000001@konbit.example>"
    rcpts, raw = mailbox.messages[0]
    email = message_from_bytes(raw, policy=policy.default)
    assert rcpts == ["jan@example.org"] and email["Subject"] == "Konbit kont trafik"
    assert email["Message-ID"] == outcome.gateway_message_id and email["Reply-To"] == "repons@konbit.example"
    assert " ".join(email["List-Unsubscribe"].split()) == ("<https://konbit.example/unsubscribe/00000000-0000-4000-8000-000000000001>, "
                                         "<mailto:repons@konbit.example?subject=unsubscribe%2000000000-0000-4000-8000-000000000001>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = email.get_content()
    assert "Trafik moun se yon krim." in body and "https://konbit.example/unsubscribe/00000000-0000-4000-8000-000000000001" in body


def test_it_reuses_one_smtp_session_across_a_batch():
    mailbox = Mailbox()
    server = _serve(mailbox)
    try:
        adapter = _adapter(server.port)
        outcomes = adapter.send_batch([_msg(i, to=f"p{i}@example.org") for i in range(6)])
        adapter.close()
    finally:
        server.stop()
    assert all(o.ok for o in outcomes) and len(mailbox.messages) == 6
    assert mailbox.sessions == 1


def test_it_tells_a_permanent_refusal_from_a_temporary_one():
    mailbox = Mailbox()
    mailbox.refuse = {"gone@example.org": "550 5.1.1 No such user", "full@example.org": "452 4.2.2 Mailbox full"}
    server = _serve(mailbox)
    try:
        adapter = _adapter(server.port)
        gone, full, ok = adapter.send_batch([_msg(1, "gone@example.org"), _msg(2, "full@example.org"), _msg(3)])
        adapter.close()
    finally:
        server.stop()
    assert not gone.ok and not gone.retryable and "550" in gone.error and "No such user" in gone.error
    assert not full.ok and full.retryable and "452" in full.error
    assert ok.ok and len(mailbox.messages) == 1


def test_it_retries_when_no_server_answers():
    outcome = _adapter(_port()).send(_msg())
    assert not outcome.ok and outcome.retryable and "SMTP server" in outcome.error


def test_it_refuses_a_channel_without_host_or_sender():
    with pytest.raises(AdapterError, match="SMTP host"):
        SmtpAdapter({"port": "25"}, {}).send(_msg())


def test_it_logs_in_over_starttls(certificate):
    server_ctx, client_ctx = certificate
    mailbox = Mailbox()
    server = _serve(mailbox, tls_context=server_ctx, require_starttls=True, authenticator=_authenticator,
                    auth_require_tls=True)
    try:
        adapter = _adapter(server.port, security="starttls", username="konbit")
        adapter.ssl_context = client_ctx
        assert adapter.send(_msg()).ok
        adapter.close()
        wrong = SmtpAdapter({**adapter.settings}, {"password": "nope"})
        wrong.ssl_context = client_ctx
        refused = wrong.send(_msg())
        untrusted = _adapter(server.port, security="starttls", username="konbit").send(_msg())  # system CAs only
    finally:
        server.stop()
    assert len(mailbox.messages) == 1
    assert not refused.ok and not refused.retryable and "login" in refused.error and "nope" not in refused.error
    assert not untrusted.ok and not untrusted.retryable and "TLS" in untrusted.error


def test_it_sends_over_implicit_tls(certificate):
    server_ctx, client_ctx = certificate
    mailbox = Mailbox()
    server = _serve(mailbox, server_hostname="127.0.0.1", ssl_context=server_ctx)
    try:
        adapter = _adapter(server.port, security="tls")
        adapter.ssl_context = client_ctx
        outcome = adapter.send(_msg())
        adapter.close()
    finally:
        server.stop()
    assert outcome.ok and len(mailbox.messages) == 1
