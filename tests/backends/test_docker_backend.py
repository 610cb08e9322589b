"""What only the Docker backend promises: Deis names and labels, PORT, limits, fail-fast rollouts,
draining, run exit codes and timeouts, follow, image clean-up, and a lazy connection."""
from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.backends.base import HealthCheck, ReleaseSpec, State
from app_layer.backends.docker import DockerBackend, owned_by, process_command
from app_layer.backends.plan import Observed, plan
from app_layer.errors import RolloutFailed, Unavailable

pytestmark = pytest.mark.docker


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DockerBackend]:
    b = DockerBackend(state_dir=tmp_path / "docker", stop_grace=2, drain=0, keep_releases=2)
    yield b
    b.close()


@pytest.fixture
def app(docker_images, backend: DockerBackend) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = docker_images.app_name("dk")
    yield name
    backend.destroy(name)


def spec(app: str, version: int, image: str, **kw) -> ReleaseSpec:  # type: ignore[no-untyped-def]
    env = {"APP_LAYER_APP": app, "APP_LAYER_RELEASE": f"v{version}", "DEIS_APP": app,
           "DEIS_RELEASE": f"v{version}", "SECRET": "s3cret"}
    return ReleaseSpec(app, version, image, kw.pop("procfile", {}), env, dockerfile=True, **kw)


def test_constructing_needs_no_engine_and_verbs_answer_unavailable(tmp_path: Path) -> None:
    dead = DockerBackend(f"unix://{tmp_path}/no-such.sock", tmp_path / "docker")
    with pytest.raises(Unavailable) as exc:
        dead.processes()
    assert "cannot be reached" in exc.value.detail
    with pytest.raises(Unavailable):
        dead.deploy(spec("x", 1, "img"), {"web": 1}, 5)
    lines = dead.logs("x", 10)
    assert "unavailable" in lines[-1].message


def test_containers_follow_the_deis_conventions(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    backend.deploy(spec(app, 1, docker_images.web, memory={"web": "64M"}, cpu={"web": 512}), {"web": 1}, 20)
    proc = backend.processes(app)[0]
    info = docker_images.api.inspect_container(proc.backend_id)
    assert info["Name"] == f"/{app}_v1.web.1"
    assert {k: v for k, v in info["Config"]["Labels"].items() if k in (
        "app-layer.app", "app-layer.release", "app-layer.type", "app-layer.num")} == {
        "app-layer.app": app, "app-layer.release": "1", "app-layer.type": "web", "app-layer.num": "1"}
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["PORT"] == "5000" and env["DEIS_APP"] == app and env["APP_LAYER_RELEASE"] == "v1"
    assert info["HostConfig"]["PortBindings"]["5000/tcp"][0]["HostIp"] == "127.0.0.1"
    assert info["HostConfig"]["Memory"] == 64 * 1024 * 1024 and info["HostConfig"]["CpuShares"] == 512
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # the router's address is the container's own, on the bridge; the published port answers too
    assert (proc.host, proc.port) == (info["NetworkSettings"]["IPAddress"], 5000)
    published = int(info["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"])
    for url in (f"http://{proc.host}:{proc.port}/cgi-bin/env", f"http://127.0.0.1:{published}/cgi-bin/env"):
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "PORT=5000" in response.read().decode()


def test_port_comes_from_the_image_expose_or_the_release(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    backend.deploy(spec(app, 1, docker_images.web8080), {"web": 1}, 20)
    proc = backend.processes(app)[0]
    assert proc.port == 8080
    with urllib.request.urlopen(f"http://{proc.host}:{proc.port}/cgi-bin/env", timeout=5) as response:
        assert "PORT=8080" in response.read().decode()
    backend.deploy(spec(app, 2, docker_images.web8080, port=7000), {"web": 1}, 20)
    proc = backend.processes(app)[0]
    assert proc.port == 7000
    with urllib.request.urlopen(f"http://{proc.host}:{proc.port}/cgi-bin/env", timeout=5) as response:
        assert "PORT=7000" in response.read().decode()


def test_a_crashing_release_fails_fast_with_its_output(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as failed:
        backend.deploy(spec(app, 1, docker_images.crashing), {"web": 1}, 30)
    assert time.monotonic() - started < 15
    assert "web.1 exited" in failed.value.detail and "crashing now" in failed.value.detail
    assert backend.processes(app) == []


def test_an_http_check_failing_names_the_check(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    backend.deploy(spec(app, 1, docker_images.web, healthcheck=HealthCheck(url="/health")), {"web": 1}, 20)
    with pytest.raises(RolloutFailed) as failed:
        backend.deploy(spec(app, 2, docker_images.web, healthcheck=HealthCheck(url="/missing")), {"web": 1}, 2)
    assert "HTTP GET /missing on port 5000" in failed.value.detail and "within 2s" in failed.value.detail
    assert [(p.version, p.healthy) for p in backend.processes(app)] == [(1, True)]


def test_old_processes_drain_unhealthy_before_they_stop(docker_images, tmp_path: Path, app: str) -> None:  # type: ignore[no-untyped-def]
    backend = DockerBackend(state_dir=tmp_path / "d2", stop_grace=2, drain=1.5)
    try:
        backend.deploy(spec(app, 1, docker_images.web), {"web": 1}, 20)
        thread = threading.Thread(target=backend.deploy, args=(spec(app, 2, docker_images.web), {"web": 1}, 20))
        thread.start()
        seen = set()
        while thread.is_alive():
            for p in backend.processes(app):
                seen.add((p.version, p.state, p.healthy, p.routable))
            time.sleep(0.05)
        thread.join()
        assert (1, State.DOWN, False, False) in seen  # draining: the router drops it before SIGTERM
        assert (2, State.UP, True, True) in seen
        assert [p.version for p in backend.processes(app)] == [2]
    finally:
        backend.destroy(app)
        backend.close()


def test_run_returns_the_exit_code_and_stops_at_the_timeout(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    release = spec(app, 1, docker_images.web)
    rc, output = backend.run(release, "echo $SECRET; echo oops >&2; exit 3", 20)
    assert rc == 3 and sorted(output.splitlines()) == ["oops", "s3cret"]  # stdout and stderr, in either order
    rc, output = backend.run(release, "sleep 30", 1)
    assert rc == 124 and "did not finish within 1s" in output
    assert backend.processes(app) == []
    assert any(line.source.startswith("run.") and line.message == "oops" for line in backend.logs(app, 50))


def test_follow_streams_new_output(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    backend.deploy(spec(app, 1, docker_images.web), {"web": 1}, 20)
    proc = backend.processes(app)[0]
    stream = backend.follow(app, poll=0.1)
    got: list[str] = []

    def read() -> None:
        for line in stream:
            got.append(line.message)
            if "/followed" in line.message:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while reader.is_alive() and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{proc.host}:{proc.port}/followed", timeout=5)
        except OSError:
            pass
        reader.join(0.3)
    assert any("url:/followed" in m for m in got)


def test_images_of_old_releases_are_removed(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    api = docker_images.api
    for version in (1, 2, 3):
        api.tag(docker_images.web, f"127.0.0.1:5999/{app}", f"v{version}")
        backend.deploy(spec(app, version, f"127.0.0.1:5999/{app}:v{version}"), {"web": 1}, 20)
    tags = {t for img in api.images(name=f"127.0.0.1:5999/{app}") for t in img["RepoTags"] or []}
    assert tags == {f"127.0.0.1:5999/{app}:v2", f"127.0.0.1:5999/{app}:v3"}  # keep_releases=2
    backend.destroy(app)
    assert api.images(name=f"127.0.0.1:5999/{app}") == []
    assert api.images(name=docker_images.web.split(":")[0])  # never an image the app does not own


def test_exited_containers_are_cleared_and_replaced(docker_images, backend: DockerBackend, app: str) -> None:  # type: ignore[no-untyped-def]
    backend.deploy(spec(app, 1, docker_images.web), {"web": 1}, 20)
    proc = backend.processes(app)[0]
    docker_images.api.stop(proc.backend_id, timeout=1)  # stopped: the restart policy leaves it down
    assert [p.state for p in backend.processes(app)] == [State.DOWN]
    backend.deploy(spec(app, 1, docker_images.web), {"web": 1}, 20)
    assert [(p.state, p.healthy) for p in backend.processes(app)] == [(State.UP, True)]


def test_plan_is_pure() -> None:
    observed = [Observed("a", 1, "web", 1, True), Observed("b", 1, "web", 2, False),
                Observed("c", 2, "web", 1, True), Observed("d", 2, "web", 1, True, draining=True),
                Observed("e", 1, "run", 1, True), Observed("f", 1, "run", 2, False)]
    decided = plan(observed, 2, {"web": 2, "worker": 1})
    assert [o.id for o in decided.keep] == ["c"]
    assert decided.start == [("web", 2), ("worker", 1)]
    assert sorted(o.id for o in decided.retire) == ["a", "d"]
    assert sorted(o.id for o in decided.clear) == ["b", "f"]


def test_commands_and_ownership() -> None:
    image = ReleaseSpec("shop", 1, "img", {"web": "run-it --fast"}, {}, dockerfile=True)
    assert process_command(image, "web") == ["sh", "-c", "run-it --fast"]
    assert process_command(image, "cmd") is None
    slug = ReleaseSpec("shop", 1, "img", {"web": "x"}, {}, dockerfile=False)
    assert process_command(slug, "web") == ["start", "web"] and process_command(slug, "cmd") is None
    assert owned_by("127.0.0.1:5000/shop:git-abc", "shop") and owned_by("shop:v2", "shop")
    assert not owned_by("127.0.0.1:5000/shopping:v1", "shop") and not owned_by("busybox", "shop")


def test_docker_is_the_default_scheduler_and_is_built_without_the_engine(tmp_path: Path) -> None:
    from app_layer import backends
    from app_layer.settings import Settings

    settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/none.sock",
                                  "APP_LAYER_DRAIN_SECONDS": "0", "APP_LAYER_STOP_GRACE": "3"})
    backend = backends.create(settings)
    assert isinstance(backend, DockerBackend) and backend.name == "docker"
    assert (backend.base_url, backend.drain, backend.stop_grace) == (f"unix://{tmp_path}/none.sock", 0, 3)
    assert backend.archive.root == tmp_path / "docker" / "logs"
    with pytest.raises(Unavailable):
        backend.processes()
