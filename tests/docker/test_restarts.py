"""Survival: a controller killed in the middle of a rollout, and a restart of dockerd itself."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app_layer.platform import Platform
from app_layer.reconciler import Reconciler
from tests.conftest import Account
from tests.docker.conftest import ENV, fetch, up, wait_for
from tests.fixtures.docker import dockerd_pids, ensure_dockerd, wait_for_dockerd

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Controller:
    """``app-layer server`` (gunicorn + the reconciler worker) as a real child process group."""

    def __init__(self, data_dir: Path, port: int):
        self.env = {**os.environ, **ENV, "APP_LAYER_DATA_DIR": str(data_dir), "APP_LAYER_DEPLOY_TIMEOUT": "30"}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, worker: bool) -> None:
        argv = [sys.executable, "-m", "app_layer.cli.main", "server", "--port", str(self.port), "--workers", "1"]
        self.proc = subprocess.Popen(argv + ([] if worker else ["--no-worker"]), env=self.env,
                                     start_new_session=True)
        wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, 60, "the controller")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)


@pytest.fixture
def controller(tmp_path: Path, docker_images) -> Iterator[Controller]:  # type: ignore[no-untyped-def]
    ctl = Controller(tmp_path / "data", free_port())
    yield ctl
    ctl.kill(signal.SIGTERM)
    for container in docker_images.api.containers(all=True, filters={"label": "app-layer.app"}):
        if container["Labels"]["app-layer.app"].startswith(docker_images.prefix + "-restart"):
            docker_images.api.remove_container(container["Id"], force=True)


def versions_on_engine(api, app: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(c["Labels"]["app-layer.release"] for c in api.containers(
        all=True, filters={"label": f"app-layer.app={app}"}))


def test_a_controller_killed_mid_rollout_converges_when_it_comes_back(controller: Controller, docker_images) -> None:  # type: ignore[no-untyped-def]
    controller.start(worker=False)
    api = requests.Session()
    account = {"username": "dev", "password": "s3cret-pw", "email": "dev@example.com"}
    assert api.post(f"{controller.url}/v1/auth/register", data=account).status_code == 201
    token = api.post(f"{controller.url}/v1/auth/login/", data=account).json()["token"]
    api.headers["Authorization"] = f"token {token}"
    app = api.post(f"{controller.url}/v1/apps", json={"id": docker_images.app_name("restart")}).json()["id"]
    assert api.post(f"{controller.url}/v1/apps/{app}/builds", json={"image": docker_images.web}).status_code == 201

    # v3 waits 4 s before its first health check: kill the controller while it waits
    change = threading.Thread(target=lambda: _quiet_post(api, f"{controller.url}/v1/apps/{app}/config",
                                                         {"values": {"HEALTHCHECK_INITIAL_DELAY": "4"}}))
    change.start()
    wait_for(lambda: "3" in versions_on_engine(docker_images.api, app), 20, "v3 containers")
    controller.kill()
    change.join()
    assert versions_on_engine(docker_images.api, app) == ["2", "3"]

    controller.start(worker=True)  # the reconciler resumes the pending release
    wait_for(lambda: api.get(f"{controller.url}/v1/apps/{app}/releases/v3").json()["state"] == "deployed",
             30, "v3 deployed")
    wait_for(lambda: versions_on_engine(docker_images.api, app) == ["3"], 30, "v2 stopped")
    containers = api.get(f"{controller.url}/v1/apps/{app}/containers").json()["results"]
    wait_for(lambda: [c["release"] for c in api.get(f"{controller.url}/v1/apps/{app}/containers")
                      .json()["results"]] == ["v3"], 10, "containers recorded")
    assert containers
    assert api.delete(f"{controller.url}/v1/apps/{app}").status_code == 204


def _quiet_post(session: requests.Session, url: str, body: dict) -> None:
    try:
        session.post(url, json=body, timeout=60)
    except requests.RequestException:
        pass  # the controller is killed under this request


def restart_dockerd() -> None:
    pids = dockerd_pids()
    assert pids, "dockerd is not running"
    os.kill(pids[0], signal.SIGTERM)
    until = time.monotonic() + 60
    while Path(f"/proc/{pids[0]}").exists():
        assert time.monotonic() < until, "dockerd did not stop"
        time.sleep(0.2)
    ensure_dockerd()
    wait_for_dockerd()


@pytest.mark.dockerd_restart
def test_apps_survive_a_dockerd_restart(docker_platform: Platform, user: Account, docker_images) -> None:  # type: ignore[no-untyped-def]
    app = user.create_app(docker_images.app_name("dockerd"))
    assert user.post(f"/v1/apps/{app}/builds", {"image": docker_images.web}).status_code == 201
    assert user.post(f"/v1/apps/{app}/scale", {"cmd": 2}).status_code == 204
    before = {p.num: p.backend_id for p in up(docker_platform, app)}
    restart_dockerd()
    procs = wait_for(lambda: len([p for p in up(docker_platform, app) if p.healthy]) == 2
                     and up(docker_platform, app), 60, "processes back after the restart")
    assert {p.num: p.backend_id for p in procs} == before  # the same containers, restarted by the engine
    assert all(fetch(p) == "hello from app-layer\n" for p in procs)
    Reconciler(docker_platform).run_once()
    assert [c["state"] for c in user.get(f"/v1/apps/{app}/containers").json["results"]] == ["up", "up"]
    assert user.post(f"/v1/apps/{app}/config", {"values": {"GREETING": "after"}}).status_code == 201
    assert all("GREETING=after" in fetch(p, "/cgi-bin/env") for p in up(docker_platform, app))
