"""ZooKeeper route registry (kazoo): each route is an ephemeral znode ``<prefix>/<app>/<process>``.

Ephemeral nodes vanish with the session that made them, so a publisher that dies takes its routes
with it. When the session expires (a long network partition, a paused process), kazoo opens a new
one and this driver writes every route it owns again.
"""
from __future__ import annotations

import logging
import threading

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError, NoNodeError

from app_layer.routing.registry import Callback, Route, RouteRegistry, Watch, validate_key

log = logging.getLogger(__name__)


class ZooKeeperRegistry(RouteRegistry):
    def __init__(self, hosts: str, prefix: str, timeout: float = 10.0):
        self.url = f"zookeeper://{hosts}{prefix}"
        self.prefix = prefix.rstrip("/")
        self.client = KazooClient(hosts=hosts, timeout=timeout)
        self._mine: dict[tuple[str, str], Route] = {}
        self._lock = threading.RLock()
        self._lost = False
        self._changed = threading.Event()
        self.client.add_listener(self._on_state)
        self.client.start(timeout=timeout)
        self.client.ensure_path(self.prefix)

    def _path(self, app: str, process: str) -> str:
        return f"{self.prefix}/{app}/{process}"

    def _on_state(self, state: str) -> None:
        # Runs on kazoo's event thread: never block here.
        if state == KazooState.LOST:
            self._lost = True
        elif state == KazooState.CONNECTED:
            if self._lost:
                self._lost = False
                threading.Thread(target=self._reregister, name="zk-reregister", daemon=True).start()
            self._changed.set()

    def _reregister(self) -> None:
        with self._lock:
            routes = list(self._mine.values())
        log.info("ZooKeeper session renewed: registering %d routes again", len(routes))
        for route in routes:
            try:
                self._write(route)
            except Exception:  # noqa: BLE001 - the next session event retries
                log.exception("re-registering %s/%s failed", route.app, route.process)
        self._changed.set()

    def _write(self, route: Route) -> None:
        path = self._path(route.app, route.process)
        value = route.to_json().encode()
        self.client.ensure_path(f"{self.prefix}/{route.app}")
        try:
            self.client.create(path, value, ephemeral=True)
        except NodeExistsError:
            data, stat = self.client.get(path)
            if stat.ephemeralOwner != self.client.client_id[0]:
                # left by another (maybe expiring) session: take it over
                self.client.delete(path)
                self.client.create(path, value, ephemeral=True)
            elif data != value:
                self.client.set(path, value)

    def register(self, route: Route) -> None:
        validate_key(route.app, route.process)
        with self._lock:
            self._mine[route.key] = route
            self._write(route)

    def deregister(self, app: str, process: str) -> None:
        validate_key(app, process)
        with self._lock:
            self._mine.pop((app, process), None)
            try:
                self.client.delete(self._path(app, process))
            except NoNodeError:
                pass

    def list(self, app: str | None = None, watcher: object = None) -> list[Route]:
        routes = []
        try:
            apps = [app] if app is not None else self.client.get_children(self.prefix, watch=watcher)
        except NoNodeError:
            return []
        for name in apps:
            try:
                processes = self.client.get_children(f"{self.prefix}/{name}", watch=watcher)
            except NoNodeError:
                continue
            for process in processes:
                try:
                    data, _ = self.client.get(self._path(name, process), watch=watcher)
                except NoNodeError:
                    continue
                routes.append(Route.from_json(name, data))
        return sorted(routes)

    def watch(self, callback: Callback) -> Watch:
        """One-shot ZooKeeper watches on every node, armed again after each change."""
        watch = Watch()
        changed = threading.Event()
        changed.set()

        def fired(*_: object) -> None:
            changed.set()

        def loop() -> None:
            while not watch.stopped.is_set():
                if changed.wait(1.0) or self._changed.is_set():
                    changed.clear()
                    self._changed.clear()
                    try:
                        self.list(watcher=fired)
                    except Exception:  # noqa: BLE001 - disconnected: the session listener wakes us
                        watch.stopped.wait(0.5)
                        changed.set()
                    callback()

        threading.Thread(target=loop, name="zk-routes-watch", daemon=True).start()
        return watch

    def close(self) -> None:
        self.client.stop()
        self.client.close()
