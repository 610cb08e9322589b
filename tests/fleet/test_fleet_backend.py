"""The fleet backend against the fleet emulator (engine and agents running, fake runner: no containers):
create, start, scale, replace, rollback, destroy, spreading, failures, and what it sends on the wire."""
from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from app_layer.backends import create
from app_layer.backends import fleet_units as units
from app_layer.backends.base import Capability, ReleaseSpec, State
from app_layer.backends.fleet import FleetBackend, FleetClient
from app_layer.errors import RolloutFailed, Unavailable
from app_layer.settings import Settings, SettingsError
from tests.conftest import unique
from tests.fixtures.fleet import FleetCluster


def spec(app: str, version: int, **env: str) -> ReleaseSpec:
    return ReleaseSpec(app, version, f"127.0.0.1:5000/{app}:v{version}", {"web": "serve", "worker": "work"},
                       {"APP_LAYER_APP": app, **env}, dockerfile=True)


@pytest.fixture
def backend(fleet: FleetCluster) -> Iterator[FleetBackend]:
    b = FleetBackend(fleet.socket, publish_ip="", stop_grace=1)
    yield b
    b.close()


def units_of(fleet: FleetCluster, app: str) -> dict[str, dict]:
    with fleet.emulator.lock:
        return {n: {"desired": u.desired, "machine": u.target} for n, u in fleet.emulator.units.items()
                if n.startswith(app + "_")}


def refused(fleet: FleetCluster) -> list[tuple[str, str, int]]:
    """Requests the emulator refused (it validates every body against the discovery document's schemas);
    a 404 answering a DELETE is fine: the backend deletes idempotently."""
    return [a for a in fleet.emulator.answers if 400 <= a[2] < 500 and not (a[0] == "DELETE" and a[2] == 404)]


def test_deploy_creates_launched_units_named_as_deis_did(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("fleetapp")
    backend.deploy(spec(app, 2), {"web": 2, "worker": 1}, timeout=10)
    assert units_of(fleet, app).keys() == {f"{app}_v2.web.1.service", f"{app}_v2.web.2.service",
                                           f"{app}_v2.worker.1.service"}
    procs = backend.processes(app)
    assert [(p.type, p.num, p.version, p.state) for p in procs] == [
        ("web", 1, 2, State.UP), ("web", 2, 2, State.UP), ("worker", 1, 2, State.UP)]
    # fleet has no health checks: not checked, left to the publisher; no docker here, so no port
    assert all(p.healthy is None and p.backend_id.endswith(".service") for p in procs)
    assert Capability.HEALTH_CHECKS not in backend.capabilities and Capability.ROLLING_DEPLOY in backend.capabilities
    puts = [json.loads(body) for method, path, body in fleet.emulator.requests if method == "PUT"]
    assert {p["desiredState"] for p in puts} == {"launched"} and len(puts) == 3
    assert not refused(fleet)


def test_instances_of_one_type_are_spread_over_machines(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("spread")
    backend.deploy(spec(app, 1), {"web": 3}, timeout=10)
    machines = [u["machine"] for u in units_of(fleet, app).values()]
    assert len(set(machines)) == 3
    # more processes than machines: spreading is given up rather than leaving units unschedulable
    backend.deploy(spec(app, 1), {"web": 5}, timeout=10)
    assert len([p for p in backend.processes(app) if p.state is State.UP]) == 5
    assert max(Counter(u["machine"] for u in units_of(fleet, app).values()).values()) == 2


def test_scale_up_and_down_keeps_running_units(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("scale")
    backend.deploy(spec(app, 1), {"web": 1}, timeout=10)
    first = fleet.fake.started[:]
    backend.deploy(spec(app, 1), {"web": 3, "worker": 1}, timeout=10)
    assert sorted((p.type, p.num) for p in backend.processes(app)) == [("web", 1), ("web", 2), ("web", 3),
                                                                        ("worker", 1)]
    backend.deploy(spec(app, 1), {"web": 1, "worker": 0}, timeout=10)
    assert [(p.type, p.num) for p in backend.processes(app)] == [("web", 1)]
    # web.1 was started once and never touched again
    assert [s for s in fleet.fake.started if s[0] == f"{app}_v1.web.1.service"] == first
    before = len(fleet.emulator.requests)
    backend.deploy(spec(app, 1), {"web": 1}, timeout=10)   # the same again changes nothing
    assert all(r[0] == "GET" for r in fleet.emulator.requests[before:])


def test_a_new_release_starts_before_the_old_one_is_destroyed(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("rolling")
    backend.deploy(spec(app, 1, GREETING="one"), {"web": 2}, timeout=10)
    mark = len(fleet.emulator.requests)
    backend.deploy(spec(app, 2, GREETING="two"), {"web": 2}, timeout=10)
    calls = [(m, path.split("?")[0]) for m, path, _ in fleet.emulator.requests[mark:]]
    creates = [i for i, (m, p) in enumerate(calls) if m == "PUT" and "_v2." in p]
    deletes = [i for i, (m, p) in enumerate(calls) if m == "DELETE" and "_v1." in p]
    polls = [i for i, (m, p) in enumerate(calls) if p.endswith("/state")]
    assert len(creates) == 2 and len(deletes) == 2
    assert max(creates) < min(deletes) and any(max(creates) < i < min(deletes) for i in polls)
    assert [(p.version, p.state) for p in backend.processes(app)] == [(2, State.UP), (2, State.UP)]
    body = json.loads(next(b for m, p, b in fleet.emulator.requests[mark:] if m == "PUT"))
    assert any("GREETING=two" in o["value"] for o in body["options"] if o["name"] == "ExecStart")


def test_rollback_is_a_new_release_with_the_old_config(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("rollback")
    backend.deploy(spec(app, 1, GREETING="one"), {"web": 1}, timeout=10)
    backend.deploy(spec(app, 2, GREETING="two"), {"web": 1}, timeout=10)
    backend.deploy(spec(app, 3, GREETING="one"), {"web": 1}, timeout=10)
    assert list(units_of(fleet, app)) == [f"{app}_v3.web.1.service"]
    [unit] = [u for n, u in fleet.emulator.units.items() if n.startswith(app)]
    assert any("GREETING=one" in o["value"] for o in unit.options if o["name"] == "ExecStart")


def test_a_unit_that_never_starts_fails_the_rollout_at_the_deadline(fleet: FleetCluster,
                                                                     backend: FleetBackend) -> None:
    app = unique("hang")
    backend.deploy(spec(app, 1), {"web": 2}, timeout=10)
    fleet.fake.hang.add(f"{app}_v2.web.2.service")
    with pytest.raises(RolloutFailed) as failed:
        backend.deploy(spec(app, 2), {"web": 2}, timeout=1.5)
    assert f"{app}_v2.web.2.service (activating/start-pre" in failed.value.detail
    assert "not running within 1.5s" in failed.value.detail
    # the new units are gone, the old ones were never touched
    assert sorted(units_of(fleet, app)) == [f"{app}_v1.web.1.service", f"{app}_v1.web.2.service"]
    assert [(p.version, p.state) for p in backend.processes(app)] == [(1, State.UP), (1, State.UP)]


def test_units_left_starting_by_an_interrupted_rollout_must_run_before_old_ones_go(
        fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("resume")
    backend.deploy(spec(app, 1), {"web": 1}, timeout=10)
    fleet.fake.hang.add(f"{app}_v2.web.1.service")
    with pytest.raises(RolloutFailed):
        backend.deploy(spec(app, 2), {"web": 1}, timeout=0.5)
    # as if the controller had died after creating v2's unit: it is there, still starting
    options = units.unit_options(spec(app, 2), "web", 1)
    FleetClient(fleet.socket).request("PUT", f"/units/{app}_v2.web.1.service",
                                      {"desiredState": "launched", "options": options})
    with pytest.raises(RolloutFailed, match="activating/start-pre"):
        backend.deploy(spec(app, 2), {"web": 1}, timeout=1)
    assert f"{app}_v1.web.1.service" in units_of(fleet, app)   # the old one still serves
    fleet.fake.hang.clear()
    fleet.emulator.crash(f"{app}_v2.web.1.service")   # systemd restarts it (auto-restart); now it starts
    backend.deploy(spec(app, 2), {"web": 1}, timeout=10)
    assert list(units_of(fleet, app)) == [f"{app}_v2.web.1.service"]


def test_a_failing_unit_fails_the_rollout_without_waiting_for_the_deadline(fleet: FleetCluster,
                                                                           backend: FleetBackend) -> None:
    app = unique("crash")
    fleet.fake.fail.add(f"{app}_v1.*")
    with pytest.raises(RolloutFailed, match=r"failed on machine .* \(failed/failed\)"):
        backend.deploy(spec(app, 1), {"web": 1}, timeout=30)
    assert units_of(fleet, app) == {}


def test_a_crashed_unit_is_replaced_by_deploying_again(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("replace")
    backend.deploy(spec(app, 1), {"web": 2}, timeout=10)
    name = f"{app}_v1.web.2.service"
    fleet.fake.fail.add(name)
    fleet.emulator.crash(name)   # it dies, and every restart fails until systemd gives up
    until = time.monotonic() + 10
    while next(p for p in backend.processes(app) if p.num == 2).state is not State.CRASHED:
        assert time.monotonic() < until, "the crash was never reported"
        time.sleep(0.05)
    fleet.fake.fail.discard(name)
    starts = len(fleet.fake.started)
    backend.deploy(spec(app, 1), {"web": 2}, timeout=10)   # what the reconciler's converge does
    assert [(p.num, p.state) for p in backend.processes(app)] == [(1, State.UP), (2, State.UP)]
    assert [s[0] for s in fleet.fake.started[starts:]] == [name]
    assert not refused(fleet)


def test_restart_restarts_units_one_at_a_time(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("restart")
    backend.deploy(spec(app, 1), {"web": 2, "worker": 1}, timeout=10)
    starts = len(fleet.fake.started)
    mark = len(fleet.emulator.requests)
    restarted = backend.restart(app, "web")
    assert sorted((p.type, p.num, p.state) for p in restarted) == [("web", 1, State.UP), ("web", 2, State.UP)]
    assert sorted(s[0] for s in fleet.fake.started[starts:]) == [f"{app}_v1.web.1.service", f"{app}_v1.web.2.service"]
    states = [json.loads(b)["desiredState"] for m, p, b in fleet.emulator.requests[mark:] if m == "PUT"]
    assert states == ["loaded", "launched", "loaded", "launched"]   # never both down at once
    assert [p.state for p in backend.processes(app)] == [State.UP] * 3
    assert not refused(fleet)


def test_tags_pin_processes_to_machines_with_that_metadata(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("tags")
    tagged = ReleaseSpec(app, 1, "127.0.0.1:5000/x:1", {}, {}, tags={"region": "eu"})
    backend.deploy(tagged, {"cmd": 3}, timeout=10)
    eu = {m for m, machine in fleet.emulator.machines.items() if machine.metadata.get("region") == "eu"}
    assert {u["machine"] for u in units_of(fleet, app).values()} == eu   # two eu machines, three processes
    with pytest.raises(RolloutFailed, match="not scheduled"):
        backend.deploy(ReleaseSpec(app, 2, "127.0.0.1:5000/x:1", {}, {}, tags={"region": "mars"}), {"cmd": 1},
                       timeout=1)
    assert [p.version for p in backend.processes(app)] == [1, 1, 1]


def test_destroy_removes_every_unit_and_state_and_is_idempotent(fleet: FleetCluster, backend: FleetBackend) -> None:
    app, other = unique("destroy"), unique("other")
    backend.deploy(spec(app, 1), {"web": 2, "worker": 1}, timeout=10)
    backend.deploy(spec(other, 1), {"web": 1}, timeout=10)
    backend.destroy(app)
    assert units_of(fleet, app) == {} and backend.processes(app) == []
    with fleet.emulator.lock:
        assert not [k for k in fleet.emulator.states if k[0].startswith(app + "_")]
    backend.destroy(app)
    assert [p.app for p in backend.processes()] == [other]
    assert not refused(fleet)


def test_bad_desired_states_are_refused_with_400(fleet: FleetCluster, backend: FleetBackend) -> None:
    app = unique("bad")
    backend.deploy(spec(app, 1), {"web": 1}, timeout=10)
    url = urlsplit(fleet.tcp)
    for body in ({"desiredState": "running"}, {"desiredState": "bogus"}, {"desiredState": 1}):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("PUT", f"/fleet/v1/units/{app}_v1.web.1.service", json.dumps(body),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        error = json.loads(response.read())["error"]
        assert response.status == 400 and error["code"] == 400
        assert error["message"].startswith("invalid Unit: desiredState: ")
    # nothing was stored: the unit still runs
    assert [p.state for p in backend.processes(app)] == [State.UP]


def test_lists_are_read_page_by_page(fleet: FleetCluster, backend: FleetBackend) -> None:
    fleet.emulator.token_limit = 2   # fleet's default is 100
    app = unique("pages")
    backend.deploy(spec(app, 1), {"web": 3, "worker": 2}, timeout=10)
    assert len([p for p in backend.processes(app) if p.state is State.UP]) == 5
    tokens = [path for method, path, _ in fleet.emulator.requests if "nextPageToken=" in path]
    assert any(path.startswith("/fleet/v1/units?") for path in tokens)
    assert any(path.startswith("/fleet/v1/state?") for path in tokens)
    assert not refused(fleet)


def test_works_over_tcp_and_from_settings(fleet: FleetCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_SCHEDULER": "fleet",
                                  "FLEET_ENDPOINT": fleet.tcp})
    backend = create(settings)
    assert isinstance(backend, FleetBackend)
    app = unique("tcp")
    backend.deploy(spec(app, 1), {"web": 1}, timeout=10)
    assert [p.state for p in backend.processes(app)] == [State.UP]
    backend.destroy(app)


def test_a_bad_endpoint_is_a_settings_error() -> None:
    for endpoint in ("ftp://host", "unix://", "http://", "/var/run/fleet.sock"):
        with pytest.raises(SettingsError, match="FLEET_ENDPOINT: must be unix:///path or http://host:port"):
            FleetBackend(endpoint)


def test_an_unreachable_fleet_is_unavailable(fleet: FleetCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = FleetBackend(f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(Unavailable, match="cannot be reached"):
        missing.processes()
    fleet.emulator.available = False
    backend = FleetBackend(fleet.socket)
    with pytest.raises(Unavailable, match="unable to communicate with etcd"):
        backend.deploy(spec(unique("down"), 1), {"web": 1}, timeout=5)
