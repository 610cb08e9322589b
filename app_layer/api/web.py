"""The web UI at ``/``: server-rendered forms over the same domain functions and schemas as the API.

Works without JavaScript. Every POST checks the session's CSRF token, then answers with a
redirect (post/redirect/get); errors are flashed with the API's own messages.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import marshmallow
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app_layer import apps, configs, domains, keys, releases, users
from app_layer.api import schemas
from app_layer.api.apps import format_line
from app_layer.api.context import platform
from app_layer.api.errors import field_errors, status_of
from app_layer.api.web_session import COOKIE, check_csrf, csrf_token, current_user, log_in, log_out, safe_next
from app_layer.backends.base import Capability, LogLine
from app_layer.errors import AppLayerError, NotFound, Unavailable, ValidationError
from app_layer.models import App, Container, Event, Key, Release, User

bp = Blueprint("web", __name__, template_folder="templates")
LOG_LINES = 50
RELEASES_SHOWN = 20
_FORM_ERRORS = (AppLayerError, marshmallow.ValidationError)


class LoginRequired(Exception):
    """The page needs a logged-in user."""


@bp.record_once
def _configure(state) -> None:  # type: ignore[no-untyped-def]
    state.app.config.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True,
                            SESSION_COOKIE_SAMESITE="Lax")


@bp.before_request
def _csrf() -> None:
    if request.method == "POST":
        check_csrf()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; form-action 'self'; frame-ancestors 'none'")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


@bp.errorhandler(LoginRequired)
def _login_required(_exc: LoginRequired):  # type: ignore[no-untyped-def]
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("web.login", next=target) if target else url_for("web.login"), 303)


@bp.errorhandler(AppLayerError)
def _domain_error(exc: AppLayerError):  # type: ignore[no-untyped-def]
    return render_template("error.html", messages=messages(exc), user=None), status_of(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
    return render_template("error.html", messages=[exc.description or exc.name], user=None), exc.code or 500


def messages(exc: Exception) -> list[str]:
    """The API's error messages, one line each (``field: message``, as the CLI prints them)."""
    if isinstance(exc, marshmallow.ValidationError):
        fields = field_errors(exc.messages)
    elif isinstance(exc, ValidationError):
        fields = exc.fields
    else:
        return [getattr(exc, "detail", str(exc))]
    return [msg if name in ("detail", "non_field_errors") else f"{name}: {msg}"
            for name, msgs in fields.items() for msg in msgs]


def form() -> dict[str, str]:
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


@contextmanager
def web_user(write: bool = False) -> Iterator[tuple[Session, User]]:
    """A unit of work for the logged-in user; anyone else goes to the login page."""
    db = platform().db
    with db.write() if write else db.read() as session:
        user = current_user(session)
        if user is None:
            raise LoginRequired()
        yield session, user


def attempt(back: str, action: Callable[[], str | None]) -> Response:
    """Run a form's action; flash its success line or the API's error messages; redirect back."""
    try:
        done = action()
    except _FORM_ERRORS as exc:
        for message in messages(exc):
            flash(message, "error")
    else:
        if done:
            flash(done, "info")
    return redirect(back, 303)


# --- accounts -----------------------------------------------------------------------------------


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    with platform().db.read() as session:
        user = current_user(session)
    return redirect(url_for("web.app_list" if user else "web.login"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    errors: list[str] = []
    if request.method == "POST":
        try:
            with platform().db.write() as session:
                data = schemas.Login().load(form())
                user = users.authenticate(session, data["username"], data["password"])
            log_in(user)
            return redirect(safe_next(request.args.get("next"), url_for("web.app_list")), 303)
        except _FORM_ERRORS as exc:
            errors = messages(exc)
    return render_template("login.html", errors=errors, form=request.form, user=None), 400 if errors else 200


@bp.route("/register", methods=["GET", "POST"])
def register():  # type: ignore[no-untyped-def]
    errors: list[str] = []
    plat = platform()
    if request.method == "POST":
        try:
            with plat.db.write() as session:
                data = schemas.Register().load(form())
                user = users.register(session, plat.settings.registration_mode, current_user(session), **data)
            log_in(user)
            flash(f"Welcome, {user.username}.", "info")
            return redirect(url_for("web.app_list"), 303)
        except _FORM_ERRORS as exc:
            errors = messages(exc)
    return render_template("register.html", errors=errors, form=request.form, user=None), 400 if errors else 200


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    log_out()
    return redirect(url_for("web.login"), 303)


@bp.get("/keys")
def key_list():  # type: ignore[no-untyped-def]
    with web_user() as (session, user):
        rows = session.scalars(select(Key).where(Key.owner_id == user.id).order_by(Key.created)).all()
        return render_template("keys.html", user=user, keys=rows)


@bp.post("/keys")
def key_add():  # type: ignore[no-untyped-def]
    def add() -> str:
        with web_user(write=True) as (session, user):
            data = schemas.KeyCreate().load(form())
            key = keys.add(session, user, data["id"], data["public"])
            return f"Added key {key.name} ({key.fingerprint})."

    return attempt(url_for("web.key_list"), add)


@bp.post("/keys/remove")
def key_remove():  # type: ignore[no-untyped-def]
    def remove() -> str:
        name = request.form.get("id", "")
        with web_user(write=True) as (session, user):
            key = session.scalar(select(Key).where(Key.owner_id == user.id, Key.name == name))
            if key is None:
                raise NotFound(f"No key named {name}.")
            session.delete(key)
        return f"Removed key {name}."

    return attempt(url_for("web.key_list"), remove)


# --- apps ---------------------------------------------------------------------------------------


@bp.get("/apps")
def app_list():  # type: ignore[no-untyped-def]
    with web_user() as (session, user):
        rows = session.scalars(apps.visible_to(user).order_by(App.id)).all()
        return render_template("apps.html", user=user, apps=rows, domain=platform().settings.domain)


@bp.post("/apps")
def app_create():  # type: ignore[no-untyped-def]
    created: list[str] = []

    def create() -> str:
        plat = platform()
        with web_user(write=True) as (session, user):
            data = schemas.AppCreate().load({"id": request.form.get("id") or None})
            app = apps.create(session, user, data["id"], plat.settings.reserved_names)
            releases.record_event(session, app, f"{user.username} created {app.id}")
            created.append(app.id)
        return f"Created {created[0]}."

    response = attempt(url_for("web.app_list"), create)
    return redirect(url_for("web.app_page", app_id=created[0]), 303) if created else response


@bp.get("/apps/<app_id>")
def app_page(app_id: str):  # type: ignore[no-untyped-def]
    plat = platform()
    with web_user() as (session, user):
        app = apps.get(session, user, app_id)
        procs = session.scalars(select(Container).where(Container.app_uuid == app.uuid, Container.type != "run")
                                .order_by(Container.type, Container.num, Container.version)).all()
        history = session.scalars(select(Release).where(Release.app_uuid == app.uuid)
                                  .order_by(Release.version.desc()).limit(RELEASES_SHOWN)).all()
        current = releases.current(session, app)
        build = (releases.running(session, app) or current).build
        types = set(app.structure)
        if build is not None:
            types |= set(build.procfile) or {"cmd"}
        context = {
            "user": user, "app": app, "url": f"http://{app.id}.{plat.settings.domain}/", "processes": procs,
            "releases": history, "current": current, "config": dict(sorted(current.config.values.items())),
            "scale_types": sorted(types), "has_build": build is not None,
            "domains": session.scalars(domains.of_app(app)).all(),
            "may_remove": user.is_superuser or app.owner_id == user.id,
            "logs": _log_lines(session, app),
        }
        return render_template("app.html", **context)


def _log_lines(session: Session, app: App) -> list[str]:
    """The newest platform events and process output, as ``app-layer logs`` shows them."""
    plat = platform()
    lines = [LogLine(e.time, "app-layer", e.message) for e in session.scalars(
        select(Event).where(Event.app_uuid == app.uuid).order_by(Event.id.desc()).limit(LOG_LINES))]
    if Capability.LOGS in plat.backend.capabilities:
        try:
            lines += plat.backend.logs(app.id, LOG_LINES)
        except Unavailable as exc:
            lines.append(LogLine(time.time(), "app-layer", f"process output unavailable: {exc.detail}"))
    return [format_line(app.id, line) for line in sorted(lines, key=lambda line: line.time)[-LOG_LINES:]]


def _new_release(app_id: str, make: Callable[[Session, App, User], Release], what: str) -> str:
    """Record a release in one transaction, then roll it out (as the API does)."""
    with web_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        version = make(session, app, user).version
    platform().deployer.rollout(app_id, version)
    return f"{what}: v{version} is deployed."


def _app_back(app_id: str) -> str:
    return url_for("web.app_page", app_id=app_id)


@bp.post("/apps/<app_id>/config")
def config_set(app_id: str):  # type: ignore[no-untyped-def]
    key, value = request.form.get("key", ""), request.form.get("value", "")

    def change(session: Session, app: App, user: User) -> Release:
        parsed = configs.parse_change(schemas.ConfigChange().load({"values": {key: value}}))
        return releases.change_config(session, app, user, parsed)

    return attempt(_app_back(app_id), lambda: _new_release(app_id, change, f"Set {key}"))


@bp.post("/apps/<app_id>/config/unset")
def config_unset(app_id: str):  # type: ignore[no-untyped-def]
    key = request.form.get("key", "")

    def change(session: Session, app: App, user: User) -> Release:
        parsed = configs.parse_change(schemas.ConfigChange().load({"values": {key: None}}))
        return releases.change_config(session, app, user, parsed)

    return attempt(_app_back(app_id), lambda: _new_release(app_id, change, f"Removed {key}"))


@bp.post("/apps/<app_id>/rollback")
def rollback(app_id: str):  # type: ignore[no-untyped-def]
    raw = request.form.get("version") or None

    def back(session: Session, app: App, user: User) -> Release:
        return releases.rollback(session, app, user, schemas.Rollback().load({"version": raw})["version"])

    return attempt(_app_back(app_id), lambda: _new_release(app_id, back, f"Rolled back to v{raw}" if raw
                                                           else "Rolled back"))


@bp.post("/apps/<app_id>/scale")
def scale(app_id: str):  # type: ignore[no-untyped-def]
    def do() -> str:
        plat = platform()
        counts = schemas.scale_counts(form())
        with web_user(write=True) as (session, user):
            app = apps.get(session, user, app_id, lock=True)
            before = dict(app.structure)
            releases.scale(session, app, user, counts)
        plat.deployer.rescale(app_id, before)
        return "Scaled " + " ".join(f"{t}={n}" for t, n in sorted(counts.items())) + "."

    return attempt(_app_back(app_id), do)


@bp.post("/apps/<app_id>/domains")
def domain_add(app_id: str):  # type: ignore[no-untyped-def]
    def add() -> str:
        with web_user(write=True) as (session, user):
            app = apps.get(session, user, app_id, lock=True)
            row = domains.add(session, user, app, request.form.get("domain", ""))
            return f"Added {row.domain}."

    return attempt(_app_back(app_id), add)


@bp.post("/apps/<app_id>/domains/remove")
def domain_remove(app_id: str):  # type: ignore[no-untyped-def]
    def remove() -> str:
        name = request.form.get("domain", "")
        with web_user(write=True) as (session, user):
            app = apps.get(session, user, app_id, owner_only=True, lock=True)
            domains.remove(session, app, name)
        return f"Removed {name}."

    return attempt(_app_back(app_id), remove)
