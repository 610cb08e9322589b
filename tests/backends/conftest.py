"""One harness per backend, so the contract tests read the same for every scheduler.

A harness knows how to make a healthy or a failing release of a small web app for its backend,
how to crash a process, and whether its processes really answer on ``host:port``.
"""
from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.backends.base import Backend, HealthCheck, Process, ReleaseSpec, State
from app_layer.backends.docker import DockerBackend
from app_layer.backends.memory import MemoryBackend
from tests.conftest import unique

WORKER = "echo working; exec sleep 100000"


class Harness:
    backend: Backend
    serves = False  # processes answer HTTP on host:port

    def __init__(self, app: str):
        self.app = app

    def image(self, healthy: bool) -> str:
        return "example/web:1" if healthy else "example/unhealthy:1"

    def spec(self, version: int, healthy: bool = True, check: str = "", **env: str) -> ReleaseSpec:
        env = {"APP_LAYER_APP": self.app, "APP_LAYER_RELEASE": f"v{version}", **env}
        return ReleaseSpec(self.app, version, self.image(healthy), {"worker": WORKER}, env, dockerfile=True,
                           healthcheck=HealthCheck(url=check, timeout=1.0))

    def deploy(self, spec: ReleaseSpec, formation: dict[str, int], timeout: float = 30.0) -> None:
        self.backend.deploy(spec, formation, timeout)

    def up(self) -> dict[tuple[str, int], Process]:
        return {(p.type, p.num): p for p in self.backend.processes(self.app) if p.state is State.UP}

    def get(self, proc: Process, path: str = "/") -> str:
        with urllib.request.urlopen(f"http://{proc.host}:{proc.port}{path}", timeout=5) as response:
            return response.read().decode()

    def crash(self, ptype: str, num: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.backend.destroy(self.app)
        self.backend.close()


class MemoryHarness(Harness):
    def __init__(self, app: str):
        super().__init__(app)
        self.backend = MemoryBackend()

    def deploy(self, spec: ReleaseSpec, formation: dict[str, int], timeout: float = 30.0) -> None:
        failing = "unhealthy" in spec.image
        if failing:
            self.backend.fail_health.add(self.app)
        try:
            super().deploy(spec, formation, timeout)
        finally:
            self.backend.fail_health.discard(self.app)

    def crash(self, ptype: str, num: int) -> None:
        self.backend.crash(self.app, ptype, num)


class DockerHarness(Harness):
    serves = True

    def __init__(self, app: str, images, state_dir: Path):  # type: ignore[no-untyped-def]
        super().__init__(app)
        self.images = images
        self.backend = DockerBackend(state_dir=state_dir, stop_grace=2, drain=0)

    def image(self, healthy: bool) -> str:
        return self.images.web if healthy else self.images.unhealthy

    def crash(self, ptype: str, num: int) -> None:
        proc = self.up()[(ptype, num)]
        self.images.api.remove_container(proc.backend_id, force=True)


@pytest.fixture(params=["memory", "docker"])
def harness(request, tmp_path: Path) -> Iterator[Harness]:  # type: ignore[no-untyped-def]
    if request.param == "memory":
        h: Harness = MemoryHarness(unique("mem"))
    else:
        images = request.getfixturevalue("docker_images")
        h = DockerHarness(images.app_name("contract"), images, tmp_path / "docker")
    yield h
    h.close()
