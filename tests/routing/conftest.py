"""Route registries for the contract tests: one per driver, each with a prefix of its own."""
from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from app_layer.db import Database
from app_layer.platform import Platform
from app_layer.routing.embedded import EmbeddedRegistry
from app_layer.routing.nginx import RouterConfig
from app_layer.routing.publisher import Publisher
from app_layer.routing.registry import RouteRegistry, open_registry
from app_layer.routing.router import Router
from tests.routing.helpers import RoutedMemoryBackend, Upstream, free_port

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


DOMAIN = "example.test"


@pytest.fixture
def backend() -> RoutedMemoryBackend:
    return RoutedMemoryBackend()


@pytest.fixture
def routed(settings, backend) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    plat = Platform.build(settings, backend=backend)
    plat.db.create_all()
    yield plat
    plat.close()


@pytest.fixture
def upstream() -> Iterator[Callable[[str], Upstream]]:
    made: list[Upstream] = []

    def make(name: str) -> Upstream:
        made.append(Upstream(name))
        return made[-1]

    yield make
    for server in made:
        server.close()


class Harness:
    def __init__(self, router: Router, registry: EmbeddedRegistry, publisher: Publisher):
        self.router, self.registry, self.publisher = router, registry, publisher
        self.cfg = router.cfg

    def get(self, host: str, path: str = "/", **kw) -> requests.Response:  # type: ignore[no-untyped-def]
        return requests.request(kw.pop("method", "GET"), f"http://127.0.0.1:{self.cfg.http_port}{path}",
                                headers={"Host": host, **kw.pop("headers", {})}, timeout=10,
                                allow_redirects=False, **kw)

    def workers(self) -> set[str]:
        """nginx's worker pids: a reload replaces them, an endpoint change does not."""
        assert self.router.nginx.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.router.nginx.proc.pid)], capture_output=True, text=True)
        return set(out.stdout.split())


@pytest.fixture
def make_router(routed, tmp_path, nginx_binary) -> Iterator[Callable[..., Harness]]:  # type: ignore[no-untyped-def]
    started: list[tuple[Router, Publisher, EmbeddedRegistry]] = []

    def make(controller: str | None = None, publish: bool = True, platform: Platform | None = None,
             registry: RouteRegistry | None = None, **overrides: object) -> Harness:
        plat = platform or routed
        cfg = RouterConfig(prefix=tmp_path / "router", domain=DOMAIN, http_port=free_port(),
                           tls_port=free_port(), workers="1", **overrides)  # type: ignore[arg-type]
        registry = registry or EmbeddedRegistry(plat.settings.database_url, poll_interval=0.05)
        router = Router(cfg, registry, plat.db, controller, interval=0.2)
        threading.Thread(target=router.run_forever, daemon=True).start()
        publisher = Publisher(plat.db, plat.backend, registry, interval=0.1)
        if publish:  # tests that register routes by hand run no publisher (it would remove them)
            threading.Thread(target=publisher.run_forever, daemon=True).start()
        started.append((router, publisher, registry))
        harness = Harness(router, registry, publisher)
        # nginx answers /healthz a moment before the router has pushed its first endpoint table
        wait_until(lambda: router.ready.is_set() and _answers(harness), what="the router to answer")
        return harness

    yield make
    for router, publisher, registry in started:
        publisher.stop()
        router.stop()
        registry.close()


def _answers(harness: Harness) -> bool:
    try:
        return harness.get("127.0.0.1", "/healthz").status_code == 200
    except requests.RequestException:
        return False
