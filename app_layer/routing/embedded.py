"""The embedded route registry: a table in the platform database (the single-host default).

The publisher and the router may be separate processes, so the table is the only channel; the
watch polls a cheap fingerprint of the table a few times a second.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import delete, func, select

from app_layer.db import Database
from app_layer.models import RouteEntry
from app_layer.routing.registry import Callback, Route, RouteRegistry, Watch, validate_key

POLL_INTERVAL = 0.1


class EmbeddedRegistry(RouteRegistry):
    def __init__(self, database_url: str, poll_interval: float = POLL_INTERVAL):
        self.url = "embedded"
        self.db = Database(database_url)
        self.poll_interval = poll_interval

    def register(self, route: Route) -> None:
        validate_key(route.app, route.process)
        with self.db.write() as session:
            entry = session.get(RouteEntry, (route.app, route.process))
            if entry is None:
                session.add(RouteEntry(app=route.app, process=route.process, value=route.to_json(),
                                       updated=time.time()))
            elif entry.value != route.to_json():
                entry.value, entry.updated = route.to_json(), time.time()

    def deregister(self, app: str, process: str) -> None:
        validate_key(app, process)
        with self.db.write() as session:
            session.execute(delete(RouteEntry).where(RouteEntry.app == app, RouteEntry.process == process))

    def list(self, app: str | None = None) -> list[Route]:
        query = select(RouteEntry)
        if app is not None:
            query = query.where(RouteEntry.app == app)
        with self.db.read() as session:
            return sorted(Route.from_json(e.app, e.value) for e in session.scalars(query))

    def _fingerprint(self) -> tuple[object, ...]:
        with self.db.read() as session:
            return tuple(session.execute(select(func.count(), func.max(RouteEntry.updated),
                                                func.group_concat(RouteEntry.app + "/" + RouteEntry.process)
                                                if self.db.is_sqlite else
                                                func.string_agg(RouteEntry.app + "/" + RouteEntry.process, ",")
                                                )).one())

    def watch(self, callback: Callback) -> Watch:
        watch = Watch()

        def loop() -> None:
            last: object = None
            while not watch.stopped.is_set():
                try:
                    current: object = self._fingerprint()
                except Exception:  # noqa: BLE001 - a database hiccup: report a change, retry later
                    current = None
                if current != last or current is None:
                    last = current
                    callback()
                watch.stopped.wait(self.poll_interval)

        threading.Thread(target=loop, name="embedded-routes-watch", daemon=True).start()
        return watch

    def close(self) -> None:
        self.db.dispose()
