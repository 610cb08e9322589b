"""The data model (Deis v1 semantics), SQLAlchemy 2 declarative mappings.

Config, Build and Release rows are immutable history. Observed process state lives in
``Container`` rows written by the reconciler, so API reads never ask a backend.
"""
from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Audited:
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class User(Audited, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    first_name: Mapped[str] = mapped_column(String(30), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Token(Base):
    """An API token; only its SHA-256 digest is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class Key(Audited, Base):
    __tablename__ = "keys"
    __table_args__ = (UniqueConstraint("owner_id", "fingerprint"), UniqueConstraint("owner_id", "name"))
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    public: Mapped[str] = mapped_column(Text, unique=True)
    fingerprint: Mapped[str] = mapped_column(String(128), index=True)
    sha256: Mapped[str] = mapped_column(String(128), index=True)
    owner: Mapped[User] = relationship(lazy="joined")


class App(Audited, Base):
    __tablename__ = "apps"
    # The app list of a user is read in this order: a page of 100 is an index range, not a sort.
    __table_args__ = (Index("ix_apps_owner_created", "owner_id", "created", "id"),)
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    structure: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[User] = relationship(lazy="joined")


class Collaborator(Base):
    __tablename__ = "collaborators"
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Config(Audited, Base):
    __tablename__ = "configs"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    memory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cpu: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[User] = relationship(lazy="joined")


class Build(Audited, Base):
    __tablename__ = "builds"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    image: Mapped[str] = mapped_column(String(256))
    sha: Mapped[str] = mapped_column(String(40), default="")
    procfile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dockerfile: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[User] = relationship(lazy="joined")


RELEASE_STATES = ("pending", "deployed", "failed", "superseded")


class Release(Audited, Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_uuid", "version"),)
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="")
    config_uuid: Mapped[str] = mapped_column(ForeignKey("configs.uuid"))
    build_uuid: Mapped[str | None] = mapped_column(ForeignKey("builds.uuid"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    failure: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[User] = relationship(lazy="joined")
    config: Mapped[Config] = relationship(lazy="joined")
    build: Mapped[Build | None] = relationship(lazy="joined")


class Container(Audited, Base):
    """A process as last observed on the backend (written by the reconciler)."""

    __tablename__ = "containers"
    __table_args__ = (UniqueConstraint("app_uuid", "type", "num", "version"),)
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(128))
    num: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="initialized")
    healthy: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    backend_id: Mapped[str] = mapped_column(String(255), default="")


class Domain(Audited, Base):
    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    owner: Mapped[User] = relationship(lazy="joined")


class Certificate(Audited, Base):
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    common_name: Mapped[str] = mapped_column(String(255), unique=True)
    certificate: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    expires: Mapped[datetime] = mapped_column(DateTime)
    owner: Mapped[User] = relationship(lazy="joined")


class Push(Audited, Base):
    __tablename__ = "pushes"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sha: Mapped[str] = mapped_column(String(40))
    fingerprint: Mapped[str] = mapped_column(String(255), default="")
    receive_user: Mapped[str] = mapped_column(String(255))
    receive_repo: Mapped[str] = mapped_column(String(255))
    ssh_connection: Mapped[str] = mapped_column(String(255), default="")
    ssh_original_command: Mapped[str] = mapped_column(String(255), default="")
    owner: Mapped[User] = relationship(lazy="joined")


class Event(Base):
    """A platform event in an app's log stream (release created, scaled, rollout failed)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    app_uuid: Mapped[str] = mapped_column(ForeignKey("apps.uuid", ondelete="CASCADE"), index=True)
    time: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)


class RouteEntry(Base):
    """A route in the embedded registry (``APP_LAYER_ROUTES=embedded``): written by the publisher, read
    by the router, which may run in other processes (``app_layer/routing/embedded.py``)."""

    __tablename__ = "routes"
    app: Mapped[str] = mapped_column(String(64), primary_key=True)
    process: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated: Mapped[float] = mapped_column(Float)
