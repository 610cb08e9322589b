"""Response bodies in the Deis v1 shapes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from app_layer.models import App, Build, Certificate, Config, Container, Domain, Key, Push, Release, User

DEIS_TIME = "%Y-%m-%dT%H:%M:%SUTC"


def when(value: datetime | None) -> str | None:
    return value.strftime(DEIS_TIME) if value else None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def audited(obj: Any) -> dict[str, Any]:
    return {"created": when(obj.created), "updated": when(obj.updated)}


def user(u: User) -> dict[str, Any]:
    return {
        "username": u.username, "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
        "is_superuser": u.is_superuser, "is_staff": u.is_superuser, "is_active": u.is_active,
        "groups": [], "user_permissions": [], "last_login": iso(u.last_login), "date_joined": iso(u.created),
    }


def app(a: App, domain: str) -> dict[str, Any]:
    return {"uuid": a.uuid, "id": a.id, "owner": a.owner.username, "url": f"{a.id}.{domain}",
            "structure": a.structure, **audited(a)}


def app_row(row: Any, domain: str) -> dict[str, Any]:
    """The same shape as ``app``, from a row of ``apps.listing``."""
    return {"uuid": row.uuid, "id": row.id, "owner": row.owner, "url": f"{row.id}.{domain}",
            "structure": row.structure, "created": when(row.created), "updated": when(row.updated)}


def config(c: Config, app_id: str) -> dict[str, Any]:
    return {"uuid": c.uuid, "app": app_id, "owner": c.owner.username, "values": c.values, "memory": c.memory,
            "cpu": c.cpu, "tags": c.tags, **audited(c)}


def build(b: Build, app_id: str) -> dict[str, Any]:
    return {"uuid": b.uuid, "app": app_id, "owner": b.owner.username, "image": b.image, "sha": b.sha,
            "procfile": b.procfile, "dockerfile": b.dockerfile, **audited(b)}


def release(r: Release, app_id: str) -> dict[str, Any]:
    return {"uuid": r.uuid, "app": app_id, "owner": r.owner.username, "version": r.version,
            "summary": r.summary, "config": r.config_uuid, "build": r.build_uuid, "state": r.state,
            "failure": r.failure, **audited(r)}


def container(c: Container, app_id: str, owner: str) -> dict[str, Any]:
    return {"uuid": c.uuid, "app": app_id, "owner": owner, "release": f"v{c.version}", "type": c.type,
            "num": c.num, "state": c.state, "healthy": c.healthy, **audited(c)}


def key(k: Key) -> dict[str, Any]:
    return {"uuid": k.uuid, "id": k.name, "owner": k.owner.username, "public": k.public,
            "fingerprint": k.fingerprint, **audited(k)}


def push(p: Push, app_id: str) -> dict[str, Any]:
    return {"uuid": p.uuid, "owner": p.owner.username, "app": app_id, "sha": p.sha,
            "fingerprint": p.fingerprint, "receive_user": p.receive_user, "receive_repo": p.receive_repo,
            "ssh_connection": p.ssh_connection, "ssh_original_command": p.ssh_original_command, **audited(p)}


def domain(d: Domain, app_id: str) -> dict[str, Any]:
    """No ``uuid``: Deis's Domain had an integer key and dropped the field."""
    return {"owner": d.owner.username, "app": app_id, "domain": d.domain, **audited(d)}


def certificate(c: Certificate) -> dict[str, Any]:
    """The PEM certificate and key are write-only, as in Deis."""
    return {"id": c.id, "owner": c.owner.username, "common_name": c.common_name, "expires": when(c.expires),
            **audited(c)}
