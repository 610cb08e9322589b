"""TLS certificates for custom domains: PEM checked with ``cryptography``, key matched to certificate.

Certificates are global (not per app), named by their common name, as in Deis v1; the router
pairs a certificate with the domain of the same name.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app_layer import domains
from app_layer.errors import NotFound, PermissionDenied, ValidationError
from app_layer.models import Certificate, User

MAX_PEM = 64 * 1024


@dataclass(frozen=True)
class Parsed:
    common_name: str
    expires: datetime
    certificate: str
    key: str


def parse(certificate: str, key: str, common_name: str | None = None) -> Parsed:
    """Validate a PEM certificate and its private key; the common name defaults to the subject's CN."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
    except ValueError:
        raise ValidationError({"certificate": ["Could not load the certificate: not a PEM X.509 certificate."]}) \
            from None
    try:
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except TypeError:
        raise ValidationError({"key": ["The private key is encrypted; give it without a passphrase."]}) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError({"key": ["Could not load the private key: not a PEM private key."]}) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(serialization.Encoding.DER, spki) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValidationError({"key": ["The private key does not match the certificate."]})
    field = "common_name"
    if not common_name:
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names:
            raise ValidationError({field: ["The certificate has no common name; give one."]})
        common_name, field = str(names[0].value), "certificate"
    if "*" in common_name:
        raise ValidationError({field: ["Wildcard certificates are not supported."]})
    name = domains.normalize(common_name, field)
    expires = cert.not_valid_after_utc.astimezone(UTC).replace(tzinfo=None)
    return Parsed(name, expires, certificate, key)


def add(session: Session, owner: User, certificate: str, key: str, common_name: str | None = None) -> Certificate:
    """Store a certificate; a common name may have one certificate on the whole platform."""
    parsed = parse(certificate, key, common_name)
    if session.scalar(select(Certificate.id).where(Certificate.common_name == parsed.common_name)) is not None:
        raise ValidationError({"common_name": [f"A certificate for {parsed.common_name} already exists."]})
    row = Certificate(owner_id=owner.id, owner=owner, common_name=parsed.common_name,
                      certificate=parsed.certificate, key=parsed.key, expires=parsed.expires)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # another request added the same name between the check and the insert
        raise ValidationError({"common_name": [f"A certificate for {parsed.common_name} already exists."]}) \
            from None
    return row


def visible_to(user: User) -> Select:
    """Users see their own certificates; admins see all."""
    query = select(Certificate).order_by(Certificate.common_name)
    return query if user.is_superuser else query.where(Certificate.owner_id == user.id)


def get(session: Session, user: User, common_name: str) -> Certificate:
    row = session.scalar(select(Certificate).where(Certificate.common_name == common_name.lower().rstrip(".")))
    if row is None or not (user.is_superuser or row.owner_id == user.id):
        raise NotFound(f"No certificate for {common_name}.")
    return row


def remove(session: Session, user: User, common_name: str) -> None:
    row = get(session, user, common_name)
    if not (user.is_superuser or row.owner_id == user.id):
        raise PermissionDenied()
    session.delete(row)
