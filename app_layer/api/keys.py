"""SSH keys of the caller (for git push)."""
from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from app_layer import keys
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, load, paginate
from app_layer.errors import NotFound
from app_layer.models import Key

bp = Blueprint("keys", __name__)


@bp.get("/v1/keys/")
def key_list():  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return paginate(session, select(Key).where(Key.owner_id == user.id).order_by(Key.created), serializers.key)


@bp.post("/v1/keys/")
def key_create():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        data = load(schemas.KeyCreate())
        return serializers.key(keys.add(session, user, data["id"], data["public"])), 201


def _own(session, user, name: str) -> Key:  # type: ignore[no-untyped-def]
    key = session.scalar(select(Key).where(Key.owner_id == user.id, Key.name == name))
    if key is None:
        raise NotFound()
    return key


@bp.get("/v1/keys/<path:name>/")
def key_get(name: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return serializers.key(_own(session, user, name))


@bp.delete("/v1/keys/<path:name>/")
def key_delete(name: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        session.delete(_own(session, user, name))
    return "", 204
