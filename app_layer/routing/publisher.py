"""The publisher: task health -> route registrations.

``plan`` decides, purely, what the registry should hold given what the backend runs and which
release of each app is current; ``Publisher`` carries it out in a small loop, woken early by the
Docker engine's events (``docker``, ``swarm``) or Marathon's event stream (``marathon``).

Which processes are routed: the routable (``web``/``cmd``, up, healthy) processes of each app's
newest release that is at least the current deployed one. During a rollout the new release's
processes take over as soon as they are healthy, so the old ones are deregistered *before* the
backend stops them; a process that stops, drains or disappears is deregistered on the next pass,
and one that fails its health check ``unhealthy_threshold`` passes in a row (one slow probe
under load is not a dead process).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from app_layer.backends.base import ROUTABLE_TYPES, Backend, Capability, Process, State
from app_layer.db import Database
from app_layer.errors import Unavailable
from app_layer.models import App, Release
from app_layer.routing.registry import Route, RouteRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    add: list[Route]                  # register (new, or changed address or release)
    remove: list[tuple[str, str]]     # (app, process) to deregister

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def desired_routes(processes: Iterable[Process], current: dict[str, int], require_health: bool,
                   tolerated: frozenset[tuple[str, str, int, int]] = frozenset()) -> list[Route]:
    """The routes that should exist: see the module docstring.

    ``tolerated`` names running processes, routed already, whose health check failed fewer times
    in a row than the publisher's threshold: one slow probe under load must not empty an app.
    """
    candidates: dict[str, list[Process]] = {}
    for proc in processes:
        if proc.app not in current or proc.version < current[proc.app]:
            continue
        if proc.type not in ROUTABLE_TYPES or proc.state is not State.UP or not proc.host or not proc.port:
            continue
        healthy = proc.healthy is True or (proc.healthy is None and not require_health)
        if not healthy and _identity(proc) not in tolerated:
            continue
        candidates.setdefault(proc.app, []).append(proc)
    routes = []
    for app, procs in candidates.items():
        newest = max(p.version for p in procs)
        routes += [Route(app=app, type=p.type, num=p.num, host=p.host, port=p.port or 0, release=p.version)
                   for p in procs if p.version == newest]
    return sorted(routes)


def _identity(proc: Process) -> tuple[str, str, int, int]:
    return (proc.app, proc.type, proc.num, proc.version)


def plan(desired: Iterable[Route], registered: Iterable[Route]) -> Plan:
    """What to change so that the registry holds exactly ``desired``."""
    want = {r.key: r for r in desired}
    have = {r.key: r for r in registered}
    return Plan(add=sorted(r for k, r in want.items() if have.get(k) != r),
                remove=sorted(k for k in have if k not in want))


def current_releases(db: Database) -> dict[str, int]:
    """app id -> the version of its newest deployed release."""
    with db.read() as session:
        rows = session.execute(select(App.id, func.max(Release.version))
                               .join(Release, Release.app_uuid == App.uuid)
                               .where(Release.state == "deployed").group_by(App.id))
        return {app: version for app, version in rows}


class Publisher:
    """Keeps the registry in step with the backend: one ``run_once`` per pass or engine event."""

    def __init__(self, db: Database, backend: Backend, registry: RouteRegistry, interval: float = 0.5,
                 unhealthy_threshold: int = 3):
        self.db = db
        self.backend = backend
        self.registry = registry
        self.interval = interval
        self.unhealthy_threshold = unhealthy_threshold
        self._failures: dict[tuple[str, str, int, int], int] = {}  # failed checks in a row, routed processes
        self.wake = threading.Event()
        self.stopped = threading.Event()

    def run_once(self) -> Plan:
        processes = self.backend.processes()
        current = current_releases(self.db)
        require_health = Capability.HEALTH_CHECKS in self.backend.capabilities
        registered = self.registry.list()
        todo = plan(desired_routes(processes, current, require_health, self._tolerate(processes, registered)),
                    registered)
        for app, process in todo.remove:  # removals first: no request to a process going away
            self.registry.deregister(app, process)
            log.info("route removed: %s %s", app, process)
        for route in todo.add:
            self.registry.register(route)
            log.info("route added: %s %s -> %s:%s (v%s)", route.app, route.process, route.host, route.port,
                     route.release)
        return todo

    def _tolerate(self, processes: list[Process], registered: list[Route]) -> frozenset[tuple[str, str, int, int]]:
        """Routed, running processes whose check failed, fewer than ``unhealthy_threshold`` times in a row.

        Only a failed check is tolerated: a process that is stopping, draining, gone, or of an
        older release is removed at once."""
        routed = {(r.app, r.type, r.num, r.release) for r in registered}
        failures = {}
        for proc in processes:
            key = _identity(proc)
            if proc.healthy is False and proc.state is State.UP and proc.type in ROUTABLE_TYPES and key in routed:
                failures[key] = self._failures.get(key, 0) + 1
        self._failures = failures
        return frozenset(k for k, n in failures.items() if n < self.unhealthy_threshold)

    def run_forever(self) -> None:
        if self.backend.name in ("docker", "swarm"):
            threading.Thread(target=self._docker_events, name="publisher-docker-events", daemon=True).start()
        elif self.backend.name == "marathon":  # Marathon's event stream sets our wake event
            try:
                self.backend.subscribe(self.wake)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - polling still runs
                log.warning("marathon events unavailable: %s", exc)
        while not self.stopped.is_set():
            try:
                self.run_once()
            except Unavailable as exc:
                log.warning("engine unavailable: %s", exc.detail)
            except Exception:  # the loop must outlive any one bad pass; logged with its trace
                log.exception("publisher pass failed")
            self.wake.wait(self.interval)
            self.wake.clear()

    def _docker_events(self) -> None:
        """Wake the loop on every container event (start, die, stop, health_status ...)."""
        import docker

        while not self.stopped.is_set():
            try:
                client = docker.from_env()
                for _event in client.events(decode=True, filters={"type": "container"}):
                    self.wake.set()
                    if self.stopped.is_set():
                        return
            except Exception as exc:  # noqa: BLE001 - engine down or restarting: polling still runs
                log.debug("docker events unavailable: %s", exc)
            time.sleep(2)

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
