"""Carrying releases out: hand a release and its formation to the backend, record what happened.

Rollouts of one app never overlap: a per-app lock file (``<data_dir>/locks``) serializes them
across every worker process of the controller on a host. The release's state changes in its
own transaction afterwards: deployed (older ones superseded) or failed, with the reason.
"""
from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, select

from app_layer import releases
from app_layer.backends.base import Backend, Process, ReleaseSpec
from app_layer.db import Database
from app_layer.errors import AppLayerError, NotFound, RolloutFailed, Unavailable
from app_layer.models import App, Container, Release

log = logging.getLogger(__name__)
RELEASE_TYPE = "release"  # the Procfile process type run once before a release's rollout


class Deployer:
    def __init__(self, db: Database, backend: Backend, lock_dir: Path, domain: str, timeout: float):
        self.db = db
        self.backend = backend
        self.lock_dir = lock_dir
        self.domain = domain
        self.timeout = timeout

    @contextmanager
    def app_lock(self, app_id: str) -> Iterator[None]:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"{app_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def busy(self, app_id: str) -> bool:
        """True while another thread or process holds the app's lock (a rollout is under way)."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"{app_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def rollout(self, app_id: str, version: int) -> str:
        """Deploy release ``version`` if it is still the newest; returns its final state.

        Raises ``RolloutFailed`` (the release is then recorded as failed and the previous one
        keeps serving) or ``Unavailable`` when the engine cannot be reached.
        """
        with self.app_lock(app_id):
            with self.db.read() as session:
                app = _app(session, app_id)
                release = releases.get(session, app, version)
                if release.state == "failed":  # someone else (the reconciler) already tried it
                    raise RolloutFailed(release.failure or f"v{version} failed to deploy")
                if release.state != "pending":
                    return release.state
                if releases.latest_version(session, app) != version and _newer_pending(session, app, version):
                    state = "superseded"
                    spec = None
                else:
                    state = "deployed"
                    spec = releases.spec(app, release, self.domain)
                formation = dict(app.structure)
            if spec is not None:
                try:
                    self._release_phase(spec)
                    self.backend.deploy(spec, formation, self.timeout)
                except RolloutFailed as exc:
                    self._finish(app_id, version, "failed", exc.detail)
                    raise
                except AppLayerError as exc:
                    self._finish(app_id, version, "failed", exc.detail)
                    raise
            self._finish(app_id, version, state, "")
            self.sync(app_id)
            return state

    def _release_phase(self, spec: ReleaseSpec) -> None:
        """Run the Procfile's ``release:`` command in a one-off container of the new release, before
        any process of it starts; a non-zero exit fails the rollout with the command's output."""
        command = spec.procfile.get(RELEASE_TYPE)
        if not command:
            return
        rc, output = self.backend.run(spec, command if spec.dockerfile else f"start {RELEASE_TYPE}", self.timeout)
        if rc != 0:
            tail = "\n".join(output.rstrip().splitlines()[-20:])
            raise RolloutFailed(f"the release phase ({command}) exited with status {rc}:\n{tail}")

    def converge(self, app_id: str) -> None:
        """Make the backend run the app's running release at its current formation (after a scale)."""
        with self.app_lock(app_id):
            with self.db.read() as session:
                app = _app(session, app_id)
                release = releases.running(session, app)
                spec = releases.spec(app, release, self.domain) if release else None
                formation = dict(app.structure)
            if spec is not None:
                self.backend.deploy(spec, formation, self.timeout)
            self.sync(app_id)

    def rescale(self, app_id: str, before: dict[str, int]) -> None:
        """Converge after a formation change; if the engine cannot, restore the formation ``before``
        (what really runs) and re-raise, so the database never claims processes that do not exist."""
        try:
            self.converge(app_id)
        except Unavailable:
            with self.db.write() as session:
                _app(session, app_id).structure = before
            raise

    def _finish(self, app_id: str, version: int, state: str, reason: str) -> None:
        with self.db.write() as session:
            app = _app(session, app_id)
            release = releases.get(session, app, version)
            release.state = state
            release.failure = reason
            if state == "deployed":
                releases.supersede_older(session, app, version)
            elif state == "failed":
                releases.record_event(session, app, f"v{version} rollout failed: {reason}")
                log.warning("rollout of %s v%s failed: %s", app_id, version, reason)

    def sync(self, app_id: str | None = None) -> None:
        """Record what the backend runs (one app, or all) in the containers table."""
        try:
            procs = self.backend.processes(app_id)
        except Unavailable:
            mark_unknown(self.db, app_id)
            return
        record_processes(self.db, procs, app_id)

    def destroy(self, app_id: str) -> None:
        with self.app_lock(app_id):
            self.backend.destroy(app_id)


def _app(session, app_id: str) -> App:  # type: ignore[no-untyped-def]
    app = session.scalar(select(App).where(App.id == app_id))
    if app is None:
        raise NotFound()
    return app


def _newer_pending(session, app: App, version: int) -> bool:  # type: ignore[no-untyped-def]
    return session.scalar(select(Release.version).where(
        Release.app_uuid == app.uuid, Release.version > version, Release.state == "pending").limit(1)) is not None


def record_processes(db: Database, procs: list[Process], app_id: str | None) -> None:
    """Replace the observed containers of ``app_id`` (or of every app) with ``procs``."""
    with db.write() as session:
        apps = {a.id: a.uuid for a in session.scalars(select(App) if app_id is None
                                                       else select(App).where(App.id == app_id))}
        if not apps:
            return
        session.execute(delete(Container).where(Container.app_uuid.in_(list(apps.values()))))
        for p in procs:
            if p.app in apps:
                session.add(Container(app_uuid=apps[p.app], version=p.version, type=p.type, num=p.num,
                                      state=str(p.state), healthy=p.healthy, host=p.host, port=p.port,
                                      backend_id=p.backend_id))


def mark_unknown(db: Database, app_id: str | None) -> None:
    with db.write() as session:
        query = select(Container)
        if app_id is not None:
            query = query.join(App, App.uuid == Container.app_uuid).where(App.id == app_id)
        for container in session.scalars(query):
            container.state = "unknown"
            container.healthy = None
