"""End to end on the real Docker Engine: deploy with the docker backend -> publisher -> router -> curl,
and a rollout under load that loses no request."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from app_layer.api import create_app
from app_layer.backends.docker import DockerBackend
from app_layer.platform import Platform
from tests.conftest import register
from tests.routing.conftest import DOMAIN, wait_until
from tests.routing.helpers import RouterLoad


@pytest.fixture
def docker_platform(settings, docker_images, tmp_path) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    backend = DockerBackend(state_dir=tmp_path / "docker", stop_grace=2, drain=1.0)
    plat = Platform.build(replace(settings, scheduler="docker"), backend=backend)
    plat.db.create_all()
    yield plat
    plat.close()


def test_docker_deploy_is_routed_and_a_rollout_loses_no_request(docker_platform, docker_images, make_router) -> None:
    client = create_app(docker_platform).test_client()
    register(client, "admin")
    owner = register(client, "owner")
    app = owner.create_app(docker_images.app_name("routed"))
    try:
        router = make_router(platform=docker_platform)
        response = owner.post(f"/v1/apps/{app}/builds", {"image": docker_images.web})
        assert response.status_code == 201, response.json
        host = f"{app}.{DOMAIN}"
        wait_until(lambda: router.get(host).text == "hello from app-layer\n", deadline=30,
                   what="the deployed app to answer through the router")
        assert owner.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
        wait_until(lambda: len(router.registry.list(app)) == 2, deadline=30, what="two routes")

        with RouterLoad(router.cfg.http_port, host, clients=4) as load:
            wait_until(load.more(10), deadline=15, what="the load to get going")
            response = owner.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "v2"}})
            assert response.status_code == 201, response.json
            version = int(response.headers["Deis-Release"])
            wait_until(lambda: {r.release for r in router.registry.list(app)} == {version}, deadline=30,
                       what="the new release's routes")
            wait_until(lambda: "GREETING=v2" in router.get(host, "/cgi-bin/env").text, deadline=10,
                       what="the new release to answer")
            wait_until(load.more(20), deadline=15, what="more answers from the new release")
        assert load.count > 50 and load.failures == [], load.failures[:5]
    finally:
        docker_platform.backend.destroy(app)
