"""Helpers of the Marathon tests: releases of a small app, and reading the emulator's state."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from app_layer.backends.base import HealthCheck, Process, ReleaseSpec, State
from app_layer.backends.marathon import MarathonBackend
from tests.backends.conftest import Harness
from tests.conftest import unique
from tests.emulators.marathon import Emulator
from tests.fixtures.marathon import backend_for
from tests.routing.conftest import backend, make_router, routed  # noqa: F401 - the router fixtures, reused

GOOD, BAD = "registry.test/shop:good", "registry.test/shop:bad"


def spec(version: int, image: str = GOOD, app: str = "shop", **env: str) -> ReleaseSpec:
    return ReleaseSpec(app, version, image, {"worker": "celery worker"},
                       {"APP_LAYER_APP": app, "APP_LAYER_RELEASE": f"v{version}", **env}, dockerfile=True,
                       healthcheck=HealthCheck(url="/health"))


def up(marathon_backend: MarathonBackend, app: str = "shop") -> dict[tuple[str, int], Process]:
    return {(p.type, p.num): p for p in marathon_backend.processes(app) if p.state is State.UP}


def task_ids(emulator: Emulator, app_id: str) -> set[str]:
    with emulator.cluster._lock:
        return {t.id for t in emulator.cluster.tasks.values() if t.app_id == app_id and t.active}


def puts(emulator: Emulator, app_id: str) -> list:  # type: ignore[type-arg]
    return [r for r in emulator.cluster.requests if r.method == "PUT" and r.path == f"/v2/apps{app_id}"]


class MarathonHarness(Harness):
    """The backend contract's harness (``tests/backends``) for the Marathon backend on the emulator."""

    def __init__(self, app: str, emulator: Emulator):
        super().__init__(app)
        self.emulator = emulator
        emulator.cluster.unhealthy_images.add(BAD)
        self.backend = backend_for(emulator)

    def image(self, healthy: bool) -> str:
        return GOOD if healthy else BAD

    def crash(self, ptype: str, num: int) -> None:
        """The task's process dies (Marathon relaunches it after its back-off)."""
        task_id = up(self.backend, self.app)[(ptype, num)].backend_id
        self.emulator.cluster._ended(task_id, "TASK_FAILED", "Command exited with status 1")


@pytest.fixture
def harness(marathon: Emulator) -> Iterator[Harness]:
    h = MarathonHarness(unique("mara"), marathon)
    yield h
    h.close()
