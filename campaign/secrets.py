"""Channel secrets (tokens, passwords) encrypted at rest with a key derived from the app's secret.

Fernet (AES-128-CBC with HMAC-SHA256) from ``cryptography``; the key is HKDF-SHA256 of the
app's secret key with a fixed, purpose-bound info string, so rotating the app's secret makes old
secrets unreadable (they must be entered again) rather than silently wrong. Decrypted secrets
live only in memory for the adapter that sends; they are never shown, logged or exported.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretsError", "decrypt_secrets", "encrypt_secrets", "mask"]

_INFO = b"konbit campaign channel secrets v1"


class SecretsError(ValueError):
    pass


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secrets(values: dict[str, str], *, secret_key: str) -> str:
    """A Fernet token of ``values`` (empty values dropped); empty string when there is nothing."""
    clean = {k: v for k, v in values.items() if v}
    if not clean:
        return ""
    return _fernet(secret_key).encrypt(json.dumps(clean, sort_keys=True).encode()).decode()


def decrypt_secrets(token: str, *, secret_key: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet(secret_key).decrypt(token.encode()))
    except (InvalidToken, ValueError) as err:
        raise SecretsError("The channel's saved secrets cannot be read with this app's secret key: "
                           "enter them again on the channel's page.") from err


def mask(token: str, *, secret_key: str) -> dict[str, str]:
    """Names of the saved secrets with a mask instead of their values, for pages and the API."""
    try:
        return {name: "••••••" for name in decrypt_secrets(token, secret_key=secret_key)}
    except SecretsError:
        return {}
