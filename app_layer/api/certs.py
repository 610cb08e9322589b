"""TLS certificates of the caller (global, named by common name): list, add, get, remove."""
from __future__ import annotations

from flask import Blueprint

from app_layer import certs
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, load, paginate

bp = Blueprint("certs", __name__)


@bp.get("/v1/certs/")
def cert_list():  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return paginate(session, certs.visible_to(user), serializers.certificate)


@bp.post("/v1/certs/")
def cert_create():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        data = load(schemas.CertCreate())
        row = certs.add(session, user, data["certificate"], data["key"], data["common_name"])
        return serializers.certificate(row), 201


@bp.get("/v1/certs/<common_name>/")
def cert_get(common_name: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return serializers.certificate(certs.get(session, user, common_name))


@bp.delete("/v1/certs/<common_name>/")
def cert_delete(common_name: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        certs.remove(session, user, common_name)
    return "", 204
