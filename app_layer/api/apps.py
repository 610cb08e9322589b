"""Apps: list, create, info, transfer, destroy; sharing; scale; run; logs."""
from __future__ import annotations

import json
import time

from flask import Blueprint, Response, request
from sqlalchemy import delete, select

from app_layer import apps, releases, users
from app_layer.api import schemas, serializers
from app_layer.api.context import as_user, body, load, paginate, platform
from app_layer.backends.base import Capability, LogLine
from app_layer.errors import NotSupported, Unavailable, ValidationError
from app_layer.models import App, Event

bp = Blueprint("apps", __name__)
LOG_LINES = 1000


@bp.get("/v1/")
def root():  # type: ignore[no-untyped-def]
    with as_user():
        return {}


@bp.get("/v1/apps/")
def app_list():  # type: ignore[no-untyped-def]
    domain = platform().settings.domain
    with as_user() as (session, user):
        return paginate(session, apps.listing_for(session, user).order_by(App.created, App.id),
                        lambda row: serializers.app_row(row, domain))


@bp.post("/v1/apps/")
def app_create():  # type: ignore[no-untyped-def]
    plat = platform()
    with as_user(write=True) as (session, user):
        data = load(schemas.AppCreate())
        app = apps.create(session, user, data["id"], plat.settings.reserved_names)
        releases.record_event(session, app, f"{user.username} created {app.id}")
        return serializers.app(app, plat.settings.domain), 201


@bp.get("/v1/apps/<app_id>/")
def app_info(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return serializers.app_row(apps.info(session, user, app_id), platform().settings.domain)


@bp.post("/v1/apps/<app_id>/")
def app_transfer(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        data = load(schemas.AppUpdate())
        apps.transfer(session, user, app, users.get_user(session, data["owner"]))
    return "", 200


@bp.delete("/v1/apps/<app_id>/")
def app_destroy(app_id: str):  # type: ignore[no-untyped-def]
    plat = platform()
    with as_user() as (session, user):
        apps.get(session, user, app_id, owner_only=True)
    plat.deployer.destroy(app_id)  # engine first: on failure (503) nothing is forgotten
    with plat.db.write() as session:
        session.execute(delete(App).where(App.id == app_id))
    return "", 204


@bp.get("/v1/apps/<app_id>/perms/")
def perms_list(app_id: str):  # type: ignore[no-untyped-def]
    with as_user() as (session, user):
        return {"users": apps.collaborators(session, apps.get(session, user, app_id))}


@bp.post("/v1/apps/<app_id>/perms/")
def perms_create(app_id: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id)
        apps.share(session, user, app, users.get_user(session, load(schemas.Username())["username"]))
    return "", 201


@bp.delete("/v1/apps/<app_id>/perms/<username>/")
def perms_delete(app_id: str, username: str):  # type: ignore[no-untyped-def]
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id)
        apps.unshare(session, user, app, users.get_user(session, username))
    return "", 204


@bp.post("/v1/apps/<app_id>/scale/")
def scale(app_id: str):  # type: ignore[no-untyped-def]
    plat = platform()
    with as_user(write=True) as (session, user):
        app = apps.get(session, user, app_id, lock=True)
        counts = schemas.scale_counts(body())
        before = dict(app.structure)
        releases.scale(session, app, user, counts)
    plat.deployer.rescale(app_id, before)
    return "", 204


@bp.post("/v1/apps/<app_id>/run/")
def run(app_id: str):  # type: ignore[no-untyped-def]
    plat = platform()
    if Capability.RUN not in plat.backend.capabilities:
        raise NotSupported(f"The {plat.backend.name} scheduler cannot run one-off commands.")
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        command = load(schemas.Run())["command"]
        release = releases.running(session, app)
        spec = releases.spec(app, release, plat.settings.domain) if release else None
        if spec is None:
            raise ValidationError({"detail": ["No build associated with this release to run this command"]})
    rc, output = plat.backend.run(spec, command, plat.settings.run_timeout)
    return Response(json.dumps([rc, output]), mimetype="text/plain")


def format_line(app_id: str, line: LogLine) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(line.time)) + f".{int(line.time % 1 * 1e6):06d}Z"
    return f"{stamp} {app_id}[{line.source}]: {line.message}"


def app_log_lines(app_id: str, lines: int) -> list[str]:
    """Platform events and process output of an app, merged in time order, newest ``lines``."""
    plat = platform()
    with as_user() as (session, user):
        app = apps.get(session, user, app_id)
        events = [LogLine(e.time, "app-layer", e.message) for e in session.scalars(
            select(Event).where(Event.app_uuid == app.uuid).order_by(Event.id.desc()).limit(lines))]
    output: list[LogLine] = []
    if Capability.LOGS in plat.backend.capabilities:
        try:
            output = plat.backend.logs(app_id, lines)
        except Unavailable as exc:
            events.append(LogLine(time.time(), "app-layer", f"process output unavailable: {exc.detail}"))
    merged = sorted(events + output, key=lambda line: line.time)[-lines:] if lines else []
    if lines and Capability.LOGS not in plat.backend.capabilities:
        # Said last, so it is never cut off by log_lines.
        merged.append(LogLine(time.time(), "app-layer", f"the {plat.backend.name} scheduler does not expose "
                                                        "process output; only platform events are shown"))
    return [format_line(app_id, line) for line in merged]


@bp.get("/v1/apps/<app_id>/logs/")
def logs(app_id: str):  # type: ignore[no-untyped-def]
    raw = request.args.get("log_lines", str(LOG_LINES))
    if not raw.isdigit() or not 0 <= int(raw) <= 100_000:
        raise ValidationError({"log_lines": ["Must be an integer between 0 and 100000."]})
    text = "".join(line + "\n" for line in app_log_lines(app_id, int(raw)))
    if not text:
        return "", 204
    if request.headers.get("User-Agent", "").startswith("python-requests"):
        # The Deis 1.9 Python client reads a JSON-encoded string; the Go client plain text.
        return Response(json.dumps(text), mimetype="application/json")
    return Response(text, mimetype="text/plain")
