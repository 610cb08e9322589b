"""Losing a node, and losing the leader of three managers: the swarm reschedules, and processes()
stops reporting what ran on the dead node as soon as the swarm marks it down."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from app_layer.backends.swarm import SwarmBackend
from tests.fixtures.swarm import SwarmCluster, wait_until
from tests.swarm.conftest import TIMING, env_of, release, routable

pytestmark = pytest.mark.slow


@pytest.fixture
def whole_swarm(swarm: SwarmCluster) -> Iterator[SwarmCluster]:
    """Every node up and every manager reachable before the test, and again after it."""
    swarm.wait_healthy()
    yield swarm
    for i in range(1, swarm.size + 1):
        if i not in swarm.alive():
            swarm.revive(i)
    swarm.wait_healthy(90)


def serving(swarm: SwarmCluster, backend: SwarmBackend, app: str, hosts: set[str], count: int) -> bool:
    procs = routable(backend, app)
    return (len(procs) == count and {p.host for p in procs} <= hosts
            and all(env_of(swarm, p)["RELEASE"] == "v2" for p in procs))


def test_the_loss_of_a_node_removes_its_tasks_and_the_swarm_restores_capacity(
        whole_swarm: SwarmCluster, backend: SwarmBackend, app: str, web_image: str) -> None:
    swarm = whole_swarm
    backend.deploy(release(app, web_image, 2), {"web": 3}, timeout=60)
    victim = next(i for i in (3, 2, 1) if i != swarm.leader())
    dead = swarm.addr(victim)
    assert dead in {p.host for p in routable(backend, app)}

    swarm.kill(victim)
    wait_until(lambda: dead not in {p.host for p in backend.processes(app)}, 30, "the dead node's tasks to go")
    survivors = {swarm.addr(i) for i in (1, 2, 3) if i != victim}
    wait_until(lambda: serving(swarm, backend, app, survivors, 3), 60, "three tasks on the surviving nodes")
    assert victim not in swarm.ready()


def test_the_loss_of_the_leader_of_three_managers(
        whole_swarm: SwarmCluster, app: str, web_image: str) -> None:
    swarm = whole_swarm
    leader = swarm.leader()
    # the controller knows every manager, the leader first: it must move on to another one
    order = [leader] + [i for i in (1, 2, 3) if i != leader]
    backend = SwarmBackend([swarm.socket_url(i) for i in order], TIMING)
    try:
        backend.deploy(release(app, web_image, 2), {"web": 3}, timeout=60)
        swarm.kill(leader)
        survivors = {swarm.addr(i) for i in (1, 2, 3) if i != leader}
        wait_until(lambda: serving(swarm, backend, app, survivors, 3), 90, "three tasks on the surviving nodes")
        new_leader = wait_until(lambda: swarm.leader(), 30, "a new leader")
        assert new_leader != leader
        # the swarm still takes orders through the new leader
        backend.deploy(release(app, web_image, 2), {"web": 4}, timeout=60)
        assert len(routable(backend, app)) == 4
    finally:
        backend.destroy(app)
        backend.close()

