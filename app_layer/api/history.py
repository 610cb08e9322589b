"""Config, builds and releases: every change here is a new numbered release, then a rollout."""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from app_layer import apps, configs, releases
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, load, paginate, platform
from app_layer.errors import NotFound
from app_layer.models import Build, Release

bp = Blueprint("history", __name__)


def released(body: dict, app_id: str, version: int, status: int = 201):  # type: ignore[no-untyped-def]
    """Roll the new release out (503 if it fails), then answer with the Deis release headers."""
    platform().deployer.rollout(app_id, version)
    return body, status, {"Deis-Release": str(version), "X-Deis-Release": str(version)}


@bp.get("/v1/apps/<app_id>/config/")
def config_get(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        return serializers.config(releases.current(session, app).config, app.id)


@bp.post("/v1/apps/<app_id>/config/")
def config_set(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        change = configs.parse_change(load(schemas.ConfigChange()))
        release = releases.change_config(session, app, user, change)
        body, version = serializers.config(release.config, app.id), release.version
    return released(body, app_id, version)


@bp.get("/v1/apps/<app_id>/builds/")
def build_list(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        query = select(Build).where(Build.app_uuid == app.uuid).order_by(Build.created.desc())
        return paginate(session, query, lambda b: serializers.build(b, app.id))


@bp.post("/v1/apps/<app_id>/builds/")
def build_create(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        data = load(schemas.BuildCreate())
        procfile = releases.parse_procfile(data["procfile"])
        release = releases.new_build(session, app, user, data["image"], data["sha"], procfile, data["dockerfile"])
        body, version = serializers.build(release.build, app.id), release.version
    return released(body, app_id, version)


@bp.get("/v1/apps/<app_id>/builds/<build_uuid>/")
def build_get(app_id: str, build_uuid: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        build = session.scalar(select(Build).where(Build.app_uuid == app.uuid, Build.uuid == build_uuid))
        if build is None:
            raise NotFound()
        return serializers.build(build, app.id)


@bp.get("/v1/apps/<app_id>/releases/")
def release_list(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        query = select(Release).where(Release.app_uuid == app.uuid).order_by(Release.version.desc())
        return paginate(session, query, lambda r: serializers.release(r, app.id))


@bp.get("/v1/apps/<app_id>/releases/v<int:version>/")
def release_get(app_id: str, version: int):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        return serializers.release(releases.get(session, app, version), app.id)


@bp.post("/v1/apps/<app_id>/releases/rollback/")
def rollback(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        release = releases.rollback(session, app, user, load(schemas.Rollback())["version"])
        version = release.version
    platform().deployer.rollout(app_id, version)
    return {"version": version}, 201
