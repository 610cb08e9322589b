"""Per-request plumbing for views: the platform, the caller, request bodies, pagination."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import marshmallow
from flask import current_app, request
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, make_transient_to_detached

from app_layer.errors import BadRequest, NotAuthenticated, PermissionDenied, ValidationError
from app_layer.models import Token, User
from app_layer.platform import Platform
from app_layer.security import same_secret, token_digest

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def platform() -> Platform:
    return current_app.extensions["app_layer"]


def token_from_request() -> str | None:
    """The API token from ``Authorization: token <t>`` (or Bearer, or Basic with the token as password)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and request.authorization and request.authorization.password:
        return request.authorization.password
    return None


_USER_BY_TOKEN = (select(User.__table__).join(Token.__table__, Token.user_id == User.id)
                  .where(Token.digest == bindparam("digest")))


def authenticate(session: Session) -> User:
    """The caller, from one Core query (no ORM row loading: this runs on every request).

    The row becomes a persistent ``User`` of ``session`` without a second query, so the views and
    the domain functions get an ordinary ORM object.
    """
    token = token_from_request()
    if token is None:
        raise NotAuthenticated("Authentication credentials were not provided.")
    row = session.connection().execute(_USER_BY_TOKEN, {"digest": token_digest(token)}).mappings().first()
    if row is None or not row["is_active"]:
        raise NotAuthenticated("Invalid token.")
    user = User(**row)
    make_transient_to_detached(user)
    session.add(user)
    return user


@contextmanager
def as_user(write: bool = False) -> Iterator[tuple[Session, User]]:
    """A unit of work for an authenticated caller: 401 before anything else is looked at."""
    db = platform().db
    with db.write() if write else db.read() as session:
        yield session, authenticate(session)


def check_builder() -> None:
    """Builder hooks need the shared key; a user token alone is 403, nothing at all 401."""
    given = request.headers.get("X-Deis-Builder-Auth", "")
    if same_secret(given, platform().settings.builder_key):
        return
    if token_from_request():
        raise PermissionDenied()
    raise NotAuthenticated("Authentication credentials were not provided.")


def body() -> dict[str, Any]:
    """The request body as a dict: JSON, form-encoded or multipart; an empty body is ``{}``."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: v for k, v in request.form.items()}
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"JSON parse error - {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    return data


def load(schema: marshmallow.Schema, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return schema.load(body() if data is None else data)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationError({name: [f"Must be an integer between {low} and {high}."]})
    return int(raw)


def paginate(session: Session, query: Select, serialize) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Deis's page envelope ``{count, next, previous, results}`` (``?page``, ``?page_size``)."""
    size = _int_arg("page_size", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int_arg("page", 1, 1, 10**9)
    count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    window = query.limit(size).offset((page - 1) * size)
    if len(query.column_descriptions) > 1:  # a select of columns: serialize the rows themselves
        rows: Any = session.execute(window).all()
    else:
        rows = session.scalars(window).unique().all()

    def link(number: int) -> str:
        args = dict(request.args)
        args["page"] = str(number)
        return f"{request.base_url}?{urlencode(args)}"

    return {
        "count": count,
        "next": link(page + 1) if page * size < count else None,
        "previous": link(page - 1) if page > 1 and count else None,
        "results": [serialize(row) for row in rows],
    }
