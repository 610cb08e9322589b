"""The reconciler: compare the desired state in the database with the engine, record and converge.

Each pass records every process the backend reports (so API reads never wait on the engine),
resumes rollouts left pending by a controller that died mid-way, and re-deploys apps whose
running processes differ from their formation (a crashed process is replaced).
"""
from __future__ import annotations

import logging
import time
from collections import Counter

from sqlalchemy import select

from app_layer import releases
from app_layer.errors import AppLayerError, Unavailable
from app_layer.models import App, Release
from app_layer.platform import Platform

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, platform: Platform):
        self.platform = platform

    def run_forever(self, interval: float) -> None:
        while True:
            started = time.monotonic()
            try:
                self.run_once()
            except Unavailable as exc:
                log.warning("engine unavailable: %s", exc.detail)
            except Exception:  # the loop must outlive any one bad pass; it is logged with its trace
                log.exception("reconciler pass failed")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def run_once(self) -> None:
        deployer = self.platform.deployer
        for app_id, version in self._pending():
            try:
                deployer.rollout(app_id, version)
            except AppLayerError as exc:
                log.warning("resumed rollout of %s v%s failed: %s", app_id, version, exc.detail)
        procs = self.platform.backend.processes()
        running = Counter((p.app, p.type) for p in procs if p.state in ("up", "starting", "created"))
        for app_id, structure in self._desired():
            if any(running[(app_id, t)] != n for t, n in structure.items()):
                try:
                    deployer.converge(app_id)
                except AppLayerError as exc:
                    log.warning("converging %s failed: %s", app_id, exc.detail)
        deployer.sync()

    def _pending(self) -> list[tuple[str, int]]:
        with self.platform.db.read() as session:
            rows = session.execute(select(App.id, Release.version).join(Release, Release.app_uuid == App.uuid)
                                   .where(Release.state == "pending").order_by(Release.version))
            return [(a, v) for a, v in rows]

    def _desired(self) -> list[tuple[str, dict[str, int]]]:
        with self.platform.db.read() as session:
            out = []
            for app in session.scalars(select(App)):
                release = releases.running(session, app)
                if any(app.structure.values()) and release is not None and release.build is not None:
                    out.append((app.id, dict(app.structure)))
            return out
