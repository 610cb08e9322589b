"""The shared backend contract (``tests/backends/test_contract.py``) run against the swarm backend.

Two of its checks are specific to one host and left to the Docker harness: processes serve the
Docker test image's page on 127.0.0.1 (here they answer at node addresses, checked in the other
swarm tests), and a crashed process stays missing until the next deploy (a swarm replaces it by
itself: ``test_a_crashed_task_is_replaced_by_the_swarm_itself`` checks that instead).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from app_layer.backends.swarm import SwarmBackend
from app_layer.reconciler import differs
from tests.backends.conftest import Harness
from tests.backends.test_contract import (  # noqa: F401 - collected here with the swarm harness
    test_a_config_change_replaces_every_process,
    test_a_failing_health_check_keeps_the_old_release_serving,
    test_capabilities_are_declared,
    test_deploy_runs_exactly_the_formation,
    test_deploying_the_same_thing_twice_changes_nothing,
    test_destroy_removes_everything_and_is_idempotent,
    test_logs_include_output_of_replaced_processes,
    test_restart_keeps_the_processes_up,
    test_rollback_is_a_new_release_with_the_old_config,
    test_run_a_one_off_command,
    test_scale_up_and_down_keeps_running_processes,
)
from tests.fixtures.swarm import SwarmCluster, wait_until
from tests.swarm.conftest import TIMING

pytestmark = pytest.mark.slow


class SwarmHarness(Harness):
    serves = False  # see the module docstring

    def __init__(self, app: str, swarm: SwarmCluster, web: str, unhealthy: str):
        super().__init__(app)
        self.swarm, self.web, self.unhealthy = swarm, web, unhealthy
        self.backend = SwarmBackend([swarm.socket_url(i) for i in range(1, swarm.size + 1)], TIMING)

    def image(self, healthy: bool) -> str:
        return self.web if healthy else self.unhealthy

    def crash(self, ptype: str, num: int) -> None:
        """Remove the task's container on its node, as if the process had died."""
        proc = self.up()[(ptype, num)]
        node = int(proc.host.rsplit(".", 1)[1]) - 10
        manager = self.swarm.api(self.swarm.alive()[0])
        [task] = manager.tasks(filters={"id": proc.backend_id})
        self.swarm.api(node).remove_container(task["Status"]["ContainerStatus"]["ContainerID"], force=True)


@pytest.fixture(scope="session")
def unhealthy_image(swarm: SwarmCluster) -> str:
    return swarm.push_image("alsw-unhealthy", 'echo "not listening on $PORT"; exec sleep 100000')


@pytest.fixture
def harness(swarm: SwarmCluster, web_image: str, unhealthy_image: str, app: str) -> Iterator[Harness]:
    h = SwarmHarness(app, swarm, web_image, unhealthy_image)
    yield h
    h.close()


def test_a_crashed_task_is_replaced_by_the_swarm_itself(harness: SwarmHarness) -> None:
    spec = harness.spec(1)
    harness.deploy(spec, {"web": 2})
    crashed = harness.up()[("web", 2)].backend_id
    harness.crash("web", 2)
    wait_until(lambda: harness.up().get(("web", 2)) and harness.up()[("web", 2)].backend_id != crashed
               and harness.up()[("web", 2)].healthy, 30, "a new healthy web.2")
    assert not differs(harness.backend.processes(), harness.app, 1, {"web": 2})
    before = {k: p.backend_id for k, p in harness.up().items()}
    harness.deploy(spec, {"web": 2})  # the reconciler's converge finds nothing to do
    assert {k: p.backend_id for k, p in harness.up().items()} == before
