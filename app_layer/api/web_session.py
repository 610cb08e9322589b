"""Web UI sessions: who is logged in (a signed Flask session, never an API token) and CSRF tokens.

The session cookie holds the user's id and a random per-session CSRF token; it is signed with
``settings.secret_key``, HttpOnly and SameSite=Lax. Every POST of the web UI must carry the
token in its ``csrf_token`` form field.
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, request, session
from sqlalchemy import select
from sqlalchemy.orm import Session

from app_layer.models import User

COOKIE = "app_layer_session"


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this session's token (400)."""
    expected = session.get("csrf", "")
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(400, "The form has expired or did not come from this site. Reload the page and try again.")


def log_in(user: User) -> None:
    """A fresh session for ``user`` (new CSRF token: nothing from before the login carries over)."""
    session.clear()
    session["uid"] = user.id
    session["csrf"] = secrets.token_urlsafe(32)


def log_out() -> None:
    session.clear()


def current_user(db_session: Session) -> User | None:
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = db_session.scalar(select(User).where(User.id == uid))
    if user is None or not user.is_active:
        session.pop("uid", None)
        return None
    return user


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site may be redirected to after login."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
