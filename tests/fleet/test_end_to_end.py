"""End to end on fleet: the Deis v1 API with ``APP_LAYER_SCHEDULER=fleet`` drives the fleet emulator,
whose agents run every unit's ``ExecStartPre``/``ExecStart``/``ExecStop`` lines (split by systemd's
rules, no shell) against the shared dockerd; the image is pulled from a real registry. The processes
answer HTTP at the host and port the backend reports."""
from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from app_layer.api import create_app
from app_layer.backends.base import Process, State
from app_layer.platform import Platform
from app_layer.settings import Settings
from tests.conftest import Account, register
from tests.fixtures.fleet import FleetCluster

pytestmark = pytest.mark.docker


@pytest.fixture
def registry_image(docker_images, docker_registry: str) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(app name, image in the registry): the test web image pushed as ``<registry>/<app>:v1``."""
    app = docker_images.app_name("fleet")
    repository = f"{docker_registry}/{app}"
    docker_images.api.tag(docker_images.web, repository, "v1")
    for _line in docker_images.api.push(repository, tag="v1", stream=True):
        pass
    docker_images.api.remove_image(f"{repository}:v1")   # the unit's ExecStartPre must pull it back
    yield app, f"{repository}:v1"
    try:
        docker_images.api.remove_image(f"{repository}:v1", force=True)
    except docker.errors.APIError:
        pass


@pytest.fixture
def fleet_platform(fleet_docker: FleetCluster, tmp_path: Path) -> Iterator[Platform]:
    settings = Settings.from_env({
        "APP_LAYER_DATA_DIR": str(tmp_path / "data"), "APP_LAYER_SCHEDULER": "fleet",
        "FLEET_ENDPOINT": fleet_docker.socket, "DOCKER_HOST": "unix:///var/run/docker.sock",
        "APP_LAYER_DEPLOY_TIMEOUT": "60", "APP_LAYER_STOP_GRACE": "2", "APP_LAYER_DOMAIN": "example.test"})
    plat = Platform.build(settings)
    plat.db.create_all()
    yield plat
    plat.close()


def up(platform: Platform, app: str) -> list[Process]:
    return [p for p in platform.backend.processes(app) if p.state is State.UP]


def fetch(proc: Process, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{proc.host}:{proc.port}{path}", timeout=5) as response:
        return response.read().decode()


def containers(app: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=app-layer.app={app}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_deploy_config_change_scale_and_destroy_with_real_containers(
        fleet_docker: FleetCluster, fleet_platform: Platform, registry_image: tuple[str, str]) -> None:
    app, image = registry_image
    user: Account = register(create_app(fleet_platform).test_client(), "dev")
    try:
        assert user.create_app(app) == app
        response = user.post(f"/v1/apps/{app}/builds", {"image": image})
        assert response.status_code == 201, response.json
        [proc] = up(fleet_platform, app)
        assert (proc.type, proc.version, proc.healthy, proc.host) == ("cmd", 2, None, "127.0.0.1")
        assert fetch(proc) == "hello from app-layer\n"

        value = 'it\'s "$HOME" & 100%n'
        response = user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": value}})
        assert response.status_code == 201, response.json
        [proc] = up(fleet_platform, app)
        assert proc.version == 3 and f"GREETING={value}\n" in fetch(proc, "/cgi-bin/env")
        assert len(containers(app)) == 1   # v2's container was stopped once v3 ran

        assert user.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
        procs = up(fleet_platform, app)
        assert [p.num for p in procs] == [1, 2] and procs[0].port != procs[1].port
        assert all(fetch(p) == "hello from app-layer\n" for p in procs)
        with fleet_docker.emulator.lock:
            machines = {u.target for n, u in fleet_docker.emulator.units.items() if n.startswith(app)}
        assert len(machines) == 2   # spread over two machines

        restarted = user.post(f"/v1/apps/{app}/containers/cmd/1/restart")
        assert restarted.status_code == 200 and [c["state"] for c in restarted.json] == ["up"]
        assert all(fetch(p) == "hello from app-layer\n" for p in up(fleet_platform, app))
        response = user.post(f"/v1/apps/{app}/run", {"command": "true"})   # fleet has no one-off runs
        assert response.status_code == 501 and "fleet" in response.json["detail"]
    finally:
        fleet_platform.backend.destroy(app)
    until = time.monotonic() + 30
    while containers(app):   # the agents ran each unit's ExecStop
        assert time.monotonic() < until, "containers left behind"
        time.sleep(0.2)
