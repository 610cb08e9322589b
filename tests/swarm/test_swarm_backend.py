"""Deploy, scale, run, logs and destroy on a real three-node swarm."""
from __future__ import annotations

import threading

import pytest

from app_layer import backends
from app_layer.backends.swarm import SwarmBackend
from app_layer.errors import Unavailable
from app_layer.settings import Settings
from tests.fixtures.swarm import SwarmCluster, wait_until
from tests.swarm.conftest import env_of, release, routable

pytestmark = pytest.mark.slow


def test_deploy_spreads_healthy_web_tasks_over_the_nodes_and_each_serves_its_release(
        swarm: SwarmCluster, backend: SwarmBackend, app: str, web_image: str) -> None:
    backend.deploy(release(app, web_image, 2, GREETING="hello"), {"web": 3}, timeout=60)
    procs = routable(backend, app)
    assert sorted(p.num for p in procs) == [1, 2, 3]
    assert {p.host for p in procs} == {swarm.addr(i) for i in (1, 2, 3)}  # one task per node
    assert all(p.version == 2 and p.healthy and p.port for p in procs)
    for proc in procs:
        assert env_of(swarm, proc) | {"HOST": ""} == {"RELEASE": "v2", "GREETING": "hello", "HOST": ""}
    # the same release and formation again changes nothing
    ids = {p.backend_id for p in procs}
    backend.deploy(release(app, web_image, 2, GREETING="hello"), {"web": 3}, timeout=60)
    assert {p.backend_id for p in routable(backend, app)} == ids


def test_scale_changes_replicas_only_across_all_nodes(
        swarm: SwarmCluster, backend: SwarmBackend, app: str, web_image: str) -> None:
    spec = release(app, web_image, 2)
    backend.deploy(spec, {"web": 2}, timeout=60)
    first = {p.backend_id for p in routable(backend, app)}
    backend.deploy(spec, {"web": 7}, timeout=60)
    procs = routable(backend, app)
    assert len(procs) == 7 and first <= {p.backend_id for p in procs}  # no task was replaced
    assert {p.host for p in procs} == {swarm.addr(i) for i in (1, 2, 3)}
    assert len({(p.host, p.port) for p in procs}) == 7  # several tasks on a node, each on its own port
    backend.deploy(spec, {"web": 1}, timeout=60)
    [last] = routable(backend, app)
    assert env_of(swarm, last)["RELEASE"] == "v2"


def test_a_worker_type_runs_beside_web_and_leaves_when_the_formation_drops_it(
        backend: SwarmBackend, app: str, web_image: str) -> None:
    spec = release(app, web_image, 2)
    backend.deploy(spec, {"web": 1, "worker": 2}, timeout=60)
    procs = backend.processes(app)
    assert sorted((p.type, p.healthy) for p in procs) == [("web", True), ("worker", None), ("worker", None)]
    backend.deploy(spec, {"web": 1}, timeout=60)
    assert [p.type for p in backend.processes(app)] == ["web"]


def test_run_returns_exit_code_and_output_and_logs_come_from_every_task(
        backend: SwarmBackend, app: str, web_image: str) -> None:
    spec = release(app, web_image, 2, GREETING="bonjour")
    backend.deploy(spec, {"web": 2}, timeout=60)
    assert backend.run(spec, "echo $GREETING from $(hostname); exit 3", timeout=30)[0] == 3
    code, output = backend.run(spec, "echo $GREETING", timeout=30)
    assert (code, output) == (0, "bonjour\n")
    code, output = backend.run(spec, "sleep 30", timeout=2)
    assert code == 124 and "did not finish within 2s" in output
    assert all(p.type == "web" for p in backend.processes(app))  # one-offs leave nothing behind
    def sources() -> set[str]:
        return {line.source for line in backend.logs(app, 50) if f"{app} v2 listening on 5000" in line.message}
    assert wait_until(lambda: sources() == {"web.1", "web.2"}, 20, "the output of both tasks")


def test_destroy_removes_every_service_and_is_idempotent(backend: SwarmBackend, app: str, web_image: str) -> None:
    backend.deploy(release(app, web_image, 2), {"web": 2}, timeout=60)
    backend.destroy(app)
    assert backend.processes(app) == []
    backend.destroy(app)


def test_an_unreachable_manager_is_unavailable_without_contacting_it_at_construction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path), "APP_LAYER_SCHEDULER": "swarm",
                                  "DOCKER_HOST": f"unix://{tmp_path}/a.sock, unix://{tmp_path}/b.sock"})
    backend = backends.create(settings)
    assert isinstance(backend, SwarmBackend)
    assert backend.managers == [f"unix://{tmp_path}/a.sock", f"unix://{tmp_path}/b.sock"]
    with pytest.raises(Unavailable, match="No swarm manager answers at unix://.*a.sock, unix://.*b.sock"):
        backend.processes()
    with pytest.raises(Unavailable):
        backend.deploy(release("x", "img", 2), {"web": 1}, timeout=5)


def test_follow_streams_output_of_tasks_started_later(backend: SwarmBackend, app: str, web_image: str) -> None:
    backend.deploy(release(app, web_image, 2), {"web": 1}, timeout=60)
    seen: list[str] = []
    started, done = threading.Event(), threading.Event()

    def read() -> None:
        started.set()  # follow() shows output from its first step on; a new task prints well after this
        for line in backend.follow(app, poll=0.3):
            seen.append(f"{line.source} {line.message}")
            if "listening" in line.message:
                done.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert started.wait(10)
    [restarted] = backend.restart(app, "web")
    assert done.wait(30), seen
    assert f"web.1 {app} v2 listening on 5000" in seen and restarted.state.value == "up"
