"""Konbit's settings, read once from ``KONBIT_*`` environment variables.

Malformed values are refused with a message naming the variable, never guessed;
outside development and test a missing or default secret key stops the app.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_SECRET", "Settings", "SettingsError", "get_settings", "load_settings"]

DEFAULT_SECRET = "change-me-development-only"


class SettingsError(RuntimeError):
    """Raised when the environment holds a value Konbit cannot use."""


class Settings(BaseSettings):
    # Read from the environment only; prefix KONBIT_.
    model_config = SettingsConfigDict(env_prefix="KONBIT_", extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = DEFAULT_SECRET
    # Browser sessions: absolute lifetime and idle timeout, in seconds.
    session_max_age: int = Field(default=12 * 3600, ge=300, le=30 * 86400)
    session_idle_timeout: int = Field(default=2 * 3600, ge=60, le=30 * 86400)
    api_token_max_age: int = Field(default=8 * 3600, ge=300, le=90 * 86400)
    # Failed logins: this many failures for one user name in the window lock it for the window.
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_seconds: int = Field(default=15 * 60, ge=10, le=86400)
    # Largest request body accepted, in bytes (uploads included).
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # Run the delivery scheduler inside `konbit serve` (single-machine default).
    embedded_scheduler: bool = True
    # Delivery (campaign.jobs, campaign.dispatch): the scheduler's tick and leadership lease, how
    # late a missed occurrence may still be sent, the workers' claim lease, retries and timeout.
    scheduler_tick_seconds: float = Field(default=15.0, ge=0.1, le=600)
    scheduler_lease_seconds: float = Field(default=45.0, ge=1, le=3600)
    delivery_grace_seconds: int = Field(default=2 * 3600, ge=0, le=30 * 86400)
    delivery_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    delivery_backoff_seconds: float = Field(default=30.0, ge=0.01, le=86400)
    delivery_timeout_seconds: float = Field(default=10.0, ge=0.1, le=300)
    # The address gateways and mail readers reach Konbit at (https://konbit.example.org): the delivery
    # receipts webhook and e-mails' one-click unsubscribe links are built on it. Empty: none is sent.
    public_url: str = Field(default="", max_length=200, pattern=r"^(https?://[^\s/]+(/[^\s]*)?)?$")
    delivery_batch: int = Field(default=200, ge=1, le=10_000)
    # Behind a TLS-terminating proxy set this so cookies get the Secure flag.
    https: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @model_validator(mode="after")
    def _secret_outside_development(self) -> "Settings":
        if self.env == "production" and (self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "KONBIT_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def database(self) -> str:
        """The SQLAlchemy URL, with the SQLite default under the data directory."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'konbit.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = f"KONBIT_{loc.upper()}" if loc else "settings"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
