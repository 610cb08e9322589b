"""Apps, who may use them, and their collaborators."""
from __future__ import annotations

import random
import re

from sqlalchemy import Row, Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from app_layer.errors import NotFound, PermissionDenied, ValidationError
from app_layer.models import App, Collaborator, Config, Release, User

APP_ID = re.compile(r"^[a-z0-9-]+$")

_ADJECTIVES = (
    "ancient amber bold brave bright calm clever cosmic crisp dapper eager early fancy fuzzy gentle "
    "golden grand happy hidden humble icy jolly keen lively lucky merry misty noble proud quick quiet "
    "rapid rustic shiny silent sleek snowy solar steady sunny swift tidy vivid warm wild witty young"
).split()
_NOUNS = (
    "aardvark badger beacon bison canyon comet cricket dolphin ember falcon fjord gecko glacier harbor "
    "heron island jaguar kestrel lantern lemur meadow meteor nebula otter panda pebble quasar raven "
    "river rocket saddle sparrow summit tiger tundra urchin valley walrus willow yak zebra"
).split()


def generate_name(session: Session) -> str:
    """A free random ``<adjective>-<noun>`` name, as Deis gave (``youthy-aqualung``)."""
    rng = random.SystemRandom()
    for attempt in range(100):
        name = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
        if attempt > 20:
            name += f"-{rng.randint(100, 9999)}"
        if session.scalar(select(App.uuid).where(App.id == name)) is None:
            return name
    raise ValidationError({"id": ["Could not find a free name; choose one."]})


def validate_id(app_id: str, reserved: tuple[str, ...]) -> None:
    if not APP_ID.match(app_id):
        raise ValidationError({"id": ["App IDs can only contain [a-z0-9-]."]})
    if len(app_id) > 63 or app_id.startswith("-") or app_id.endswith("-"):
        raise ValidationError({"id": ["App IDs are at most 63 characters and cannot start or end with '-'."]})
    if app_id in reserved:
        raise ValidationError({"id": [f"{app_id} is a reserved name."]})


def create(session: Session, owner: User, app_id: str | None, reserved: tuple[str, ...]) -> App:
    """A new app with an empty config and release v1 (which has no build)."""
    if app_id is None:
        app_id = generate_name(session)
    validate_id(app_id, reserved)
    if session.scalar(select(App.uuid).where(App.id == app_id)) is not None:
        raise ValidationError({"id": ["This field must be unique."]})
    app = App(id=app_id, owner=owner, structure={})
    session.add(app)
    session.flush()
    config = Config(app_uuid=app.uuid, owner_id=owner.id, values={}, memory={}, cpu={}, tags={})
    session.add(config)
    session.flush()
    session.add(Release(app_uuid=app.uuid, owner_id=owner.id, version=1, config_uuid=config.uuid,
                        build_uuid=None, state="deployed",
                        summary=f"{owner.username} created initial release"))
    return app


def visible_to(user: User) -> Select:
    """A select of the apps ``user`` may see: own and shared ones; every app for admins."""
    return _visible(select(App), user)


def listing(user: User) -> Select:
    """The app list as plain rows (app columns and ``owner`` name): no ORM objects for a page of 100."""
    return _visible(_ROWS, user)


def listing_for(session: Session, user: User) -> Select:
    """``listing``, narrowed to the apps the user owns when nothing is shared with him (the common case):
    then a page is a range of ``ix_apps_owner_created`` instead of a sort of every visible app."""
    if user.is_superuser or session.scalar(select(Collaborator.app_uuid).where(Collaborator.user_id == user.id)
                                           .limit(1)) is not None:
        return listing(user)
    return _ROWS.where(App.owner_id == user.id)


def _visible(query: Select, user: User) -> Select:
    if not user.is_superuser:
        # IN rather than a correlated EXISTS: SQLite and PostgreSQL answer each side of the OR from an
        # index, so counting a page stays fast with many apps.
        shared = select(Collaborator.app_uuid).where(Collaborator.user_id == user.id)
        query = query.where(or_(App.owner_id == user.id, App.uuid.in_(shared)))
    return query


# Built once: statement cache keys are memoized on the statement object, so the hot path skips them.
_BY_ID = select(App).where(App.id == bindparam("app_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update(of=App)
# An app as a plain row: its columns and its owner's name (lists, and the read of one app).
_ROWS = select(App.uuid, App.id, App.owner_id, App.structure, App.created, App.updated,
               User.username.label("owner")).join(User, User.id == App.owner_id)
_INFO_BY_ID = _ROWS.where(App.id == bindparam("app_id"))


def get(session: Session, user: User, app_id: str, *, owner_only: bool = False, lock: bool = False) -> App:
    """The app if ``user`` may use it. ``owner_only``: collaborators are refused (destroy and the like).

    ``lock`` takes the app's row lock for the rest of the transaction (PostgreSQL ``FOR UPDATE``;
    SQLite write transactions are already exclusive).
    """
    app = session.scalar(_BY_ID_LOCKED if lock else _BY_ID, {"app_id": app_id})
    if app is None:
        raise NotFound()
    if not may_use(session, user, app):
        raise PermissionDenied()
    if owner_only and not (user.is_superuser or app.owner_id == user.id):
        raise PermissionDenied()
    return app


def info(session: Session, user: User, app_id: str) -> Row:
    """``get`` for reading only: the app's columns and ``owner`` name as one plain row, with the
    same 404/403 rules. Core statements on the session's connection: this is the busiest read."""
    row = session.connection().execute(_INFO_BY_ID, {"app_id": app_id}).first()
    if row is None:
        raise NotFound()
    if not may_use(session, user, row):
        raise PermissionDenied()
    return row


def may_use(session: Session, user: User, app: App | Row) -> bool:
    """Owner, admin or collaborator; ``app`` is an ``App`` or a row with its ``uuid`` and ``owner_id``."""
    if user.is_superuser or app.owner_id == user.id:
        return True
    return session.get(Collaborator, (app.uuid, user.id)) is not None


def collaborators(session: Session, app: App) -> list[str]:
    return list(session.scalars(
        select(User.username).join(Collaborator, Collaborator.user_id == User.id)
        .where(Collaborator.app_uuid == app.uuid).order_by(User.username)))


def share(session: Session, actor: User, app: App, user: User) -> None:
    if not (actor.is_superuser or app.owner_id == actor.id):
        raise PermissionDenied()
    if session.get(Collaborator, (app.uuid, user.id)) is None and user.id != app.owner_id:
        session.add(Collaborator(app_uuid=app.uuid, user_id=user.id))


def unshare(session: Session, actor: User, app: App, user: User) -> None:
    """Owners and admins revoke anyone; a collaborator may remove himself."""
    if not (actor.is_superuser or app.owner_id == actor.id or actor.id == user.id):
        raise PermissionDenied()
    row = session.get(Collaborator, (app.uuid, user.id))
    if row is None:
        raise NotFound(f"{user.username} is not a collaborator on {app.id}.")
    session.delete(row)


def transfer(session: Session, actor: User, app: App, new_owner: User) -> None:
    if not (actor.is_superuser or app.owner_id == actor.id):
        raise PermissionDenied()
    app.owner = new_owner
    row = session.get(Collaborator, (app.uuid, new_owner.id))
    if row is not None:
        session.delete(row)


def count_owned(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(App).where(App.owner_id == user.id)) or 0
