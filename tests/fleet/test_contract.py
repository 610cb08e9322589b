"""The emulator against fleet's recorded behaviour: the 72 request/response pairs recorded from fleet
v1.0.0's own API code (``../shared/fleet-schema/golden-exchanges-v1.0.0.json``), replayed in order over
HTTP, one test per exchange.

The recording ran with ``token_limit=2`` and no engine or agents: between requests the recorder moved
the cluster by hand (scheduled a unit, saved a unit state, wrote a heartbeat), and so does ``SCRIPT``
here. Where fleet's own answer was a bug, the emulator answers differently on purpose; each such
exchange is in ``DEVIATIONS`` with what we answer and why, and is asserted like the others.
"""
from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.emulators.fleet import SCHEMA_DIR, FleetEmulator, discovery_bytes, schema_validator

EXCHANGES: list[dict[str, Any]] = json.loads((SCHEMA_DIR / "golden-exchanges-v1.0.0.json").read_text())
A, B, C = "aaaa1111" * 4, "bbbb2222" * 4, "cccc3333" * 4
HELLO_4000 = [{"name": "ExecStart", "section": "Service", "value": "/usr/bin/sleep 4000"}]
POISON = [{"name": "ExecStart", "section": "Service", "value": "/bin/true"}]


def _down(fleet: FleetEmulator) -> None:
    fleet.available = False


def _up(fleet: FleetEmulator) -> None:
    fleet.available = True


def _glob_states(fleet: FleetEmulator) -> None:
    fleet.report_state("glob.service", B, "loaded", "active", "running", hash="0000")
    fleet.report_state("glob.service", C, "loaded", "failed", "failed", hash="0000")


#: what the recorder did to the registry before exchange N (the engine and agents were not running)
SCRIPT: dict[int, Callable[[FleetEmulator], None]] = {
    0: _down,
    1: _up,
    35: lambda f: f.schedule("hello.service", A),
    36: lambda f: f.report_state("hello.service", A, "loaded", "active", "running"),
    37: lambda f: f.heartbeat("hello.service", A),
    46: _glob_states,
    71: _down,
}


@dataclass(frozen=True)
class Deviation:
    status: int
    body: Any
    why: str


def _invalid_state(value: str) -> dict[str, Any]:
    message = f"invalid Unit: desiredState: '{value}' is not one of ['inactive', 'loaded', 'launched']"
    return {"error": {"code": 400, "message": message}}


POISONED_WHY = ("follows from refusing the invalid desiredState of exchange 28: poison.service was never "
                "poisoned, so it answers like any other unit (fleet answered 500 and hid it from lists)")
DEVIATIONS: dict[int, Deviation] = {
    19: Deviation(400, _invalid_state("running"),
                  "fleet answered 500 with an empty message for a desiredState outside its enum on create; "
                  "it is client input, so 400 naming the field and the rule (the discovery enum)"),
    28: Deviation(400, _invalid_state("bogus"),
                  "fleet does not validate desiredState on update: it answered 204, and the stored value "
                  "then made every GET/PUT/DELETE of the unit a 500; refused up front instead"),
    29: Deviation(200, {"currentState": "inactive", "desiredState": "inactive", "name": "poison.service",
                        "options": POISON}, POISONED_WHY),
    30: Deviation(204, None, POISONED_WHY),
    31: Deviation(200, {"nextPageToken": "AgACAA==", "units": [
        {"currentState": "inactive", "desiredState": "launched", "name": "hello.service", "options": HELLO_4000},
        {"currentState": "inactive", "desiredState": "inactive", "name": "poison.service", "options": POISON}]},
        POISONED_WHY + "; the page is full, so fleet's paging offers a next page"),
    32: Deviation(204, None, POISONED_WHY),
    51: Deviation(404, {"error": {"code": 404, "message": "unit state does not exist"}},
                  "fleet v1.0.0 dereferences nil for an unknown unit's state and closes the connection "
                  "without an answer (recorded as status 0); 404 is the answer its code meant to give"),
}

#: the discovery method whose response schema each successful GET must match
RESPONSE_SCHEMAS = {"units": "UnitPage", "units/": "Unit", "state": "UnitStatePage", "state/": "UnitState",
                    "machines": "MachinePage"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def replay() -> list[Answer]:
    """Every exchange's request sent in order to one emulator, as the recorder's cluster was set up."""
    fleet = FleetEmulator(token_limit=2, auto=False)
    fleet.add_machine(A, "10.0.0.1", role="worker")
    fleet.add_machine(B, "10.0.0.2")
    fleet.add_machine(C, "10.0.0.3", region="eu")
    url = fleet.serve_tcp()
    port = int(url.rsplit(":", 1)[1])
    answers = []
    try:
        for index, exchange in enumerate(EXCHANGES):
            if index in SCRIPT:
                SCRIPT[index](fleet)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = exchange.get("request_body")
            conn.request(exchange["method"], exchange["path"], body.encode() if body is not None else None,
                         exchange.get("request_headers") or {})
            response = conn.getresponse()
            answers.append(Answer(response.status, dict(response.getheaders()), response.read()))
            conn.close()
    finally:
        fleet.close()
    return answers


def _schema_name(path: str) -> str:
    rest = path.split("?")[0].split("/", 3)[-1]
    collection, sep, _item = rest.partition("/")
    return RESPONSE_SCHEMAS.get(collection + sep, "")


@pytest.mark.parametrize("index", range(len(EXCHANGES)),
                         ids=[f"{i:02d}-{e['note'][:40]}" for i, e in enumerate(EXCHANGES)])
def test_recorded_exchange(replay: list[Answer], index: int) -> None:
    exchange, answer = EXCHANGES[index], replay[index]
    deviation = DEVIATIONS.get(index)
    status = deviation.status if deviation else exchange["status"]
    assert answer.status == status, (exchange["note"], answer.body)
    if deviation:
        expected_body = deviation.body
    elif "response_body_raw" in exchange:   # the discovery document, verbatim
        assert answer.body == discovery_bytes()
        expected_body = json.loads(discovery_bytes())
    else:
        expected_body = exchange.get("response_body")
    assert (json.loads(answer.body) if answer.body else None) == expected_body
    recorded = exchange["response_headers"]
    if not deviation:
        assert ("Content-Type" in answer.headers) == ("Content-Type" in recorded)
        if "Content-Length" in recorded:   # Go's compact JSON, byte for byte
            assert answer.headers.get("Content-Length") == recorded["Content-Length"]
        # an official build says fleetd/<git describe>; the recording's binary was built without it
        assert ("Server" in answer.headers) == ("Server" in recorded)
    if "Server" in answer.headers:
        assert answer.headers["Server"] == "fleetd/v1.0.0"
    if answer.status == 200 and exchange["method"] == "GET" and (name := _schema_name(exchange["path"])):
        errors = list(schema_validator(name).iter_errors(json.loads(answer.body)))
        assert not errors, [e.message for e in errors]


def test_every_deviation_says_why() -> None:
    assert all(len(d.why) > 40 for d in DEVIATIONS.values())
    assert set(DEVIATIONS) <= set(range(len(EXCHANGES)))
