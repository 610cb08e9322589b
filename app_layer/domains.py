"""Custom domains of apps: Deis v1.13's hostname rules, globally unique names."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app_layer.errors import NotFound, ValidationError
from app_layer.models import App, Domain, User

MAX_LENGTH = 255
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
INVALID = "Hostname does not look valid."


def normalize(domain: str, field: str = "domain") -> str:
    """The hostname as stored (lowercase, one trailing dot stripped), or ``ValidationError`` on ``field``.

    Rules of Deis v1.13: at most 255 characters; a first label ``*`` is refused; every label is
    ``[a-z0-9-]{1,63}`` not starting or ending with ``-`` and without ``--``; no label is all
    digits and a single-label name has no digits (so IP addresses are refused), except under
    ``xip.io``, whose names embed an address.
    """
    if not isinstance(domain, str) or not domain:
        raise ValidationError({field: ["This field is required."]})
    if len(domain) > MAX_LENGTH:
        raise ValidationError({field: [f"Ensure this field has no more than {MAX_LENGTH} characters."]})
    name = domain[:-1] if domain.endswith(".") else domain
    name = name.lower()
    labels = name.split(".")
    if labels[0] == "*":
        raise ValidationError({field: ["Adding a wildcard subdomain is currently not supported."]})
    if not all(LABEL.match(label) and "--" not in label for label in labels):
        raise ValidationError({field: [INVALID]})
    if "xip.io" not in name:
        if any(label.isdigit() for label in labels):
            raise ValidationError({field: [INVALID]})
        if len(labels) == 1 and any(ch.isdigit() for ch in name):
            raise ValidationError({field: [INVALID]})
    return name


def add(session: Session, user: User, app: App, domain: str) -> Domain:
    """Attach ``domain`` to ``app``; a name belongs to at most one app on the whole platform."""
    name = normalize(domain)
    if session.scalar(select(Domain.id).where(Domain.domain == name)) is not None:
        raise ValidationError({"domain": [f"The domain {name} is already in use by another app"]})
    row = Domain(app_uuid=app.uuid, owner_id=user.id, domain=name, owner=user)
    session.add(row)
    session.flush()
    return row


def get(session: Session, app: App, domain: str) -> Domain:
    name = domain[:-1] if domain.endswith(".") else domain
    row = session.scalar(select(Domain).where(Domain.app_uuid == app.uuid, Domain.domain == name.lower()))
    if row is None:
        raise NotFound(f"No domain {domain} on {app.id}.")
    return row


def remove(session: Session, app: App, domain: str) -> None:
    session.delete(get(session, app, domain))


def of_app(app: App):  # type: ignore[no-untyped-def]
    """A select of the app's domains, in the order they were added."""
    return select(Domain).where(Domain.app_uuid == app.uuid).order_by(Domain.created, Domain.id)
