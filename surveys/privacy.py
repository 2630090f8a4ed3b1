"""Who sees respondents' personal answers: the one policy every view of a submission goes through.

Items an XLSForm marks ``personal`` (a phone number, a name, a GPS point) are the respondent's
personal data. The policy, by role:

========================  ==================================  ===================================
role                      one interview (page, API detail)    lists, bulk answers, breakdowns
========================  ==================================  ===================================
administrator             sees them                           sees them (the personal export too)
enumerator                sees them in their own interviews   their own interviews only
supervisor                sees them (reviewing: a call-back   hidden
                          check may need the phone)
programme lead            hidden                              hidden
communications staff      hidden                              hidden
========================  ==================================  ===================================

A hidden item is left out of ``answers`` (and of every revision in the history) and named in
``personal_hidden``, so a reader knows something was withheld. No personal item can ever be a
report's breakdown (``by``), for anyone: the breakdown would print each raw value as a group. The
exports leave personal items out unless an administrator asks (``surveys.export_personal``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from web.accounts.models import Role, User

__all__ = ["may_see_personal", "personal_codes", "redact"]


def personal_codes(items: Iterable[Any]) -> frozenset[str]:
    """Codes of the items marked personal in a form's items (:class:`surveys.spec.ItemSpec`)."""
    return frozenset(it.code for it in items if getattr(it, "personal", False))


def may_see_personal(user: User | None, *, enumerator_id: int | None, detail: bool) -> bool:
    """Whether ``user`` may read the personal answers of an interview by ``enumerator_id``.

    ``detail``: one interview opened on its own (its page, ``GET /api/v1/submissions/{id}``),
    rather than a list or a bulk answer.
    """
    if user is None:
        return False
    if user.role == Role.admin:
        return True
    if user.role == Role.enumerator:
        return enumerator_id is not None and enumerator_id == user.id
    if user.role == Role.supervisor:
        return detail
    return False


def redact(answers: Mapping[str, Any] | None, codes: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """``answers`` without the personal items; and the codes of those left out (that had a value)."""
    answers = dict(answers or {})
    hidden = sorted(code for code in codes if code in answers and answers[code] not in (None, "", []))
    for code in codes:
        answers.pop(code, None)
    for key, value in answers.items():  # a repeat's repetitions: answers[repeat] = [{code: answer}, ...]
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            found = {code for r in value for code in codes if r.get(code) not in (None, "", [])}
            hidden.extend(f"{key}/{code}" for code in sorted(found))
            answers[key] = [{c: v for c, v in r.items() if c not in codes} for r in value]
    return answers, hidden
