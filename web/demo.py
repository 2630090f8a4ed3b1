"""Demo data: one user per role now; each feature adds its own loader to ``LOADERS``.

Every loader is idempotent: it looks for what it would create and skips what exists,
so ``konbit demo`` can run on every ``make run``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from campaign.demo import load_campaign_demo
from content.demo import load_content_demo
from surveys.demo import load_surveys_demo

from .accounts.models import Role, UserCreate
from .accounts.service import create_user, get_user_by_username

__all__ = ["DEMO_USERS", "LOADERS", "load_demo"]

# (username, full name, role)
DEMO_USERS: list[tuple[str, str, Role]] = [
    ("admin", "Administratè Konbit", Role.admin),
    ("nadege", "Nadège Pierre-Louis", Role.communications),
    ("jean", "Jean-Robert Célestin", Role.enumerator),
    ("rose", "Rose-Marie Augustin", Role.supervisor),
    ("frantz", "Frantz Desrosiers", Role.lead),
]

# Feature loaders: f(session) -> list of report lines. Called in order after the users.
LOADERS: list[Callable[[Session], list[str]]] = [load_surveys_demo, load_content_demo, load_campaign_demo]


def _demo_password() -> str:
    # Readable over a phone call, long enough for the policy: four groups of four.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def load_users(*, session: Session, logins_file: Path) -> list[str]:
    created: list[tuple[str, str, Role]] = []
    for username, full_name, role in DEMO_USERS:
        if get_user_by_username(session=session, username=username):
            continue
        password = _demo_password()
        create_user(session=session, user_create=UserCreate(username=username, full_name=full_name, role=role,
                                                            password=password), actor=None, ip="demo")
        created.append((username, password, role))
    if created:
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{u:<8} {p}  ({r.label})" for u, p, r in created]
        with open(os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return ["Demo logins (shown once; also kept in " + str(logins_file) + "):", *("  " + line for line in lines)]
    return [f"Demo users already exist; their logins are in {logins_file}."]


def load_demo(*, session: Session, logins_file: Path) -> list[str]:
    report = load_users(session=session, logins_file=logins_file)
    session.flush()
    for loader in LOADERS:
        report.extend(loader(session))
    return report
