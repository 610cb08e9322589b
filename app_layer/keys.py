"""SSH public keys of users (for git push): parsing, fingerprints, lookup."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from app_layer.errors import NotFound, ValidationError
from app_layer.models import Key, User

KEY_TYPES = ("ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
KEY_NAME = re.compile(r"^[^\s/\\]{1,128}$")


def parse_public(public: str) -> tuple[str, bytes]:
    """(type, blob) of an OpenSSH public key line; raises ``ValidationError`` on ``public``."""
    parts = public.strip().split()
    if len(parts) < 2 or "\n" in public.strip():
        raise ValidationError({"public": ["Expected '<type> <base64> [comment]' on one line."]})
    kind, data = parts[0], parts[1]
    if kind not in KEY_TYPES:
        raise ValidationError({"public": [f"Unsupported key type {kind[:40]!r}."]})
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError({"public": ["Incorrect padding"]}) from None
    # The blob starts with its own type name: a cheap check that it is a real key of that type.
    if len(blob) < 4 or blob[4:4 + int.from_bytes(blob[:4], "big")] != kind.encode():
        raise ValidationError({"public": ["The key data does not match its type."]})
    return kind, blob


def fingerprint(blob: bytes) -> str:
    """MD5 colon-hex fingerprint, as Deis stored and ``ssh-keygen -E md5 -l`` shows."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def sha256_fingerprint(blob: bytes) -> str:
    """``SHA256:...`` fingerprint, as OpenSSH's ``%f`` token gives it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def add(session: Session, owner: User, name: str, public: str) -> Key:
    if not KEY_NAME.match(name or ""):
        raise ValidationError({"id": ["Key ids are 1 to 128 characters without spaces or slashes."]})
    kind, blob = parse_public(public)
    normalized = f"{kind} {base64.b64encode(blob).decode()}"
    comment = " ".join(public.strip().split()[2:])
    fp = fingerprint(blob)
    if session.scalar(select(Key.uuid).where(Key.fingerprint == fp)) is not None:
        raise ValidationError({"public": ["This key is already in use."]})
    if session.scalar(select(Key.uuid).where(Key.owner_id == owner.id, Key.name == name)) is not None:
        raise ValidationError({"id": ["You already have a key with this id."]})
    key = Key(owner=owner, name=name, public=f"{normalized} {comment}".strip(), fingerprint=fp,
              sha256=sha256_fingerprint(blob))
    session.add(key)
    session.flush()
    return key


def by_fingerprint(session: Session, fp: str) -> Key:
    """A key by its MD5 colon-hex or ``SHA256:`` fingerprint."""
    column = Key.sha256 if fp.startswith("SHA256:") else Key.fingerprint
    key = session.scalar(select(Key).where(column == (fp if fp.startswith("SHA256:") else fp.lower())))
    if key is None:
        raise NotFound("No key with that fingerprint.")
    return key
