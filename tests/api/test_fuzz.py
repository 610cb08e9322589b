"""schemathesis, driven by /v1/openapi.json, against the Flask app in-process: no input gives a 5xx.

Bounded and deterministic (``derandomize``): a few examples per operation, every operation. Path
parameters point at a real app, so the fuzzed bodies reach the views rather than a 404. Operations
that end the caller's session or the app run last, with an account of their own.
"""
from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import register

EXAMPLES = 12
LAST = {("DELETE", "/v1/apps/{app_id}/"), ("POST", "/v1/auth/tokens/"), ("DELETE", "/v1/auth/cancel/"),
        ("POST", "/v1/auth/passwd/")}


def _fuzz(operation, token: str, app_id: str, builder_key: str, statuses: Counter, failures: list) -> None:  # type: ignore[no-untyped-def]
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), as_builder=st.booleans())
    def run(case, as_builder):  # type: ignore[no-untyped-def]
        if "app_id" in (case.path_parameters or {}):
            case.path_parameters["app_id"] = app_id
        headers = {"Authorization": f"token {token}"}
        if as_builder and "/hooks/" in operation.path:
            headers["X-Deis-Builder-Auth"] = builder_key
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} {case.body!r} -> {response.status_code} "
                            f"{response.text[:200]}")

    run()


def test_no_input_gives_a_server_error(client, owner, admin):
    owner_app = owner.create_app("fuzz")
    victim = register(client, "victim")
    victim.create_app("victim-app")
    builder_key = client.application.extensions["app_layer"].settings.builder_key
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", client.application)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: ((op.method.upper(), op.path) in LAST, op.path, op.method))
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        if (operation.method.upper(), operation.path) in LAST:
            _fuzz(operation, victim.token, "victim-app", builder_key, statuses, failures)
        else:
            _fuzz(operation, admin.token, owner_app, builder_key, statuses, failures)
    assert failures == []
    assert sum(statuses.values()) >= 2 * len(operations)
    assert statuses[400] and (statuses[200] + statuses[201] + statuses[204]), statuses  # reached the views
