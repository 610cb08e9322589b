"""The Deis v1 API on the Docker backend, end to end: image deploys that really serve, config
changes, failed rollouts, the reconciler, logs, run, scale, destroy, and an unreachable engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_layer.api import create_app
from app_layer.backends.docker import DockerBackend
from app_layer.errors import Unavailable
from app_layer.platform import Platform
from app_layer.reconciler import Reconciler
from tests.conftest import Account
from tests.docker.conftest import fetch, up

pytestmark = pytest.mark.docker


def deployed_app(user: Account, docker_images, label: str) -> str:  # type: ignore[no-untyped-def]
    app = user.create_app(docker_images.app_name(label))
    response = user.post(f"/v1/apps/{app}/builds", {"image": docker_images.web})
    assert response.status_code == 201, response.json
    assert response.headers["Deis-Release"] == "2"
    return app


def test_deploy_an_image_config_change_and_rollback(docker_platform: Platform, user: Account, docker_images) -> None:  # type: ignore[no-untyped-def]
    app = deployed_app(user, docker_images, "api")
    [proc] = up(docker_platform, app)
    assert (proc.type, proc.version) == ("cmd", 2) and fetch(proc) == "hello from app-layer\n"
    containers = user.get(f"/v1/apps/{app}/containers").json["results"]
    assert [(c["type"], c["num"], c["release"], c["state"]) for c in containers] == [("cmd", 1, "v2", "up")]

    response = user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "bonjour"}})
    assert response.status_code == 201, response.json
    [proc] = up(docker_platform, app)
    assert proc.version == 3 and "GREETING=bonjour" in fetch(proc, "/cgi-bin/env")
    assert user.get(f"/v1/apps/{app}/releases/v3").json["state"] == "deployed"

    assert user.post(f"/v1/apps/{app}/releases/rollback", {"version": 2}).status_code == 201
    [proc] = up(docker_platform, app)
    assert proc.version == 4 and "GREETING=\n" in fetch(proc, "/cgi-bin/env")


def test_a_failing_health_check_answers_503_and_the_old_release_keeps_serving(
        docker_platform: Platform, user: Account, docker_images) -> None:  # type: ignore[no-untyped-def]
    app = deployed_app(user, docker_images, "unhealthy")
    response = user.post(f"/v1/apps/{app}/config", {"values": {"HEALTHCHECK_URL": "/missing"}})
    assert response.status_code == 503
    assert "HTTP GET /missing on port 5000" in response.json["detail"]
    release = user.get(f"/v1/apps/{app}/releases/v3").json
    assert release["state"] == "failed" and "did not pass the health check" in release["failure"]
    [proc] = up(docker_platform, app)
    assert proc.version == 2 and fetch(proc) == "hello from app-layer\n"
    assert [c["release"] for c in user.get(f"/v1/apps/{app}/containers").json["results"]] == ["v2"]
    assert "v3 rollout failed" in user.get(f"/v1/apps/{app}/logs").get_data(as_text=True)

    # the next change builds on the last good release, not on the failed one
    response = user.post(f"/v1/apps/{app}/config", {"values": {"HEALTHCHECK_URL": None, "GREETING": "hi"}})
    assert response.status_code == 201, response.json
    assert "GREETING=hi" in fetch(up(docker_platform, app)[0], "/cgi-bin/env")


def test_scale_run_logs_and_destroy(docker_platform: Platform, user: Account, docker_images) -> None:  # type: ignore[no-untyped-def]
    app = deployed_app(user, docker_images, "ops")
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 3}).status_code == 204
    assert [p.num for p in up(docker_platform, app)] == [1, 2, 3]
    assert len(user.get(f"/v1/apps/{app}/containers").json["results"]) == 3
    assert user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "hey"}}).status_code == 201
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 1}).status_code == 204
    assert [(p.num, p.version) for p in up(docker_platform, app)] == [(1, 3)]

    response = user.post(f"/v1/apps/{app}/run", {"command": "echo $GREETING from $APP_LAYER_RELEASE"})
    assert response.status_code == 200 and json.loads(response.data) == [0, "hey from v3\n"]

    text = user.get(f"/v1/apps/{app}/logs?log_lines=200").get_data(as_text=True)
    assert f"{app}[cmd.1]: {app} v2 listening on 5000" in text  # a replaced container's output
    assert f"{app}[cmd.3]: {app} v3 listening on 5000" in text  # one removed by the scale down
    assert f"{app}[run.1]: hey from v3" in text
    assert f"{app}[app-layer]: v3 created" in text

    restarted = user.post(f"/v1/apps/{app}/containers/cmd/1/restart")
    assert restarted.status_code == 200 and [c["state"] for c in restarted.json] == ["up"]

    assert user.delete(f"/v1/apps/{app}").status_code == 204
    assert docker_platform.backend.processes(app) == []
    assert docker_images.api.containers(all=True, filters={"label": f"app-layer.app={app}"}) == []


def test_the_reconciler_replaces_a_removed_container(docker_platform: Platform, user: Account, docker_images) -> None:  # type: ignore[no-untyped-def]
    app = deployed_app(user, docker_images, "crash")
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
    victim = up(docker_platform, app)[1]
    docker_images.api.remove_container(victim.backend_id, force=True)
    Reconciler(docker_platform).run_once()
    procs = up(docker_platform, app)
    assert [(p.num, p.healthy) for p in procs] == [(1, True), (2, True)] and procs[1].backend_id != victim.backend_id
    assert fetch(procs[1]) == "hello from app-layer\n"
    assert [c["state"] for c in user.get(f"/v1/apps/{app}/containers").json["results"]] == ["up", "up"]


def test_with_dockerd_unreachable_the_api_answers(
        docker_platform: Platform, user: Account, docker_images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = deployed_app(user, docker_images, "down")
    dead = Platform.build(docker_platform.settings, backend=DockerBackend(f"unix://{tmp_path}/dead.sock"))
    try:
        client = create_app(dead).test_client()
        as_user = Account(client, user.username, user.password, user.token)
        with pytest.raises(Unavailable):
            Reconciler(dead).run_once()
        assert as_user.get(f"/v1/apps/{app}").status_code == 200
        assert [c["state"] for c in as_user.get(f"/v1/apps/{app}/containers").json["results"]] == ["unknown"]
        response = as_user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "x"}})
        assert response.status_code == 503 and "cannot be reached" in response.json["detail"]
        assert as_user.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 503
        assert as_user.get(f"/v1/apps/{app}").json["structure"] == {"cmd": 1}
        assert as_user.post(f"/v1/apps/{app}/run", {"command": "true"}).status_code == 503
        logs = as_user.get(f"/v1/apps/{app}/logs").get_data(as_text=True)
        assert "v2 created" in logs and "unavailable" in logs
    finally:
        dead.close()
    # the old release never stopped serving
    assert fetch(up(docker_platform, app)[0]) == "hello from app-layer\n"
