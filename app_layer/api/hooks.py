"""Builder hooks (``X-Deis-Builder-Auth``): push audit and permission check, config, build, key lookup."""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from app_layer import apps, keys, releases, users
from app_layer.api import schemas, serializers
from app_layer.api.context import check_builder, load, platform
from app_layer.errors import NotFound, PermissionDenied
from app_layer.models import App, Push

bp = Blueprint("hooks", __name__)


def _app_for(session, username: str, app_id: str, lock: bool = False):  # type: ignore[no-untyped-def]
    user = users.get_user(session, username)
    query = select(App).where(App.id == app_id)
    app = session.scalar(query.with_for_update(of=App) if lock else query)
    if app is None:
        raise NotFound(f"No app named {app_id}.")
    if not apps.may_use(session, user, app):
        raise PermissionDenied(f"{username} may not push to {app_id}.")
    return user, app


@bp.post("/v1/hooks/push/")
def push():  # type: ignore[no-untyped-def]
    check_builder()
    with platform().db.write() as session:
        data = load(schemas.PushHook())
        user, app = _app_for(session, data["receive_user"], data["receive_repo"])
        record = Push(app_uuid=app.uuid, owner_id=user.id, **data)
        session.add(record)
        session.flush()
        return serializers.push(record, app.id), 201


@bp.post("/v1/hooks/config/")
def config():  # type: ignore[no-untyped-def]
    check_builder()
    with platform().db.read() as session:
        data = load(schemas.ConfigHook())
        _, app = _app_for(session, data["receive_user"], data["receive_repo"])
        return serializers.config(releases.current(session, app).config, app.id)


@bp.post("/v1/hooks/build/")
def build():  # type: ignore[no-untyped-def]
    check_builder()
    plat = platform()
    with plat.db.write() as session:
        data = load(schemas.BuildHook())
        user, app = _app_for(session, data["receive_user"], data["receive_repo"], lock=True)
        image = data["image"]
        if data["sha"] and image == app.id:  # the Deis builder names the repository only
            image = f"{plat.settings.registry}/{app.id}:git-{data['sha'][:8]}"
        procfile = releases.parse_procfile(data["procfile"])
        release = releases.new_build(session, app, user, image, data["sha"], procfile, data["dockerfile"])
        version = release.version
    plat.deployer.rollout(app.id, version)
    return {"release": {"version": version}, "domains": [f"{app.id}.{plat.settings.domain}"]}


@bp.get("/v1/hooks/key/<path:fingerprint>/")
def key(fingerprint: str):  # type: ignore[no-untyped-def]
    check_builder()
    with platform().db.read() as session:
        found = keys.by_fingerprint(session, fingerprint)
        return {"username": found.owner.username, "fingerprint": found.fingerprint, "public": found.public}
