"""The one table of which role may do what.

Every route names exactly one permission from :data:`PERMISSIONS` (or is listed
in :data:`PUBLIC_ROUTES`); ``tests/web/test_permissions.py`` walks every route
against every role using this table, so a route cannot forget its check.
"""

from __future__ import annotations

from .models import Role

__all__ = ["PERMISSIONS", "PUBLIC_ROUTES", "allowed", "permissions_of"]

EVERYONE = frozenset(Role)
A, C, E, S, L = Role.admin, Role.communications, Role.enumerator, Role.supervisor, Role.lead

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Foundation
    "home.view": EVERYONE,
    "account.manage_own": EVERYONE,
    "users.view": frozenset({A}),
    "users.manage": frozenset({A}),
    "audit.view": frozenset({A}),
    # Content library
    "content.view": frozenset({A, C, L, S}),
    "content.edit": frozenset({A, C}),
    "content.approve": frozenset({A, L}),
    "content.transfer": frozenset({A, C, L}),
    # Surveys
    "surveys.view": frozenset({A, L, S, E, C}),
    "surveys.design": frozenset({A, L}),
    "surveys.collect": frozenset({A, E, S}),
    "surveys.review": frozenset({A, S}),
    "surveys.import": frozenset({A, L, S}),
    "surveys.export": frozenset({A, L, S}),
    "surveys.export_personal": frozenset({A}),
    # Files sent with interviews (ODK Collect): those who may see the interview's personal answers
    # (surveys.privacy): admins, supervisors, and the enumerator who sent it.
    "surveys.attachments": frozenset({A, S, E}),
    # Analysis
    "analysis.view": frozenset({A, L, S, C}),
    # Campaigns: communications staff plan, leads read everything and activate; enumerators and
    # supervisors see nothing of campaigns' contacts.
    "campaign.view": frozenset({A, C, L}),
    "campaign.plan": frozenset({A, C}),
    "campaign.activate": frozenset({A, L}),
    "campaign.contacts": frozenset({A, C}),  # contacts' personal data (names, phones, e-mails)
    "campaign.deliver": frozenset({A, C}),  # pause, resume, retry, confirm airings and attendance
    "campaign.channels": frozenset({A, C}),  # channel settings and their secrets
    # Dashboards: what a campaign delivered and what changed (aggregates only: no contact, no answer).
    "campaign.dashboard": frozenset({A, C, L}),
    "surveys.progress": frozenset({A, L, S}),  # fieldwork progress against the target sample
}

# (method, path) pairs that need no login: they are the way in, or public probes.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
        ("POST", "/language"),  # the language switcher: on the login page too (CSRF-checked)
        ("GET", "/healthz"),
        ("POST", "/api/v1/token"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/sw.js"),
        # Calendar subscriptions: the address carries an HMAC of the one feed it shows.
        ("GET", "/feeds/{token}/channels/{channel_id:int}.ics"),
        ("GET", "/feeds/{token}/facilitator.ics"),
        # Gateways' callbacks (checked by the channel's callback token) and e-mail unsubscribe links
        # (an e-mail delivery's random uid): see web/routes/deliveries_hooks.py.
        ("POST", "/hooks/channels/{channel_id:int}/receipts"),
        ("POST", "/hooks/channels/{channel_id:int}/inbound"),
        ("GET", "/unsubscribe/{delivery_uid}"),
        ("POST", "/unsubscribe/{delivery_uid}"),
    }
)


def allowed(role: Role | str, permission: str) -> bool:
    """Whether ``role`` holds ``permission``; an unknown permission is a programming error."""
    try:
        roles = PERMISSIONS[permission]
    except KeyError:
        raise ValueError(f"unknown permission {permission!r}") from None
    return Role(role) in roles


def permissions_of(role: Role | str) -> frozenset[str]:
    role = Role(role)
    return frozenset(name for name, roles in PERMISSIONS.items() if role in roles)
