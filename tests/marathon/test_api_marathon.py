"""The Deis v1 API with ``APP_LAYER_SCHEDULER=marathon``: the controller drives the Marathon backend
(built from the settings, as in production) against the emulator; once with simulated tasks, once with
real containers on the shared dockerd, answering HTTP on the host port Marathon reports."""
from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.api import create_app
from app_layer.backends.base import Process, State
from app_layer.backends.marathon import MarathonBackend
from app_layer.platform import Platform
from app_layer.settings import Settings
from tests.conftest import Account, register
from tests.emulators.marathon import Emulator
from tests.marathon.conftest import BAD


def marathon_platform(tmp_path: Path, emulator: Emulator, deploy_timeout: float = 4) -> Platform:
    """A platform on the emulator; real containers need a longer deadline than simulated tasks (several
    are started, probed and stopped with a grace period on a busy shared dockerd)."""
    settings = Settings.from_env({
        "APP_LAYER_DATA_DIR": str(tmp_path / "data"), "APP_LAYER_SCHEDULER": "marathon",
        "MARATHON_URL": ",".join(emulator.urls), "APP_LAYER_DEPLOY_TIMEOUT": str(deploy_timeout),
        "APP_LAYER_STOP_GRACE": "1",
        "APP_LAYER_DOMAIN": "example.test"})
    plat = Platform.build(settings)
    plat.db.create_all()
    return plat


@pytest.fixture
def simulated(tmp_path: Path, marathon: Emulator) -> Iterator[tuple[Platform, Account]]:
    plat = marathon_platform(tmp_path, marathon)
    yield plat, register(create_app(plat).test_client(), "dev")
    plat.close()


def up(platform: Platform, app: str) -> list[Process]:
    return sorted((p for p in platform.backend.processes(app) if p.state is State.UP), key=lambda p: (p.type, p.num))


def fetch(proc: Process, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{proc.host}:{proc.port}{path}", timeout=5) as response:
        return response.read().decode()


def test_the_platform_builds_the_marathon_backend_from_settings(simulated: tuple[Platform, Account]) -> None:
    plat, _ = simulated
    assert isinstance(plat.backend, MarathonBackend) and plat.backend.name == "marathon"


def test_a_release_that_never_turns_healthy_is_recorded_failed(simulated: tuple[Platform, Account],
                                                              marathon: Emulator) -> None:
    plat, user = simulated
    app = user.create_app("shop")
    assert user.post(f"/v1/apps/{app}/builds", {"image": "registry.test/shop:good"}).status_code == 201
    assert [(p.type, p.version, p.healthy) for p in up(plat, app)] == [("cmd", 2, True)]
    marathon.cluster.unhealthy_images.add(BAD)
    response = user.post(f"/v1/apps/{app}/builds", {"image": BAD})
    assert response.status_code == 503
    assert "cmd did not become healthy within 4s" in response.json["detail"]
    release = user.get(f"/v1/apps/{app}/releases/v3").json
    assert release["state"] == "failed" and "rolled back" in release["failure"]
    assert user.get(f"/v1/apps/{app}/releases/v2").json["state"] == "deployed"
    assert [(p.type, p.version) for p in up(plat, app)] == [("cmd", 2)]
    definition = marathon.cluster.apps["/shop/cmd"].definition
    assert definition["container"]["docker"]["image"] == "registry.test/shop:good"


def test_scale_and_run_through_the_api(simulated: tuple[Platform, Account], marathon: Emulator) -> None:
    plat, user = simulated
    app = user.create_app("shop")
    assert user.post(f"/v1/apps/{app}/builds", {"image": "registry.test/shop:good"}).status_code == 201
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 3}).status_code == 204
    assert [p.num for p in up(plat, app)] == [1, 2, 3]
    assert [r.body for r in marathon.cluster.requests if r.method == "PUT"][-1] == {"instances": 3}
    response = user.post(f"/v1/apps/{app}/run", {"command": "echo hi"})
    assert response.status_code == 501 and "cannot run one-off commands" in response.json["detail"]
    assert user.delete(f"/v1/apps/{app}").status_code == 204
    assert marathon.cluster.apps == {}


@pytest.mark.docker
@pytest.mark.slow
def test_end_to_end_api_marathon_containers_http(tmp_path: Path, marathon_docker: Emulator,
                                                 docker_images) -> None:  # type: ignore[no-untyped-def]
    plat = marathon_platform(tmp_path, marathon_docker, deploy_timeout=8)
    try:
        user = register(create_app(plat).test_client(), "dev")
        app = user.create_app(docker_images.app_name("mara"))
        assert user.post(f"/v1/apps/{app}/builds", {"image": docker_images.web}).status_code == 201
        [proc] = up(plat, app)
        assert (proc.type, proc.version, proc.healthy) == ("cmd", 2, True)
        assert fetch(proc) == "hello from app-layer\n"

        response = user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "bonjour"}})
        assert response.status_code == 201, response.json
        [proc] = up(plat, app)
        assert proc.version == 3 and "GREETING=bonjour" in fetch(proc, "/cgi-bin/env")

        response = user.post(f"/v1/apps/{app}/config", {"values": {"HEALTHCHECK_URL": "/missing"}})
        assert response.status_code == 503 and "HTTP GET /missing on port 5000" in response.json["detail"]
        assert user.get(f"/v1/apps/{app}/releases/v4").json["state"] == "failed"
        [proc] = up(plat, app)
        assert proc.version == 3 and "GREETING=bonjour" in fetch(proc, "/cgi-bin/env")

        assert user.delete(f"/v1/apps/{app}").status_code == 204
        left = docker_images.api.containers(all=True, filters={"label": "app-layer.marathon-emulator"})
        assert [c for c in left if c["Labels"].get("MESOS_TASK_ID", "").startswith(f"{app}_")] == []
    finally:
        plat.close()
