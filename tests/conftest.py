"""Shared fixtures. Service fixtures (dockerd, registry, ZooKeeper, nginx ...) live one module each
in ``tests/fixtures/`` and are loaded here as plugins, so each part of the platform brings its own."""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_layer.api import create_app
from app_layer.backends.memory import MemoryBackend
from app_layer.platform import Platform
from app_layer.settings import Settings

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}" for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)

_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test of this run uses."""
    return f"{prefix}-{next(_names)}"


# The API and domain tests run on every database the platform supports; end-to-end tests on SQLite.
# APP_LAYER_TEST_DATABASES=sqlite narrows a local run.
DATABASES = tuple(d for d in os.environ.get("APP_LAYER_TEST_DATABASES", "sqlite,postgresql").split(",") if d)
_ON_EVERY_DATABASE = ("api", "domain")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    folder = Path(str(metafunc.definition.path)).parent
    if "settings" in metafunc.fixturenames and folder.name in _ON_EVERY_DATABASE \
            and folder.parent == Path(__file__).parent:
        metafunc.parametrize("settings", DATABASES, indirect=True)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Memory backend; a temp SQLite file, or (parametrized) a fresh PostgreSQL database."""
    env = {"APP_LAYER_DATA_DIR": str(tmp_path / "data"), "APP_LAYER_SCHEDULER": "memory",
           "APP_LAYER_DOMAIN": "example.test"}
    if getattr(request, "param", "sqlite") == "postgresql":
        server = request.getfixturevalue("postgres")
        env["APP_LAYER_DATABASE_URL"] = server.url(server.fresh_database())
    return Settings.from_env(env)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    plat = Platform.build(settings, backend=MemoryBackend())
    plat.db.create_all()
    yield plat
    plat.close()


@pytest.fixture
def client(platform: Platform):  # type: ignore[no-untyped-def]
    return create_app(platform).test_client()


class Account:
    """A registered user and a way to call the API as them."""

    def __init__(self, client, username: str, password: str, token: str):  # type: ignore[no-untyped-def]
        self.client, self.username, self.password, self.token = client, username, password, token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, json=None, **kw):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json if json is not None else {}, headers=self.headers, **kw)

    def delete(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.delete(path, headers=self.headers, **kw)

    def create_app(self, app_id: str | None = None) -> str:
        response = self.post("/v1/apps", {"id": app_id} if app_id else {})
        assert response.status_code == 201, response.json
        return response.json["id"]


def register(client, username: str, password: str = "s3cret-pw") -> Account:  # type: ignore[no-untyped-def]
    response = client.post("/v1/auth/register", data={"username": username, "password": password,
                                                      "email": f"{username}@example.com"})
    assert response.status_code == 201, response.json
    response = client.post("/v1/auth/login/", data={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return Account(client, username, password, response.json["token"])


@pytest.fixture
def admin(client) -> Account:  # type: ignore[no-untyped-def]
    """The first user registered, hence an admin."""
    return register(client, "admin")


@pytest.fixture
def owner(client, admin) -> Account:  # type: ignore[no-untyped-def]
    return register(client, "owner")


@pytest.fixture
def stranger(client, admin) -> Account:  # type: ignore[no-untyped-def]
    return register(client, "stranger")
