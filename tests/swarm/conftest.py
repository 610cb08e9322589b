"""The swarm backend against the real three-node swarm of ``tests/fixtures/swarm.py``.

Health checks every second and a 2 s update monitor keep the scenarios short; production
defaults are sparser (``swarm_spec.Timing``)."""
from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from app_layer.backends.base import HealthCheck, Process, ReleaseSpec, State
from app_layer.backends.swarm import SwarmBackend
from app_layer.backends.swarm_spec import Timing
from tests.fixtures.swarm import SERVE, SwarmCluster, wait_until

TIMING = Timing(health_interval=1.0, health_retries=2, monitor=2.0, stop_grace=5.0, restart_delay=0.5)
_apps = itertools.count(1)


@pytest.fixture(scope="session")
def web_image(swarm: SwarmCluster) -> str:
    """busybox httpd serving ``/``, ``/health`` and ``/cgi-bin/env`` on ``$PORT``, in the hub registry."""
    return swarm.push_image("alsw-web", SERVE)


@pytest.fixture
def backend(swarm: SwarmCluster) -> Iterator[SwarmBackend]:
    """A backend that knows every manager (the first that answers is used)."""
    managers = [swarm.socket_url(i) for i in range(1, swarm.size + 1)]
    backend = SwarmBackend(managers, TIMING)
    yield backend
    backend.close()


@pytest.fixture
def app(backend: SwarmBackend) -> Iterator[str]:
    """A fresh app name; its services are removed afterwards."""
    name = f"sw{next(_apps)}-{random.randrange(16 ** 4):04x}"
    yield name
    try:
        backend.destroy(name)
    except Exception:  # the swarm may be mid fail-over after a failure test
        wait_until(lambda: backend.destroy(name) or True, 60, f"destroy {name}")


def release(app: str, image: str, version: int, url: str = "/health", **env: str) -> ReleaseSpec:
    return ReleaseSpec(app=app, version=version, image=image, procfile={}, dockerfile=True,
                       env={"APP_LAYER_APP": app, "APP_LAYER_RELEASE": f"v{version}", **env},
                       healthcheck=HealthCheck(url=url))


def routable(backend: SwarmBackend, app: str) -> list[Process]:
    return [p for p in backend.processes(app) if p.routable]


def up(backend: SwarmBackend, app: str) -> list[Process]:
    return [p for p in backend.processes(app) if p.state is State.UP]


def env_of(swarm: SwarmCluster, proc: Process) -> dict[str, str]:
    status, body = swarm.get(proc.host, proc.port or 0, "/cgi-bin/env")
    assert status == 200
    return dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)


@dataclass
class Load:
    """Requests from this process into the hub namespace, each to a process the backend reports
    routable (the list refreshed every 0.2 s, as the publisher would): bounded in count and time."""

    swarm: SwarmCluster
    backend: SwarmBackend
    app: str
    limit: int = 20000
    seconds: float = 180.0
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    releases: set[str] = field(default_factory=set)
    _endpoints: list[Process] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._endpoints = routable(self.backend, self.app)
        self._threads = [threading.Thread(target=self._refresh, daemon=True)]
        self._threads += [threading.Thread(target=self._hit, daemon=True) for _ in range(2)]
        for thread in self._threads:
            thread.start()
        return self

    def running(self) -> bool:
        """Whether any request thread still runs (they stop at ``limit`` requests or after ``seconds``)."""
        return any(thread.is_alive() for thread in self._threads[1:])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _refresh(self) -> None:
        until = time.monotonic() + self.seconds
        while not self._stop.is_set() and time.monotonic() < until:
            try:
                self._endpoints = routable(self.backend, self.app)
            except Exception:  # noqa: S112 - a missed refresh keeps the last list, as a router would
                pass
            self._stop.wait(0.2)

    def _hit(self) -> None:
        until = time.monotonic() + self.seconds
        while not self._stop.is_set() and time.monotonic() < until:
            with self._lock:
                if self.ok + len(self.failures) >= self.limit:
                    return
            endpoints = self._endpoints
            if not endpoints:
                with self._lock:
                    self.failures.append("no routable process")
                time.sleep(0.05)
                continue
            proc = random.choice(endpoints)
            try:
                status, body = self.swarm.get(proc.host, proc.port or 0, "/cgi-bin/env", timeout=5)
                result = f"HTTP {status}" if status != 200 else ""
            except OSError as exc:
                result, body = f"{proc.host}:{proc.port} v{proc.version}: {exc}", b""
            with self._lock:
                if result:
                    self.failures.append(result)
                else:
                    self.ok += 1
                    self.releases.update(line for line in body.decode().splitlines() if line.startswith("RELEASE="))
