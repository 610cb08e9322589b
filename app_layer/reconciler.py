"""The reconciler: compare the desired state in the database with the engine, record and converge.

Each pass records every process the backend reports (so API reads never wait on the engine;
when the engine cannot be reached every process is recorded as ``unknown``), resumes rollouts
left pending by a controller that died mid-way (apps whose lock is free: nobody is working on
them), and re-deploys apps whose processes differ from their formation: a crashed or removed
process is replaced, leftovers of older releases are stopped.
"""
from __future__ import annotations

import logging
import time
from collections import Counter

from sqlalchemy import select

from app_layer import releases
from app_layer.backends.base import Process, State
from app_layer.backends.plan import ONE_OFF
from app_layer.deploy import mark_unknown, record_processes
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
        """One pass: observe, record, resume pending rollouts, converge apps that differ from their formation."""
        deployer = self.platform.deployer
        try:
            procs = self.platform.backend.processes()
        except Unavailable:
            mark_unknown(self.platform.db, None)  # API reads show it at once
            raise
        record_processes(self.platform.db, procs, None)
        for app_id, version in self._pending():
            if deployer.busy(app_id):
                continue  # a live controller is rolling it out
            try:
                deployer.rollout(app_id, version)
            except AppLayerError as exc:
                log.warning("resumed rollout of %s v%s failed: %s", app_id, version, exc.detail)
        for app_id, version, structure in self._desired():
            if differs(procs, app_id, version, structure) and not deployer.busy(app_id):
                try:
                    deployer.converge(app_id)
                except AppLayerError as exc:
                    log.warning("converging %s failed: %s", app_id, exc.detail)

    def _pending(self) -> list[tuple[str, int]]:
        with self.platform.db.read() as session:
            rows = session.execute(select(App.id, Release.version).join(Release, Release.app_uuid == App.uuid)
                                   .where(Release.state == "pending").order_by(Release.version))
            return [(a, v) for a, v in rows]

    def _desired(self) -> list[tuple[str, int, dict[str, int]]]:
        """(app, running release, formation) of every app whose running release has a build."""
        with self.platform.db.read() as session:
            out = []
            for app in session.scalars(select(App)):
                release = releases.running(session, app)
                if release is not None and release.build is not None:
                    out.append((app.id, release.version, dict(app.structure)))
            return out


def differs(procs: list[Process], app_id: str, version: int, structure: dict[str, int]) -> bool:
    """True when the app's processes are not exactly ``structure`` healthy-or-unchecked ``up`` processes
    of ``version``: one is missing or crashed, or one of another release (or draining) is left over."""
    mine = [p for p in procs if p.app == app_id and p.type != ONE_OFF]
    up = Counter(p.type for p in mine if p.version == version and p.state is State.UP)
    if any(up[t] != n for t, n in structure.items()):
        return True
    return any(p.version != version or p.state is not State.UP or p.type not in structure for p in mine)
