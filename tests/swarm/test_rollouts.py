"""Rolling updates on the swarm: zero failed requests under load, and a failing update rolled back by
the swarm itself and recorded as a failed release through the API."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.api import create_app
from app_layer.backends.swarm import SwarmBackend
from app_layer.platform import Platform
from app_layer.settings import Settings
from tests.conftest import register
from tests.fixtures.swarm import SwarmCluster
from tests.swarm.conftest import TIMING, Load, env_of, release, routable

pytestmark = pytest.mark.slow


def test_a_rolling_update_under_load_fails_no_request(
        swarm: SwarmCluster, backend: SwarmBackend, app: str, web_image: str) -> None:
    backend.deploy(release(app, web_image, 2), {"web": 3}, timeout=60)
    with Load(swarm, backend, app) as load:
        backend.deploy(release(app, web_image, 3, GREETING="new"), {"web": 3}, timeout=90)
        served_before = load.ok
        # keep the load on until the old tasks have really stopped (their grace period is over)
        deadline = time.monotonic() + 120
        while (load.ok < served_before + 100 and not load.failures and load.running()
               and time.monotonic() < deadline):
            load._stop.wait(0.1)
    assert load.failures == [], load.failures[:5]
    assert load.ok >= served_before + 100, "the load stopped (count or time limit) before the old tasks did"
    assert load.ok >= 150 and load.releases == {"RELEASE=v2", "RELEASE=v3"}
    procs = routable(backend, app)
    assert sorted(p.num for p in procs) == [1, 2, 3] and {p.version for p in procs} == {3}
    assert all(env_of(swarm, p)["GREETING"] == "new" for p in procs)


@pytest.fixture
def swarm_platform(swarm: SwarmCluster, tmp_path: Path) -> Iterator[Platform]:
    settings = Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path / "data"), "APP_LAYER_SCHEDULER": "swarm",
                                  "DOCKER_HOST": swarm.socket_url(1), "APP_LAYER_DEPLOY_TIMEOUT": "90",
                                  "APP_LAYER_DOMAIN": "example.test"})
    backend = SwarmBackend([swarm.socket_url(i) for i in (1, 2, 3)], TIMING)
    plat = Platform.build(settings, backend=backend)
    plat.db.create_all()
    yield plat
    plat.close()


def test_a_failing_update_is_rolled_back_by_the_swarm_and_recorded_as_a_failed_release(
        swarm: SwarmCluster, swarm_platform: Platform, app: str, web_image: str) -> None:
    user = register(create_app(swarm_platform).test_client(), "dev")
    user.create_app(app)
    assert user.post(f"/v1/apps/{app}/config", {"values": {"HEALTHCHECK_URL": "/health"}}).status_code == 201
    assert user.post(f"/v1/apps/{app}/builds", {"image": web_image}).status_code == 201  # v3: cmd=1
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
    backend = swarm_platform.backend
    before = {p.backend_id for p in routable(backend, app)}
    assert len(before) == 2

    response = user.post(f"/v1/apps/{app}/config", {"values": {"HEALTHCHECK_URL": "/missing"}})
    assert response.status_code == 503
    failed = user.get(f"/v1/apps/{app}/releases/v4").json
    assert failed["state"] == "failed"
    assert "the swarm rolled the update back" in failed["failure"]
    assert "did not pass the health check (HTTP GET /missing on port 5000)" in failed["failure"]
    # the swarm put the previous release back: v3 serves on two healthy tasks
    procs = routable(backend, app)
    assert len(procs) == 2 and {p.version for p in procs} == {3}
    assert all(env_of(swarm, p)["RELEASE"] == "v3" for p in procs)
    assert user.get(f"/v1/apps/{app}/releases/v3").json["state"] == "deployed"
