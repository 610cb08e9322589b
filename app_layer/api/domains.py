"""Custom domains of an app: list, add, remove (collaborators may not remove)."""
from __future__ import annotations

from flask import Blueprint

from app_layer import apps, domains
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, load, paginate

bp = Blueprint("domains", __name__)


@bp.get("/v1/apps/<app_id>/domains/")
def domain_list(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        return paginate(session, domains.of_app(app), lambda d: serializers.domain(d, app.id))


@bp.post("/v1/apps/<app_id>/domains/")
def domain_create(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        row = domains.add(session, user, app, load(schemas.DomainCreate())["domain"])
        return serializers.domain(row, app.id), 201


@bp.delete("/v1/apps/<app_id>/domains/<domain>/")
def domain_delete(app_id: str, domain: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, owner_only=True, lock=True)
        domains.remove(session, app, domain)
    return "", 204
