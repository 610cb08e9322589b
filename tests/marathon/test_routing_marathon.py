"""The whole chain on Marathon: API -> Marathon backend -> emulator -> Docker containers -> health
checks -> publisher -> ZooKeeper -> nginx router -> HTTP; a rollout under load loses no request
(old tasks leave the routes when Marathon marks them ``TASK_KILLING``, and serve out their grace)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.api import create_app
from app_layer.platform import Platform
from app_layer.routing.registry import open_registry
from tests.conftest import register
from tests.emulators.marathon import Emulator
from tests.marathon.test_api_marathon import marathon_platform
from tests.routing.conftest import DOMAIN, wait_until
from tests.routing.helpers import RouterLoad

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def marathon_routed(tmp_path: Path, marathon_docker: Emulator) -> Iterator[Platform]:
    plat = marathon_platform(tmp_path / "marathon", marathon_docker, deploy_timeout=20)
    yield plat
    plat.close()


def test_marathon_tasks_are_routed_through_zookeeper_and_a_rollout_loses_no_request(
        marathon_routed: Platform, make_router, zookeeper, docker_images) -> None:  # type: ignore[no-untyped-def]
    registry = open_registry(f"zookeeper://{zookeeper.hosts}/marathon-{uuid.uuid4().hex[:6]}/routes")
    router = make_router(platform=marathon_routed, registry=registry)
    owner = register(create_app(marathon_routed).test_client(), "owner")
    app = owner.create_app(docker_images.app_name("mroute"))
    assert owner.post(f"/v1/apps/{app}/builds", {"image": docker_images.web}).status_code == 201
    assert owner.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
    host = f"{app}.{DOMAIN}"
    wait_until(lambda: len(registry.list(app)) == 2, deadline=30, what="two routes in ZooKeeper")
    assert router.get(host).text == "hello from app-layer\n"
    tasks = {(p.host, p.port) for p in marathon_routed.backend.processes(app)}
    assert {(r.host, r.port) for r in registry.list(app)} == tasks

    with RouterLoad(router.cfg.http_port, host, clients=3) as load:
        wait_until(load.more(10), deadline=15, what="the load to get going")
        response = owner.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "v2"}})
        assert response.status_code == 201, response.json
        wait_until(lambda: {r.release for r in registry.list(app)} == {3} and len(registry.list(app)) == 2,
                   deadline=30, what="the new release's routes")
        wait_until(lambda: "GREETING=v2" in router.get(host, "/cgi-bin/env").text, deadline=10,
                   what="the new release to answer")
        wait_until(load.more(10), deadline=15, what="more answers from the new release")
    assert load.count > 30 and load.failures == [], load.failures[:5]
    assert owner.delete(f"/v1/apps/{app}").status_code == 204
    wait_until(lambda: registry.list(app) == [], deadline=15, what="the routes to go")
