"""Builds, releases, rollback and formation: the build x config history of an app.

Every function runs inside the caller's (write) transaction, after the app row has been
locked, so release numbers are consecutive under concurrency. Rolling a release out is
``deploy.Deployer``'s job, after the transaction commits.
"""
from __future__ import annotations

import re
import time
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app_layer import configs
from app_layer.backends.base import HealthCheck, ReleaseSpec
from app_layer.errors import BadRequest, NotFound, ValidationError
from app_layer.models import App, Build, Config, Event, Release, User

PROCFILE_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")


def latest_version(session: Session, app: App) -> int:
    return session.scalar(select(func.max(Release.version)).where(Release.app_uuid == app.uuid)) or 0


def current(session: Session, app: App) -> Release:
    """The newest release that did not fail: what config changes build on."""
    release = session.scalar(select(Release).where(Release.app_uuid == app.uuid, Release.state != "failed")
                             .order_by(Release.version.desc()).limit(1))
    if release is None:
        raise NotFound("This app has no release.")
    return release


def running(session: Session, app: App) -> Release | None:
    """The newest deployed release: what should be running now."""
    return session.scalar(select(Release).where(Release.app_uuid == app.uuid, Release.state == "deployed")
                          .order_by(Release.version.desc()).limit(1))


def get(session: Session, app: App, version: int) -> Release:
    if version > 2**31 - 1:  # no such release; PostgreSQL would refuse the comparison
        raise NotFound(f"Release v{version} not found.")
    release = session.scalar(select(Release).where(Release.app_uuid == app.uuid, Release.version == version))
    if release is None:
        raise NotFound(f"Release v{version} not found.")
    return release


def record_event(session: Session, app: App, message: str) -> None:
    """Add a platform line to the app's log stream (``[app-layer] ...``)."""
    session.add(Event(app_uuid=app.uuid, time=time.time(), message=message))


def _new(session: Session, app: App, user: User, config: Config, build: Build | None, summary: str) -> Release:
    needs_rollout = build is not None and any(app.structure.values())
    release = Release(app_uuid=app.uuid, owner_id=user.id, version=latest_version(session, app) + 1,
                      config_uuid=config.uuid, build_uuid=build.uuid if build else None,
                      summary=summary, state="pending" if needs_rollout else "deployed")
    session.add(release)
    session.flush()
    if release.state == "deployed":
        supersede_older(session, app, release.version)
    record_event(session, app, f"v{release.version} created: {summary}")
    return release


def supersede_older(session: Session, app: App, version: int) -> None:
    for older in session.scalars(select(Release).where(
            Release.app_uuid == app.uuid, Release.version < version,
            Release.state.in_(("deployed", "pending")))):
        older.state = "superseded"


def change_config(session: Session, app: App, user: User, change: dict[str, dict[str, Any]]) -> Release:
    """Merge a validated change (``configs.parse_change``) into the config; a new release."""
    base = current(session, app)
    old = base.config
    old_dicts = {name: getattr(old, name) for name in configs.CONFIG_FIELDS}
    new_dicts = {name: configs.merge(old_dicts[name], change.get(name, {})) for name in configs.CONFIG_FIELDS}
    config = Config(app_uuid=app.uuid, owner_id=user.id, **new_dicts)
    session.add(config)
    session.flush()
    summary = configs.summarize(user.username, new_dicts, old_dicts) or f"{user.username} changed nothing"
    return _new(session, app, user, config, base.build, summary)


def parse_procfile(raw: Any, field: str = "procfile") -> dict[str, str]:
    """A Procfile as a dict, from an object or YAML text; types and commands validated."""
    if raw in (None, "", {}):
        return {}
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ValidationError({field: [f"Procfile is not valid: {exc.__class__.__name__}"]}) from None
    if not isinstance(raw, dict):
        raise ValidationError({field: ["Must be an object mapping process types to commands."]})
    procfile: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not PROCFILE_TYPE.match(key) or len(key) > 63:
            raise ValidationError({field: [f"Process type {key!r} must match [A-Za-z0-9_-]+."]})
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            raise ValidationError({field: [f"The command of {key} must be a non-empty string."]})
        procfile[key.lower()] = value
    return procfile


def default_structure(build: Build) -> dict[str, int]:
    """The first build's formation: ``web=1`` when the Procfile has a web process (or a buildpack build
    without a Procfile, whose buildpack supplies one); otherwise the image's own command, ``cmd=1``."""
    if "web" in build.procfile:
        return {"web": 1}
    if not build.procfile and build.sha and not build.dockerfile:
        return {"web": 1}
    return {"cmd": 1}


def new_build(session: Session, app: App, user: User, image: str, sha: str = "",
              procfile: dict[str, str] | None = None, dockerfile: str = "") -> Release:
    """Record a build and its release; the first build of an app sets the default formation."""
    build = Build(app_uuid=app.uuid, owner_id=user.id, image=image, sha=sha, procfile=procfile or {},
                  dockerfile=dockerfile)
    session.add(build)
    session.flush()
    if not app.structure:
        app.structure = default_structure(build)
    else:
        valid = set(build.procfile) | {"cmd"}
        app.structure = {t: n for t, n in app.structure.items() if t in valid}
    base = current(session, app)
    summary = f"{user.username} deployed {sha[:7] if sha else image}"
    return _new(session, app, user, base.config, build, summary)


def rollback(session: Session, app: App, user: User, version: int | None) -> Release:
    """A new release with the build and config of ``version`` (default: the one before the current)."""
    if version is None:
        now = current(session, app)
        target = session.scalar(select(Release).where(
            Release.app_uuid == app.uuid, Release.version < now.version, Release.state != "failed")
            .order_by(Release.version.desc()).limit(1))
        if target is None:
            raise BadRequest(f"v{now.version} is the first release; there is nothing to roll back to.")
    else:
        if version < 1:
            raise ValidationError({"version": ["version cannot be below 1"]})
        target = get(session, app, version)
    if target.build is None and now_has_build(session, app):
        raise BadRequest(f"v{target.version} has no build; roll back to a release that has one.")
    if target.build is not None and not app.structure:
        app.structure = default_structure(target.build)
    return _new(session, app, user, target.config, target.build, f"{user.username} rolled back to v{target.version}")


def now_has_build(session: Session, app: App) -> bool:
    return current(session, app).build is not None


def scale(session: Session, app: App, user: User, counts: dict[str, int]) -> Release:
    """Set process counts (no new release); returns the release to converge to."""
    release = running(session, app) or current(session, app)
    if release.build is None:
        raise BadRequest("No build associated with this release")
    allowed = set(release.build.procfile) | {"cmd"}
    if not release.build.procfile and not release.build.dockerfile and release.build.sha:
        allowed.add("web")
    unknown = sorted(set(counts) - allowed)
    if unknown:
        raise BadRequest(f"Container type {unknown[0]} does not exist in application")
    structure = dict(app.structure)
    structure.update(counts)
    app.structure = {t: n for t, n in structure.items() if n > 0 or t in counts}
    record_event(session, app, f"{user.username} scaled " + " ".join(f"{t}={n}" for t, n in sorted(counts.items())))
    return release


def spec(app: App, release: Release, domain: str) -> ReleaseSpec | None:
    """What a backend needs to run ``release`` (None for a release without a build)."""
    build = release.build
    if build is None:
        return None
    values = {k: str(v) for k, v in release.config.values.items()}
    env = dict(values)
    env.update({"APP_LAYER_APP": app.id, "APP_LAYER_RELEASE": f"v{release.version}",
                "DEIS_APP": app.id, "DEIS_RELEASE": f"v{release.version}"})
    if build.sha:
        env.setdefault("GIT_SHA", build.sha)
    port = values.get("PORT")
    return ReleaseSpec(
        app=app.id, version=release.version, image=build.image, procfile=dict(build.procfile), env=env,
        memory=dict(release.config.memory), cpu={k: int(v) for k, v in release.config.cpu.items()},
        tags=dict(release.config.tags), healthcheck=healthcheck(values),
        port=int(port) if port and port.isdigit() else None, dockerfile=bool(build.dockerfile) or not build.sha,
    )


def healthcheck(values: dict[str, str]) -> HealthCheck:
    def number(name: str, default: float) -> float:
        try:
            return max(0.0, float(values.get(name, default)))
        except ValueError:
            return default

    return HealthCheck(url=values.get("HEALTHCHECK_URL", ""), timeout=number("HEALTHCHECK_TIMEOUT", 1.0) or 1.0,
                       initial_delay=number("HEALTHCHECK_INITIAL_DELAY", 0.0))
