"""Route registries for the contract tests: one per driver, each with a prefix of its own."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app_layer.db import Database
from app_layer.routing.registry import RouteRegistry, open_registry

_prefixes = itertools.count(1)


def wait_until(check: Callable[[], object], deadline: float = 15.0, what: str = "condition") -> object:
    """Poll ``check`` until it returns something truthy, or fail after ``deadline`` seconds."""
    until = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > until:
            raise AssertionError(f"timed out after {deadline}s waiting for {what} (last: {value!r})")
        time.sleep(0.05)


def registry_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    n = next(_prefixes)
    if kind == "embedded":
        database_url = f"sqlite:///{tmp_path / 'routes.db'}"
        Database(database_url).create_all()
        return "embedded", database_url
    if kind == "zookeeper":
        zk = request.getfixturevalue("zookeeper")
        return f"zookeeper://{zk.hosts}/test-{n}/routes", None
    etcd = request.getfixturevalue("etcd")
    return f"etcd://127.0.0.1:{etcd.port}/test-{n}/routes", None


@pytest.fixture(params=["embedded", "zookeeper", "etcd"])
def registry_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], RouteRegistry]]:
    """Opens clients of one fresh registry (same URL), closed at the end of the test."""
    url, database_url = registry_url(request.param, request, tmp_path)
    opened: list[RouteRegistry] = []

    def make() -> RouteRegistry:
        registry = open_registry(url, database_url)
        opened.append(registry)
        return registry

    yield make
    for registry in opened:
        registry.close()


@pytest.fixture
def registry(registry_factory: Callable[[], RouteRegistry]) -> RouteRegistry:
    return registry_factory()


class Changes:
    """Counts watch notifications."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1
