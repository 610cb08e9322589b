"""Users, passwords, API tokens and admin rights. Each function runs inside the caller's transaction."""
from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app_layer.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationError
from app_layer.models import App, Token, User, utcnow
from app_layer.security import check_password, hash_password, new_token, token_digest

USERNAME = re.compile(r"^[\w.@+-]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def register(session: Session, mode: str, actor: User | None, username: str, password: str,
             email: str, first_name: str = "", last_name: str = "") -> User:
    """Create a user. The first user ever becomes an admin. ``mode`` is the registration mode."""
    if mode == "disabled":
        raise PermissionDenied("Registration is disabled")
    first = session.scalar(select(func.count()).select_from(User)) == 0
    if mode == "admin_only" and not first and not (actor and actor.is_superuser):
        raise PermissionDenied("Registration is restricted to administrators")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationError({"username": ["A user with that username already exists."]})
    user = User(username=username, email=email, first_name=first_name, last_name=last_name,
                password_hash=hash_password(password), is_superuser=first)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with this password (and ``last_login`` updated), else ``ValidationError``."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active or not check_password(user.password_hash, password):
        raise ValidationError({"non_field_errors": ["Unable to log in with provided credentials."]})
    user.last_login = utcnow()
    return user


def login(session: Session, username: str, password: str) -> str:
    """Check the password and return a new API token (only its digest is kept)."""
    return issue_token(session, authenticate(session, username, password))


def issue_token(session: Session, user: User) -> str:
    token = new_token()
    session.add(Token(user_id=user.id, digest=token_digest(token)))
    return token


def user_for_token(session: Session, token: str) -> User:
    row = session.scalar(select(Token).where(Token.digest == token_digest(token)))
    if row is None or not row.user.is_active:
        raise NotAuthenticated("Invalid token.")
    return row.user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username}.")
    return user


def _target(session: Session, actor: User, username: str | None) -> User:
    if not username or username == actor.username:
        return actor
    if not actor.is_superuser:
        raise PermissionDenied()
    return get_user(session, username)


def change_password(session: Session, actor: User, password: str | None, new_password: str,
                    username: str | None = None) -> None:
    """Users change their own password with the current one; admins may set anyone's without it."""
    user = _target(session, actor, username)
    if not (actor.is_superuser and user is not actor) and not check_password(user.password_hash, password or ""):
        raise ValidationError({"detail": ["Current password does not match"]})
    user.password_hash = hash_password(new_password)


def regenerate_tokens(session: Session, actor: User, username: str | None = None, everyone: bool = False) -> str:
    """Revoke tokens and issue a new one; ``everyone`` (admins) revokes every user's tokens."""
    if everyone:
        if not actor.is_superuser:
            raise PermissionDenied()
        session.execute(delete(Token))
        return ""
    user = _target(session, actor, username)
    session.execute(delete(Token).where(Token.user_id == user.id))
    return issue_token(session, user)


def cancel(session: Session, actor: User, username: str | None = None) -> None:
    """Delete an account; refused while the user still owns apps."""
    user = _target(session, actor, username)
    if session.scalar(select(func.count()).select_from(App).where(App.owner_id == user.id)):
        raise Conflict(f"{user.username} still has applications assigned. Delete or transfer ownership")
    session.delete(user)


def set_admin(session: Session, actor: User, username: str, admin: bool) -> None:
    if not actor.is_superuser:
        raise PermissionDenied()
    get_user(session, username).is_superuser = admin


def require_admin(actor: User) -> None:
    if not actor.is_superuser:
        raise PermissionDenied()
