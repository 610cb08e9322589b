"""Accounts: register, login, password, tokens, cancel; users and admin rights (admins only)."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from app_layer import users
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, load, paginate, platform, token_from_request
from app_layer.errors import NotAuthenticated
from app_layer.models import User

bp = Blueprint("accounts", __name__)


@bp.post("/v1/auth/register/")
def register():  # type: ignore[no-untyped-def]
    plat = platform()
    with plat.db.write() as session:
        data = load(schemas.Register())
        actor = None
        if token_from_request():
            try:
                actor = users.user_for_token(session, token_from_request() or "")
            except NotAuthenticated:
                actor = None
        user = users.register(session, plat.settings.registration_mode, actor, **data)
        return serializers.user(user), 201


@bp.post("/v1/auth/login/")
def login():  # type: ignore[no-untyped-def]
    with platform().db.write() as session:
        data = load(schemas.Login())
        return {"token": users.login(session, data["username"], data["password"])}


@bp.delete("/v1/auth/cancel/")
def cancel():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        data = load(schemas.OptionalUsername())
        users.cancel(session, user, data["username"])
    return "", 204


@bp.post("/v1/auth/passwd/")
def passwd():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        data = load(schemas.Passwd())
        users.change_password(session, user, data["password"], data["new_password"], data["username"])
    return {"status": "password set"}


@bp.post("/v1/auth/tokens/")
def tokens():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        data = load(schemas.Tokens())
        token = users.regenerate_tokens(session, user, data["username"], data["all"])
    return {"token": token} if token else jsonify("")


@bp.get("/v1/users/")
def user_list():  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        users.require_admin(user)
        return paginate(session, select(User).order_by(User.username), serializers.user)


@bp.get("/v1/admin/perms/")
def admin_list():  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        users.require_admin(user)
        return paginate(session, select(User).where(User.is_superuser.is_(True)).order_by(User.username),
                        lambda u: {"username": u.username, "is_superuser": u.is_superuser})


@bp.post("/v1/admin/perms/")
def admin_grant():  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        users.require_admin(user)
        users.set_admin(session, user, load(schemas.Username())["username"], True)
    return "", 201


@bp.delete("/v1/admin/perms/<username>/")
def admin_revoke(username: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        users.set_admin(session, user, username, False)
    return "", 204
