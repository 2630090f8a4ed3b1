"""The API against its own OpenAPI document, fuzzed by schemathesis with a real token for each role,
on SQLite and PostgreSQL: no server error, and every answer (status, content type, body) as the
document says. A small number of examples per operation and role keeps it to about a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from tests.factories import PERSONAS, bearer

pytestmark = pytest.mark.db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def tokens(client, personas) -> dict[str, dict[str, str]]:
    return {name: bearer(client, name) for name in PERSONAS}


def test_every_operation_keeps_its_contract_for_every_role(app, tokens):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=4, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            for name in PERSONAS:
                case.call_and_validate(headers=tokens[name], checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations > 80
    assert not failures, f"{len(failures)} operations broke their contract:\n\n" + "\n\n".join(failures)
