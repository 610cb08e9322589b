"""A platform on the Docker backend (the shared dockerd), driven through the Flask app."""
from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app_layer.api import create_app
from app_layer.backends.base import Process, State
from app_layer.models import App
from app_layer.platform import Platform
from app_layer.settings import Settings
from tests.conftest import Account, register

ENV = {"APP_LAYER_SCHEDULER": "docker", "APP_LAYER_DEPLOY_TIMEOUT": "6", "APP_LAYER_DRAIN_SECONDS": "0",
       "APP_LAYER_STOP_GRACE": "2", "APP_LAYER_DOMAIN": "example.test"}


@pytest.fixture
def docker_settings(tmp_path: Path, docker_images) -> Settings:  # type: ignore[no-untyped-def]
    return Settings.from_env({"APP_LAYER_DATA_DIR": str(tmp_path / "data"), **ENV})


@pytest.fixture
def docker_platform(docker_settings: Settings) -> Iterator[Platform]:
    plat = Platform.build(docker_settings)
    plat.db.create_all()
    yield plat
    with plat.db.read() as session:
        app_ids = list(session.scalars(select(App.id)))
    for app_id in app_ids:
        plat.backend.destroy(app_id)
    plat.close()


@pytest.fixture
def user(docker_platform: Platform) -> Account:
    return register(create_app(docker_platform).test_client(), "dev")


def up(platform: Platform, app: str) -> list[Process]:
    return sorted((p for p in platform.backend.processes(app) if p.state is State.UP), key=lambda p: (p.type, p.num))


def fetch(proc: Process, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{proc.host}:{proc.port}{path}", timeout=5) as response:
        return response.read().decode()


def wait_for(condition: Callable[[], object], deadline: float = 30.0, what: str = "condition") -> object:
    until = time.monotonic() + deadline
    while True:
        try:
            value = condition()
        except Exception:  # the engine may be restarting; keep asking until the deadline
            value = None
        if value:
            return value
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
