"""Processes (Deis "containers"): observed state from the database; restart through the backend."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import false, select

from app_layer import apps
from app_layer.api import serializers
from app_layer.api.context import as_user, paginate, platform
from app_layer.backends.base import Capability
from app_layer.errors import NotFound, NotSupported
from app_layer.models import Container

bp = Blueprint("containers", __name__)
TYPE = "<process_type>"
MAX_INT = 2**31 - 1


def _query(app_uuid: str, process_type: str | None = None, num: int | None = None):  # type: ignore[no-untyped-def]
    query = select(Container).where(Container.app_uuid == app_uuid, Container.type != "run")
    if process_type is not None:
        query = query.where(Container.type == process_type)
    if num is not None:  # beyond a 32-bit integer no process exists (and PostgreSQL would refuse the query)
        query = query.where(Container.num == num) if num <= MAX_INT else query.where(false())
    return query.order_by(Container.type, Container.num, Container.version)


@bp.get("/v1/apps/<app_id>/containers/")
@bp.get(f"/v1/apps/<app_id>/containers/{TYPE}/")
def container_list(app_id: str, process_type: str | None = None):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        owner = app.owner.username
        return paginate(session, _query(app.uuid, process_type), lambda c: serializers.container(c, app.id, owner))


@bp.get(f"/v1/apps/<app_id>/containers/{TYPE}/<int:num>/")
def container_get(app_id: str, process_type: str, num: int):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        container = session.scalars(_query(app.uuid, process_type, num)).first()
        if container is None:
            raise NotFound(f"No process {process_type}.{num}.")
        return serializers.container(container, app.id, app.owner.username)


@bp.post("/v1/apps/<app_id>/containers/restart/")
@bp.post(f"/v1/apps/<app_id>/containers/{TYPE}/restart/")
@bp.post(f"/v1/apps/<app_id>/containers/{TYPE}/<int:num>/restart/")
def restart(app_id: str, process_type: str | None = None, num: int | None = None):  # type: ignore[no-untyped-def]
    plat = platform()
    if Capability.RESTART not in plat.backend.capabilities:
        raise NotSupported(f"The {plat.backend.name} scheduler cannot restart processes.")
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        if num is not None and session.scalars(_query(app.uuid, process_type, num)).first() is None:
            raise NotFound(f"No process {process_type}.{num}.")
        owner, app_uuid = app.owner.username, app.uuid
    with plat.deployer.app_lock(app_id):
        plat.backend.restart(app_id, process_type, num)
    plat.deployer.sync(app_id)
    with plat.db.read() as session:
        rows = session.scalars(_query(app_uuid, process_type, num)).all()
        return jsonify([serializers.container(c, app_id, owner) for c in rows])
