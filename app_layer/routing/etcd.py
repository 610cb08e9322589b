"""etcd v3 route registry through the JSON gateway (etcd3gw): keys ``<prefix>/<app>/<process>``.

Every key this client writes is attached to one lease that a thread keeps alive, so the routes of a
publisher that dies expire with its lease. When the lease is gone (expired during a partition, or
revoked), the driver takes a new one and writes all its routes again. The watch is a streaming
request of our own, opened again whenever etcd closes it (a restart), with a fresh read first.
"""
from __future__ import annotations

import json
import logging
import threading

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import Etcd3Exception
from etcd3gw.utils import _encode, _increment_last_byte

from app_layer.routing.registry import Callback, Route, RouteRegistry, Watch, validate_key

log = logging.getLogger(__name__)

LEASE_TTL = 10


class EtcdRegistry(RouteRegistry):
    def __init__(self, host: str, port: int, prefix: str, ttl: int = LEASE_TTL):
        self.url = f"etcd://{host}:{port}{prefix}"
        self.prefix = prefix.rstrip("/") + "/"
        self.ttl = ttl
        self.client = Etcd3Client(host=host, port=port, timeout=5, api_path="/v3/")
        self._mine: dict[tuple[str, str], Route] = {}
        self._lock = threading.RLock()
        self._lease = None
        self._closed = threading.Event()
        self._keeper: threading.Thread | None = None

    def _key(self, app: str, process: str) -> str:
        return f"{self.prefix}{app}/{process}"

    def _ensure_lease(self):  # type: ignore[no-untyped-def]
        if self._lease is None:
            self._lease = self.client.lease(self.ttl)
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep_alive, name="etcd-lease", daemon=True)
            self._keeper.start()
        return self._lease

    def _keep_alive(self) -> None:
        while not self._closed.wait(max(1.0, self.ttl / 3)):
            with self._lock:
                if self._lease is None or not self._mine:
                    continue
                try:
                    alive = self._lease.refresh() > 0
                except (Etcd3Exception, requests.RequestException) as exc:
                    log.warning("etcd lease keep-alive failed: %s", exc)
                    continue
                if not alive:
                    self._renew()

    def _renew(self) -> None:
        """The lease expired: take a new one and write every route again."""
        log.info("etcd lease expired: registering %d routes again", len(self._mine))
        self._lease = None
        lease = self._ensure_lease()
        for route in self._mine.values():
            self.client.put(self._key(route.app, route.process), route.to_json(), lease=lease)

    def register(self, route: Route) -> None:
        validate_key(route.app, route.process)
        with self._lock:
            self._mine[route.key] = route
            lease = self._ensure_lease()
            try:
                self.client.put(self._key(route.app, route.process), route.to_json(), lease=lease)
            except Etcd3Exception as exc:
                if "lease not found" not in str(exc):
                    raise
                self._renew()

    def deregister(self, app: str, process: str) -> None:
        validate_key(app, process)
        with self._lock:
            self._mine.pop((app, process), None)
            self.client.delete(self._key(app, process))

    def list(self, app: str | None = None) -> list[Route]:
        prefix = self.prefix + (f"{app}/" if app is not None else "")
        routes = []
        for value, meta in self.client.get_prefix(prefix):
            key = meta["key"].decode() if isinstance(meta["key"], bytes) else meta["key"]
            name = key[len(self.prefix):].split("/", 1)[0]
            routes.append(Route.from_json(name, value))
        return sorted(routes)

    def watch(self, callback: Callback) -> Watch:
        watch = Watch()

        def loop() -> None:
            while not watch.stopped.is_set():
                try:
                    callback()  # a fresh read before (re)opening the stream
                    self._stream(watch, callback)
                except (requests.RequestException, ValueError, Etcd3Exception) as exc:
                    log.info("etcd watch interrupted (%s); resuming", exc)
                watch.stopped.wait(0.5)

        threading.Thread(target=loop, name="etcd-routes-watch", daemon=True).start()
        return watch

    def _stream(self, watch: Watch, callback: Callback) -> None:
        request = {"create_request": {"key": _encode(self.prefix),
                                      "range_end": _encode(_increment_last_byte(self.prefix)),
                                      "progress_notify": True}}
        with requests.post(self.client.get_url("/watch"), json=request, stream=True,
                           timeout=(5, 30)) as response:
            response.raise_for_status()
            watch.response = response  # type: ignore[attr-defined]
            for line in response.iter_lines():
                if watch.stopped.is_set():
                    return
                if not line.strip():
                    continue
                result = json.loads(line).get("result", {})
                if result.get("events"):
                    callback()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._lease is not None:
                try:
                    self._lease.revoke()
                except (Etcd3Exception, requests.RequestException):
                    pass
                self._lease = None


