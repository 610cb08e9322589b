"""The backend contract (``backends/base.py``), checked the same way against every backend."""
from __future__ import annotations

import pytest

from app_layer.backends.base import Capability, State
from app_layer.errors import RolloutFailed
from app_layer.reconciler import differs
from tests.backends.conftest import Harness

pytestmark = pytest.mark.docker


def test_deploy_runs_exactly_the_formation(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 2, "worker": 1})
    up = harness.up()
    assert sorted(up) == [("web", 1), ("web", 2), ("worker", 1)]
    assert {p.version for p in up.values()} == {1}
    assert up[("web", 1)].healthy is True and up[("web", 1)].routable
    assert not up[("worker", 1)].routable
    if harness.serves:
        assert harness.get(up[("web", 2)]) == "hello from app-layer\n"
        assert (up[("web", 1)].host, up[("web", 1)].port) != (up[("web", 2)].host, up[("web", 2)].port)


def test_deploying_the_same_thing_twice_changes_nothing(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 1})
    before = {k: p.backend_id for k, p in harness.up().items()}
    harness.deploy(harness.spec(1), {"web": 1})
    assert {k: p.backend_id for k, p in harness.up().items()} == before


def test_scale_up_and_down_keeps_running_processes(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 1})
    first = harness.up()[("web", 1)].backend_id
    harness.deploy(harness.spec(1), {"web": 3, "worker": 1})
    assert sorted(harness.up()) == [("web", 1), ("web", 2), ("web", 3), ("worker", 1)]
    harness.deploy(harness.spec(1), {"web": 1, "worker": 0})
    up = harness.up()
    assert sorted(up) == [("web", 1)]
    assert up[("web", 1)].backend_id == first
    assert [p for p in harness.backend.processes(harness.app) if p.state is not State.UP] == []


def test_a_config_change_replaces_every_process(harness: Harness) -> None:
    harness.deploy(harness.spec(1, GREETING="hello"), {"web": 2})
    harness.deploy(harness.spec(2, GREETING="bonjour"), {"web": 2})
    up = harness.up()
    assert sorted(up) == [("web", 1), ("web", 2)] and {p.version for p in up.values()} == {2}
    assert len(harness.backend.processes(harness.app)) == 2
    if harness.serves:
        assert "GREETING=bonjour" in harness.get(up[("web", 1)], "/cgi-bin/env")


def test_rollback_is_a_new_release_with_the_old_config(harness: Harness) -> None:
    harness.deploy(harness.spec(1, GREETING="one"), {"web": 1})
    harness.deploy(harness.spec(2, GREETING="two"), {"web": 1})
    harness.deploy(harness.spec(3, GREETING="one"), {"web": 1})
    up = harness.up()
    assert [p.version for p in up.values()] == [3]
    if harness.serves:
        assert "GREETING=one" in harness.get(up[("web", 1)], "/cgi-bin/env")


def test_a_failing_health_check_keeps_the_old_release_serving(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 2})
    before = {k: p.backend_id for k, p in harness.up().items()}
    with pytest.raises(RolloutFailed) as failed:
        harness.deploy(harness.spec(2, healthy=False), {"web": 2}, timeout=3)
    assert "v2" in failed.value.detail
    procs = harness.backend.processes(harness.app)
    assert {(p.type, p.num): p.backend_id for p in procs} == before
    assert all(p.version == 1 and p.state is State.UP and p.healthy for p in procs)
    if harness.serves:
        assert harness.get(procs[0]) == "hello from app-layer\n"


def test_a_crashed_process_is_replaced_by_deploying_again(harness: Harness) -> None:
    spec = harness.spec(1)
    harness.deploy(spec, {"web": 2})
    harness.crash("web", 2)
    assert differs(harness.backend.processes(), harness.app, 1, {"web": 2})
    harness.deploy(spec, {"web": 2})  # what the reconciler's converge does
    up = harness.up()
    assert sorted(up) == [("web", 1), ("web", 2)] and up[("web", 2)].healthy
    assert not differs(harness.backend.processes(), harness.app, 1, {"web": 2})


def test_run_a_one_off_command(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 1})
    rc, output = harness.backend.run(harness.spec(1), "echo hello", timeout=30)
    assert rc == 0 and "hello" in output
    assert [p.type for p in harness.backend.processes(harness.app)] == ["web"]


def test_logs_include_output_of_replaced_processes(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 1})
    harness.deploy(harness.spec(2), {"web": 1})
    assert [p.version for p in harness.backend.processes(harness.app)] == [2]
    lines = harness.backend.logs(harness.app, 100)
    assert any("v1" in line.message for line in lines) and any("v2" in line.message for line in lines)
    assert [line.time for line in lines] == sorted(line.time for line in lines)
    assert len(harness.backend.logs(harness.app, 1)) == 1


def test_restart_keeps_the_processes_up(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 2, "worker": 1})
    restarted = harness.backend.restart(harness.app, "web")
    assert sorted((p.type, p.num) for p in restarted) == [("web", 1), ("web", 2)]
    assert sorted(harness.up()) == [("web", 1), ("web", 2), ("worker", 1)]


def test_destroy_removes_everything_and_is_idempotent(harness: Harness) -> None:
    harness.deploy(harness.spec(1), {"web": 2})
    harness.backend.destroy(harness.app)
    assert harness.backend.processes(harness.app) == []
    assert harness.backend.logs(harness.app, 10) == []
    harness.backend.destroy(harness.app)


def test_capabilities_are_declared(harness: Harness) -> None:
    assert {Capability.HEALTH_CHECKS, Capability.ROLLING_DEPLOY, Capability.RUN, Capability.LOGS,
            Capability.RESTART} <= harness.backend.capabilities
