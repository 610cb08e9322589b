"""The Marathon backend against the emulator: rollouts, scaling, rollbacks, failed health checks,
deployment locks, event-stream reconnects and failover between Marathon URLs."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import requests

from app_layer.backends.base import Capability, State
from app_layer.backends.marathon import MarathonBackend
from app_layer.errors import NotSupported, RolloutFailed, Unavailable
from tests.emulators.marathon import Emulator
from tests.fixtures.marathon import FAST, backend_for
from tests.marathon.conftest import BAD, puts, spec, task_ids, up


def test_a_rollout_runs_one_marathon_app_per_process_type(marathon: Emulator,
                                                          marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 2, "worker": 1}, timeout=10)
    procs = up(marathon_backend)
    assert sorted(procs) == [("web", 1), ("web", 2), ("worker", 1)]
    assert {p.version for p in procs.values()} == {1}
    web = procs[("web", 1)]
    assert web.healthy is True and web.routable and web.host == "127.0.0.1" and web.port
    assert procs[("web", 1)].port != procs[("web", 2)].port
    assert procs[("worker", 1)].healthy is None and not procs[("worker", 1)].routable
    assert sorted(marathon.cluster.apps) == ["/shop/web", "/shop/worker"]
    assert marathon.cluster.deployments == {}
    [put] = puts(marathon, "/shop/web")
    assert put.query["partialUpdate"] == ["false"] and put.body["labels"]["app-layer.release"] == "1"


def test_a_new_release_is_a_rolling_restart_that_keeps_full_capacity(marathon: Emulator,
                                                                    marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 3}, timeout=10)
    before = task_ids(marathon, "/shop/web")
    marathon.cluster.health_delay = 0.3
    lowest = [3]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with marathon.cluster._lock:
                healthy = [t for t in marathon.cluster.tasks.values()
                           if t.app_id == "/shop/web" and t.state == "TASK_RUNNING" and t.alive]
            lowest[0] = min(lowest[0], len(healthy))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        marathon_backend.deploy(spec(2, GREETING="bonjour"), {"web": 3}, timeout=10)
    finally:
        done.set()
        sampler.join()
    assert lowest[0] >= 3
    procs = up(marathon_backend)
    assert sorted(procs) == [("web", 1), ("web", 2), ("web", 3)] and {p.version for p in procs.values()} == {2}
    assert task_ids(marathon, "/shop/web").isdisjoint(before)
    assert marathon.cluster.apps["/shop/web"].definition["env"]["GREETING"] == "bonjour"
    assert len(marathon_backend.processes("shop")) == 3


def test_scale_changes_instances_only(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 1}, timeout=10)
    [first] = task_ids(marathon, "/shop/web")
    marathon_backend.deploy(spec(1), {"web": 3, "worker": 1}, timeout=10)
    assert puts(marathon, "/shop/web")[-1].body == {"instances": 3}
    assert sorted(up(marathon_backend)) == [("web", 1), ("web", 2), ("web", 3), ("worker", 1)]
    assert first in task_ids(marathon, "/shop/web")
    marathon_backend.deploy(spec(1), {"web": 1, "worker": 0}, timeout=10)
    assert task_ids(marathon, "/shop/web") == {first}            # the youngest go first
    assert sorted(up(marathon_backend)) == [("web", 1)]
    assert marathon.cluster.apps["/shop/worker"].definition["instances"] == 0
    count = len(marathon.cluster.requests)
    marathon_backend.deploy(spec(1), {"web": 1, "worker": 0}, timeout=10)   # nothing to do: no change sent
    assert [r.method for r in marathon.cluster.requests[count:]] == ["GET"]


def test_rollback_runs_the_old_config_as_a_new_release(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1, GREETING="one"), {"web": 1}, timeout=10)
    marathon_backend.deploy(spec(2, GREETING="two"), {"web": 1}, timeout=10)
    marathon_backend.deploy(spec(3, GREETING="one"), {"web": 1}, timeout=10)
    assert [p.version for p in up(marathon_backend).values()] == [3]
    assert marathon.cluster.apps["/shop/web"].definition["env"]["GREETING"] == "one"
    assert len(marathon.cluster.apps["/shop/web"].versions) == 3


def test_a_failing_health_check_is_rolled_back(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 2, "worker": 1}, timeout=10)
    before = {k: p.backend_id for k, p in up(marathon_backend).items()}
    version = marathon.cluster.apps["/shop/web"].definition["version"]
    marathon.cluster.unhealthy_images.add(BAD)
    with pytest.raises(RolloutFailed) as failed:
        marathon_backend.deploy(spec(2, image=BAD), {"web": 2, "worker": 1}, timeout=1.5)
    assert "v2 of shop" in failed.value.detail and "web did not become healthy within 1.5s" in failed.value.detail
    assert "HTTP GET /health on port 5000" in failed.value.detail and "rolled back" in failed.value.detail
    procs = marathon_backend.processes("shop")
    assert all(p.version == 1 and p.state is State.UP for p in procs)
    web = {(p.type, p.num): p.backend_id for p in procs if p.type == "web"}
    assert web == {k: v for k, v in before.items() if k[0] == "web"}   # the serving tasks were never touched
    assert sorted((p.type, p.num) for p in procs) == sorted(before)    # the worker is back on release 1
    assert marathon.cluster.apps["/shop/web"].definition["version"] == version   # Marathon's own revert
    assert marathon.cluster.apps["/shop/worker"].definition["labels"]["app-layer.release"] == "1"
    assert any(r.method == "DELETE" and r.path.startswith("/v2/deployments/") for r in marathon.cluster.requests)
    assert marathon.cluster.deployments == {}


def test_a_first_release_that_fails_leaves_nothing_behind(marathon: Emulator,
                                                         marathon_backend: MarathonBackend) -> None:
    marathon.cluster.unhealthy_images.add(BAD)
    with pytest.raises(RolloutFailed):
        marathon_backend.deploy(spec(1, image=BAD), {"web": 1}, timeout=1)
    assert marathon.cluster.apps == {} and marathon_backend.processes("shop") == []


def test_an_invalid_app_is_refused_with_marathons_reason(marathon: Emulator,
                                                        marathon_backend: MarathonBackend) -> None:
    with pytest.raises(RolloutFailed) as failed:
        marathon_backend.deploy(spec(1, image=""), {"web": 1}, timeout=5)
    assert "refused by Marathon: Object is not valid" in failed.value.detail
    assert "/container/docker/image" in failed.value.detail


def block(emulator: Emulator, app_id: str) -> str:
    """Another party's deployment that never finishes (its tasks never pass their check)."""
    emulator.cluster.unhealthy_images.add(BAD)
    response = requests.put(f"{emulator.urls[0]}/v2/apps{app_id}", timeout=5, json={
        "instances": 1, "container": {"type": "DOCKER", "docker": {"image": BAD}},
        "healthChecks": [{"protocol": "TCP"}], "labels": {"owner": "someone-else"}})
    assert response.status_code == 201, response.text
    return response.json()["deploymentId"]


def test_a_deployment_lock_is_waited_out(marathon: Emulator) -> None:
    backend = backend_for(marathon, lock_wait=30.0)
    try:
        blocker = block(marathon, "/shop/web")
        threading.Timer(0.5, lambda: requests.delete(
            f"{marathon.urls[0]}/v2/deployments/{blocker}", params={"force": "true"}, timeout=5)).start()
        backend.deploy(spec(1), {"web": 1}, timeout=60)
        forces = [r.query["force"] for r in puts(marathon, "/shop/web")[1:]]
        assert len(forces) >= 2 and all(f == ["false"] for f in forces)   # refused (409) at first, then unforced
        assert [p.version for p in up(backend).values()] == [1]
    finally:
        backend.close()


def test_a_deployment_lock_that_stays_is_forced(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    blocker = block(marathon, "/shop/web")
    started = time.monotonic()
    marathon_backend.deploy(spec(1), {"web": 1}, timeout=10)
    assert 2.0 <= time.monotonic() - started < 20    # lock_wait (2 s), then force
    assert puts(marathon, "/shop/web")[-1].query["force"] == ["true"]
    assert any(e["eventType"] == "deployment_failed" and e["id"] == blocker for e in marathon.cluster.events_sent)
    assert [p.version for p in up(marathon_backend).values()] == [1]


def test_an_event_stream_that_drops_mid_deploy_is_reopened(marathon: Emulator) -> None:
    backend = backend_for(marathon, poll=60.0)    # no polling to fall back on: events must carry the deploy
    try:
        backend.deploy(spec(1), {"web": 1}, timeout=10)
        assert backend.watcher.connects == 1
        marathon.cluster.health_delay = 1.0
        worker = threading.Thread(target=backend.deploy, args=(spec(2), {"web": 1}, 30))
        started = time.monotonic()
        worker.start()
        marathon.wait_for(lambda: marathon.cluster.deployments, what="the deployment")
        assert marathon.cluster.drop_event_streams() == 1
        worker.join(10)
        assert not worker.is_alive() and time.monotonic() - started < 10
        assert backend.watcher.connects == 2
        assert [p.version for p in up(backend).values()] == [2]
    finally:
        backend.close()


def test_failover_to_the_next_marathon_url(marathon_pair: Emulator) -> None:
    marathon_pair.servers[0].stop()
    backend = backend_for(marathon_pair)
    try:
        backend.deploy(spec(1), {"web": 2}, timeout=10)
        assert sorted(up(backend)) == [("web", 1), ("web", 2)]
        assert backend.watcher.connects == 1    # the event stream found the second URL too
        marathon_pair.servers[1].stop()
        with pytest.raises(Unavailable) as down:
            backend.processes("shop")
        assert "No Marathon answers at" in down.value.detail
    finally:
        backend.close()


def test_a_marathon_lost_mid_way_hands_over_to_the_next(marathon_pair: Emulator) -> None:
    backend = backend_for(marathon_pair, poll=0.5)
    try:
        backend.deploy(spec(1), {"web": 1}, timeout=10)
        marathon_pair.servers[0].stop()
        backend.deploy(spec(2), {"web": 1}, timeout=10)
        assert [p.version for p in up(backend).values()] == [2]
        marathon_pair.wait_for(lambda: backend.watcher.connects == 2, what="the stream on the second URL")
    finally:
        backend.close()


def test_killing_tasks_are_down_and_unhealthy(marathon: Emulator) -> None:
    backend = backend_for(marathon, replace(FAST, kill_grace=5))   # old tasks stay TASK_KILLING for 5 s
    marathon.cluster.runner.kill_delay = 5.0
    try:
        backend.deploy(spec(1), {"web": 1}, timeout=10)
        worker = threading.Thread(target=backend.deploy, args=(spec(2), {"web": 1}, 30))
        worker.start()
        killing = marathon.wait_for(lambda: [t.id for t in marathon.cluster.tasks.values()
                                             if t.state == "TASK_KILLING"], what="a task being killed")
        procs = {p.backend_id: p for p in backend.processes("shop")}
        worker.join(30)
    finally:
        backend.close()
    old = procs[killing[0]]
    assert (old.version, old.state, old.healthy, old.routable) == (1, State.DOWN, False, False)
    assert any(p.version == 2 and p.routable for p in procs.values())


def test_restart_replaces_tasks_with_health_gating(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 2, "worker": 1}, timeout=10)
    before = task_ids(marathon, "/shop/web")
    worker = task_ids(marathon, "/shop/worker")
    restarted = marathon_backend.restart("shop", "web")
    assert sorted((p.type, p.num) for p in restarted) == [("web", 1), ("web", 2)]
    assert task_ids(marathon, "/shop/web").isdisjoint(before) and task_ids(marathon, "/shop/worker") == worker
    marathon_backend.restart("shop", "web", 1)
    marathon.wait_for(lambda: len([t for t in marathon.cluster.tasks.values()
                                   if t.app_id == "/shop/web" and t.alive]) == 2, what="a replacement task")


def test_destroy_removes_the_app_group_and_is_idempotent(marathon: Emulator,
                                                        marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 2, "worker": 1}, timeout=10)
    marathon_backend.deploy(spec(1, app="other"), {"web": 1}, timeout=10)
    marathon_backend.destroy("shop")
    assert marathon_backend.processes("shop") == []
    assert sorted(marathon.cluster.apps) == ["/other/web"]
    assert not [t for t in marathon.cluster.tasks.values() if t.app_id.startswith("/shop/")]
    marathon_backend.destroy("shop")
    assert [p.app for p in marathon_backend.processes()] == ["other"]


def test_no_one_off_runs_and_no_logs_are_claimed(marathon_backend: MarathonBackend) -> None:
    assert Capability.RUN not in marathon_backend.capabilities
    assert Capability.LOGS not in marathon_backend.capabilities
    assert {Capability.HEALTH_CHECKS, Capability.ROLLING_DEPLOY} <= marathon_backend.capabilities
    with pytest.raises(NotSupported):
        marathon_backend.run(spec(1), "echo hi", timeout=5)


def test_the_backend_does_not_contact_marathon_until_used() -> None:
    backend = MarathonBackend(("http://127.0.0.1:9",))
    backend.close()
    with pytest.raises(Unavailable):
        MarathonBackend(("http://127.0.0.1:9",), api_timeout=1).processes()


def test_subscribers_are_woken_by_task_changes(marathon: Emulator, marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 1}, timeout=10)
    wake = threading.Event()
    marathon_backend.subscribe(wake)
    wake.clear()
    [task] = task_ids(marathon, "/shop/web")
    marathon.cluster.runner.kill_delay = 5.0        # it stays TASK_KILLING while we look
    with marathon.cluster._lock:
        marathon.cluster._kill(marathon.cluster.tasks[task])   # TASK_KILLING: routes must go at once
    assert wake.wait(5)
    proc = next(p for p in marathon_backend.processes("shop") if p.backend_id == task)
    assert proc.state is State.DOWN and not proc.routable


def test_tasks_are_matched_to_releases_through_versions(marathon: Emulator,
                                                        marathon_backend: MarathonBackend) -> None:
    marathon_backend.deploy(spec(1), {"web": 1}, timeout=10)
    marathon_backend.deploy(spec(1), {"web": 2}, timeout=10)    # a scale: a new version, the same config
    seen = len(marathon.cluster.requests)
    assert [(p.num, p.version) for p in marathon_backend.processes("shop")] == [(1, 1), (2, 1)]
    assert not [r for r in marathon.cluster.requests[seen:] if "/versions/" in r.path]   # no look-up needed
    marathon.cluster.health_delay = 5.0                              # v2's tasks start but stay unhealthy
    worker = threading.Thread(target=lambda: pytest.raises(RolloutFailed, marathon_backend.deploy, spec(2),
                                                           {"web": 2}, 1.0))
    worker.start()
    marathon.wait_for(lambda: len(marathon.cluster.tasks) == 4, what="the new tasks")
    during = sorted((p.version, p.num) for p in marathon_backend.processes("shop"))
    worker.join(15)
    assert during == [(1, 1), (1, 2), (2, 1), (2, 2)]               # old tasks named by their launch version
    assert [r for r in marathon.cluster.requests if "/versions/" in r.path]
