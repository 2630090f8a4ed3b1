"""Settings come from KONBIT_* variables; malformed values are refused, never guessed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from web.settings import DEFAULT_SECRET, SettingsError, get_settings, load_settings

GOOD_SECRET = "s" * 48


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No KONBIT_* variable from the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("KONBIT_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_it_has_defaults_for_development():
    settings = load_settings()
    assert settings.env == "development"
    assert settings.secret_key == DEFAULT_SECRET
    assert settings.database == f"sqlite:///{Path('var') / 'konbit.db'}"
    assert settings.https is False
    assert settings.embedded_scheduler is True
    assert settings.login_max_failures == 5


def test_it_reads_konbit_variables(clean_environment, tmp_path):
    env = {
        "KONBIT_ENV": "production",
        "KONBIT_SECRET_KEY": GOOD_SECRET,
        "KONBIT_DATA_DIR": str(tmp_path),
        "KONBIT_SESSION_MAX_AGE": "3600",
        "KONBIT_SESSION_IDLE_TIMEOUT": "600",
        "KONBIT_API_TOKEN_MAX_AGE": "7200",
        "KONBIT_LOGIN_MAX_FAILURES": "3",
        "KONBIT_LOGIN_LOCKOUT_SECONDS": "120",
        "KONBIT_MAX_BODY_BYTES": "1048576",
        "KONBIT_EMBEDDED_SCHEDULER": "false",
        "KONBIT_HTTPS": "true",
    }
    for name, value in env.items():
        clean_environment.setenv(name, value)
    settings = load_settings()
    assert settings.env == "production"
    assert settings.secret_key == GOOD_SECRET
    assert settings.data_dir == tmp_path
    assert (settings.session_max_age, settings.session_idle_timeout, settings.api_token_max_age) == (3600, 600, 7200)
    assert (settings.login_max_failures, settings.login_lockout_seconds) == (3, 120)
    assert settings.max_body_bytes == 1048576
    assert settings.embedded_scheduler is False
    assert settings.https is True
    assert settings.database == f"sqlite:///{tmp_path / 'konbit.db'}"


def test_it_ignores_variables_without_the_prefix(clean_environment):
    clean_environment.setenv("SECRET_KEY", GOOD_SECRET)
    clean_environment.setenv("ENV", "production")
    settings = load_settings()
    assert settings.env == "development"
    assert settings.secret_key == DEFAULT_SECRET


def test_it_reads_the_environment_once(clean_environment):
    clean_environment.setenv("KONBIT_LOGIN_MAX_FAILURES", "7")
    first = get_settings()
    clean_environment.setenv("KONBIT_LOGIN_MAX_FAILURES", "9")
    assert get_settings() is first
    assert first.login_max_failures == 7


def test_it_cannot_be_changed_once_read():
    settings = load_settings()
    with pytest.raises(Exception):
        settings.https = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KONBIT_SESSION_MAX_AGE", "twelve hours"),
        ("KONBIT_SESSION_MAX_AGE", "10"),
        ("KONBIT_SESSION_IDLE_TIMEOUT", "-1"),
        ("KONBIT_LOGIN_MAX_FAILURES", "0"),
        ("KONBIT_LOGIN_LOCKOUT_SECONDS", "2.5"),
        ("KONBIT_MAX_BODY_BYTES", "25MB"),
        ("KONBIT_MAX_BODY_BYTES", "100"),
        ("KONBIT_HTTPS", "maybe"),
        ("KONBIT_EMBEDDED_SCHEDULER", "sometimes"),
        ("KONBIT_ENV", "staging"),
        ("KONBIT_ENV", "Production"),
        ("KONBIT_DATABASE_URL", "mysql://root@localhost/konbit"),
        ("KONBIT_DATABASE_URL", "/var/lib/konbit.db"),
    ],
)
def test_it_refuses_a_malformed_value_naming_the_variable(clean_environment, name, value):
    clean_environment.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith("Invalid configuration:")
    assert f"{name}: " in message
    assert "Traceback" not in message


def test_it_names_every_malformed_variable_at_once(clean_environment):
    clean_environment.setenv("KONBIT_HTTPS", "maybe")
    clean_environment.setenv("KONBIT_SESSION_MAX_AGE", "soon")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "KONBIT_HTTPS" in str(refused.value)
    assert "KONBIT_SESSION_MAX_AGE" in str(refused.value)


def test_it_refuses_bad_values_passed_in_code_too():
    with pytest.raises(SettingsError, match="KONBIT_LOGIN_MAX_FAILURES"):
        load_settings(login_max_failures=0)


@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET, "short-secret", "x" * 31])
def test_it_refuses_a_default_or_short_secret_in_production(clean_environment, secret):
    clean_environment.setenv("KONBIT_ENV", "production")
    if secret is not None:
        clean_environment.setenv("KONBIT_SECRET_KEY", secret)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert "KONBIT_SECRET_KEY" in message
    assert "at least 32 characters" in message
    if secret:
        assert secret not in message.replace("KONBIT_SECRET_KEY", "")  # the secret is not echoed


def test_it_accepts_a_long_random_secret_in_production(clean_environment):
    clean_environment.setenv("KONBIT_ENV", "production")
    clean_environment.setenv("KONBIT_SECRET_KEY", "x" * 32)
    assert load_settings().env == "production"


@pytest.mark.parametrize("env", ["development", "test"])
def test_it_tolerates_the_default_secret_outside_production(clean_environment, env):
    clean_environment.setenv("KONBIT_ENV", env)
    assert load_settings().secret_key == DEFAULT_SECRET


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://konbit:p%40ss@db.example:5432/konbit", "postgresql+psycopg://konbit:p%40ss@db.example:5432/konbit"),
        ("postgresql://konbit@db/konbit?sslmode=require", "postgresql+psycopg://konbit@db/konbit?sslmode=require"),
        ("postgresql+psycopg://konbit@db/konbit", "postgresql+psycopg://konbit@db/konbit"),
        ("sqlite:////srv/konbit/konbit.db", "sqlite:////srv/konbit/konbit.db"),
    ],
)
def test_it_normalises_the_database_url(clean_environment, given, expected):
    clean_environment.setenv("KONBIT_DATABASE_URL", given)
    assert load_settings().database == expected


def test_it_puts_the_default_database_in_the_data_directory(clean_environment, tmp_path):
    clean_environment.setenv("KONBIT_DATA_DIR", str(tmp_path / "data"))
    assert load_settings().database == f"sqlite:///{tmp_path / 'data' / 'konbit.db'}"
