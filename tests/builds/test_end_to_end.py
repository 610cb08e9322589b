"""Push, build, release and run for real: the Docker backend runs the built image, curl reaches it."""
from __future__ import annotations

import shutil

import pytest
import requests

from app_layer.backends.base import State
from app_layer.backends.docker import DockerBackend
from tests.builds.conftest import Controller, make_dev


def serving(app: str, version: int) -> str:
    """What the app's process of release ``version`` answers on its published port."""
    backend = DockerBackend()
    try:
        procs = [p for p in backend.processes(app) if p.version == version and p.state is State.UP and p.port]
    finally:
        backend.close()
    assert procs, f"no running process of {app} v{version}"
    return requests.get(f"http://{procs[0].host}:{procs[0].port}/", timeout=10).text


@pytest.fixture
def e2e_dev(docker_controller: Controller):  # type: ignore[no-untyped-def]
    person = make_dev(docker_controller, with_key=False)
    yield person
    for app in person.apps:
        person.api("DELETE", f"/v1/apps/{app}/")
    shutil.rmtree(person.home, ignore_errors=True)


def test_push_then_curl_the_running_container(docker_controller: Controller, e2e_dev, docker_images):
    app = e2e_dev.create_app(prefix=docker_images.prefix)
    work = e2e_dev.source(app, docker_images.web, "hello from the first push")

    done = e2e_dev.git("push", e2e_dev.http_remote(app), "master", cwd=work)

    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v2 deployed" in done.stderr
    assert serving(app, 2) == "hello from the first push\n"

    (work / "index.html").write_text("hello from the second push\n")
    e2e_dev.commit(work, "second")
    done = e2e_dev.git("push", e2e_dev.http_remote(app), "master", cwd=work)
    assert done.returncode == 0, done.stderr
    assert f"done, {app}:v3 deployed" in done.stderr
    assert serving(app, 3) == "hello from the second push\n"


def test_a_release_that_crashes_rejects_the_push_and_the_old_one_keeps_serving(docker_controller: Controller,
                                                                               e2e_dev, docker_images):
    app = e2e_dev.create_app(prefix=docker_images.prefix)
    work = e2e_dev.source(app, docker_images.web, "still here")
    assert e2e_dev.git("push", e2e_dev.http_remote(app), "master", cwd=work).returncode == 0

    (work / "Dockerfile").write_text(f"FROM {docker_images.crashing}\n")
    e2e_dev.commit(work, "crashes on start")
    done = e2e_dev.git("push", e2e_dev.http_remote(app), "master", cwd=work)

    assert done.returncode != 0
    assert "Push rejected" in done.stderr and "crash" in done.stderr.lower(), done.stderr
    assert serving(app, 2) == "still here\n"
    history = e2e_dev.api("GET", f"/v1/apps/{app}/releases/").json()["results"]
    assert [(r["version"], r["state"]) for r in history][:2] == [(3, "failed"), (2, "deployed")]
